/* The plan: stat every source SOURCE lists (source/list.c), read the footers and seek tables that
 * cutting needs, cut the sources into pieces (one per shard), and save / load the plan file. */
#include "plan/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "source/hf.h"
#include "source/s3.h"
#include "source/list.h"
#include "common/log.h"
#include "decode/parquet.h"
#include "decode/pq_source.h"
#include "plan/plan_internal.h"

uint64_t tokfs_plan_identity(const tokfs_config *cfg)
{
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "plan-v1\nsource=%s\ntokenizer=%s:%s:%s\nshard_size=%" PRIu64 "\nval_shards=%u\n"
                     "shuffle=%d:%" PRIu64 "\ntext_field=%s\nmax_doc_bytes=%" PRIu64 "\n",
                     cfg->source, cfg->tokenizer, cfg->pattern ? cfg->pattern : "",
                     cfg->eot ? cfg->eot : "", cfg->shard_size, cfg->val_shards,
                     cfg->has_shuffle_seed, cfg->shuffle_seed, cfg->text_field,
                     cfg->max_doc_bytes);
    /* token sources: src_dtype= changes what a raw .bin holds; vocab_size= what a cached shard
     * was checked against (absent: older plans keep their id) */
    if (n >= 0 && (size_t)n < sizeof buf && (cfg->src_dtype_bytes || cfg->vocab_size))
        n += snprintf(buf + n, sizeof buf - (size_t)n, "src_dtype=%u\nvocab_size=%u\n",
                      cfg->src_dtype_bytes, cfg->vocab_size);
    char hub[1024]; /* another hub (HF_ENDPOINT) is another corpus */
    if (n >= 0 && (size_t)n < sizeof buf && tokfs_hf_is_source(cfg->source)) {
        if (tokfs_hf_endpoint(cfg, hub, sizeof hub, NULL) != 0)
            snprintf(hub, sizeof hub, "%s", cfg->hf_endpoint);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "hf_endpoint=%s\n", hub);
    }
    /* another store or bucket address is another corpus (s3.h); the region only signs */
    if (n >= 0 && (size_t)n < sizeof buf && tokfs_s3_is_source(cfg->source)) {
        tokfs_s3_ref ref;
        if (tokfs_s3_parse(cfg->source, &ref, NULL) != 0 ||
            tokfs_s3_bucket_url(cfg, ref.bucket, hub, sizeof hub, NULL) != 0)
            snprintf(hub, sizeof hub, "%s", cfg->s3_endpoint ? cfg->s3_endpoint : "");
        n += snprintf(buf + n, sizeof buf - (size_t)n, "s3_bucket_url=%s\n", hub);
    }
    /* absent: older plans keep their id. "kept-rows": a filtered plan weighs row groups by their
     * kept text since issue 12, so plans cut the old way (by all rows) are made again */
    if (n >= 0 && (size_t)n < sizeof buf && cfg->filter)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "filter=%s\nfilter_weights=kept-rows\n",
                      cfg->filter);
    if (n >= 0 && (size_t)n < sizeof buf && cfg->txt_doc != TOKFS_TXT_DOC_FILE) /* likewise */
        n += snprintf(buf + n, sizeof buf - (size_t)n, "txt_doc=%d\n", (int)cfg->txt_doc);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    return tokfs_hash64(buf, (size_t)n, 0x746f6b6673ull);
}

/* ---- cutting ---------------------------------------------------------------------------- */

typedef struct piece_list {
    tokfs_piece *items;
    uint32_t count, cap;
} piece_list;

static int piece_add(piece_list *l, tokfs_piece p)
{
    if (l->count == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 64;
        tokfs_piece *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = p;
    return 0;
}

int64_t tokfs_plan_piece_target(const tokfs_config *cfg, double bytes_per_token)
{
    double target_d = (double)cfg->shard_size * bytes_per_token;
    return target_d < 1 ? 1 : target_d > 9e18 ? INT64_MAX / 2 : (int64_t)target_d;
}

/* Estimated decompressed bytes of a compressed source of size bytes. */
static int64_t expanded_size(int64_t size)
{
    double e = (double)size * TOKFS_COMPRESSED_EXPANSION;
    return e > 9e18 ? INT64_MAX / 4 : (int64_t)e;
}

/* A seekable .jsonl.zst with several frames, cut only at frame boundaries, weighed by the exact
 * decompressed sizes of its seek table (same rules as byte cuts: close a piece once it reaches
 * target, but keep a tail under a quarter piece). */
static int seekable_source(const tokfs_source *src)
{
    const tokfs_seek_table *t = src->frames;
    return t && t->nframes > 1 && tokfs_format_kind(src->format) == TOKFS_FORMAT_JSONL &&
           tokfs_format_codec(src->format) == TOKFS_CODEC_ZSTD && src->info.accepts_ranges &&
           src->info.size > 0 && t->c_start[t->nframes] <= src->info.size;
}

static int cut_frames(piece_list *pieces, tokfs_piece *cur, int *open, int64_t *acc, uint32_t s,
                      const tokfs_source *src, int64_t target)
{
    const tokfs_seek_table *t = src->frames;
    int64_t total = t->d_start[t->nframes];
    for (uint32_t f = 0; f < t->nframes; f++) {
        if (!*open) {
            *cur = (tokfs_piece){.first_source = s, .begin = t->c_start[f]};
            *open = 1;
            *acc = 0;
        }
        cur->last_source = s;
        int64_t d = t->d_start[f + 1] - t->d_start[f];
        *acc += d;
        cur->source_bytes += d;
        if (f + 1 < t->nframes && *acc >= target && total - t->d_start[f + 1] > target / 4) {
            cur->end = t->c_start[f + 1];
            int rc = piece_add(pieces, *cur);
            if (rc)
                return rc;
            *open = 0;
        }
    }
    cur->end = src->info.size; /* the last piece takes the rest: the seek table frame too */
    if (*acc >= target) {
        *open = 0;
        return piece_add(pieces, *cur);
    }
    return 0;
}

static int parquet_source(const tokfs_source *src)
{
    return tokfs_format_kind(src->format) == TOKFS_FORMAT_PARQUET;
}

/* Where a whole source ends, in the units of tokfs_piece's end: its size, or for Parquet its row
 * group count. */
static int64_t source_end(const tokfs_source *src)
{
    return parquet_source(src) ? (int64_t)src->pq_row_groups : src->info.size;
}

/* Estimated text bytes of row group rg of a Parquet source: from its footer while planning, else
 * (a plan cut from a listing alone, as in tests) an even share of the file. */
static int64_t rg_weight(const tokfs_source *src, uint32_t rg)
{
    if (src->pq_rg_bytes)
        return src->pq_rg_bytes[rg] > 0 ? src->pq_rg_bytes[rg] : 0;
    return src->info.size > 0 ? src->info.size / src->pq_row_groups : 0;
}

/* A Parquet source: runs of consecutive row groups, never splitting one. A file of at most a
 * piece's worth that would overflow the open piece starts the next one (as a whole source would,
 * so a small file is read by one shard: one footer fetch), unless the open piece holds less than
 * half a piece: then the file joins it (a piece of at most 1.5 pieces' worth) rather than leave
 * a small shard behind — with filter=, many files keep a little each, and closing before every
 * one that overflows made shards of a few percent of shard_size. A larger file fills the open
 * piece and is cut between row groups by the rules of byte cuts (close once a piece reaches
 * target, keep a tail under a quarter piece). Row groups of weight 0 (no text, or none kept by
 * filter=) never close a piece, so every piece of Parquet sources has some weight. */
static int cut_row_groups(piece_list *pieces, tokfs_piece *cur, int *open, int64_t *acc,
                          uint32_t s, const tokfs_source *src, int64_t target)
{
    uint32_t n = src->pq_row_groups;
    int64_t total = 0;
    for (uint32_t g = 0; g < n; g++)
        total += rg_weight(src, g);
    if (*open && *acc >= target / 2 && *acc > 0 && total <= target && *acc + total > target) {
        int rc = piece_add(pieces, *cur);
        if (rc)
            return rc;
        *open = 0;
    }
    if (!*open) {
        *cur = (tokfs_piece){.first_source = s, .begin = 0};
        *open = 1;
        *acc = 0;
    }
    cur->last_source = s;
    int64_t done = 0;
    for (uint32_t g = 0; g < n; g++) {
        if (!*open) {
            *cur = (tokfs_piece){.first_source = s, .last_source = s, .begin = g};
            *open = 1;
            *acc = 0;
        }
        int64_t w = rg_weight(src, g);
        *acc += w;
        cur->source_bytes += w;
        done += w;
        /* a small file is never split (one footer fetch, one shard), even when it joined a
         * piece that reaches target inside it */
        if (g + 1 < n && total > target && *acc >= target && total - done > target / 4) {
            cur->end = g + 1;
            int rc = piece_add(pieces, *cur);
            if (rc)
                return rc;
            *open = 0;
        }
    }
    cur->end = n;
    if (*acc >= target) {
        *open = 0;
        return piece_add(pieces, *cur);
    }
    return 0;
}

int tokfs_plan_cut(tokfs_plan *plan, const tokfs_config *cfg, double bytes_per_token,
                   tokfs_err *err)
{
    int64_t target = tokfs_plan_piece_target(cfg, bytes_per_token);
    piece_list pieces = {0};
    int rc = 0;

    /* The piece being filled: open when acc > 0 or it has a start. */
    tokfs_piece cur = {0};
    int open = 0;
    int64_t acc = 0;

    /* Token sources (never mixed with text) are cut by their ids: plan_tokens.c. */
    int tokens = plan->nsources > 0 && tokfs_format_is_tokens(plan->sources[0].format);
    if (tokens && (rc = tokfs_plan_tokens_cut(plan, cfg, bytes_per_token, &pieces.items,
                                              &pieces.count)) == 0)
        pieces.cap = pieces.count;
    for (uint32_t s = 0; s < plan->nsources && rc == 0 && !tokens; s++) {
        const tokfs_source *src = &plan->sources[s];
        int64_t size = src->info.size;
        if (seekable_source(src)) {
            rc = cut_frames(&pieces, &cur, &open, &acc, s, src, target);
            continue;
        }
        if (parquet_source(src)) {
            rc = cut_row_groups(&pieces, &cur, &open, &acc, s, src, target);
            continue;
        }
        /* A source can be cut at a byte offset when it is uncompressed with ranges: JSONL (a
         * record belongs to the piece its first byte lies in) and .txt (the builder moves the
         * offset to a place the tokenizer can cut at, or reads the lines or paragraphs starting
         * in the piece: core/build/reader_txt.c). Any other compressed source is whole, weighed
         * by its estimated expansion. */
        int cuttable = (src->format == TOKFS_FORMAT_JSONL || src->format == TOKFS_FORMAT_TXT) &&
                       src->info.accepts_ranges && size > 0;
        int64_t weight = size < 0 ? target /* unknown size: assume one shard's worth */
                       : tokfs_format_codec(src->format) ? expanded_size(size) : size;
        int64_t off = 0;

        if (open && acc > 0 && !cuttable && acc + weight > target) {
            /* Closing before a whole source that would overflow keeps shards near target. */
            cur.end = source_end(&plan->sources[cur.last_source]);
            rc = piece_add(&pieces, cur);
            open = 0;
            acc = 0;
        }
        while (rc == 0) {
            if (!open) {
                cur = (tokfs_piece){.first_source = s, .begin = off};
                open = 1;
                acc = 0;
            }
            cur.last_source = s;
            int64_t remaining = weight - off;
            int64_t room = target - acc;
            /* A tail under a quarter shard stays with this piece: tiny pieces tend to hold no
             * record start at all (an empty shard), and a shard a bit over target is harmless. */
            if (remaining <= room + target / 4 || !cuttable) {
                acc += remaining;
                cur.source_bytes += remaining;
                cur.end = size >= 0 ? size : -1;
                if (acc >= target) {
                    rc = piece_add(&pieces, cur);
                    open = 0;
                }
                break;
            }
            /* Cut this source at off + room; the rest starts a new piece. */
            cur.end = off + room;
            cur.source_bytes += room;
            rc = piece_add(&pieces, cur);
            open = 0;
            off += room;
        }
    }
    if (rc == 0 && open && cur.source_bytes == 0 && pieces.count > 0) {
        /* Only empty sources after the last full piece: they join it (an empty last piece would
         * be an empty val shard). Empty sources anywhere else already open the next piece, and
         * the previous piece ended at the end of a whole source (a cut leaves a nonempty rest),
         * so extending it over them keeps "every source strictly between is whole". */
        tokfs_piece *last = &pieces.items[pieces.count - 1];
        last->last_source = cur.last_source;
        last->end = cur.end;
        open = 0;
    }
    if (rc == 0 && open)
        rc = piece_add(&pieces, cur);
    if (rc) {
        free(pieces.items);
        return rc == -ENOMEM ? tokfs_err_set(err, ENOMEM, "out of memory while planning") : rc;
    }
    if (pieces.count == 0) {
        free(pieces.items);
        return tokfs_err_set(err, ENOENT, "SOURCE %s holds no data", cfg->source);
    }
    if (pieces.count <= cfg->val_shards) {
        uint32_t n = pieces.count;
        free(pieces.items);
        return tokfs_err_set(err, EINVAL,
                             "the corpus makes %u shard(s) of about %" PRIu64
                             " tokens, and val_shards=%u would leave no train shard: lower "
                             "shard_size or val_shards",
                             n, cfg->shard_size, cfg->val_shards);
    }
    if (cfg->has_shuffle_seed) {
        /* Fisher-Yates with a seeded SplitMix64: the same seed gives the same order anywhere. */
        uint64_t state = cfg->shuffle_seed;
        for (uint32_t i = pieces.count - 1; i > 0; i--) {
            uint32_t j = (uint32_t)(tokfs_splitmix64(&state) % ((uint64_t)i + 1));
            tokfs_piece t = pieces.items[i];
            pieces.items[i] = pieces.items[j];
            pieces.items[j] = t;
        }
    }
    free(plan->pieces);
    plan->pieces = pieces.items;
    plan->npieces = pieces.count;
    plan->nval = cfg->val_shards;
    plan->ntrain = pieces.count - cfg->val_shards;
    return 0;
}

static void free_frames(tokfs_source *src)
{
    if (src->frames) {
        tokfs_seek_table_free(src->frames);
        free(src->frames);
        src->frames = NULL;
    }
    free(src->pq_rg_bytes); /* planning-only too */
    src->pq_rg_bytes = NULL;
}

/* The largest filter column chunk planning reads whole: the builder's page cap (a filter chunk
 * is held whole there too, reader_parquet.c), so a file planning accepts is one a build reads. */
static size_t filter_chunk_cap(const tokfs_config *cfg)
{
    uint64_t cap = 2 * cfg->max_doc_bytes;
    if (cap < TOKFS_PQ_MAX_PAGE_DEFAULT)
        cap = TOKFS_PQ_MAX_PAGE_DEFAULT;
    return cap > TOKFS_PQ_MAX_PAGE_HARD ? TOKFS_PQ_MAX_PAGE_HARD : (size_t)cap;
}

/* What filter= planning read, over all Parquet sources (logged at the end of planning). */
typedef struct kept_tally {
    uint64_t chunk_bytes;   /* filter column chunk bytes fetched */
    uint64_t row_groups;    /* row groups whose filter chunk was read */
    uint64_t rows, kept;    /* rows of those row groups, and how many filter= keeps */
    uint64_t empty_groups;  /* row groups keeping no row (weighed 0: no piece is made of them) */
} kept_tally;

/* With filter=, a row group's weight is its estimated text bytes (tokfs_pq_rg_text_bytes) times
 * the kept fraction of its rows, counted exactly from the filter column's chunk: text length is
 * taken as independent of the filter value within a row group (the footer has no per-value
 * sizes). A row group with no kept row weighs 0, so the cut never makes a piece of such groups
 * alone (they ride along with a neighbour, and the build skips their text chunks), and pieces
 * hold about shard_size tokens of kept rows. Row groups without text bytes are not read. */
static int weigh_kept(const tokfs_config *cfg, const tokfs_filter *filter, tokfs_fetcher *fetcher,
                      tokfs_source *src, const tokfs_pq_meta *m, kept_tally *tally,
                      tokfs_err *err)
{
    for (size_t g = 0; g < m->n_row_groups; g++) {
        int64_t rows = m->row_groups[g].num_rows;
        if (src->pq_rg_bytes[g] <= 0 || rows <= 0) {
            src->pq_rg_bytes[g] = 0;
            continue;
        }
        int64_t kept = 0;
        uint64_t fetched = 0;
        int rc = tokfs_pq_count_kept(fetcher, src->url, &src->info, m, g, filter,
                                     filter_chunk_cap(cfg), &kept, &fetched, err);
        tally->chunk_bytes += fetched;
        if (rc == -EBADMSG || rc == -ENOTSUP || rc == -EFBIG) {
            /* Bad data in one chunk must not refuse the whole corpus: weigh the row group by
             * all its text, as without the count; making its shard then fails with EIO naming
             * the file and row group, as for any corrupt chunk. (A network error stays fatal,
             * as for footers: the mount cannot plan what it cannot reach.) */
            tokfs_log(TOKFS_LOG_WARN, "%s; weighed by all its rows", err ? err->msg : "");
            continue;
        }
        if (rc)
            return rc;
        tally->row_groups++;
        tally->rows += (uint64_t)rows;
        tally->kept += (uint64_t)kept;
        tally->empty_groups += kept == 0;
        if (kept < rows) {
            double w = (double)src->pq_rg_bytes[g] * (double)kept / (double)rows;
            /* a kept row weighs something, so a piece never closes on weightless groups only */
            src->pq_rg_bytes[g] = kept == 0 ? 0 : w < 1 ? 1 : (int64_t)w;
        }
    }
    return 0;
}

/* A Parquet source: read its footer (range requests for the end of the file: the only content
 * fetched at plan time, but for filter='s column chunks) for its row groups, their text sizes and
 * where the footer starts; with filter (non-NULL), weigh its row groups by their kept rows. A
 * file without the text column (or the filter column) is refused here, at mount, by name. */
static int read_row_groups(const tokfs_config *cfg, const tokfs_filter *filter,
                           tokfs_fetcher *fetcher, tokfs_source *src, kept_tally *tally,
                           tokfs_err *err)
{
    tokfs_pq_meta *m = NULL;
    int rc = tokfs_pq_fetch_meta(fetcher, src->url, &src->info, 0, cfg->text_field,
                                 filter ? filter->column : NULL, &m, NULL, err);
    if (rc)
        return rc;
    if (m->n_row_groups > UINT32_MAX / 2) {
        char redacted[1024];
        tokfs_url_redact(src->url, redacted, sizeof redacted);
        tokfs_pq_meta_free(m);
        return tokfs_err_set(err, EFBIG, "%s: too many row groups", redacted);
    }
    src->pq_row_groups = (uint32_t)m->n_row_groups;
    src->pq_footer_start = (int64_t)m->footer_start;
    if (m->n_row_groups &&
        !(src->pq_rg_bytes = calloc(m->n_row_groups, sizeof *src->pq_rg_bytes))) {
        tokfs_pq_meta_free(m);
        return tokfs_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t g = 0; g < m->n_row_groups; g++)
        src->pq_rg_bytes[g] = tokfs_pq_rg_text_bytes(&m->row_groups[g]);
    rc = filter ? weigh_kept(cfg, filter, fetcher, src, m, tally, err) : 0;
    tokfs_pq_meta_free(m);
    if (rc)
        return rc;
    if (!src->info.accepts_ranges) {
        char redacted[1024];
        tokfs_url_redact(src->url, redacted, sizeof redacted);
        tokfs_log(TOKFS_LOG_WARN,
                  "%s: the server does not announce range support; if it ignores ranges, each "
                  "column chunk read downloads the file up to that chunk",
                  redacted);
    }
    return 0;
}

/* A .jsonl.zst large enough to be cut (were it plain JSONL) may be in the seekable format: read
 * its seek table (a range request for the end of the file, the only content fetched at plan
 * time). Without one, or with a damaged one, it stays whole. */
static int read_frames(const tokfs_config *cfg, double bytes_per_token, tokfs_fetcher *fetcher,
                       tokfs_source *src, tokfs_err *err)
{
    int64_t target = tokfs_plan_piece_target(cfg, bytes_per_token);
    if (tokfs_format_kind(src->format) != TOKFS_FORMAT_JSONL ||
        tokfs_format_codec(src->format) != TOKFS_CODEC_ZSTD || !src->info.accepts_ranges ||
        src->info.size <= 0 || expanded_size(src->info.size) <= target + target / 4)
        return 0;
    tokfs_seek_table *t = calloc(1, sizeof *t);
    if (!t)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    tokfs_err table_err = {{0}};
    int rc = tokfs_seek_table_read(fetcher, src->url, &src->info, t, NULL, &table_err);
    if (rc == 0 && t->nframes > 1) {
        src->frames = t;
        return 0;
    }
    tokfs_seek_table_free(t);
    free(t);
    if (rc == -EINVAL || rc == -EAGAIN) {
        char redacted[1024];
        tokfs_url_redact(src->url, redacted, sizeof redacted);
        tokfs_log(TOKFS_LOG_WARN, "%s: %s; the file is read whole", redacted, table_err.msg);
        return 0;
    }
    if (rc)
        return tokfs_err_set(err, -rc, "%s", table_err.msg);
    return 0;
}

/* The footer pass: every Parquet source's row groups, and with filter= the kept rows summed. */
typedef struct footer_pass {
    const tokfs_config *cfg;
    const tokfs_filter *filter; /* NULL: no filter= */
    tokfs_plan *plan;
    pthread_mutex_t mu;
    kept_tally tally;     /* mu: summed over the sources */
} footer_pass;

/* tokfs_plan_each_fn: read_row_groups of source i when it is Parquet. */
static int footer_step(void *ctx, tokfs_fetcher *fetcher, uint32_t i, tokfs_err *err)
{
    footer_pass *p = ctx;
    if (!parquet_source(&p->plan->sources[i]))
        return 0;
    kept_tally t = {0};
    int rc = read_row_groups(p->cfg, p->filter, fetcher, &p->plan->sources[i], &t, err);
    pthread_mutex_lock(&p->mu);
    p->tally.chunk_bytes += t.chunk_bytes;
    p->tally.row_groups += t.row_groups;
    p->tally.rows += t.rows;
    p->tally.kept += t.kept;
    p->tally.empty_groups += t.empty_groups;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* read_row_groups for every Parquet source of the plan, in parallel. With filter (non-NULL),
 * logs what counting the kept rows read, and refuses a filter that keeps no text at all (the
 * mount would have no shard a trainer can read). */
static int read_footers(const tokfs_config *cfg, const tokfs_filter *filter,
                        tokfs_fetcher *fetcher, tokfs_plan *plan, tokfs_err *err)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < plan->nsources; i++)
        count += parquet_source(&plan->sources[i]);
    if (!count)
        return 0;
    footer_pass pass = {.cfg = cfg, .filter = filter, .plan = plan,
                        .mu = PTHREAD_MUTEX_INITIALIZER};
    int rc = tokfs_plan_each_source(fetcher, plan->nsources, count, footer_step, &pass, err);
    pthread_mutex_destroy(&pass.mu);
    if (rc)
        return rc;
    if (!filter)
        return 0;
    const kept_tally *t = &pass.tally;
    tokfs_log(TOKFS_LOG_INFO,
              "filter=%s: planning read %" PRIu64 " bytes of '%s' column chunks (%" PRIu64
              " row groups, %" PRIu64 " of %" PRIu64 " rows kept, %" PRIu64
              " row groups keeping none)",
              cfg->filter, t->chunk_bytes, filter->column, t->row_groups, t->kept, t->rows,
              t->empty_groups);
    int64_t weight = 0;
    for (uint32_t i = 0; i < plan->nsources; i++) {
        const tokfs_source *src = &plan->sources[i];
        for (uint32_t g = 0; parquet_source(src) && g < src->pq_row_groups; g++)
            weight += src->pq_rg_bytes[g];
    }
    if (weight == 0)
        return tokfs_err_set(err, ENOENT,
                             "filter=%s keeps no row with text in SOURCE %s (%" PRIu64
                             " of %" PRIu64 " rows kept): every shard would be empty",
                             cfg->filter, cfg->source, t->kept, t->rows);
    return 0;
}

int tokfs_plan_build(const tokfs_config *cfg, double bytes_per_token, tokfs_fetcher *fetcher,
                     tokfs_plan *plan, tokfs_err *err)
{
    memset(plan, 0, sizeof *plan);
    plan->id = tokfs_plan_identity(cfg);
    /* filter= names a Parquet column (checked against each footer below) */
    tokfs_filter filter = {0};
    if (cfg->filter) {
        int frc = tokfs_filter_parse(cfg->filter, &filter, err);
        if (frc == 0 && strcmp(filter.column, cfg->text_field) == 0)
            frc = tokfs_err_set(err, EINVAL,
                                "filter=%s: the filter column must differ from text_field=%s",
                                cfg->filter, cfg->text_field);
        if (frc) {
            tokfs_filter_free(&filter);
            return frc;
        }
    }
    tokfs_listing names;
    int rc = tokfs_list_source(cfg, fetcher, &names, err);
    if (rc == 0 && !(plan->sources = calloc(names.count, sizeof *plan->sources)))
        rc = tokfs_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < names.count; i++) {
        tokfs_source *src = &plan->sources[i];
        const char *name = names.names[i];
        char redacted[1024];
        tokfs_url_redact(name, redacted, sizeof redacted);
        src->format = tokfs_format_from_name(name);
        if (!src->format) {
            rc = tokfs_err_set(err, EINVAL,
                               "unsupported source %s: tokfs reads .txt, .jsonl and .ndjson files, "
                               "those or .json (JSON lines) compressed as .zst or .gz, "
                               ".parquet files, and token ids in .bin and .npy files",
                               redacted);
            break;
        }
        if (cfg->filter && tokfs_format_kind(src->format) != TOKFS_FORMAT_PARQUET) {
            rc = tokfs_err_set(err, EINVAL,
                               "filter=%s selects Parquet rows by a column, but source %s is not "
                               "a Parquet file: drop filter= or list only .parquet sources",
                               cfg->filter, redacted);
            break;
        }
        char abs_path[PATH_MAX];
        if (tokfs_url_is_local(name) && name[0] != '/') {
            if (!realpath(name, abs_path)) {
                rc = tokfs_err_set(err, errno, "cannot open source %s: %s", name,
                                   strerror(errno));
                break;
            }
            name = abs_path;
        }
        if (!(src->url = strdup(name))) {
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        plan->nsources++;
        /* hf:// listings give every file's size: no HEAD per file (hf.h says why that is safe) */
        if (names.sizes) {
            src->info = (tokfs_object_info){.size = names.sizes[i], .accepts_ranges = 1};
            /* s3:// listings give the ETag too: ranged reads are pinned by If-Match at once */
            if (names.etags && names.etags[i] && strlen(names.etags[i]) < sizeof src->info.etag &&
                strncmp(names.etags[i], "W/", 2) != 0)
                snprintf(src->info.etag, sizeof src->info.etag, "%s", names.etags[i]);
        } else
            rc = tokfs_fetch_stat(fetcher, src->url, &src->info, err);
        if (rc == 0)
            rc = read_frames(cfg, bytes_per_token, fetcher, src, err);
    }
    /* Token sources: one mount is all text or all token ids; then each one's header. */
    if (rc == 0)
        rc = tokfs_plan_tokens_check(cfg, plan, err);
    if (rc == 0)
        rc = tokfs_plan_tokens_read_all(cfg, fetcher, plan, err);
    if (rc == 0)
        rc = read_footers(cfg, cfg->filter ? &filter : NULL, fetcher, plan, err);
    tokfs_filter_free(&filter);
    tokfs_listing_free(&names);
    if (rc == 0)
        rc = tokfs_plan_cut(plan, cfg, bytes_per_token, err);
    for (uint32_t i = 0; i < plan->nsources; i++) /* the pieces hold what is needed of them */
        free_frames(&plan->sources[i]);
    if (rc)
        tokfs_plan_free(plan);
    return rc;
}

void tokfs_plan_free(tokfs_plan *plan)
{
    for (uint32_t i = 0; i < plan->nsources; i++) {
        free(plan->sources[i].url);
        free_frames(&plan->sources[i]);
    }
    free(plan->sources);
    free(plan->pieces);
    memset(plan, 0, sizeof *plan);
}

/* ---- persistence ------------------------------------------------------------------------ */

int tokfs_plan_save(const tokfs_plan *plan, const char *path, tokfs_err *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* 0600 like every file of the cache: the plan holds source URLs */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return tokfs_err_set(err, e, "cannot write %s: %s", tmp, strerror(e));
    }
    fprintf(f, "tokfs-plan\t1\t%016" PRIx64 "\n", plan->id);
    for (uint32_t i = 0; i < plan->nsources; i++) {
        const tokfs_source *s = &plan->sources[i];
        fprintf(f, "source\t%d\t%" PRId64 "\t%d\t%s\t%s\t%s\n", s->format, s->info.size,
                s->info.accepts_ranges, s->info.etag, s->info.last_modified, s->url);
    }
    for (uint32_t i = 0; i < plan->nsources; i++) {
        const tokfs_source *s = &plan->sources[i];
        if (tokfs_format_kind(s->format) == TOKFS_FORMAT_PARQUET)
            fprintf(f, "parquet\t%u\t%u\t%" PRId64 "\n", i, s->pq_row_groups,
                    s->pq_footer_start > 0 ? s->pq_footer_start : 0);
        if (tokfs_format_is_tokens(s->format))
            fprintf(f, "tokens\t%u\t%u\t%u\t%" PRId64 "\n", i, s->tok_header,
                    s->tok_id_bytes, s->tok_count);
    }
    for (uint32_t i = 0; i < plan->npieces; i++) {
        const tokfs_piece *p = &plan->pieces[i];
        fprintf(f, "piece\t%u\t%u\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", p->first_source,
                p->last_source, p->begin, p->end, p->source_bytes);
    }
    fprintf(f, "split\t%u\t%u\nend\n", plan->ntrain, plan->nval);
    int rc = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = tokfs_err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = tokfs_err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = tokfs_err_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* Split line in place at tabs into at most max fields (the last keeps any further tabs). */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

int tokfs_plan_load(tokfs_plan *plan, const char *path, uint64_t expect_id, tokfs_err *err)
{
    memset(plan, 0, sizeof *plan);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? -ENOENT
                               : tokfs_err_set(err, errno, "cannot read %s: %s", path,
                                               strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, saw_header = 0, saw_end = 0;
    uint32_t source_cap = 0, piece_cap = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char *fld[8];
        int n = split_tabs(line, fld, 7);
        if (!saw_header) {
            uint64_t id;
            if (n != 3 || strcmp(fld[0], "tokfs-plan") != 0 || strcmp(fld[1], "1") != 0 ||
                sscanf(fld[2], "%" SCNx64, &id) != 1 || id != expect_id)
                rc = -EINVAL;
            saw_header = 1;
            plan->id = expect_id;
        } else if (strcmp(fld[0], "source") == 0 && n == 7) {
            if (plan->nsources == source_cap) {
                source_cap = source_cap ? source_cap * 2 : 16;
                tokfs_source *grown = realloc(plan->sources, source_cap * sizeof *grown);
                if (!grown) { rc = -ENOMEM; break; }
                plan->sources = grown;
            }
            tokfs_source *s = &plan->sources[plan->nsources];
            memset(s, 0, sizeof *s);
            int64_t format, ranges;
            if (parse_i64(fld[1], &format) || parse_i64(fld[2], &s->info.size) ||
                parse_i64(fld[3], &ranges) || strlen(fld[4]) >= sizeof s->info.etag ||
                strlen(fld[5]) >= sizeof s->info.last_modified) {
                rc = -EINVAL;
                break;
            }
            s->format = (int)format;
            s->info.accepts_ranges = (int)ranges;
            strcpy(s->info.etag, fld[4]);
            strcpy(s->info.last_modified, fld[5]);
            if (!(s->url = strdup(fld[6]))) { rc = -ENOMEM; break; }
            plan->nsources++;
        } else if (strcmp(fld[0], "piece") == 0 && n == 6) {
            if (plan->npieces == piece_cap) {
                piece_cap = piece_cap ? piece_cap * 2 : 64;
                tokfs_piece *grown = realloc(plan->pieces, piece_cap * sizeof *grown);
                if (!grown) { rc = -ENOMEM; break; }
                plan->pieces = grown;
            }
            tokfs_piece *p = &plan->pieces[plan->npieces];
            int64_t first, last;
            if (parse_i64(fld[1], &first) || parse_i64(fld[2], &last) ||
                parse_i64(fld[3], &p->begin) || parse_i64(fld[4], &p->end) ||
                parse_i64(fld[5], &p->source_bytes) || first < 0 || last < first ||
                last >= plan->nsources) {
                rc = -EINVAL;
                break;
            }
            p->first_source = (uint32_t)first;
            p->last_source = (uint32_t)last;
            plan->npieces++;
        } else if (strcmp(fld[0], "parquet") == 0 && n == 4) {
            /* after the sources: row groups and footer offset of a Parquet source */
            int64_t idx, groups, footer;
            if (parse_i64(fld[1], &idx) || parse_i64(fld[2], &groups) ||
                parse_i64(fld[3], &footer) || idx < 0 || idx >= plan->nsources ||
                groups < 0 || groups > UINT32_MAX / 2 || footer < 0 ||
                tokfs_format_kind(plan->sources[idx].format) != TOKFS_FORMAT_PARQUET ||
                plan->sources[idx].pq_footer_start != 0 || plan->npieces != 0 ||
                (plan->sources[idx].info.size >= 0 && footer > plan->sources[idx].info.size)) {
                rc = -EINVAL;
                break;
            }
            plan->sources[idx].pq_row_groups = (uint32_t)groups;
            plan->sources[idx].pq_footer_start = footer > 0 ? footer : -1;
        } else if (strcmp(fld[0], "tokens") == 0 && n == 5) {
            /* after the sources: a token source's header bytes, id width and id count */
            int64_t idx, header, width, count;
            if (parse_i64(fld[1], &idx) || parse_i64(fld[2], &header) ||
                parse_i64(fld[3], &width) || parse_i64(fld[4], &count) || idx < 0 ||
                idx >= plan->nsources || !tokfs_format_is_tokens(plan->sources[idx].format) ||
                plan->sources[idx].tok_id_bytes != 0 || (width != 2 && width != 4) ||
                header < 0 || header > UINT32_MAX || count < 0 || plan->npieces != 0) {
                rc = -EINVAL;
                break;
            }
            plan->sources[idx].tok_header = (uint32_t)header;
            plan->sources[idx].tok_id_bytes = (uint32_t)width;
            plan->sources[idx].tok_count = count;
        } else if (strcmp(fld[0], "split") == 0 && n == 3) {
            int64_t ntrain = 0, nval = 0;
            if (parse_i64(fld[1], &ntrain) || parse_i64(fld[2], &nval) || ntrain < 0 || nval < 0)
                rc = -EINVAL;
            plan->ntrain = (uint32_t)ntrain;
            plan->nval = (uint32_t)nval;
        } else if (strcmp(fld[0], "end") == 0) {
            saw_end = 1;
        } else {
            rc = -EINVAL;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0 && (!saw_end || plan->npieces == 0 || plan->ntrain + plan->nval != plan->npieces))
        rc = -EINVAL;
    /* Every Parquet source has its line, and pieces cut it between its row groups. */
    for (uint32_t i = 0; rc == 0 && i < plan->nsources; i++)
        if (tokfs_format_kind(plan->sources[i].format) == TOKFS_FORMAT_PARQUET &&
            plan->sources[i].pq_footer_start == 0)
            rc = -EINVAL;
    for (uint32_t i = 0; rc == 0 && i < plan->nsources; i++) /* and every token source its own */
        if (tokfs_format_is_tokens(plan->sources[i].format) && plan->sources[i].tok_id_bytes == 0)
            rc = -EINVAL;
    for (uint32_t i = 0; rc == 0 && i < plan->npieces; i++) {
        const tokfs_piece *p = &plan->pieces[i];
        const tokfs_source *first = &plan->sources[p->first_source];
        const tokfs_source *last = &plan->sources[p->last_source];
        if ((parquet_source(first) && (p->begin < 0 || p->begin > (int64_t)first->pq_row_groups)) ||
            (parquet_source(last) && (p->end < 0 || p->end > (int64_t)last->pq_row_groups)) ||
            (p->first_source == p->last_source && parquet_source(first) && p->begin > p->end))
            rc = -EINVAL;
        if ((tokfs_format_is_tokens(first->format) &&
             (p->begin < 0 || p->begin > first->tok_count)) ||
            (tokfs_format_is_tokens(last->format) && (p->end < 0 || p->end > last->tok_count)) ||
            (p->first_source == p->last_source && tokfs_format_is_tokens(first->format) &&
             p->begin > p->end))
            rc = -EINVAL;
    }
    if (rc) {
        tokfs_plan_free(plan);
        if (rc == -EINVAL)
            tokfs_err_set(err, EINVAL, "saved plan %s is damaged or stale; it will be rebuilt",
                          path);
    }
    return rc;
}
