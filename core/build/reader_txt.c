/* .txt documents, by txt_doc= (docs/text.md): the logic that turns a stream of .txt bytes into
 * documents for the pool — one file-long document handed on in parts cut where the tokenizer
 * allows, or non-blank lines, or paragraphs — and the reader of plain .txt byte ranges, which
 * decides where a piece of a file-long document really starts and ends (the first cut place at
 * or after the plan's offset) and where a piece's lines or paragraphs start. The decoding layer
 * (reader_compressed.c) feeds the same logic with decompressed bytes. */
#include "build/build_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "plan/plan.h"

#define TOO_LARGE "document larger than max_doc_bytes"

/* A cut place is trusted only with this many bytes known past it: every tokenizer's cut looks at
 * the units next to the place (a byte, or a code point of at most 4 bytes, on either side), so a
 * place found in a stretch of the file is a place in the whole file once its neighbours are
 * there. The same number of bytes before it is given as left context. */
#define CUT_CONTEXT 16
/* Bytes fetched per step while looking for the cut place at a piece's end (and start): a cut
 * place is usually within a few bytes, so the first step is small, then they double. */
#define CUT_WINDOW_FIRST (4u << 10)
#define CUT_WINDOW (64u << 10)
/* The first step back when asking whether the line before a piece is blank (then doubling). */
#define LOOKBACK_FIRST 256u
#define LOOKBACK_MAX (1u << 20)

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The longest part of a file-long document without a place the tokenizer can cut: then it is
 * cut anyway (at a character start), so memory stays bounded on text with no cut place at all
 * (GPT-2 on CJK text, a tokenizer without cut()). At least two batches, so that an ordinary
 * max_doc_bytes never forces a cut that a batch-sized search would have found. */
static size_t forced_after(const tokfs_builder *b)
{
    uint64_t f = b->cfg->max_doc_bytes;
    return f < 2 * (uint64_t)TOKFS_TOKPOOL_BATCH ? 2 * (size_t)TOKFS_TOKPOOL_BATCH : (size_t)f;
}

/* The first character start at or after i in text[0..len) (at most 3 continuation bytes on). */
static size_t char_start(const uint8_t *text, size_t len, size_t i)
{
    for (int k = 0; k < 3 && i < len && (text[i] & 0xC0) == 0x80; k++)
        i++;
    return i;
}

static void log_forced(tokfs_build_txt *t, int64_t where, int64_t within)
{
    if (t->forced++)
        return;
    char redacted[512];
    tokfs_url_redact(t->src->url, redacted, sizeof redacted);
    tokfs_log(TOKFS_LOG_WARN,
              "%s: no place where tokenizer %s can cut within %lld bytes of %lld: cut there "
              "anyway, so the ids next to that place may differ from the whole file's",
              redacted, t->b->tok->name, (long long)within, (long long)where);
}

/* ---- txt_doc=file: one document in parts ----------------------------------------------------- */

/* Hand text[0..n) of b->doc to the pool as a part of the document, keeping the rest. */
static int hand_part(tokfs_build_txt *t, size_t n, int last)
{
    tokfs_builder *b = t->b;
    int rc = tokfs_builder_text(b, b->doc.data, n, last);
    if (rc)
        return rc;
    if (n < b->doc.len)
        memmove(b->doc.data, b->doc.data + n, b->doc.len - n);
    b->doc.len -= n;
    t->searched = 0;
    return 0;
}

/* Hand on every part of b->doc whose end is decided: the first cut place at or after a batch
 * (with its context known), or, with none before forced_after, a forced cut there. Each decision
 * depends only on the bytes from the part's start, never on how the bytes arrived, so a shard
 * made again is the same. */
static int hand_parts(tokfs_build_txt *t)
{
    tokfs_builder *b = t->b;
    const tokfs_tokenizer *tok = b->tok;
    size_t force = forced_after(b);
    while (b->doc.len >= 2 * (size_t)TOKFS_TOKPOOL_BATCH + CUT_CONTEXT) {
        size_t len = b->doc.len;
        size_t from = t->searched > TOKFS_TOKPOOL_BATCH ? t->searched : TOKFS_TOKPOOL_BATCH;
        size_t i = tok->cut ? tok->cut(tok, b->doc.data, len, from) : len;
        int rc;
        if (i < force && i + CUT_CONTEXT <= len) {
            if ((rc = hand_part(t, i, 0)))
                return rc;
            continue;
        }
        if (len < force + CUT_CONTEXT) {
            t->searched = len - CUT_CONTEXT; /* no place before this: look on from here */
            return 0;
        }
        log_forced(t, t->pos - (int64_t)len, (int64_t)force);
        if ((rc = hand_part(t, char_start(b->doc.data, len, force), 0)))
            return rc;
    }
    return 0;
}

/* ---- txt_doc=line and paragraph: documents in lines ------------------------------------------- */

/* Emit the document in b->doc, or count it as skipped when it passed max_doc_bytes. */
static int emit_doc(tokfs_build_txt *t)
{
    tokfs_builder *b = t->b;
    tokfs_buf *doc = &b->doc;
    int rc = 0;
    if (doc->len && doc->data[doc->len - 1] == '\n')
        doc->len--;
    if (doc->len && doc->data[doc->len - 1] == '\r')
        doc->len--;
    if (t->oversize)
        tokfs_builder_note_skips(b, 1, TOO_LARGE, t->src, t->doc_start);
    else
        rc = tokfs_builder_document(b, doc->data, doc->len);
    tokfs_buf_clear(doc);
    tokfs_buf_trim(doc, TOKFS_BUILD_KEEP_BYTES);
    t->in_doc = 0;
    t->oversize = 0;
    return rc;
}

/* A line begins at t->pos: 1 when it (and everything after it) belongs to the next piece. */
static int line_begin(tokfs_build_txt *t)
{
    t->line_start = t->pos;
    t->line_ws = 1;
    t->line_mark = t->b->doc.len;
    t->line_over = 0;
    if (t->seg_end >= 0 && t->line_start >= t->seg_end && !t->in_doc) {
        t->done = 1;
        return 1;
    }
    /* A line is kept when it may be (part of) a document of this piece: in paragraph mode, one
     * continuing the piece's paragraph or one after a blank line; not the rest of a paragraph
     * that started in the piece before. */
    t->line_keep = t->mode == TOKFS_TXT_DOC_LINE || t->in_doc || t->prev_blank;
    return 0;
}

static int line_bytes(tokfs_build_txt *t, const uint8_t *data, size_t n)
{
    tokfs_buf *doc = &t->b->doc;
    for (size_t i = 0; t->line_ws && i < n; i++)
        t->line_ws = is_ws(data[i]);
    if (!t->line_keep || t->oversize || !n)
        return 0;
    if (doc->len + n > t->b->cfg->max_doc_bytes) {
        t->oversize = 1; /* skipped at its end, without being buffered whole */
        t->line_over = 1;
        return 0;
    }
    if (tokfs_buf_append(doc, data, n))
        return tokfs_builder_fail(t->b, -ENOMEM, "out of memory");
    return 0;
}

/* The current line ended (at a newline, or at the end of the stream). */
static int line_end(tokfs_build_txt *t, int newline)
{
    tokfs_buf *doc = &t->b->doc;
    if (t->line_ws) { /* blank: not a document, and the end of a paragraph */
        if (t->line_keep && doc->len > t->line_mark)
            doc->len = t->line_mark;
        if (t->line_over)
            t->oversize = 0; /* only this blank line went over: the paragraph is whole */
        t->prev_blank = 1;
        return t->in_doc ? emit_doc(t) : 0;
    }
    t->prev_blank = 0;
    if (!t->line_keep)
        return 0;
    if (!t->in_doc) {
        t->in_doc = 1;
        t->doc_start = t->line_start;
    }
    if (t->mode == TOKFS_TXT_DOC_LINE)
        return emit_doc(t);
    /* a paragraph's lines keep the newlines between them (the last one is dropped at emit) */
    return newline ? line_bytes(t, (const uint8_t *)"\n", 1) : 0;
}

static int lines_feed(tokfs_build_txt *t, const uint8_t *data, size_t len)
{
    int rc;
    while (len) {
        const uint8_t *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) + 1 : len;
        size_t content = nl ? take - 1 : take;
        if (t->skipping_head) {
            for (size_t i = 0; t->head_ws && i < content; i++)
                t->head_ws = is_ws(data[i]);
            t->pos += (int64_t)take;
            if (nl) {
                t->skipping_head = 0;
                t->prev_blank = t->head_ws && t->head_blank;
                if (line_begin(t))
                    return 1;
            }
        } else {
            /* line_keep is final once the line began; the pool sees the line at its end */
            if ((rc = line_bytes(t, data, content)))
                return rc;
            t->pos += (int64_t)take;
            if (nl) {
                if ((rc = line_end(t, 1)))
                    return rc;
                if (line_begin(t))
                    return 1;
            }
        }
        data += take;
        len -= take;
    }
    return 0;
}

/* ---- the stream ------------------------------------------------------------------------------ */

void tokfs_build_txt_start(tokfs_build_txt *t, tokfs_builder *b, const tokfs_source *src,
                           int64_t pos, int ends_file, int64_t seg_end, int skip_head,
                           int head_blank)
{
    *t = (tokfs_build_txt){
        .b = b, .src = src, .mode = b->cfg->txt_doc, .pos = pos, .ends_file = ends_file,
        .seg_end = seg_end, .skipping_head = skip_head, .head_ws = 1, .head_blank = head_blank,
        .prev_blank = 1,
    };
    tokfs_buf_clear(&b->doc);
    if (t->mode != TOKFS_TXT_DOC_FILE && !skip_head)
        line_begin(t); /* a stream that starts at a line start, before any seg_end */
}

int tokfs_build_txt_feed(void *ctx, const uint8_t *data, size_t len)
{
    tokfs_build_txt *t = ctx;
    int rc = tokfs_builder_cancelled(t->b);
    if (rc)
        return rc;
    if (t->done)
        return 1;
    if (t->mode != TOKFS_TXT_DOC_FILE)
        return lines_feed(t, data, len);
    if (tokfs_buf_append(&t->b->doc, data, len))
        return tokfs_builder_fail(t->b, -ENOMEM, "out of memory");
    t->pos += (int64_t)len;
    return hand_parts(t);
}

int tokfs_build_txt_finish(tokfs_build_txt *t)
{
    tokfs_builder *b = t->b;
    int rc = 0;
    if (t->mode == TOKFS_TXT_DOC_FILE) {
        /* the rest (the pool cuts it further where it can); the document's end-of-text after the
         * span that ends the file, an empty file included */
        rc = hand_part(t, b->doc.len, t->ends_file);
        if (rc == 0 && t->ends_file)
            tokfs_builder_count_documents(b, 1);
    } else if (!t->done && !t->skipping_head) {
        if (t->pos > t->line_start) /* a last line without a newline */
            rc = line_end(t, 0);
        if (rc == 0 && t->in_doc)
            rc = emit_doc(t);
    }
    tokfs_buf_clear(&b->doc);
    tokfs_buf_trim(&b->doc, TOKFS_BUILD_KEEP_BYTES);
    return rc;
}

/* ---- the reader of plain .txt ------------------------------------------------------------------ */

typedef struct txt_reader {
    tokfs_build_reader base;
    tokfs_builder *b;
    tokfs_build_txt txt;
    tokfs_buf win; /* a window of the file: the cut search, the look back */
} txt_reader;

static int win_feed(void *ctx, const uint8_t *data, size_t len)
{
    txt_reader *t = ctx;
    if (tokfs_buf_append(&t->win, data, len))
        return tokfs_builder_fail(t->b, -ENOMEM, "out of memory");
    return 0;
}

/* src's bytes [begin, end) into t->win, all of them (the file is as large as planned: a shorter
 * answer is a file that changed, which the fetcher reports by its validators first). */
static int fetch_window(txt_reader *t, const tokfs_source *src, int64_t begin, int64_t end)
{
    tokfs_buf_clear(&t->win);
    int rc = tokfs_builder_fetch(t->b, src, begin, end, win_feed, t);
    if (rc)
        return rc;
    if ((int64_t)t->win.len != end - begin)
        return tokfs_builder_fail(t->b, -EIO, "%s: got %zu bytes of %lld-%lld", src->url,
                                  t->win.len, (long long)begin, (long long)end);
    return 0;
}

/* How far past the plan's offset a cut place is looked for: less than a quarter piece, since a
 * piece that starts inside a source holds more than a quarter piece of it (the plan's tail rule),
 * so that no piece's span becomes empty; at most forced_after. */
static int64_t search_bytes(const tokfs_builder *b)
{
    int64_t quarter = tokfs_plan_piece_target(b->cfg, b->tok->bytes_per_token) / 4 - 1;
    int64_t f = (int64_t)forced_after(b);
    if (quarter < 1)
        quarter = 1; /* tiny pieces: the offset itself, if the tokenizer can cut there */
    return quarter < f ? quarter : f;
}

/* Where a file-long document is really cut for the plan's offset x (0 < x < size): the first
 * place in [x, x + search_bytes) where the tokenizer can cut, found in windows with CUT_CONTEXT
 * on either side (see CUT_CONTEXT); with none there, x moved to a character start (logged: the
 * ids next to it may differ from the whole file's). A function of the file's bytes and x alone,
 * so the pieces on both sides of the cut agree on it, and it never decreases as x grows, so
 * pieces never overlap; it stays within a quarter piece of x, so no piece is left empty. */
static int find_cut(txt_reader *t, const tokfs_source *src, int64_t x, int64_t *out)
{
    const tokfs_tokenizer *tok = t->b->tok;
    int64_t size = src->info.size;
    int64_t limit = x + search_bytes(t->b);
    int64_t next = x; /* no cut place in [x, next) */
    int64_t step = CUT_WINDOW_FIRST;
    int rc;
    while (tok->cut && next < limit && next < size) {
        int64_t wstart = next - CUT_CONTEXT < 0 ? 0 : next - CUT_CONTEXT;
        int64_t wend = wstart + step < size ? wstart + step : size;
        if (step < CUT_WINDOW)
            step *= 2;
        if ((rc = fetch_window(t, src, wstart, wend)))
            return rc;
        size_t len = t->win.len;
        size_t i = tok->cut(tok, t->win.data, len, (size_t)(next - wstart));
        if (i < len && (wend >= size || i + CUT_CONTEXT <= len)) {
            if (wstart + (int64_t)i >= limit)
                break;
            *out = wstart + (int64_t)i;
            return 0;
        }
        if (wend >= size)
            break;
        next = wend - CUT_CONTEXT;
    }
    /* no cut place: x itself, at a character start so that UTF-8 is not torn */
    int64_t wend = x + 4 < size ? x + 4 : size;
    if ((rc = fetch_window(t, src, x, wend)))
        return rc;
    t->txt.b = t->b; /* the stream state names the source in the log line */
    t->txt.src = src;
    log_forced(&t->txt, x, search_bytes(t->b));
    *out = x + (int64_t)char_start(t->win.data, t->win.len, 0);
    return 0;
}

/* Whether the bytes of the line holding offset x, before x, are whitespace only (or none). */
static int blank_before(txt_reader *t, const tokfs_source *src, int64_t x, int *out)
{
    int64_t end = x;
    int64_t step = LOOKBACK_FIRST;
    while (end > 0) {
        int64_t start = end > step ? end - step : 0;
        int rc = fetch_window(t, src, start, end);
        if (rc)
            return rc;
        for (size_t i = t->win.len; i-- > 0;) {
            if (t->win.data[i] == '\n' || !is_ws(t->win.data[i])) {
                *out = t->win.data[i] == '\n';
                return 0;
            }
        }
        end = start;
        if (step < LOOKBACK_MAX)
            step *= 2;
    }
    *out = 1; /* the file starts the line */
    return 0;
}

/* txt_doc=file: the span [cut(begin), cut(end)) of the document. */
static int read_span(txt_reader *t, const tokfs_source *src, int64_t begin, int64_t end)
{
    int64_t from = 0, to = -1;
    int rc = 0;
    if (begin > 0 && (rc = find_cut(t, src, begin, &from)))
        return rc;
    if (end >= 0 && (rc = find_cut(t, src, end, &to)))
        return rc;
    /* The end-of-text goes with the span holding the file's last byte (or the empty file's). */
    int ends_file = to < 0;
    if (!ends_file && from >= to)
        return 0; /* cannot be (search_bytes), but an empty span must not read to the end */
    if (from > 0) /* the piece's first source (begin > 0): it begins inside the document */
        *t->b->starts_document = 0;
    tokfs_build_txt_start(&t->txt, t->b, src, from, ends_file, -1, 0, 1);
    rc = tokfs_builder_fetch(t->b, src, from, ends_file ? -1 : to, tokfs_build_txt_feed, &t->txt);
    return rc ? rc : tokfs_build_txt_finish(&t->txt);
}

/* txt_doc=line or paragraph: the documents starting in [begin, end), as JSONL records are read
 * (reader_jsonl.c): from begin - 1 up to the first newline is the line before the piece's, and
 * the last document is finished past end in growing windows. */
static int read_docs(txt_reader *t, const tokfs_source *src, int64_t begin, int64_t end)
{
    int64_t size = src->info.size;
    int head_blank = 1;
    int rc;
    if (begin > 1 && t->b->cfg->txt_doc == TOKFS_TXT_DOC_PARAGRAPH &&
        (rc = blank_before(t, src, begin - 1, &head_blank)))
        return rc;
    tokfs_build_txt *x = &t->txt;
    tokfs_build_txt_start(x, t->b, src, begin > 0 ? begin - 1 : 0, 0, end, begin > 0, head_blank);
    int64_t window_end = end < 0 ? -1 : end + TOKFS_BUILD_LOOKAHEAD_BYTES;
    int64_t grow = TOKFS_BUILD_LOOKAHEAD_GROW;
    for (;;) {
        if (window_end >= 0 && size >= 0 && window_end >= size)
            window_end = -1;
        if ((rc = tokfs_builder_fetch(t->b, src, x->pos, window_end, tokfs_build_txt_feed, x)))
            return rc;
        if (x->done)
            return tokfs_build_txt_finish(x);
        if (window_end < 0 || x->pos < window_end)
            break; /* reached the end of the source */
        window_end += grow;
        grow *= 2;
    }
    return tokfs_build_txt_finish(x);
}

static int txt_read(tokfs_build_reader *r, const tokfs_source *src, int64_t begin, int64_t end)
{
    txt_reader *t = (txt_reader *)r;
    int64_t size = src->info.size;
    if (end >= 0 && size >= 0 && end >= size)
        end = -1; /* through the end of the source */
    int rc = t->b->cfg->txt_doc == TOKFS_TXT_DOC_FILE ? read_span(t, src, begin, end)
                                                      : read_docs(t, src, begin, end);
    tokfs_buf_trim(&t->win, CUT_WINDOW);
    return rc;
}

static void txt_free(tokfs_build_reader *r)
{
    txt_reader *t = (txt_reader *)r;
    tokfs_buf_free(&t->win);
    free(t);
}

int tokfs_reader_txt_new(tokfs_builder *b, tokfs_build_reader **out)
{
    txt_reader *t = calloc(1, sizeof *t);
    if (!t)
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    t->base = (tokfs_build_reader){"txt", txt_read, txt_free};
    t->b = b;
    *out = &t->base;
    return 0;
}
