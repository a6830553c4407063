/* tokfs — the tokenizer.json vocabulary scanner (see hf_scan_internal.h).
 *
 * Two kinds of walking. Around model.vocab and model.merges the scanner only has to find its
 * way: strings are stepped over (escapes included, so a quote inside one never misleads) and
 * brackets counted; jansson later parses and validates all of that text. The two values
 * themselves are never seen by jansson, so here the grammar is checked strictly, as serde_json
 * would: every string, separator and number, UTF-8 validity (checked once for the whole file up
 * front), and no lone surrogate escape. The rest is a copy without the two values (cut to "{}"
 * and "[]", not blanked: jansson reads whitespace one byte at a time through a callback, and 33
 * MB of it cost 0.3 s); tokfs_hf_scan_file_offset maps an error's place back into the file. */
#include "tokenize/hf_scan_internal.h"

#include "common/buf.h"
#include "common/json_text.h"
#include "common/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scanner {
    const uint8_t *file, *p, *end;
    uint8_t *arena; /* room for every decoded string: never longer than the file */
    size_t arena_len;
    char *msg;
    size_t msgcap;
} scanner;

static int fail(scanner *sc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sc->msg, sc->msgcap, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sc->msgcap)
        snprintf(sc->msg + n, sc->msgcap - (size_t)n, " (byte %zu)", (size_t)(sc->p - sc->file));
    return -EINVAL;
}

static inline void space(scanner *sc)
{
    sc->p = tokfs_json_skip_space(sc->p, sc->end);
}

/* Expect byte c after optional whitespace. */
static int expect(scanner *sc, uint8_t c)
{
    space(sc);
    if (sc->p >= sc->end || *sc->p != c)
        return fail(sc, "expected '%c'", c);
    sc->p++;
    return 0;
}

/* The string at sc->p (its opening quote): *s points into the file when it has no escape, else
 * into the arena, decoded. Strict: serde_json rejects control bytes and lone surrogates. */
static int read_string(scanner *sc, const uint8_t **s, uint32_t *len)
{
    if (sc->p >= sc->end || *sc->p != '"')
        return fail(sc, "expected a string");
    const uint8_t *q = sc->p + 1, *end = sc->end;
    size_t run = tokfs_json_plain_run(q, end, NULL);
    if (q + run < end && q[run] == '"') {
        if (run > UINT32_MAX)
            return fail(sc, "string too long");
        *s = q;
        *len = (uint32_t)run;
        sc->p = q + run + 1;
        return 0;
    }
    uint8_t *out = sc->arena + sc->arena_len;
    size_t o = 0;
    for (;;) {
        run = tokfs_json_plain_run(q, end, out + o);
        q += run;
        o += run;
        if (q >= end) {
            sc->p = q;
            return fail(sc, "unterminated string");
        }
        if (*q == '"')
            break;
        if (*q != '\\') {
            sc->p = q;
            return fail(sc, "control character in a string");
        }
        size_t nbuf;
        int lone;
        const uint8_t *after = tokfs_json_escape(q, end, out + o, &nbuf, &lone);
        if (!after || lone) {
            sc->p = q;
            return fail(sc, after ? "lone surrogate escape" : "bad escape");
        }
        q = after;
        o += nbuf;
    }
    if (o > UINT32_MAX)
        return fail(sc, "string too long");
    *s = out;
    *len = (uint32_t)o;
    sc->arena_len += o;
    sc->p = q + 1;
    return 0;
}

/* Step over one value without checking it (jansson will). */
static int skip_value(scanner *sc)
{
    size_t depth = 0;
    do {
        space(sc);
        if (sc->p >= sc->end)
            return fail(sc, "unexpected end of file");
        uint8_t c = *sc->p;
        if (c == '"') {
            const uint8_t *q = sc->p + 1;
            for (;;) {
                q += tokfs_json_plain_run(q, sc->end, NULL);
                if (q >= sc->end)
                    return fail(sc, "unterminated string");
                if (*q == '"')
                    break;
                q += *q == '\\' ? 2 : 1; /* an escape, or a control byte jansson will refuse */
            }
            sc->p = q + 1;
        } else if (c == '{' || c == '[') {
            depth++;
            sc->p++;
        } else if (c == '}' || c == ']') {
            if (!depth)
                return fail(sc, "unexpected '%c'", c);
            depth--;
            sc->p++;
        } else if (c == ',' || c == ':') {
            if (!depth)
                return fail(sc, "unexpected '%c'", c);
            sc->p++;
            continue; /* a separator is not a value: stay in the loop even at depth 1 */
        } else {
            const uint8_t *q = sc->p;
            while (q < sc->end && *q != ',' && *q != '}' && *q != ']' && *q != ':' &&
                   !tokfs_json_is_space(*q))
                q++;
            if (q == sc->p)
                return fail(sc, "unexpected byte");
            sc->p = q;
        }
    } while (depth);
    return 0;
}

/* Separator inside a container: 1 when another element follows, 0 at its close. */
static int next_element(scanner *sc, uint8_t close, int *more)
{
    space(sc);
    if (sc->p < sc->end && *sc->p == ',') {
        sc->p++;
        space(sc);
        *more = 1;
        return 0;
    }
    if (sc->p < sc->end && *sc->p == close) {
        sc->p++;
        *more = 0;
        return 0;
    }
    return fail(sc, "expected ',' or '%c'", close);
}

/* Room for element n. The arrays are tables (common/buf.h): tens of MB for a large vocabulary,
 * grown by mremap with their new pages filled in one call, not one fault per page. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    void *g = tokfs_table_grow(*arr, *cap, c, size);
    if (!g)
        return -ENOMEM;
    *arr = g;
    *cap = c;
    return 0;
}

/* Opening bracket, then 1 if the container is non-empty. */
static int open_container(scanner *sc, uint8_t open, uint8_t close, int *more)
{
    int rc = expect(sc, open);
    if (rc)
        return rc;
    space(sc);
    *more = !(sc->p < sc->end && *sc->p == close);
    if (!*more)
        sc->p++;
    return 0;
}

/* {"token": id, ...} */
static int read_vocab_object(scanner *sc, tokfs_hf_scan *s)
{
    size_t cap = 0;
    int more, rc = open_container(sc, '{', '}', &more);
    while (!rc && more) {
        tokfs_hf_entry e = {0};
        if ((rc = read_string(sc, &e.s, &e.len)) || (rc = expect(sc, ':')))
            return rc;
        space(sc);
        size_t digits;
        int is_float;
        const uint8_t *q = tokfs_json_number(sc->p, sc->end, &digits, &is_float);
        uint64_t v = 0;
        if (q && !is_float && *sc->p != '-' && digits <= 10)
            for (const uint8_t *d = sc->p; d < q; d++)
                v = v * 10 + (uint64_t)(*d - '0');
        if (!q || is_float || *sc->p == '-' || digits > 10 || v > 0x7fffffff)
            return fail(sc, "vocab entry \"%.*s\" has no valid id", (int)(e.len > 40 ? 40 : e.len),
                        (const char *)e.s);
        sc->p = q;
        e.id = (uint32_t)v;
        if ((rc = grow((void **)&s->vocab, &cap, s->nvocab, sizeof *s->vocab)))
            return rc;
        s->vocab[s->nvocab++] = e;
        rc = next_element(sc, '}', &more);
    }
    return rc;
}

/* [["piece", score], ...] */
static int read_vocab_array(scanner *sc, tokfs_hf_scan *s)
{
    size_t cap = 0, scores_cap = 0;
    int more, rc = open_container(sc, '[', ']', &more);
    while (!rc && more) {
        tokfs_hf_entry e = {.id = (uint32_t)s->nvocab};
        if (s->nvocab > 0x7fffffff)
            return fail(sc, "Unigram vocab too large");
        if ((rc = expect(sc, '[')))
            return fail(sc, "Unigram vocab[%zu] is not [piece, score]", s->nvocab);
        space(sc);
        if ((rc = read_string(sc, &e.s, &e.len)))
            return rc;
        if ((rc = expect(sc, ',')))
            return fail(sc, "Unigram vocab[%zu] is not [piece, score]", s->nvocab);
        space(sc);
        size_t digits;
        int is_float;
        const uint8_t *q = tokfs_json_number(sc->p, sc->end, &digits, &is_float);
        char num[64];
        if (!q || (size_t)(q - sc->p) >= sizeof num)
            return fail(sc, "Unigram vocab[%zu] has no valid score", s->nvocab);
        memcpy(num, sc->p, (size_t)(q - sc->p));
        num[q - sc->p] = 0;
        double score = strtod(num, NULL); /* correctly rounded, as jansson read it before */
        sc->p = q;
        if ((rc = expect(sc, ']')))
            return fail(sc, "Unigram vocab[%zu] is not [piece, score]", s->nvocab);
        if ((rc = grow((void **)&s->vocab, &cap, s->nvocab, sizeof *s->vocab)) ||
            (rc = grow((void **)&s->scores, &scores_cap, s->nvocab, sizeof *s->scores)))
            return rc;
        s->scores[s->nvocab] = score;
        s->vocab[s->nvocab++] = e;
        rc = next_element(sc, ']', &more);
    }
    return rc;
}

/* ["a b", ...] or [["a", "b"], ...]. A string that is not two parts around one space gets
 * left = NULL: the loader names the merge. */
static int read_merges(scanner *sc, tokfs_hf_scan *s)
{
    size_t cap = 0;
    int more, rc = open_container(sc, '[', ']', &more);
    while (!rc && more) {
        tokfs_hf_merge m = {0};
        if (sc->p < sc->end && *sc->p == '[') {
            sc->p++;
            space(sc);
            if ((rc = read_string(sc, &m.left, &m.llen)) || (rc = expect(sc, ',')))
                return fail(sc, "merge #%zu is not two tokens", s->nmerges);
            space(sc);
            if ((rc = read_string(sc, &m.right, &m.rlen)) || (rc = expect(sc, ']')))
                return fail(sc, "merge #%zu is not two tokens", s->nmerges);
        } else {
            const uint8_t *str;
            uint32_t n;
            if ((rc = read_string(sc, &str, &n)))
                return fail(sc, "merge #%zu is not two tokens", s->nmerges);
            const uint8_t *sp = memchr(str, ' ', n);
            if (sp && !memchr(sp + 1, ' ', (size_t)(str + n - (sp + 1)))) {
                m.left = str;
                m.llen = (uint32_t)(sp - str);
                m.right = sp + 1;
                m.rlen = (uint32_t)(str + n - (sp + 1));
            }
        }
        if ((rc = grow((void **)&s->merges, &cap, s->nmerges, sizeof *s->merges)))
            return rc;
        s->merges[s->nmerges++] = m;
        rc = next_element(sc, ']', &more);
    }
    return rc;
}

/* Note the value file[a..b) as cut from the rest: it becomes an empty container of its kind. */
static int cut(scanner *sc, tokfs_hf_scan *s, const uint8_t *a, const uint8_t *b)
{
    if (s->ncuts == sizeof s->cut_at / sizeof s->cut_at[0])
        return fail(sc, "too many large members");
    s->cut_at[s->ncuts] = (size_t)(a - sc->file);
    s->cut_len[s->ncuts] = (size_t)(b - a);
    s->ncuts++;
    return 0;
}

static int key_is(const uint8_t *k, uint32_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

static int scan_model(scanner *sc, tokfs_hf_scan *s)
{
    int more, rc = open_container(sc, '{', '}', &more);
    while (!rc && more) {
        const uint8_t *k;
        uint32_t kn;
        if ((rc = read_string(sc, &k, &kn)) || (rc = expect(sc, ':')))
            return rc;
        space(sc);
        const uint8_t *at = sc->p;
        int vocab = key_is(k, kn, "vocab"), merges = key_is(k, kn, "merges");
        if ((vocab && s->vocab_kind != TOKFS_HF_VOCAB_NONE) || (merges && s->has_merges))
            return fail(sc, "model has two %s members", vocab ? "vocab" : "merges");
        if (vocab && at < sc->end && *at == '{') {
            s->vocab_kind = TOKFS_HF_VOCAB_OBJECT;
            rc = read_vocab_object(sc, s);
        } else if (vocab && at < sc->end && *at == '[') {
            s->vocab_kind = TOKFS_HF_VOCAB_ARRAY;
            rc = read_vocab_array(sc, s);
        } else if (merges && at < sc->end && *at == '[') {
            s->has_merges = 1;
            rc = read_merges(sc, s);
        } else {
            rc = skip_value(sc);
            at = NULL;
        }
        if (rc)
            return rc;
        if (at && (rc = cut(sc, s, at, sc->p)))
            return rc;
        rc = next_element(sc, '}', &more);
    }
    return rc;
}

int tokfs_hf_scan_file(const uint8_t *data, size_t len, tokfs_hf_scan *s, char *msg,
                       size_t msgcap)
{
    *s = (tokfs_hf_scan){0};
    scanner sc = {.file = data, .p = data, .end = data + len, .msg = msg, .msgcap = msgcap};
    if (msgcap)
        msg[0] = 0;
    if (!tokfs_utf8_valid(data, len))
        return fail(&sc, "not valid UTF-8");
    if (!(sc.arena = malloc(len + 8)))
        return -ENOMEM;
    s->arena = sc.arena;
    int more, rc = open_container(&sc, '{', '}', &more), seen_model = 0;
    while (!rc && more) {
        const uint8_t *k;
        uint32_t kn;
        if ((rc = read_string(&sc, &k, &kn)) || (rc = expect(&sc, ':')))
            break;
        space(&sc);
        if (!seen_model && key_is(k, kn, "model") && sc.p < sc.end && *sc.p == '{') {
            seen_model = 1; /* a second one: jansson refuses the duplicate key */
            rc = scan_model(&sc, s);
        } else {
            rc = skip_value(&sc);
        }
        if (!rc)
            rc = next_element(&sc, '}', &more);
    }
    if (!rc)
        space(&sc);
    if (!rc && sc.p != sc.end)
        rc = fail(&sc, "data after the top-level object");
    if (rc) {
        tokfs_hf_scan_free(s);
        return rc;
    }
    if ((rc = tokfs_hf_scan_cut(data, len, s)))
        tokfs_hf_scan_free(s);
    return rc;
}

int tokfs_hf_scan_cut(const uint8_t *data, size_t len, tokfs_hf_scan *s)
{
    /* The rest: the file without the cut values, each replaced by "{}" or "[]". */
    size_t from = 0, o = 0;
    for (size_t k = 0; k < s->ncuts; k++) /* in file order, inside the file, containers */
        if (s->cut_at[k] < from || s->cut_len[k] < 2 || s->cut_at[k] > len ||
            s->cut_len[k] > len - s->cut_at[k] ||
            (data[s->cut_at[k]] != '{' && data[s->cut_at[k]] != '['))
            return -EINVAL;
        else
            from = s->cut_at[k] + s->cut_len[k];
    if (!(s->rest = malloc(len + 1)))
        return -ENOMEM;
    from = 0;
    for (size_t k = 0; k < s->ncuts; k++) {
        memcpy(s->rest + o, data + from, s->cut_at[k] - from);
        o += s->cut_at[k] - from;
        s->rest[o++] = (char)data[s->cut_at[k]];
        s->rest[o++] = data[s->cut_at[k]] == '{' ? '}' : ']';
        from = s->cut_at[k] + s->cut_len[k];
    }
    memcpy(s->rest + o, data + from, len - from);
    o += len - from;
    s->rest[o] = 0;
    s->rest_len = o;
    return 0;
}

size_t tokfs_hf_scan_file_offset(const tokfs_hf_scan *s, size_t rest_offset)
{
    size_t shift = 0;
    for (size_t k = 0; k < s->ncuts; k++) {
        size_t at = s->cut_at[k] - shift; /* where the cut value starts in the rest */
        if (rest_offset < at + 2)
            break;
        shift += s->cut_len[k] - 2;
    }
    return rest_offset + shift;
}

void tokfs_hf_scan_free(tokfs_hf_scan *s)
{
    tokfs_table_free(s->vocab);
    tokfs_table_free(s->scores);
    tokfs_table_free(s->merges);
    free(s->rest);
    free(s->arena);
    *s = (tokfs_hf_scan){0};
}
