/* Hugging Face pre-tokenizers: a tokenizer.json "pre_tokenizer" parsed into a flat list of stages
 * (Sequences, nested or not, are concatenated: the reference applies each stage to every piece
 * of the one before, which is the same thing) and run piece by piece, depth first, so a piece
 * that is a slice of its input is never copied. Only Metaspace and ByteLevel's add_prefix_space
 * make new text; each such stage has its own scratch buffer per call (thread-safe on a const
 * tokfs_pre). See pretok_hf_internal.h. */
#include "tokenize/pretok_hf_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tokenize/unicode_internal.h"

/* Deeper Sequences than this are refused (no real tokenizer.json comes near it); it bounds the
 * recursion of a split, one level per stage. */
#define MAX_STAGES 64

/* The reference's SplitDelimiterBehavior. */
typedef enum behavior {
    B_REMOVED,
    B_ISOLATED,
    B_MERGED_PREV,
    B_MERGED_NEXT,
    B_CONTIGUOUS,
} behavior;

typedef enum stage_kind {
    K_SPLIT_REGEX,   /* Split with a Regex pattern (hand-written matcher or PCRE2) */
    K_SPLIT_LITERAL, /* Split with a String pattern */
    K_CHARS,         /* a split on a character predicate: Punctuation, Digits, WhitespaceSplit,
                        CharDelimiterSplit, the two halves of BertPreTokenizer */
    K_WHITESPACE,    /* Whitespace: \w+|[^\w\s]+, inverted, Removed */
    K_METASPACE,
    K_BYTE_LEVEL,
    K_FIXED_LENGTH,
} stage_kind;

typedef enum pred {
    P_PUNCT,   /* TOKFS_UC_HF_PUNCT */
    P_NUMERIC, /* TOKFS_UC_HF_NUMERIC */
    P_SPACE,   /* TOKFS_UC_HF_SPACE */
    P_CHAR,    /* one code point */
} pred;

typedef struct stage {
    stage_kind kind;
    behavior behavior;
    int invert;
    tokfs_pretok re;      /* K_SPLIT_REGEX */
    int md;               /* K_SPLIT_REGEX on PCRE2: index of its match data in a call */
    uint8_t *lit;         /* K_SPLIT_LITERAL */
    size_t lit_len;
    pred pred;            /* K_CHARS */
    uint32_t ch;          /* K_CHARS P_CHAR, K_METASPACE: the replacement */
    uint8_t repl[4];      /* K_METASPACE: the replacement in UTF-8 */
    unsigned repl_len;
    enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend;
    int split;            /* K_METASPACE */
    int add_prefix_space; /* K_BYTE_LEVEL */
    int use_regex;        /* K_BYTE_LEVEL */
    size_t length;        /* K_FIXED_LENGTH, in characters */
} stage;

struct tokfs_pre {
    stage st[MAX_STAGES];
    size_t n;
    int n_md;       /* stages that need PCRE2 match data */
    int byte_level; /* a ByteLevel stage is present (it is the last) */
};

/* ---- loading ------------------------------------------------------------------------------ */

static int refuse(tokfs_err *err, const char *path, const char *what)
{
    return tokfs_err_set(err, ENOTSUP, "tokenizer=%s: %s is not supported; tokfs refuses rather "
                         "than approximate it", path, what);
}

static int malformed(tokfs_err *err, const char *path, const char *type, const char *what)
{
    return tokfs_err_set(err, EINVAL, "tokenizer=%s: pre_tokenizer %s: %s", path, type, what);
}

/* A JSON string holding exactly one character (serde's char). */
static int one_char(json_t *v, uint32_t *cp, uint8_t utf8[4], unsigned *n)
{
    if (!json_is_string(v))
        return -1;
    const uint8_t *s = (const uint8_t *)json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > 4)
        return -1;
    unsigned l;
    *cp = tokfs_uc_decode(s, len, &l);
    if (l != len)
        return -1;
    memcpy(utf8, s, len);
    *n = l;
    return 0;
}

/* A required boolean (serde: a missing field is an error). */
static int req_bool(json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int parse_behavior(json_t *v, behavior *out)
{
    static const struct {
        const char *name;
        behavior b;
    } NAMES[] = {
        {"Removed", B_REMOVED},
        {"Isolated", B_ISOLATED},
        {"MergedWithPrevious", B_MERGED_PREV},
        {"MergedWithNext", B_MERGED_NEXT},
        {"Contiguous", B_CONTIGUOUS},
    };
    if (!json_is_string(v))
        return -1;
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(json_string_value(v), NAMES[i].name) == 0) {
            *out = NAMES[i].b;
            return 0;
        }
    return -1;
}

static stage *new_stage(tokfs_pre *p, const char *path, stage_kind kind, tokfs_err *err)
{
    if (p->n >= MAX_STAGES) {
        refuse(err, path, "a pre_tokenizer Sequence this long");
        return NULL;
    }
    stage *s = &p->st[p->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->md = -1;
    return s;
}

static int add_chars(tokfs_pre *p, const char *path, pred pr, behavior b, tokfs_err *err)
{
    stage *s = new_stage(p, path, K_CHARS, err);
    if (!s)
        return -ENOTSUP;
    s->pred = pr;
    s->behavior = b;
    return 0;
}

static int add_split(tokfs_pre *p, const char *path, json_t *spec, tokfs_err *err)
{
    json_t *pat = json_object_get(spec, "pattern");
    json_t *str = json_object_get(pat, "String"), *re = json_object_get(pat, "Regex");
    behavior b;
    int invert;
    if (!json_is_object(pat) || json_object_size(pat) != 1 ||
        !(json_is_string(str) || json_is_string(re)))
        return malformed(err, path, "Split", "pattern must be {\"String\": ...} or {\"Regex\": ...}");
    if (parse_behavior(json_object_get(spec, "behavior"), &b))
        return malformed(err, path, "Split", "behavior missing or unknown");
    if (req_bool(spec, "invert", &invert))
        return malformed(err, path, "Split", "invert missing");
    stage *s = new_stage(p, path, str ? K_SPLIT_LITERAL : K_SPLIT_REGEX, err);
    if (!s)
        return -ENOTSUP;
    s->behavior = b;
    s->invert = invert;
    if (str) {
        s->lit_len = json_string_length(str);
        s->lit = malloc(s->lit_len + 1);
        if (!s->lit)
            return -ENOMEM;
        memcpy(s->lit, json_string_value(str), s->lit_len);
        return 0;
    }
    tokfs_err sub = {0};
    int rc = tokfs_pretok_init_regex(&s->re, json_string_value(re), &sub);
    if (rc) {
        s->kind = K_SPLIT_LITERAL; /* nothing to free */
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", path, sub.msg);
    }
    if (s->re.kind == TOKFS_PATTERN_REGEX)
        s->md = p->n_md++;
    return 0;
}

static int add_metaspace(tokfs_pre *p, const char *path, json_t *spec, tokfs_err *err)
{
    uint32_t cp;
    uint8_t utf8[4];
    unsigned n;
    if (one_char(json_object_get(spec, "replacement"), &cp, utf8, &n))
        return malformed(err, path, "Metaspace", "replacement must be one character");
    int prepend = PREPEND_ALWAYS; /* the reference's default when prepend_scheme is absent */
    json_t *scheme = json_object_get(spec, "prepend_scheme");
    if (scheme) {
        const char *v = json_string_value(scheme);
        if (v && strcmp(v, "first") == 0)
            prepend = PREPEND_FIRST;
        else if (v && strcmp(v, "never") == 0)
            prepend = PREPEND_NEVER;
        else if (!v || strcmp(v, "always") != 0)
            return malformed(err, path, "Metaspace", "prepend_scheme must be first, always or never");
    }
    /* the legacy add_prefix_space: false only agrees with "never" — the reference refuses the
     * file otherwise, even when prepend_scheme is absent (its default is "always") */
    json_t *aps = json_object_get(spec, "add_prefix_space");
    if (aps && !json_is_null(aps)) {
        if (!json_is_boolean(aps))
            return malformed(err, path, "Metaspace", "add_prefix_space must be a boolean");
        if (json_is_false(aps) && prepend != PREPEND_NEVER)
            return malformed(err, path, "Metaspace",
                             "add_prefix_space does not match declared prepend_scheme");
    }
    int split = 1;
    json_t *sp = json_object_get(spec, "split");
    if (sp && !json_is_null(sp)) {
        if (!json_is_boolean(sp))
            return malformed(err, path, "Metaspace", "split must be a boolean");
        split = json_is_true(sp);
    }
    stage *s = new_stage(p, path, K_METASPACE, err);
    if (!s)
        return -ENOTSUP;
    s->ch = cp;
    memcpy(s->repl, utf8, n);
    s->repl_len = n;
    s->prepend = prepend;
    s->split = split;
    return 0;
}

static int add_spec(tokfs_pre *p, const char *path, json_t *spec, int depth, tokfs_err *err)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (!json_is_object(spec) || !type)
        return malformed(err, path, "(no type)", "a pre_tokenizer needs a \"type\"");
    if (p->byte_level) {
        /* the reference hands the next stage ByteLevel's mapped characters (a space is 'Ġ'),
         * tokfs raw bytes: a split on them could differ */
        char what[160];
        snprintf(what, sizeof what, "pre_tokenizer %s after ByteLevel", type);
        return refuse(err, path, what);
    }
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(spec, "pretokenizers");
        if (!json_is_array(list))
            return malformed(err, path, type, "pretokenizers missing");
        if (depth >= MAX_STAGES)
            return refuse(err, path, "a pre_tokenizer Sequence nested this deep");
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            int rc = add_spec(p, path, item, depth + 1, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type, "Split") == 0)
        return add_split(p, path, spec, err);
    if (strcmp(type, "Metaspace") == 0)
        return add_metaspace(p, path, spec, err);
    if (strcmp(type, "Digits") == 0) {
        int individual;
        if (req_bool(spec, "individual_digits", &individual))
            return malformed(err, path, type, "individual_digits missing");
        return add_chars(p, path, P_NUMERIC, individual ? B_ISOLATED : B_CONTIGUOUS, err);
    }
    if (strcmp(type, "Punctuation") == 0) {
        behavior b = B_ISOLATED;
        json_t *bv = json_object_get(spec, "behavior");
        if (bv && parse_behavior(bv, &b))
            return malformed(err, path, type, "unknown behavior");
        return add_chars(p, path, P_PUNCT, b, err);
    }
    if (strcmp(type, "WhitespaceSplit") == 0)
        return add_chars(p, path, P_SPACE, B_REMOVED, err);
    if (strcmp(type, "BertPreTokenizer") == 0) {
        int rc = add_chars(p, path, P_SPACE, B_REMOVED, err);
        return rc ? rc : add_chars(p, path, P_PUNCT, B_ISOLATED, err);
    }
    if (strcmp(type, "CharDelimiterSplit") == 0) {
        uint32_t cp;
        uint8_t utf8[4];
        unsigned n;
        if (one_char(json_object_get(spec, "delimiter"), &cp, utf8, &n))
            return malformed(err, path, type, "delimiter must be one character");
        int rc = add_chars(p, path, P_CHAR, B_REMOVED, err);
        if (!rc)
            p->st[p->n - 1].ch = cp;
        return rc;
    }
    if (strcmp(type, "Whitespace") == 0) {
        stage *s = new_stage(p, path, K_WHITESPACE, err);
        return s ? 0 : -ENOTSUP;
    }
    if (strcmp(type, "FixedLength") == 0) {
        size_t length = 5; /* the reference's default */
        json_t *lv = json_object_get(spec, "length");
        if (lv) {
            if (!json_is_integer(lv) || json_integer_value(lv) < 0)
                return malformed(err, path, type, "length must be a non-negative integer");
            length = (size_t)json_integer_value(lv);
        }
        if (length == 0) /* the reference panics on it */
            return refuse(err, path, "pre_tokenizer FixedLength with length 0");
        stage *s = new_stage(p, path, K_FIXED_LENGTH, err);
        if (!s)
            return -ENOTSUP;
        s->length = length;
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        int aps, trim;
        if (req_bool(spec, "add_prefix_space", &aps))
            return malformed(err, path, type, "add_prefix_space missing");
        if (req_bool(spec, "trim_offsets", &trim)) /* offsets only; required by the reference */
            return malformed(err, path, type, "trim_offsets missing");
        int use_regex = 1;
        json_t *ur = json_object_get(spec, "use_regex");
        if (ur && !json_is_boolean(ur))
            return malformed(err, path, type, "use_regex must be a boolean");
        if (ur)
            use_regex = json_is_true(ur);
        stage *s = new_stage(p, path, K_BYTE_LEVEL, err);
        if (!s)
            return -ENOTSUP;
        s->add_prefix_space = aps;
        s->use_regex = use_regex;
        tokfs_pretok_init_kind(&s->re, TOKFS_PATTERN_GPT2);
        p->byte_level = 1;
        return 0;
    }
    char what[160];
    snprintf(what, sizeof what, "pre_tokenizer %s", type);
    return refuse(err, path, what);
}

int tokfs_pre_from_json(const char *path, json_t *spec, tokfs_pre **out, tokfs_err *err)
{
    *out = NULL;
    if (!spec || json_is_null(spec))
        return 0;
    tokfs_pre *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = add_spec(p, path, spec, 0, err);
    if (rc) {
        tokfs_pre_free(p);
        return rc;
    }
    /* A last ByteLevel without its regex and without a prefix space passes every piece on as it
     * is (the byte mapping is implicit here): dropped, so Llama-3/Qwen-style Split + ByteLevel
     * costs one stage per piece, as a bare Split. p->byte_level stays set. */
    if (p->n && p->st[p->n - 1].kind == K_BYTE_LEVEL && !p->st[p->n - 1].use_regex &&
        !p->st[p->n - 1].add_prefix_space)
        p->n--;
    *out = p;
    return 0;
}

void tokfs_pre_free(tokfs_pre *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->st[i].kind == K_SPLIT_REGEX)
            tokfs_pretok_free(&p->st[i].re);
        free(p->st[i].lit);
    }
    free(p);
}

int tokfs_pre_byte_level(const tokfs_pre *p)
{
    return p && p->byte_level;
}

/* ---- splitting ---------------------------------------------------------------------------- */

/* One call's state: the output, PCRE2 match data per regex stage, scratch per stage. */
typedef struct run {
    const tokfs_pre *p;
    tokfs_piece_fn emit;
    void *ctx;
    tokfs_pretok_md **md;
    tokfs_buf *scratch;
} run;

static int feed(run *r, size_t k, const uint8_t *t, size_t n, int at_start);

/* The behaviors over the stream of (start, end, is_match) entries a pattern gives, which cover
 * the input in order (empty matches included), as the reference's NormalizedString::split folds
 * them; a piece is held back until the next entry says whether it grows. */
typedef struct splitter {
    run *r;
    size_t k; /* the stage */
    const uint8_t *t;
    int at_start;
    behavior b;
    int invert;
    int have;      /* a held piece [ps, pe) */
    size_t ps, pe;
    int held_match;
    int prev_match; /* the reference's previous_match: the last entry's flag */
} splitter;

static int out(splitter *sp, size_t s, size_t e)
{
    if (e == s) /* empty pieces are dropped (PreTokenizedString::split) */
        return 0;
    return feed(sp->r, sp->k + 1, sp->t + s, e - s, sp->at_start && s == 0);
}

static int flush(splitter *sp)
{
    if (!sp->have)
        return 0;
    sp->have = 0;
    return out(sp, sp->ps, sp->pe);
}

static int hold(splitter *sp, size_t s, size_t e, int is_match)
{
    int rc = flush(sp);
    sp->have = 1;
    sp->ps = s;
    sp->pe = e;
    sp->held_match = is_match;
    return rc;
}

static int entry(splitter *sp, size_t s, size_t e, int is_match)
{
    is_match ^= sp->invert;
    int rc = 0;
    switch (sp->b) {
    case B_ISOLATED:
        return out(sp, s, e);
    case B_REMOVED:
        return is_match ? 0 : out(sp, s, e);
    case B_CONTIGUOUS: /* runs of entries with the same flag become one piece */
        if (sp->have && is_match == sp->prev_match)
            sp->pe = e;
        else
            rc = hold(sp, s, e, is_match);
        break;
    case B_MERGED_PREV: /* a match joins the piece before it unless that was a match */
        if (sp->have && is_match && !sp->prev_match)
            sp->pe = e;
        else
            rc = hold(sp, s, e, is_match);
        break;
    case B_MERGED_NEXT: /* a match joins the piece after it unless that is a match */
        if (sp->have && sp->held_match && !is_match) {
            sp->have = 0;
            rc = out(sp, sp->ps, e);
        } else {
            rc = hold(sp, s, e, is_match);
        }
        break;
    }
    sp->prev_match = is_match;
    return rc;
}

static void splitter_init(splitter *sp, run *r, size_t k, const uint8_t *t, int at_start,
                          behavior b, int invert)
{
    memset(sp, 0, sizeof *sp);
    sp->r = r;
    sp->k = k;
    sp->t = t;
    sp->at_start = at_start;
    sp->b = b;
    sp->invert = invert;
}

/* A pattern's matches → entries: the text between matches is a non-match entry. */
typedef struct matcher {
    splitter sp;
    size_t prev;
} matcher;

static int on_match(void *ctx, size_t s, size_t e)
{
    matcher *m = ctx;
    int rc;
    if (s > m->prev && (rc = entry(&m->sp, m->prev, s, 0)))
        return rc;
    m->prev = e;
    return entry(&m->sp, s, e, 1);
}

static int finish(matcher *m, size_t n)
{
    int rc;
    if (m->prev < n && (rc = entry(&m->sp, m->prev, n, 0)))
        return rc;
    return flush(&m->sp);
}

static int split_literal(const stage *st, matcher *m, const uint8_t *t, size_t n)
{
    int rc;
    if (st->lit_len == 0) {
        /* the escaped empty regex matches (empty) at every character boundary */
        for (size_t i = 0;;) {
            if ((rc = on_match(m, i, i)))
                return rc;
            if (i >= n)
                break;
            unsigned l;
            tokfs_uc_decode(t + i, n - i, &l);
            i += l;
        }
        return finish(m, n);
    }
    for (size_t i = 0; i + st->lit_len <= n;) {
        const uint8_t *f = memmem(t + i, n - i, st->lit, st->lit_len);
        if (!f)
            break;
        size_t s = (size_t)(f - t);
        if ((rc = on_match(m, s, s + st->lit_len)))
            return rc;
        i = s + st->lit_len;
    }
    return finish(m, n);
}

static inline int pred_at(const stage *st, uint32_t cp)
{
    switch (st->pred) {
    case P_PUNCT: return (tokfs_uc_hf_class(cp) & TOKFS_UC_HF_PUNCT) != 0;
    case P_NUMERIC: return (tokfs_uc_hf_class(cp) & TOKFS_UC_HF_NUMERIC) != 0;
    case P_SPACE: return (tokfs_uc_hf_class(cp) & TOKFS_UC_HF_SPACE) != 0;
    default: return cp == st->ch;
    }
}

/* A character predicate: every matching character is a match entry of its own. */
static int split_chars(const stage *st, matcher *m, const uint8_t *t, size_t n)
{
    int rc;
    for (size_t i = 0; i < n;) {
        unsigned l;
        uint32_t cp = tokfs_uc_decode(t + i, n - i, &l);
        if (pred_at(st, cp) && (rc = on_match(m, i, i + l)))
            return rc;
        i += l;
    }
    return finish(m, n);
}

/* Whitespace: the matches of \w+|[^\w\s]+ are the pieces, the rest (\s) is dropped. */
static int split_whitespace(run *r, size_t k, const uint8_t *t, size_t n, int at_start)
{
    size_t i = 0;
    while (i < n) {
        unsigned l;
        unsigned c = tokfs_uc_hf_class(tokfs_uc_decode(t + i, n - i, &l));
        if (c & TOKFS_UC_HF_SPACE && !(c & TOKFS_UC_HF_WORD)) {
            i += l;
            continue;
        }
        int word = (c & TOKFS_UC_HF_WORD) != 0;
        size_t e = i + l;
        while (e < n) {
            unsigned c2 = tokfs_uc_hf_class(tokfs_uc_decode(t + e, n - e, &l));
            int w2 = (c2 & TOKFS_UC_HF_WORD) != 0;
            if (w2 != word || (!w2 && (c2 & TOKFS_UC_HF_SPACE)))
                break;
            e += l;
        }
        int rc = feed(r, k + 1, t + i, e - i, at_start && i == 0);
        if (rc)
            return rc;
        i = e;
    }
    return 0;
}

static int split_fixed(const stage *st, run *r, size_t k, const uint8_t *t, size_t n,
                       int at_start)
{
    for (size_t i = 0; i < n;) {
        size_t e = i;
        for (size_t c = 0; c < st->length && e < n; c++) {
            unsigned l;
            tokfs_uc_decode(t + e, n - e, &l);
            e += l;
        }
        int rc = feed(r, k + 1, t + i, e - i, at_start && i == 0);
        if (rc)
            return rc;
        i = e;
    }
    return 0;
}

static int split_metaspace(const stage *st, run *r, size_t k, const uint8_t *t, size_t n,
                           int at_start)
{
    tokfs_buf *b = &r->scratch[k];
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++)
        spaces += t[i] == ' ';
    tokfs_buf_clear(b);
    if (tokfs_buf_reserve(b, n + (spaces + 1) * st->repl_len))
        return -ENOMEM;
    uint8_t *o = b->data;
    /* the reference replaces ' ' first, then prepends unless the text starts with the
     * replacement (so a leading space never gets a second one) */
    int starts = n >= st->repl_len && memcmp(t, st->repl, st->repl_len) == 0;
    starts |= t[0] == ' ';
    if (!starts && (st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && at_start))) {
        memcpy(o, st->repl, st->repl_len);
        o += st->repl_len;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i] == ' ') {
            memcpy(o, st->repl, st->repl_len);
            o += st->repl_len;
        } else {
            *o++ = t[i];
        }
    }
    size_t m = (size_t)(o - b->data);
    if (!st->split)
        return feed(r, k + 1, b->data, m, at_start);
    /* MergedWithNext on the replacement: each one starts a piece */
    matcher mt = {0};
    splitter_init(&mt.sp, r, k, b->data, at_start, B_MERGED_NEXT, 0);
    stage chars = {.kind = K_CHARS, .pred = P_CHAR, .ch = st->ch};
    return split_chars(&chars, &mt, b->data, m);
}

typedef struct bl_ctx {
    run *r;
    size_t k;
    const uint8_t *t;
    int at_start;
} bl_ctx;

static int on_piece_next(void *ctx, size_t s, size_t e)
{
    bl_ctx *c = ctx;
    return feed(c->r, c->k + 1, c->t + s, e - s, c->at_start && s == 0);
}

static int split_byte_level(const stage *st, run *r, size_t k, const uint8_t *t, size_t n,
                            int at_start)
{
    if (st->add_prefix_space && t[0] != ' ') {
        tokfs_buf *b = &r->scratch[k];
        tokfs_buf_clear(b);
        if (tokfs_buf_reserve(b, n + 1))
            return -ENOMEM;
        b->data[0] = ' ';
        memcpy(b->data + 1, t, n);
        t = b->data;
        n++;
    }
    if (!st->use_regex)
        return feed(r, k + 1, t, n, at_start);
    bl_ctx c = {r, k, t, at_start};
    return tokfs_pretok_matches(&st->re, t, n, NULL, on_piece_next, &c);
}

static int feed(run *r, size_t k, const uint8_t *t, size_t n, int at_start)
{
    if (k == r->p->n)
        return r->emit(r->ctx, t, n);
    const stage *st = &r->p->st[k];
    matcher m = {0};
    int rc;
    switch (st->kind) {
    case K_SPLIT_REGEX: {
        tokfs_pretok_md *md = NULL;
        if (st->md >= 0) {
            if (!r->md[st->md] && !(r->md[st->md] = tokfs_pretok_md_create()))
                return -ENOMEM;
            md = r->md[st->md];
        }
        splitter_init(&m.sp, r, k, t, at_start, st->behavior, st->invert);
        if ((rc = tokfs_pretok_matches(&st->re, t, n, md, on_match, &m)))
            return rc;
        return finish(&m, n);
    }
    case K_SPLIT_LITERAL:
        splitter_init(&m.sp, r, k, t, at_start, st->behavior, st->invert);
        return split_literal(st, &m, t, n);
    case K_CHARS:
        splitter_init(&m.sp, r, k, t, at_start, st->behavior, 0);
        return split_chars(st, &m, t, n);
    case K_WHITESPACE:
        return split_whitespace(r, k, t, n, at_start);
    case K_METASPACE:
        return split_metaspace(st, r, k, t, n, at_start);
    case K_BYTE_LEVEL:
        return split_byte_level(st, r, k, t, n, at_start);
    case K_FIXED_LENGTH:
        return split_fixed(st, r, k, t, n, at_start);
    }
    return -EINVAL;
}

int tokfs_pre_split_at(const tokfs_pre *p, const uint8_t *text, size_t len, int at_start,
                       tokfs_piece_fn emit, void *ctx)
{
    if (len == 0) /* the reference gives no piece for empty text, even with Metaspace */
        return 0;
    if (!p || p->n == 0)
        return emit(ctx, text, len);
    tokfs_pretok_md *md[MAX_STAGES] = {0};
    tokfs_buf scratch[MAX_STAGES] = {{0}};
    run r = {p, emit, ctx, md, scratch};
    int rc = feed(&r, 0, text, len, at_start);
    for (int i = 0; i < p->n_md; i++)
        if (md[i])
            tokfs_pretok_md_free(md[i]);
    for (size_t i = 0; i < p->n; i++)
        tokfs_buf_free(&scratch[i]);
    return rc;
}

int tokfs_pre_split(const tokfs_pre *p, const uint8_t *text, size_t len, tokfs_piece_fn emit,
                    void *ctx)
{
    return tokfs_pre_split_at(p, text, len, 1, emit, ctx);
}

/* ---- cuts --------------------------------------------------------------------------------- */

/* First i >= from (i > 0) with text[i] == c, or len. */
static size_t next_byte(const uint8_t *text, size_t len, size_t from, uint8_t c)
{
    if (from == 0)
        from = 1;
    if (from >= len)
        return len;
    const uint8_t *f = memchr(text + from, c, len - from);
    return f ? (size_t)(f - text) : len;
}

/* A cut for the first stage alone: a place where it ends a piece in the whole text and each
 * half gives the same pieces on its own. */
static size_t stage_cut(const stage *st, const uint8_t *text, size_t len, size_t from)
{
    switch (st->kind) {
    case K_SPLIT_REGEX:
        /* the hand-written patterns' cuts hold for their matches, Isolated */
        if (st->re.kind != TOKFS_PATTERN_REGEX && st->behavior == B_ISOLATED && !st->invert)
            return tokfs_pretok_cut(&st->re, text, len, from);
        return len;
    case K_BYTE_LEVEL:
        /* a prefix space would be added to the second half */
        if (st->use_regex && !st->add_prefix_space)
            return tokfs_pretok_cut(&st->re, text, len, from);
        return len;
    case K_CHARS:
        /* before a removed delimiter: the piece before it ends there, the delimiter goes */
        if (st->behavior == B_REMOVED && st->pred == P_SPACE)
            return next_byte(text, len, from, ' ');
        if (st->behavior == B_REMOVED && st->pred == P_CHAR && st->ch < 0x80)
            return next_byte(text, len, from, (uint8_t)st->ch);
        return len;
    case K_WHITESPACE: /* neither \w+ nor [^\w\s]+ goes over a space, which is dropped */
        return next_byte(text, len, from, ' ');
    case K_METASPACE:
        /* a space becomes the replacement, which starts a piece; a half starting with it gets
         * nothing prepended, whatever the scheme */
        if (st->split && st->ch != ' ')
            return next_byte(text, len, from, ' ');
        return len;
    default:
        return len;
    }
}

size_t tokfs_pre_cut(const tokfs_pre *p, const uint8_t *text, size_t len, size_t from)
{
    if (!p || p->n == 0)
        return len;
    /* The first stage then hands the later ones the same pieces, which they treat one by one
     * and alike — but for Metaspace "first", which looks at where a piece is in the text. */
    for (size_t k = 1; k < p->n; k++)
        if (p->st[k].kind == K_METASPACE && p->st[k].prepend == PREPEND_FIRST)
            return len;
    return stage_cut(&p->st[0], text, len, from);
}
