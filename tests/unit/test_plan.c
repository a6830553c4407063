/* Unit tests for core/plan/plan.c without network or corpus: tokfs_plan_cut over random source lists
 * (invariants below), tokfs_plan_save / tokfs_plan_load, tokfs_plan_identity,
 * tokfs_format_from_name and the txt_doc= option that shapes .txt pieces.
 *
 * The invariants checked on every random plan, in plan order (no shuffle). With
 * target = max(1, (int64)(shard_size * bytes_per_token)) and weight(s) = size, or target when the
 * size is unknown (-1):
 *   (a) tiling: the first piece starts at (0, 0); each next piece starts where the previous one
 *       ended (same source and offset after a cut, else offset 0 of the next source); the last
 *       ends at the end of the last source; 0 <= begin <= end <= size inside a source.
 *   (b) non-ranged, unknown-size and empty sources are never cut (begin 0, end = size); a
 *       ranged .txt is cut like JSONL (the builder moves the cut to a tokenizer cut place).
 *   (c) source_bytes equals the bytes the piece covers (weight for unknown sizes), and
 *       source_bytes <= target + target/4 (integer division: the "tail under a quarter" rule),
 *       except for a piece whose only non-empty source is one uncuttable source, which may be of
 *       any size. More precisely, source_bytes > target only when that is the case, or when the
 *       piece's last non-empty source is cuttable and taken to its end (the tail rule).
 *       A piece that ends inside a source (a cut) has exactly target bytes; a piece that starts
 *       inside a source holds more than target/4 bytes of it; a piece under target that is not
 *       the last is followed by an uncuttable source that would have overflowed it; an
 *       uncuttable source joins a non-empty piece only if the piece stays <= target; only the
 *       last piece can be empty (and then all its sources are empty).
 *   (d) ntrain + nval == npieces, nval == val_shards, the unshuffled order does not depend on
 *       val_shards; npieces <= val_shards is -EINVAL with a message naming val_shards.
 *   (e) with shuffle_seed the pieces are exactly the documented Fisher-Yates permutation with
 *       SplitMix64 of the unshuffled ones; same seed, same order. tokfs_splitmix64 is first
 *       checked against SplitMix64's published outputs (a known-answer test), so the reference
 *       permutation does not rest on core/common/hash.c being right.
 *   (f) only a corpus of empty sources has a piece covering no bytes (empty sources join a
 *       piece with data).
 *
 * Set TOKFS_TEST_SEED to vary the random cases. */
#include "check.h"
#include "common/config.h"
#include "plan/plan.h"
#include "common/hash.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>


/* The test's randomness and the reference shuffle use tokfs_splitmix64, which
 * test_splitmix64_published checks against SplitMix64's published outputs: so the shuffle is
 * still checked against the documented algorithm, not against hash.c's own idea of it. */
static uint64_t rng_state = 0x706c616e74657374ull;

static uint64_t rnd(uint64_t n) /* uniform-ish in [0, n) */
{
    return n ? tokfs_splitmix64(&rng_state) % n : 0;
}

static int64_t rnd_range(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)rnd((uint64_t)(hi - lo) + 1);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static int64_t target_of(uint64_t shard_size, double bytes_per_token)
{
    double t = (double)shard_size * bytes_per_token;
    return t < 1 ? 1 : (int64_t)t;
}

static int cuttable(const tokfs_source *s)
{
    return (s->format == TOKFS_FORMAT_JSONL || s->format == TOKFS_FORMAT_TXT) &&
           s->info.accepts_ranges && s->info.size > 0;
}

static int64_t weight(const tokfs_source *s, int64_t target)
{
    return s->info.size >= 0 ? s->info.size : target;
}

static int same_piece(const tokfs_piece *a, const tokfs_piece *b)
{
    return a->first_source == b->first_source && a->last_source == b->last_source &&
           a->begin == b->begin && a->end == b->end && a->source_bytes == b->source_bytes;
}

static void free_sources(tokfs_plan *plan)
{
    tokfs_plan_free(plan);
}

static char case_desc[256];

#define PCHECK(cond)                                                                          \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s [%s, piece %u]\n", __FILE__, __LINE__,  \
                    #cond, case_desc, i);                                                     \
            check_failures++;                                                                 \
            return;                                                                           \
        }                                                                                     \
    } while (0)

/* Bytes of source s covered by piece p (p must contain s). */
static int64_t covered(const tokfs_plan *plan, const tokfs_piece *p, uint32_t s, int64_t target)
{
    const tokfs_source *src = &plan->sources[s];
    if (src->info.size < 0)
        return target;
    int64_t lo = s == p->first_source ? p->begin : 0;
    int64_t hi = s == p->last_source ? p->end : src->info.size;
    return hi - lo;
}

/* Invariants (a), (b), (c) over pieces in plan order. */
static void check_invariants(const tokfs_plan *plan, const tokfs_piece *pieces, uint32_t np,
                             int64_t target)
{
    uint32_t cur_s = 0;
    int64_t cur_off = 0;
    uint32_t i = 0;
    PCHECK(np > 0);
    for (i = 0; i < np; i++) {
        const tokfs_piece *p = &pieces[i];
        /* (a) tiling */
        PCHECK(p->first_source == cur_s);
        PCHECK(p->begin == cur_off);
        PCHECK(p->first_source <= p->last_source);
        PCHECK(p->last_source < plan->nsources);
        const tokfs_source *first = &plan->sources[p->first_source];
        const tokfs_source *last = &plan->sources[p->last_source];
        PCHECK(p->begin >= 0);
        if (first->info.size >= 0)
            PCHECK(p->begin < first->info.size || (first->info.size == 0 && p->begin == 0));
        if (last->info.size >= 0) {
            PCHECK(p->end >= 0 && p->end <= last->info.size);
            if (p->first_source == p->last_source)
                PCHECK(p->begin <= p->end);
        } else {
            PCHECK(p->end == -1);
        }
        /* (b) uncuttable sources are whole */
        if (!cuttable(first))
            PCHECK(p->begin == 0);
        if (!cuttable(last))
            PCHECK(p->end == last->info.size);

        /* (c) accounting and bounds */
        int64_t sum = 0, nonzero = 0, before = 0;
        int uncuttable_nonzero = 0;
        uint32_t last_nonzero = p->first_source;
        for (uint32_t s = p->first_source; s <= p->last_source; s++) {
            const tokfs_source *src = &plan->sources[s];
            int64_t c = covered(plan, p, s, target);
            PCHECK(c >= 0);
            if (c > 0) {
                nonzero++;
                last_nonzero = s;
                if (!cuttable(src)) {
                    uncuttable_nonzero++;
                    /* an uncuttable source joins a non-empty piece only if it fits */
                    PCHECK(before == 0 || before + c <= target);
                }
            }
            before += c;
            sum += c;
        }
        PCHECK(p->source_bytes == sum);
        int single_uncuttable = nonzero == 1 && uncuttable_nonzero == 1;
        if (p->source_bytes > target + target / 4)
            PCHECK(single_uncuttable);
        /* over target: one uncuttable source, or the last non-empty source is cuttable and was
         * taken to its end (the tail rule) */
        if (p->source_bytes > target)
            PCHECK(single_uncuttable ||
                   (cuttable(&plan->sources[last_nonzero]) &&
                    (last_nonzero < p->last_source || p->end == last->info.size)));
        /* a cut (the piece ends inside its last source) is exactly one target */
        int cut_at_end = last->info.size >= 0 && p->end < last->info.size;
        if (cut_at_end)
            PCHECK(p->source_bytes == target);
        /* a piece that starts inside a source holds more than a quarter target of it */
        if (p->begin > 0)
            PCHECK(covered(plan, p, p->first_source, target) > target / 4);
        /* only the last piece may be empty, and then it holds only empty sources */
        if (p->source_bytes == 0) {
            PCHECK(i == np - 1);
            for (uint32_t s = p->first_source; s <= p->last_source; s++)
                PCHECK(plan->sources[s].info.size == 0);
        }
        /* a piece under target is closed early only before an overflowing uncuttable source */
        if (i + 1 < np && p->source_bytes < target) {
            const tokfs_piece *q = &pieces[i + 1];
            const tokfs_source *next = &plan->sources[q->first_source];
            PCHECK(q->begin == 0);
            PCHECK(!cuttable(next));
            PCHECK(weight(next, target) > 0);
            PCHECK(p->source_bytes > 0);
            PCHECK(p->source_bytes + weight(next, target) > target);
        }

        /* advance the cursor */
        if (last->info.size >= 0 && p->end < last->info.size) {
            cur_s = p->last_source;
            cur_off = p->end;
        } else {
            cur_s = p->last_source + 1;
            cur_off = 0;
        }
    }
    i = np;
    PCHECK(cur_s == plan->nsources && cur_off == 0);
}

/* Random sources around a target. */
static void random_sources(tokfs_plan *plan, uint32_t n, int64_t target)
{
    memset(plan, 0, sizeof *plan);
    plan->sources = calloc(n ? n : 1, sizeof *plan->sources);
    plan->nsources = n;
    for (uint32_t s = 0; s < n; s++) {
        tokfs_source *src = &plan->sources[s];
        char url[64];
        int kind = (int)rnd(12);
        src->format = TOKFS_FORMAT_JSONL;
        src->info.accepts_ranges = 1;
        int64_t size;
        int64_t q = target / 4;
        switch (kind) {
        case 0: /* tiny */
            size = rnd_range(1, target / 10 + 1);
            break;
        case 1: /* medium */
            size = rnd_range(1, 3 * target);
            break;
        case 2: /* huge */
            size = rnd_range(5 * target, 40 * target);
            break;
        case 3: /* on the boundaries of the tail rule */
            size = (int64_t)rnd(4) * target + target + q + rnd_range(-1, 1);
            if (size < 1)
                size = 1;
            break;
        case 4: /* no ranges */
            src->info.accepts_ranges = 0;
            size = rnd(2) ? rnd_range(1, 3 * target) : rnd_range(5 * target, 20 * target);
            break;
        case 5: /* unknown size */
            src->info.accepts_ranges = (int)rnd(2);
            size = -1;
            break;
        case 6: /* txt, small or huge, ranged or not */
            src->format = TOKFS_FORMAT_TXT;
            src->info.accepts_ranges = (int)rnd(2);
            size = rnd(2) ? rnd_range(0, target) : rnd_range(2 * target, 20 * target);
            break;
        case 7: /* empty */
            src->format = rnd(2) ? TOKFS_FORMAT_TXT : TOKFS_FORMAT_JSONL;
            size = 0;
            break;
        case 8: /* exact multiples */
            size = (int64_t)rnd_range(1, 4) * target;
            break;
        default: /* anything up to a few targets */
            size = rnd_range(1, 2 * target + 3);
            break;
        }
        src->info.size = size;
        snprintf(url, sizeof url, "/corpus/%04u.%s", s,
                 src->format == TOKFS_FORMAT_TXT ? "txt" : "jsonl");
        src->url = strdup(url);
    }
}

static tokfs_piece *copy_pieces(const tokfs_plan *plan)
{
    tokfs_piece *c = malloc((plan->npieces ? plan->npieces : 1) * sizeof *c);
    memcpy(c, plan->pieces, plan->npieces * sizeof *c);
    return c;
}

/* ---- tokfs_plan_cut ------------------------------------------------------------------------ */

static unsigned random_cases, shuffle_cases, shuffle_differs, val_refusals, total_pieces;
static unsigned empty_piece_with_data; /* plans with data and a piece covering no bytes */

static void one_random_case(unsigned index)
{
    static const uint64_t shard_sizes[] = {1, 2, 3, 4, 5, 7, 13, 100, 1000, 4096, 65536,
                                           10000000};
    static const double bpts[] = {1.0, 1.0, 1.0, 0.5, 3.7, 4.0, 0.01};
    uint64_t shard_size = shard_sizes[rnd(sizeof shard_sizes / sizeof shard_sizes[0])];
    double bpt = bpts[rnd(sizeof bpts / sizeof bpts[0])];
    int64_t target = target_of(shard_size, bpt);
    uint32_t n = (uint32_t)rnd_range(1, rnd(4) ? 12 : 40);

    tokfs_plan plan;
    random_sources(&plan, n, target);
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/home/test", &err), 0);
    cfg.source = strdup("/corpus");
    cfg.shard_size = shard_size;
    cfg.val_shards = 0;
    snprintf(case_desc, sizeof case_desc, "case %u: %u sources, shard_size %" PRIu64
             ", bpt %g, target %" PRId64, index, n, shard_size, bpt, target);

    int rc = tokfs_plan_cut(&plan, &cfg, bpt, &err);
    if (rc != 0) {
        fprintf(stderr, "%s: tokfs_plan_cut = %d (%s)\n", case_desc, rc, err.msg);
        check_failures++;
        goto out;
    }
    random_cases++;
    total_pieces += plan.npieces;
    CHECK_EQ_INT(plan.nval, 0);
    CHECK_EQ_INT(plan.ntrain, plan.npieces);
    check_invariants(&plan, plan.pieces, plan.npieces, target);
    /* Empty sources join a piece with bytes: only a corpus of empty sources (one piece) has a
     * piece covering no bytes. */
    for (uint32_t k = 0; plan.npieces > 1 && k < plan.npieces; k++)
        if (plan.pieces[k].source_bytes == 0) {
            fprintf(stderr, "%s: piece %u of %u covers no bytes\n", case_desc, k, plan.npieces);
            empty_piece_with_data++;
            break;
        }

    uint32_t np = plan.npieces;
    tokfs_piece *base = copy_pieces(&plan);

    /* (d) val_shards 0..3: same order, split at the end, or refused */
    for (uint32_t v = 0; v <= 3; v++) {
        tokfs_plan again = plan;
        again.pieces = NULL;
        again.npieces = again.ntrain = again.nval = 0;
        cfg.val_shards = v;
        cfg.has_shuffle_seed = 0;
        tokfs_err_clear(&err);
        rc = tokfs_plan_cut(&again, &cfg, bpt, &err);
        if (np <= v) {
            CHECK_EQ_INT(rc, -EINVAL);
            CHECK(strstr(err.msg, "val_shards") != NULL);
            CHECK(again.pieces == NULL && again.npieces == 0);
            val_refusals++;
        } else {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(again.npieces, np);
            CHECK_EQ_INT(again.nval, v);
            CHECK_EQ_INT(again.ntrain + again.nval, again.npieces);
            for (uint32_t k = 0; rc == 0 && k < np && k < again.npieces; k++)
                if (!same_piece(&again.pieces[k], &base[k])) {
                    fprintf(stderr, "%s: val_shards=%u changed piece %u\n", case_desc, v, k);
                    check_failures++;
                    break;
                }
        }
        free(again.pieces);
    }

    /* (e) shuffle: the documented permutation, reproducible */
    uint32_t v = (uint32_t)rnd(np < 4 ? np : 4); /* < np: always accepted */
    uint64_t seed = rnd(3) == 0 ? rnd(4) : tokfs_splitmix64(&rng_state);
    cfg.val_shards = v;
    cfg.has_shuffle_seed = 1;
    cfg.shuffle_seed = seed;
    tokfs_plan sh = plan;
    sh.pieces = NULL;
    rc = tokfs_plan_cut(&sh, &cfg, bpt, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_INT(sh.npieces, np);
        CHECK_EQ_INT(sh.nval, v);
        CHECK_EQ_INT(sh.ntrain, np - v);
        /* reference Fisher-Yates */
        tokfs_piece *want = copy_pieces(&plan);
        uint64_t st = seed;
        for (uint32_t k = np - 1; k > 0; k--) {
            uint32_t j = (uint32_t)(tokfs_splitmix64(&st) % ((uint64_t)k + 1));
            tokfs_piece t = want[k];
            want[k] = want[j];
            want[j] = t;
        }
        int differs = 0, mismatch = 0;
        for (uint32_t k = 0; k < np; k++) {
            differs |= !same_piece(&sh.pieces[k], &base[k]);
            mismatch |= !same_piece(&sh.pieces[k], &want[k]);
        }
        if (mismatch) {
            fprintf(stderr, "%s: shuffle_seed=%" PRIu64 " is not the documented permutation\n",
                    case_desc, seed);
            check_failures++;
        }
        /* a permutation: every unshuffled piece appears exactly once */
        char *used = calloc(np, 1);
        for (uint32_t k = 0; k < np; k++) {
            uint32_t found = np;
            for (uint32_t m = 0; m < np; m++)
                if (!used[m] && same_piece(&sh.pieces[k], &base[m])) {
                    found = m;
                    break;
                }
            if (found == np) {
                fprintf(stderr, "%s: shuffled piece %u is not in the plan\n", case_desc, k);
                check_failures++;
                break;
            }
            used[found] = 1;
        }
        free(used);
        /* same seed again: same order */
        tokfs_plan sh2 = plan;
        sh2.pieces = NULL;
        CHECK_EQ_INT(tokfs_plan_cut(&sh2, &cfg, bpt, &err), 0);
        for (uint32_t k = 0; k < np && sh2.pieces; k++)
            if (!same_piece(&sh.pieces[k], &sh2.pieces[k])) {
                fprintf(stderr, "%s: same seed, different order\n", case_desc);
                check_failures++;
                break;
            }
        free(sh2.pieces);
        if (np >= 6) {
            shuffle_cases++;
            shuffle_differs += differs;
            /* another seed: (usually) another order */
        }
        free(want);
    }
    free(sh.pieces);
    free(base);
out:
    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    free_sources(&plan);
}

static void test_cut_random(void)
{
    for (unsigned k = 0; k < 600; k++)
        one_random_case(k);
    printf("test_plan: %u random plans (%u pieces), %u val_shards refusals, shuffle changed the "
           "order in %u of %u plans with >= 6 pieces\n",
           random_cases, total_pieces, val_refusals, shuffle_differs, shuffle_cases);
    CHECK(random_cases == 600);
    CHECK(val_refusals > 0);
    CHECK(shuffle_cases >= 100);
    /* P(a random permutation of >= 6 items is the identity) <= 1/720 */
    CHECK(shuffle_differs + 2 >= shuffle_cases);
    CHECK(empty_piece_with_data == 0);
}

/* Two seeds on one plan of many pieces give different orders. */
static void test_cut_seeds_differ(void)
{
    tokfs_plan plan = {0};
    plan.nsources = 1;
    plan.sources = calloc(1, sizeof *plan.sources);
    plan.sources[0].url = strdup("/big.jsonl");
    plan.sources[0].format = TOKFS_FORMAT_JSONL;
    plan.sources[0].info.size = 1000;
    plan.sources[0].info.accepts_ranges = 1;
    tokfs_config cfg;
    tokfs_err err = {""};
    tokfs_config_init(&cfg, NULL, "/h", &err);
    cfg.source = strdup("/big.jsonl");
    cfg.shard_size = 10;
    cfg.val_shards = 0;
    cfg.has_shuffle_seed = 1;
    tokfs_piece *orders[8] = {0};
    for (int k = 0; k < 8; k++) {
        cfg.shuffle_seed = (uint64_t)k;
        CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
        CHECK_EQ_INT(plan.npieces, 100);
        orders[k] = copy_pieces(&plan);
    }
    for (int a = 0; a < 8; a++)
        for (int b = a + 1; b < 8; b++) {
            int same = 1;
            for (uint32_t k = 0; k < 100; k++)
                same &= same_piece(&orders[a][k], &orders[b][k]);
            CHECK(!same);
        }
    /* shuffled pieces are the 100 byte ranges [10k, 10k+10), each once */
    int seen[100] = {0};
    for (uint32_t k = 0; k < 100; k++) {
        int64_t b = orders[3][k].begin;
        CHECK(b % 10 == 0 && b >= 0 && b < 1000 && orders[3][k].end == b + 10);
        if (b % 10 == 0 && b >= 0 && b < 1000)
            seen[b / 10]++;
    }
    for (int k = 0; k < 100; k++)
        CHECK_EQ_INT(seen[k], 1);
    for (int k = 0; k < 8; k++)
        free(orders[k]);
    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    tokfs_plan_free(&plan);
}

/* ---- hand cases ---------------------------------------------------------------------------- */

typedef struct hand_source {
    int format;
    int64_t size;
    int ranges;
} hand_source;

/* Cut with target = shard_size (bpt 1) and return the plan (caller frees). */
static int hand_cut(tokfs_plan *plan, const hand_source *hs, uint32_t n, uint64_t shard_size,
                    uint32_t val_shards, double bpt, tokfs_err *err)
{
    memset(plan, 0, sizeof *plan);
    plan->sources = calloc(n ? n : 1, sizeof *plan->sources);
    plan->nsources = n;
    for (uint32_t s = 0; s < n; s++) {
        plan->sources[s].url = strdup(hs[s].format == TOKFS_FORMAT_TXT ? "/x.txt" : "/x.jsonl");
        plan->sources[s].format = hs[s].format;
        plan->sources[s].info.size = hs[s].size;
        plan->sources[s].info.accepts_ranges = hs[s].ranges;
    }
    tokfs_config cfg;
    tokfs_config_init(&cfg, NULL, "/h", err);
    cfg.source = strdup("/x");
    cfg.shard_size = shard_size;
    cfg.val_shards = val_shards;
    int rc = tokfs_plan_cut(plan, &cfg, bpt, err);
    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    return rc;
}

#define J(size) {TOKFS_FORMAT_JSONL, (size), 1}
#define JNR(size) {TOKFS_FORMAT_JSONL, (size), 0}
#define T(size) {TOKFS_FORMAT_TXT, (size), 1}
#define TNR(size) {TOKFS_FORMAT_TXT, (size), 0}

static void expect_pieces(const tokfs_plan *plan, const int64_t (*want)[5], uint32_t n, int line)
{
    int ok = plan->npieces == n;
    for (uint32_t k = 0; ok && k < n; k++)
        ok = plan->pieces[k].first_source == (uint32_t)want[k][0] &&
             plan->pieces[k].begin == want[k][1] &&
             plan->pieces[k].last_source == (uint32_t)want[k][2] &&
             plan->pieces[k].end == want[k][3] && plan->pieces[k].source_bytes == want[k][4];
    if (!ok) {
        fprintf(stderr, "test_plan.c:%d: unexpected pieces:", line);
        for (uint32_t k = 0; k < plan->npieces; k++)
            fprintf(stderr, " (%u,%" PRId64 ")-(%u,%" PRId64 ")=%" PRId64,
                    plan->pieces[k].first_source, plan->pieces[k].begin,
                    plan->pieces[k].last_source, plan->pieces[k].end,
                    plan->pieces[k].source_bytes);
        fprintf(stderr, "\n");
        check_failures++;
    }
}

static void test_cut_hand(void)
{
    tokfs_plan plan;
    tokfs_err err = {""};

    /* tail rule at target 100: 125 stays in one piece, 126 is cut 100 + 26 */
    {
        hand_source hs[] = {J(125)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 1, 100, 0, 1.0, &err), 0);
        const int64_t want[][5] = {{0, 0, 0, 125, 125}};
        expect_pieces(&plan, want, 1, __LINE__);
        tokfs_plan_free(&plan);
    }
    {
        hand_source hs[] = {J(126)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 1, 100, 0, 1.0, &err), 0);
        const int64_t want[][5] = {{0, 0, 0, 100, 100}, {0, 100, 0, 126, 26}};
        expect_pieces(&plan, want, 2, __LINE__);
        tokfs_plan_free(&plan);
    }
    /* packing small sources; an uncuttable txt that would overflow starts the next piece */
    {
        hand_source hs[] = {J(30), T(30), J(30), TNR(50), J(10)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 5, 100, 0, 1.0, &err), 0);
        const int64_t want[][5] = {{0, 0, 2, 30, 90}, {3, 0, 4, 10, 60}};
        expect_pieces(&plan, want, 2, __LINE__);
        tokfs_plan_free(&plan);
    }
    /* a cuttable source fills the open piece, then is cut */
    {
        hand_source hs[] = {T(60), J(260)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 2, 100, 0, 1.0, &err), 0);
        const int64_t want[][5] = {
            {0, 0, 1, 40, 100}, {1, 40, 1, 140, 100}, {1, 140, 1, 260, 120}};
        expect_pieces(&plan, want, 3, __LINE__);
        tokfs_plan_free(&plan);
    }
    /* huge uncuttable sources stay whole; unknown size counts as one target */
    {
        hand_source hs[] = {JNR(1000), TNR(500), {TOKFS_FORMAT_JSONL, -1, 1}, J(10)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 4, 100, 1, 1.0, &err), 0);
        const int64_t want[][5] = {
            {0, 0, 0, 1000, 1000}, {1, 0, 1, 500, 500}, {2, 0, 2, -1, 100}, {3, 0, 3, 10, 10}};
        expect_pieces(&plan, want, 4, __LINE__);
        CHECK_EQ_INT(plan.ntrain, 3);
        CHECK_EQ_INT(plan.nval, 1);
        tokfs_plan_free(&plan);
    }
    /* bytes_per_token scales the target; under 1 byte is 1 */
    {
        hand_source hs[] = {J(1000)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 1, 100, 0, 2.5, &err), 0); /* target 250 */
        CHECK_EQ_INT(plan.npieces, 4);
        tokfs_plan_free(&plan);
        CHECK_EQ_INT(hand_cut(&plan, hs, 1, 10, 0, 0.001, &err), 0); /* target 1 */
        CHECK_EQ_INT(plan.npieces, 1000);
        tokfs_plan_free(&plan);
    }
    /* only empty sources: one empty piece */
    {
        hand_source hs[] = {J(0), T(0)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 2, 100, 0, 1.0, &err), 0);
        const int64_t want[][5] = {{0, 0, 1, 0, 0}};
        expect_pieces(&plan, want, 1, __LINE__);
        tokfs_plan_free(&plan);
    }
    /* empty sources after a piece that reached its target join that piece (no empty last
     * piece, which would be an empty val/ shard with val_shards=1) */
    {
        hand_source hs[] = {J(200), T(0)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 2, 100, 1, 1.0, &err), 0);
        const int64_t want[][5] = {{0, 0, 0, 100, 100}, {0, 100, 1, 0, 100}};
        expect_pieces(&plan, want, 2, __LINE__);
        CHECK_EQ_INT(plan.ntrain, 1);
        CHECK_EQ_INT(plan.nval, 1);
        tokfs_plan_free(&plan);
    }
    /* an empty source in the middle opens the next piece; several at the end join the last */
    {
        hand_source hs[] = {T(100), J(0), T(100), J(0), T(0)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 5, 100, 1, 1.0, &err), 0);
        const int64_t want[][5] = {{0, 0, 0, 100, 100}, {1, 0, 4, 0, 100}};
        expect_pieces(&plan, want, 2, __LINE__);
        tokfs_plan_free(&plan);
    }
    /* no sources: -ENOENT */
    {
        CHECK_EQ_INT(hand_cut(&plan, NULL, 0, 100, 0, 1.0, &err), -ENOENT);
        CHECK(plan.pieces == NULL);
        tokfs_plan_free(&plan);
    }
    /* a ranged .txt is cut at byte offsets like JSONL, whatever its size (issue 12: a .txt
     * over max_doc_bytes used to be one piece, skipped); with the same tail rule */
    {
        hand_source hs[] = {J(50), T(100030)};
        CHECK_EQ_INT(hand_cut(&plan, hs, 2, 100, 1, 1.0, &err), 0);
        CHECK_EQ_INT(plan.npieces, 1001);
        const tokfs_piece *p = plan.pieces;
        CHECK(p[0].first_source == 0 && p[0].last_source == 1 && p[0].end == 50);
        CHECK(p[1].first_source == 1 && p[1].begin == 50 && p[1].end == 150);
        CHECK(p[1000].begin == 99950 && p[1000].end == 100030 && p[1000].source_bytes == 80);
        tokfs_plan_free(&plan);
    }
    /* one huge txt without ranges: one piece; val_shards=1 would leave no train shard */
    {
        hand_source hs[] = {TNR(100000)};
        tokfs_err_clear(&err);
        CHECK_EQ_INT(hand_cut(&plan, hs, 1, 100, 1, 1.0, &err), -EINVAL);
        CHECK(strstr(err.msg, "val_shards=1") != NULL);
        CHECK(plan.pieces == NULL && plan.npieces == 0);
        tokfs_plan_free(&plan);
        CHECK_EQ_INT(hand_cut(&plan, hs, 1, 100, 0, 1.0, &err), 0);
        CHECK_EQ_INT(plan.npieces, 1);
        tokfs_plan_free(&plan);
    }
}

/* ---- save / load ------------------------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static int plans_equal(const tokfs_plan *a, const tokfs_plan *b)
{
    if (a->id != b->id || a->nsources != b->nsources || a->npieces != b->npieces ||
        a->ntrain != b->ntrain || a->nval != b->nval)
        return 0;
    for (uint32_t s = 0; s < a->nsources; s++) {
        const tokfs_source *x = &a->sources[s], *y = &b->sources[s];
        if (strcmp(x->url, y->url) || x->format != y->format || x->info.size != y->info.size ||
            x->info.accepts_ranges != y->info.accepts_ranges ||
            strcmp(x->info.etag, y->info.etag) ||
            strcmp(x->info.last_modified, y->info.last_modified))
            return 0;
    }
    for (uint32_t k = 0; k < a->npieces; k++)
        if (!same_piece(&a->pieces[k], &b->pieces[k]))
            return 0;
    return 1;
}

/* Load path expecting -EINVAL and a zeroed plan. */
static void expect_damaged(const char *path, uint64_t id, const char *what)
{
    tokfs_plan loaded;
    tokfs_err err = {""};
    int rc = tokfs_plan_load(&loaded, path, id, &err);
    if (rc != -EINVAL) {
        fprintf(stderr, "damaged plan (%s): load = %d, want -EINVAL\n", what, rc);
        check_failures++;
    }
    if (rc == -EINVAL && !strstr(err.msg, path)) {
        fprintf(stderr, "damaged plan (%s): message does not name the file: %s\n", what, err.msg);
        check_failures++;
    }
    if (loaded.sources || loaded.pieces || loaded.nsources || loaded.npieces) {
        fprintf(stderr, "damaged plan (%s): plan not left empty\n", what);
        check_failures++;
    }
    tokfs_plan_free(&loaded);
}

/* Replace the first occurrence of `from` in text by `to` and write it to path. */
static void write_edited(const char *path, const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    CHECK(at != NULL);
    if (!at)
        return;
    size_t n = strlen(text) + strlen(to) + 1;
    char *out = malloc(n);
    size_t pre = (size_t)(at - text);
    memcpy(out, text, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    CHECK(write_text(path, out) == 0);
    free(out);
}

static void test_save_load(void)
{
    char dir[] = "/tmp/tokfs-test-plan-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        check_failures++;
        return;
    }
    char path[PATH_MAX], other[PATH_MAX];
    snprintf(path, sizeof path, "%s/plan.tsv", dir);
    snprintf(other, sizeof other, "%s/damaged.tsv", dir);

    /* sources with awkward fields */
    tokfs_plan plan = {0};
    plan.nsources = 5;
    plan.sources = calloc(5, sizeof *plan.sources);
    const char *urls[] = {"/data/my corpus/part 1.jsonl", "https://example.com/a%20b/c.jsonl?x=1&y=2",
                          "/data/x.txt", "file:///data/with  two spaces .ndjson",
                          "/data/empty.jsonl"};
    for (uint32_t s = 0; s < 5; s++) {
        tokfs_source *src = &plan.sources[s];
        src->url = strdup(urls[s]);
        src->format = tokfs_format_from_name(urls[s]);
        src->info.accepts_ranges = s != 2;
    }
    plan.sources[0].info.size = 123456;
    snprintf(plan.sources[0].info.last_modified, 64, "%s", "1700000000123456789");
    plan.sources[1].info.size = 9876543;
    snprintf(plan.sources[1].info.etag, 160, "%s", "\"abc def\"");
    snprintf(plan.sources[1].info.last_modified, 64, "%s", "Tue, 01 Aug 2023 10:00:00 GMT");
    plan.sources[2].info.size = 500;
    plan.sources[3].info.size = -1;
    plan.sources[4].info.size = 0;
    memset(plan.sources[4].info.etag, 'e', 159); /* the longest etag that fits */

    tokfs_config cfg;
    tokfs_err err = {""};
    tokfs_config_init(&cfg, NULL, "/h", &err);
    cfg.source = strdup("@/data/list");
    cfg.shard_size = 40000;
    cfg.val_shards = 2;
    cfg.has_shuffle_seed = 1;
    cfg.shuffle_seed = 7;
    plan.id = tokfs_plan_identity(&cfg);
    CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
    CHECK(plan.npieces > 3);

    CHECK_EQ_INT(tokfs_plan_save(&plan, path, &err), 0);
    /* the temp file is gone after the rename */
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);

    tokfs_plan loaded;
    CHECK_EQ_INT(tokfs_plan_load(&loaded, path, plan.id, &err), 0);
    CHECK(plans_equal(&plan, &loaded));
    if (loaded.nsources == 5) {
        CHECK(strcmp(loaded.sources[1].info.etag, "\"abc def\"") == 0);
        CHECK(loaded.sources[0].info.etag[0] == '\0');
        CHECK(strlen(loaded.sources[4].info.etag) == 159);
        CHECK(strcmp(loaded.sources[3].url, urls[3]) == 0);
        CHECK_EQ_INT(loaded.sources[3].info.size, -1);
    }
    tokfs_plan_free(&loaded);

    /* another identity */
    tokfs_err_clear(&err);
    CHECK_EQ_INT(tokfs_plan_load(&loaded, path, plan.id ^ 1, &err), -EINVAL);
    CHECK(err.msg[0] != '\0');
    CHECK(loaded.sources == NULL && loaded.pieces == NULL);
    tokfs_plan_free(&loaded);

    /* missing */
    snprintf(other, sizeof other, "%s/nothing-here.tsv", dir);
    CHECK_EQ_INT(tokfs_plan_load(&loaded, other, plan.id, &err), -ENOENT);
    tokfs_plan_free(&loaded);

    /* damaged in various ways */
    snprintf(other, sizeof other, "%s/damaged.tsv", dir);
    char *text = read_text(path);
    CHECK(text != NULL);
    if (text) {
        size_t len = strlen(text);
        char *cut = strndup(text, len / 2);
        CHECK(write_text(other, cut) == 0);
        expect_damaged(other, plan.id, "cut in half");
        free(cut);
        cut = strndup(text, len - 4); /* without "end\n" */
        CHECK(write_text(other, cut) == 0);
        expect_damaged(other, plan.id, "no end line");
        free(cut);
        CHECK(write_text(other, "") == 0);
        expect_damaged(other, plan.id, "empty");
        write_edited(other, text, "tokfs-plan\t1", "tokfs-plan\t2");
        expect_damaged(other, plan.id, "other version");
        write_edited(other, text, "\t123456\t", "\t12x456\t");
        expect_damaged(other, plan.id, "bad size");
        write_edited(other, text, "piece\t", "piece\t4\t"); /* a field too many */
        expect_damaged(other, plan.id, "extra field");
        write_edited(other, text, "piece\t0\t", "piece\t0\t9"); /* last_source out of range */
        expect_damaged(other, plan.id, "source index");
        write_edited(other, text, "split\t", "split\t1"); /* ntrain + nval != npieces */
        expect_damaged(other, plan.id, "split");
        write_edited(other, text, "split\t", "splat\t");
        expect_damaged(other, plan.id, "unknown line");
        free(text);
    }

    /* saving again replaces the file */
    tokfs_plan_free(&plan);
    memset(&plan, 0, sizeof plan);
    plan.nsources = 1;
    plan.sources = calloc(1, sizeof *plan.sources);
    plan.sources[0].url = strdup("/one source.txt");
    plan.sources[0].format = TOKFS_FORMAT_TXT;
    plan.sources[0].info.size = 10;
    plan.id = 0x0123456789abcdefull;
    cfg.val_shards = 0;
    CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
    CHECK_EQ_INT(tokfs_plan_save(&plan, path, &err), 0);
    CHECK_EQ_INT(tokfs_plan_load(&loaded, path, plan.id, &err), 0);
    CHECK(plans_equal(&plan, &loaded));
    tokfs_plan_free(&loaded);
    tokfs_plan_free(&plan);

    /* saving into a directory that does not exist fails with a message */
    snprintf(other, sizeof other, "%s/no/such/dir/plan.tsv", dir);
    plan.nsources = 0;
    tokfs_err_clear(&err);
    CHECK(tokfs_plan_save(&plan, other, &err) < 0);
    CHECK(err.msg[0] != '\0');

    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);

    /* clean up */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX + 256];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    CHECK(rmdir(dir) == 0);
}

/* ---- identity ------------------------------------------------------------------------------ */

static void test_identity(void)
{
    tokfs_config base, c;
    tokfs_err err = {""};
    tokfs_config_init(&base, NULL, "/home/u", &err);
    base.source = strdup("/data/corpus");
    uint64_t id = tokfs_plan_identity(&base);

#define FRESH()                                                          \
    do {                                                                 \
        tokfs_config_init(&c, NULL, "/home/u", &err);                    \
        c.source = strdup("/data/corpus");                               \
    } while (0)
#define DONE() tokfs_config_free(&c)

    FRESH();
    CHECK(tokfs_plan_identity(&c) == id); /* deterministic, not by pointer */
    DONE();

    /* changes content: changes identity */
    FRESH(); free(c.source); c.source = strdup("/data/corpus2");
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); free(c.source); c.source = strdup("@/data/corpus");
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); free(c.tokenizer); c.tokenizer = strdup("bytes");
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.pattern = strdup("cl100k_base");
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.eot = strdup("0");
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.shard_size++;
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.val_shards = 0;
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.has_shuffle_seed = 1; c.shuffle_seed = 0;
    CHECK(tokfs_plan_identity(&c) != id);
    uint64_t seeded0 = tokfs_plan_identity(&c);
    c.shuffle_seed = 1;
    CHECK(tokfs_plan_identity(&c) != id);
    CHECK(tokfs_plan_identity(&c) != seeded0); DONE();
    FRESH(); c.filter = strdup("language=Python");
    CHECK(tokfs_plan_identity(&c) != id);
    uint64_t filtered = tokfs_plan_identity(&c);
    free(c.filter); c.filter = strdup("language=Python|Go");
    CHECK(tokfs_plan_identity(&c) != id && tokfs_plan_identity(&c) != filtered); DONE();
    FRESH(); free(c.text_field); c.text_field = strdup("content");
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.max_doc_bytes = 1024;
    CHECK(tokfs_plan_identity(&c) != id); DONE();
    FRESH(); c.txt_doc = TOKFS_TXT_DOC_LINE;
    CHECK(tokfs_plan_identity(&c) != id);
    uint64_t lines = tokfs_plan_identity(&c);
    c.txt_doc = TOKFS_TXT_DOC_PARAGRAPH;
    CHECK(tokfs_plan_identity(&c) != id && tokfs_plan_identity(&c) != lines); DONE();
    /* txt_doc=file is the default: plans made before the option keep their identity */
    FRESH(); c.txt_doc = TOKFS_TXT_DOC_FILE;
    CHECK(tokfs_plan_identity(&c) == id); DONE();

    /* does not change content: same identity */
    FRESH(); c.max_shards = 5;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.workers = 17;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.prefetch = 9;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.retries = 0;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.timeout_ms = 100;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.cache_size = 1ull << 30;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); free(c.cache_dir); c.cache_dir = strdup("/elsewhere");
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.log_file = strdup("/var/log/t.log");
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.mountpoint = strdup("/mnt/x");
    CHECK(tokfs_plan_identity(&c) == id); DONE();
    FRESH(); c.insecure = 1; c.foreground = 1; c.debug = 1;
    CHECK(tokfs_plan_identity(&c) == id); DONE();
#undef FRESH
#undef DONE
    tokfs_config_free(&base);
}

/* ---- formats ------------------------------------------------------------------------------- */

static void test_format_from_name(void)
{
    CHECK_EQ_INT(tokfs_format_from_name("a.jsonl"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("/d/a.ndjson"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("/d/a.txt"), TOKFS_FORMAT_TXT);
    CHECK_EQ_INT(tokfs_format_from_name("A.JSONL"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("a.NdJson"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("a.TxT"), TOKFS_FORMAT_TXT);
    CHECK_EQ_INT(tokfs_format_from_name("https://h/p/a.jsonl?sig=abc&x=1"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("https://h/p/a.txt#frag"), TOKFS_FORMAT_TXT);
    CHECK_EQ_INT(tokfs_format_from_name("https://h/p/a.ndjson?"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("file:///d/a.txt"), TOKFS_FORMAT_TXT);
    CHECK_EQ_INT(tokfs_format_from_name("a.json"), 0);
    /* compressed: .zst / .gz around .txt, .jsonl, .ndjson, and .json (JSON lines) */
    CHECK_EQ_INT(tokfs_format_from_name("a.jsonl.gz"), TOKFS_FORMAT_JSONL | TOKFS_CODEC_GZIP << 8);
    CHECK_EQ_INT(tokfs_format_from_name("/d/part-0.jsonl.zst"),
                 TOKFS_FORMAT_JSONL | TOKFS_CODEC_ZSTD << 8);
    CHECK_EQ_INT(tokfs_format_from_name("https://h/x.json.gz?sig=1"),
                 TOKFS_FORMAT_JSONL | TOKFS_CODEC_GZIP << 8);
    CHECK_EQ_INT(tokfs_format_from_name("x.JSON.ZST"), TOKFS_FORMAT_JSONL | TOKFS_CODEC_ZSTD << 8);
    CHECK_EQ_INT(tokfs_format_from_name("x.ndjson.zst"), TOKFS_FORMAT_JSONL | TOKFS_CODEC_ZSTD << 8);
    CHECK_EQ_INT(tokfs_format_from_name("notes.txt.gz"), TOKFS_FORMAT_TXT | TOKFS_CODEC_GZIP << 8);
    CHECK_EQ_INT(tokfs_format_kind(tokfs_format_from_name("n.txt.zst")), TOKFS_FORMAT_TXT);
    CHECK_EQ_INT(tokfs_format_codec(tokfs_format_from_name("n.txt.zst")), TOKFS_CODEC_ZSTD);
    CHECK_EQ_INT(tokfs_format_from_name("a.jsonl.bz2"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("a.gz"), 0);
    CHECK_EQ_INT(tokfs_format_from_name(".jsonl.gz"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("a.md.zst"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("a.jsonl.gz.zst"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("a.zst.jsonl"), TOKFS_FORMAT_JSONL);
    CHECK_EQ_INT(tokfs_format_from_name("a.jsonlx"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("a.md"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("jsonl"), 0);
    CHECK_EQ_INT(tokfs_format_from_name(".jsonl"), 0); /* only an extension: no name */
    CHECK_EQ_INT(tokfs_format_from_name("/d/.txt"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("/d.jsonl/file"), 0); /* the directory's name is not it */
    CHECK_EQ_INT(tokfs_format_from_name("https://h/get?name=a.jsonl"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("https://h/a.dat?x=.jsonl"), 0);
    /* token ids (docs/pretokenized.md): .bin and .npy, plain or compressed */
    CHECK_EQ_INT(tokfs_format_from_name("https://h/a.bin?x=.jsonl"), TOKFS_FORMAT_TOKENS_BIN);
    CHECK_EQ_INT(tokfs_format_from_name("/d/fineweb_train_000001.bin"), TOKFS_FORMAT_TOKENS_BIN);
    CHECK_EQ_INT(tokfs_format_from_name("x.NPY"), TOKFS_FORMAT_TOKENS_NPY);
    CHECK_EQ_INT(tokfs_format_from_name("x.bin.zst"),
                 TOKFS_FORMAT_TOKENS_BIN | TOKFS_CODEC_ZSTD << 8);
    CHECK_EQ_INT(tokfs_format_from_name("x.npy.gz"),
                 TOKFS_FORMAT_TOKENS_NPY | TOKFS_CODEC_GZIP << 8);
    CHECK(tokfs_format_is_tokens(tokfs_format_from_name("x.npy.zst")));
    CHECK(!tokfs_format_is_tokens(tokfs_format_from_name("x.jsonl.zst")));
    CHECK_EQ_INT(tokfs_format_from_name("a.idx"), 0);
    CHECK_EQ_INT(tokfs_format_from_name(""), 0);
    /* a '/' inside the query string (legal unencoded, e.g. X-Amz-Credential=AKIA/20240101/...)
     * or the fragment does not hide the extension of the path */
    CHECK(tokfs_format_from_name("https://h/a.jsonl?cred=AK/2024/s3") == TOKFS_FORMAT_JSONL);
    CHECK(tokfs_format_from_name("https://h/a.txt#sec/1") == TOKFS_FORMAT_TXT);
    /* Parquet: plain .parquet only (it compresses inside) */
    CHECK_EQ_INT(tokfs_format_from_name("data/train-00000-of-01126.parquet"), TOKFS_FORMAT_PARQUET);
    CHECK_EQ_INT(tokfs_format_from_name("https://h/x.PARQUET?download=1"), TOKFS_FORMAT_PARQUET);
    CHECK_EQ_INT(tokfs_format_from_name("x.parquet.gz"), 0);
    CHECK_EQ_INT(tokfs_format_from_name(".parquet"), 0);
    CHECK_EQ_INT(tokfs_format_from_name("x.parquetx"), 0);
}

/* ---- Parquet sources ---------------------------------------------------------------------- */

/* Random lists of Parquet files (row groups of random text sizes, some files empty, some with one
 * row group) mixed with plain JSONL: every row group lies in exactly one piece, in order (begin /
 * end of a Parquet source are row group indexes); a row group is never split; a file of at most
 * target bytes that would overflow a non-empty piece starts a new one (it is never split);
 * source_bytes is the sum of what the piece covers; a piece cut inside a Parquet file reached
 * target and leaves more than target/4 behind; plans survive save/load, Parquet lines included. */
static void test_cut_parquet(void)
{
    char dir[] = "/tmp/tokfs-test-plan-pq-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plan.tsv", dir);
    unsigned splits = 0, packed = 0;
    for (unsigned k = 0; k < 300; k++) {
        tokfs_plan plan = {0};
        uint32_t n = (uint32_t)rnd_range(1, 12);
        plan.nsources = n;
        plan.sources = calloc(n, sizeof *plan.sources);
        int64_t target = rnd_range(50, 5000);
        for (uint32_t s = 0; s < n; s++) {
            tokfs_source *src = &plan.sources[s];
            char name[64];
            if (rnd(5) == 0) {
                snprintf(name, sizeof name, "/c/%02u.jsonl", s);
                src->format = TOKFS_FORMAT_JSONL;
                src->info.size = rnd_range(0, 3 * target);
                src->info.accepts_ranges = 1;
            } else {
                snprintf(name, sizeof name, "/c/%02u.parquet", s);
                src->format = TOKFS_FORMAT_PARQUET;
                uint32_t groups = rnd(6) == 0 ? 0 : (uint32_t)rnd_range(1, rnd(2) ? 3 : 40);
                src->pq_row_groups = groups;
                src->pq_footer_start = 1000 + (int64_t)rnd(100);
                src->info.size = src->pq_footer_start + 200;
                src->pq_rg_bytes = groups ? calloc(groups, sizeof(int64_t)) : NULL;
                for (uint32_t g = 0; g < groups; g++)
                    src->pq_rg_bytes[g] = rnd(8) == 0 ? 0 : rnd_range(1, target * 3 / 2);
            }
            src->url = strdup(name);
        }
        tokfs_config cfg;
        tokfs_err err = {""};
        tokfs_config_init(&cfg, NULL, "/h", &err);
        cfg.source = strdup("/c");
        cfg.shard_size = (uint64_t)target;
        cfg.val_shards = 0;
        int rc = tokfs_plan_cut(&plan, &cfg, 1.0, &err);
        CHECK_EQ_INT(rc, 0);
        /* No piece is weightless (an empty shard) when there is any weight, and with Parquet
         * sources only, every piece but the last holds at least half a piece (issue 12: a
         * filtered corpus weighs many row groups 0 and leaves many files small). */
        int64_t weight = 0;
        int all_pq = 1;
        for (uint32_t t = 0; t < n; t++) {
            const tokfs_source *src = &plan.sources[t];
            all_pq &= src->format == TOKFS_FORMAT_PARQUET;
            for (uint32_t g = 0; src->format == TOKFS_FORMAT_PARQUET && g < src->pq_row_groups; g++)
                weight += src->pq_rg_bytes[g];
            if (src->format != TOKFS_FORMAT_PARQUET)
                weight += src->info.size;
        }
        for (uint32_t i = 0; rc == 0 && i < plan.npieces; i++) {
            if (weight > 0)
                CHECK(plan.pieces[i].source_bytes > 0);
            if (all_pq && i + 1 < plan.npieces)
                CHECK(plan.pieces[i].source_bytes >= target / 2);
        }
        if (rc == 0) {
            /* walk: (source, position) advances piece by piece */
            uint32_t s = 0;
            int64_t pos = 0;
            for (uint32_t i = 0; i < plan.npieces; i++) {
                const tokfs_piece *p = &plan.pieces[i];
                CHECK_EQ_INT(p->first_source, s);
                CHECK_EQ_INT(p->begin, pos);
                int64_t bytes = 0;
                for (uint32_t t = p->first_source; t <= p->last_source; t++) {
                    const tokfs_source *src = &plan.sources[t];
                    int pq = src->format == TOKFS_FORMAT_PARQUET;
                    int64_t whole = pq ? (int64_t)src->pq_row_groups : src->info.size;
                    int64_t b = t == p->first_source ? p->begin : 0;
                    int64_t e = t == p->last_source ? p->end : whole;
                    CHECK(0 <= b && b <= e && e <= whole);
                    if (pq) {
                        int64_t all = 0, mine = 0;
                        for (int64_t g = 0; g < whole; g++) {
                            all += src->pq_rg_bytes[g];
                            if (g >= b && g < e)
                                mine += src->pq_rg_bytes[g];
                        }
                        bytes += mine;
                        if (all <= target)
                            CHECK(b == 0 && e == whole); /* a small file is never split */
                        if (e < whole) {
                            splits++;
                            CHECK(all > mine); /* what is left holds text */
                        }
                        if (t > p->first_source && all <= target && all > 0)
                            packed++;
                    } else {
                        bytes += e - b;
                    }
                }
                CHECK_EQ_INT(p->source_bytes, bytes);
                const tokfs_source *last = &plan.sources[p->last_source];
                int64_t last_whole = last->format == TOKFS_FORMAT_PARQUET
                                         ? (int64_t)last->pq_row_groups : last->info.size;
                if (p->end < last_whole) {
                    CHECK(p->source_bytes >= target); /* a cut closes a full piece */
                    s = p->last_source;
                    pos = p->end;
                } else {
                    s = p->last_source + 1;
                    pos = 0;
                }
            }
            CHECK_EQ_INT(s, n);
            /* save / load keeps the Parquet fields (not the planning-only sizes) */
            plan.id = 0x1234;
            CHECK_EQ_INT(tokfs_plan_save(&plan, path, &err), 0);
            tokfs_plan loaded;
            CHECK_EQ_INT(tokfs_plan_load(&loaded, path, 0x1234, &err), 0);
            CHECK(plans_equal(&plan, &loaded));
            for (uint32_t t = 0; t < n && loaded.nsources == n; t++) {
                CHECK_EQ_INT(loaded.sources[t].pq_row_groups, plan.sources[t].pq_row_groups);
                if (plan.sources[t].format == TOKFS_FORMAT_PARQUET)
                    CHECK_EQ_INT(loaded.sources[t].pq_footer_start, plan.sources[t].pq_footer_start);
                CHECK(loaded.sources[t].pq_rg_bytes == NULL);
            }
            tokfs_plan_free(&loaded);
        }
        free(cfg.source);
        cfg.source = NULL;
        tokfs_config_free(&cfg);
        tokfs_plan_free(&plan);
    }
    CHECK(splits > 20);
    CHECK(packed > 20);
    printf("test_plan: 300 Parquet plans, %u cuts between row groups, %u small files packed\n",
           splits, packed);

    /* hand case: target 100; a: 3 row groups of 60 (cut after 2), b: 30 (joins a's rest),
     * c: 90 (would overflow the open piece: starts its own), d: empty */
    tokfs_plan plan = {0};
    int64_t a_bytes[] = {60, 60, 60}, b_bytes[] = {30}, c_bytes[] = {50, 40};
    struct { const char *url; uint32_t groups; int64_t *bytes; } hs[] = {
        {"/a.parquet", 3, a_bytes}, {"/b.parquet", 1, b_bytes}, {"/c.parquet", 2, c_bytes},
        {"/d.parquet", 0, NULL},
    };
    plan.nsources = 4;
    plan.sources = calloc(4, sizeof *plan.sources);
    for (uint32_t t = 0; t < 4; t++) {
        plan.sources[t].url = strdup(hs[t].url);
        plan.sources[t].format = TOKFS_FORMAT_PARQUET;
        plan.sources[t].info.size = 5000;
        plan.sources[t].pq_row_groups = hs[t].groups;
        plan.sources[t].pq_footer_start = 4000;
        if (hs[t].groups) {
            plan.sources[t].pq_rg_bytes = malloc(hs[t].groups * sizeof(int64_t));
            memcpy(plan.sources[t].pq_rg_bytes, hs[t].bytes, hs[t].groups * sizeof(int64_t));
        }
    }
    tokfs_config cfg;
    tokfs_err err = {""};
    tokfs_config_init(&cfg, NULL, "/h", &err);
    cfg.source = strdup("/");
    cfg.shard_size = 100;
    cfg.val_shards = 1;
    CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
    const int64_t want[][5] = {{0, 0, 0, 2, 120}, {0, 1, 2, 1, 90}, {2, 3, 0, 0, 90}};
    CHECK_EQ_INT(plan.npieces, 3);
    for (uint32_t i = 0; i < plan.npieces && i < 3; i++) {
        const tokfs_piece *p = &plan.pieces[i];
        CHECK(p->first_source == want[i][0] && p->last_source == want[i][1] &&
              p->begin == want[i][2] && p->end == want[i][3] && p->source_bytes == want[i][4]);
    }
    /* a small file that would overflow a piece holding under half a piece joins it: target 100;
     * e: 30, then f: 90 (30 + 90 = 120, one piece rather than a shard of 30), g: 0 0 (no text or
     * none kept: rides along), h: 80 */
    {
        tokfs_plan q = {0};
        int64_t e_b[] = {30}, f_b[] = {90}, g_b[] = {0, 0}, h_b[] = {80};
        int64_t *qb[] = {e_b, f_b, g_b, h_b};
        uint32_t qg[] = {1, 1, 2, 1};
        q.nsources = 4;
        q.sources = calloc(4, sizeof *q.sources);
        for (uint32_t t = 0; t < 4; t++) {
            char name[32];
            snprintf(name, sizeof name, "/%c.parquet", 'e' + t);
            q.sources[t].url = strdup(name);
            q.sources[t].format = TOKFS_FORMAT_PARQUET;
            q.sources[t].info.size = 5000;
            q.sources[t].pq_row_groups = qg[t];
            q.sources[t].pq_footer_start = 4000;
            q.sources[t].pq_rg_bytes = malloc(qg[t] * sizeof(int64_t));
            memcpy(q.sources[t].pq_rg_bytes, qb[t], qg[t] * sizeof(int64_t));
        }
        CHECK_EQ_INT(tokfs_plan_cut(&q, &cfg, 1.0, &err), 0);
        const int64_t qwant[][5] = {{0, 1, 0, 1, 120}, {2, 3, 0, 1, 80}};
        CHECK_EQ_INT(q.npieces, 2);
        for (uint32_t i = 0; i < q.npieces && i < 2; i++) {
            const tokfs_piece *p = &q.pieces[i];
            CHECK(p->first_source == qwant[i][0] && p->last_source == qwant[i][1] &&
                  p->begin == qwant[i][2] && p->end == qwant[i][3] &&
                  p->source_bytes == qwant[i][4]);
        }
        tokfs_plan_free(&q);
    }
    /* damaged Parquet lines are refused (the plan is then made again) */
    plan.id = 7;
    CHECK_EQ_INT(tokfs_plan_save(&plan, path, &err), 0);
    char *text = read_text(path);
    CHECK(text && strstr(text, "parquet\t0\t3\t4000\n"));
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/damaged.tsv", dir);
    write_edited(other, text, "parquet\t0\t3\t4000\n", "");
    expect_damaged(other, 7, "a Parquet source without its line");
    write_edited(other, text, "parquet\t0\t3\t", "parquet\t0\t1\t");
    expect_damaged(other, 7, "a piece past the row groups");
    write_edited(other, text, "parquet\t3\t0\t4000", "parquet\t4\t0\t4000");
    expect_damaged(other, 7, "a Parquet line for no source");
    write_edited(other, text, "parquet\t1\t1\t4000", "parquet\t1\t1\t9000");
    expect_damaged(other, 7, "a footer past the end of the file");
    write_edited(other, text, "parquet\t1\t1\t4000\n", "parquet\t1\t1\t4000\nparquet\t1\t1\t4000\n");
    expect_damaged(other, 7, "a Parquet line twice");
    free(text);
    unlink(other);
    unlink(path);
    rmdir(dir);
    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    tokfs_plan_free(&plan);
}

/* SplitMix64 (Steele, Lea, Flood 2014; Vigna's splitmix64.c) from seed 1234567: the first five
 * outputs as published (Rosetta Code, "Pseudo-random numbers/Splitmix64"). */
static void test_splitmix64_published(void)
{
    static const uint64_t want[5] = {6457827717110365317ull, 3203168211198807973ull,
                                     9817491932198370423ull, 4593380528125082431ull,
                                     16408922859458223821ull};
    uint64_t state = 1234567;
    for (int i = 0; i < 5; i++)
        CHECK(tokfs_splitmix64(&state) == want[i]);
}

/* txt_doc= (parsed in common/config.c, read by the plan identity and the .txt reader): the three
 * values, file by default, anything else refused naming the accepted ones, listed in --help. */
static void test_txt_doc_option(void)
{
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/h", &err), 0);
    CHECK_EQ_INT(cfg.txt_doc, TOKFS_TXT_DOC_FILE);
    CHECK_EQ_INT(tokfs_config_set(&cfg, "txt_doc", "line", &err), 0);
    CHECK_EQ_INT(cfg.txt_doc, TOKFS_TXT_DOC_LINE);
    CHECK_EQ_INT(tokfs_config_set(&cfg, "txt_doc", "paragraph", &err), 0);
    CHECK_EQ_INT(cfg.txt_doc, TOKFS_TXT_DOC_PARAGRAPH);
    CHECK_EQ_INT(tokfs_config_set(&cfg, "txt_doc", "file", &err), 0);
    CHECK_EQ_INT(cfg.txt_doc, TOKFS_TXT_DOC_FILE);
    static const char *const bad[] = {"lines", "", "FILE", "paragraphs"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tokfs_err_clear(&err);
        CHECK_EQ_INT(tokfs_config_set(&cfg, "txt_doc", bad[i], &err), -EINVAL);
        CHECK(strstr(err.msg, "txt_doc=") && strstr(err.msg, "paragraph"));
        CHECK_EQ_INT(cfg.txt_doc, TOKFS_TXT_DOC_FILE);
    }
    CHECK_EQ_INT(tokfs_config_set(&cfg, "txt_doc", NULL, &err), -EINVAL);
    CHECK(strstr(tokfs_options_help, "txt_doc=file|line|paragraph") != NULL);
    tokfs_config_free(&cfg);
}

int main(void)
{
    const char *seed = getenv("TOKFS_TEST_SEED");
    if (seed)
        rng_state = strtoull(seed, NULL, 0);
    printf("test_plan: seed 0x%llx (set TOKFS_TEST_SEED to repeat)\n",
           (unsigned long long)rng_state);

    test_splitmix64_published();
    test_format_from_name();
    test_identity();
    test_txt_doc_option();
    test_cut_hand();
    test_cut_random();
    test_cut_seeds_differ();
    test_save_load();
    test_cut_parquet();
    CHECK_DONE();
}
