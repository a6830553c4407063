/* Planning pre-tokenized sources (docs/pretokenized.md): owns what the plan knows of a .bin or
 * .npy of token ids — its header read at mount without the body (llm.c's 1024 bytes, a .npy
 * header; a raw .bin's count from its size and src_dtype=), the refusal of mounts mixing text and
 * token sources, and the cutting of token sources into pieces of shard_size ids. */
#include "plan/plan_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "decode/decompress.h"
#include "decode/tokens.h"

/* First window of a compressed source's bytes fetched to decode its header; each further one
 * doubles. A zstd or gzip stream yields its first KiB after a few KiB of input, so one small
 * request usually does, without asking the server for the whole file. */
#define HEAD_WINDOW (64u << 10)

int tokfs_plan_tokens_check(const tokfs_config *cfg, const tokfs_plan *plan, tokfs_err *err)
{
    const tokfs_source *text = NULL, *tokens = NULL;
    for (uint32_t i = 0; i < plan->nsources; i++) {
        const tokfs_source *s = &plan->sources[i];
        if (tokfs_format_is_tokens(s->format))
            tokens = tokens ? tokens : s;
        else
            text = text ? text : s;
    }
    if (!tokens) {
        /* the token-source options on a text mount are a mistake worth naming */
        if (cfg->src_dtype_bytes || cfg->vocab_size)
            return tokfs_err_set(err, EINVAL,
                                 "%s applies to token sources (.bin, .npy), and SOURCE has none",
                                 cfg->src_dtype_bytes ? "src_dtype=" : "vocab_size=");
        return 0;
    }
    char t_name[512], x_name[512];
    tokfs_url_redact(tokens->url, t_name, sizeof t_name);
    if (text) {
        tokfs_url_redact(text->url, x_name, sizeof x_name);
        return tokfs_err_set(err, EINVAL,
                             "SOURCE mixes text and token ids: %s is text to tokenize, %s holds "
                             "token ids (served as they are); mount them separately",
                             x_name, t_name);
    }
    /* doc_sep=none would drop the source's own end-of-text ids: the stream would no longer be
     * the source's. (append and prepend only say where documents split; see pretokenized.md.) */
    if (cfg->doc_sep == TOKFS_SEP_NONE)
        return tokfs_err_set(err, EINVAL,
                             "doc_sep=none cannot apply to token sources (%s): their ids, "
                             "end-of-text ids included, are served exactly as they are",
                             t_name);
    return 0;
}

/* ---- reading a source's first bytes ------------------------------------------------------- */

typedef struct head_ctx {
    tokfs_buf *buf;
    size_t want;          /* stop once buf holds this many bytes (count_all: keep going) */
    int count_all;        /* count every decompressed byte (a raw compressed .bin's size) */
    int64_t total;        /* decompressed bytes seen */
    tokfs_decoder *dec;   /* compressed sources: the fetched bytes go through it */
    tokfs_err *err;
    int dec_rc;           /* the decoder's failure (its message in *err) */
} head_ctx;

static int head_data(void *ctx, const uint8_t *data, size_t len)
{
    head_ctx *h = ctx;
    h->total += (int64_t)len;
    if (h->buf->len < h->want) {
        size_t k = h->want - h->buf->len < len ? h->want - h->buf->len : len;
        if (tokfs_buf_append(h->buf, data, k))
            return -ENOMEM;
    }
    return !h->count_all && h->buf->len >= h->want ? 1 : 0;
}

static int head_feed(void *ctx, const uint8_t *data, size_t len)
{
    head_ctx *h = ctx;
    int rc = tokfs_decoder_feed(h->dec, data, len, h->err);
    if (rc < 0)
        h->dec_rc = rc;
    return rc;
}

/* The first `want` bytes of src (fewer when it is shorter) into buf; with count_all, every
 * decompressed byte is decoded and *total says how many there are. */
static int read_head(tokfs_fetcher *fetcher, const tokfs_source *src, size_t want,
                     int count_all, tokfs_buf *buf, int64_t *total, tokfs_err *err)
{
    head_ctx h = {.buf = buf, .want = want, .count_all = count_all, .err = err};
    tokfs_buf_clear(buf);
    int codec = tokfs_format_codec(src->format);
    if (!codec) {
        int64_t end = -1;
        if (src->info.size >= 0)
            end = (uint64_t)src->info.size < want ? src->info.size : (int64_t)want;
        int rc = tokfs_fetch_range(fetcher, src->url, &src->info, 0, end, head_data, &h, NULL,
                                   err);
        *total = h.total;
        return rc < 0 ? rc : 0;
    }
    char redacted[512];
    tokfs_url_redact(src->url, redacted, sizeof redacted);
    tokfs_decoder_sink sink = {.data = head_data, .ctx = &h};
    int rc = tokfs_decoder_new(codec, 0, redacted, &sink, &h.dec);
    if (rc)
        return tokfs_err_set(err, -rc, "cannot decode %s: %s", redacted, strerror(-rc));
    int64_t off = 0, window = HEAD_WINDOW;
    int stopped = 0;
    while (rc == 0 && !stopped) {
        int64_t end = -1;
        if (!count_all && src->info.size >= 0 && src->info.accepts_ranges)
            end = off + window < src->info.size ? off + window : src->info.size;
        if (end >= 0 && end <= off)
            break;
        /* the decoder's failure has its own message (in err); the fetcher's is only that
         * its consumer stopped */
        tokfs_err fetch_err = {{0}};
        rc = tokfs_fetch_range(fetcher, src->url, &src->info, off, end, head_feed, &h, NULL,
                               &fetch_err);
        if (rc < 0 && !h.dec_rc && err)
            *err = fetch_err;
        if (rc == 0 && (h.dec_rc || (!count_all && buf->len >= want)))
            stopped = 1;
        if (end < 0)
            break;
        off = end;
        window *= 2;
    }
    if (rc == 0 && !stopped && h.dec_rc == 0)
        rc = tokfs_decoder_finish(h.dec, err);
    if (rc == 0 && h.dec_rc)
        rc = h.dec_rc;
    tokfs_decoder_free(h.dec);
    *total = h.total;
    return rc < 0 ? rc : 0;
}

/* ---- what a token source holds ------------------------------------------------------------- */

/* A raw compressed .bin's decompressed size: the seek table's, when a .zst has one (two range
 * requests at its end), else the whole stream decoded once, at this first mount. */
static int raw_compressed_size(tokfs_fetcher *fetcher, const tokfs_source *src, tokfs_buf *buf,
                               int64_t *size, tokfs_err *err)
{
    if (tokfs_format_codec(src->format) == TOKFS_CODEC_ZSTD && src->info.accepts_ranges &&
        src->info.size > 0) {
        tokfs_seek_table t = {0};
        tokfs_err table_err = {{0}};
        int rc = tokfs_seek_table_read(fetcher, src->url, &src->info, &t, NULL, &table_err);
        if (rc == 0 && t.nframes > 0) {
            *size = t.d_start[t.nframes];
            tokfs_seek_table_free(&t);
            return 0;
        }
        tokfs_seek_table_free(&t);
        if (rc && rc != -EINVAL && rc != -EAGAIN)
            return tokfs_err_set(err, -rc, "%s", table_err.msg);
    }
    return read_head(fetcher, src, 0, 1, buf, size, err);
}

int tokfs_plan_tokens_read(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_source *src,
                           tokfs_err *err)
{
    char name[512];
    tokfs_url_redact(src->url, name, sizeof name);
    int compressed = tokfs_format_codec(src->format) != TOKFS_CODEC_NONE;
    tokfs_buf buf = {0};
    tokfs_token_header h = {0};
    int64_t total = 0;
    tokfs_err perr = {{0}};
    int rc;
    if (tokfs_format_kind(src->format) == TOKFS_FORMAT_TOKENS_NPY) {
        size_t need = 4096;
        for (int attempt = 0;; attempt++) {
            if ((rc = read_head(fetcher, src, need, 0, &buf, &total, err)))
                goto out;
            rc = tokfs_npy_header_parse(buf.data, buf.len, &h, &need, &perr);
            if (rc != -EAGAIN)
                break;
            if (buf.len < need && (attempt > 0 || buf.len < 4096)) { /* the file ends first */
                rc = tokfs_err_set(err, EINVAL, "%s: .npy header cut short", name);
                goto out;
            }
        }
        if (rc) {
            rc = tokfs_err_set(err, EINVAL, "%s: %s", name, perr.msg);
            goto out;
        }
    } else {
        if ((rc = read_head(fetcher, src, TOKFS_LLMC_SRC_HEADER_BYTES, 0, &buf, &total, err)))
            goto out;
        rc = tokfs_llmc_header_parse(buf.data, buf.len, &h, &perr);
        if (rc == -EAGAIN)
            rc = 0; /* under 8 bytes: no llm.c header, at most a few raw ids */
        if (rc < 0) {
            rc = tokfs_err_set(err, EINVAL, "%s: %s", name, perr.msg);
            goto out;
        }
        if (rc == 0) {
            /* A raw .bin: only its size and src_dtype= say what it holds. */
            if (!cfg->src_dtype_bytes) {
                rc = tokfs_err_set(err, EINVAL,
                                   "%s has no llm.c header (magic %u or %u): if it holds raw "
                                   "token ids, say their width with src_dtype=uint16 or "
                                   "src_dtype=uint32", name, TOKFS_LLMC_SRC_MAGIC_U16,
                                   TOKFS_LLMC_SRC_MAGIC_U32);
                goto out;
            }
            int64_t size = src->info.size;
            if (compressed && (rc = raw_compressed_size(fetcher, src, &buf, &size, err)))
                goto out;
            if (size < 0) {
                rc = tokfs_err_set(err, EINVAL, "%s: the server does not say its size, which a "
                                   "raw .bin's id count is read from", name);
                goto out;
            }
            if (size % cfg->src_dtype_bytes) {
                rc = tokfs_err_set(err, EINVAL, "%s: %" PRId64 " bytes are not whole %s ids",
                                   name, size, cfg->src_dtype_bytes == 2 ? "uint16" : "uint32");
                goto out;
            }
            h = (tokfs_token_header){.header_bytes = 0, .id_bytes = cfg->src_dtype_bytes,
                                     .count = size / cfg->src_dtype_bytes};
        }
    }
    rc = 0;
    /* A header's count against the file's size, when known (llm.c's loader checks the same):
     * a mismatch is a damaged or truncated file, better refused at mount than served short. */
    if (!compressed && src->info.size >= 0 &&
        (int64_t)h.header_bytes + h.count * (int64_t)h.id_bytes != src->info.size)
        rc = tokfs_err_set(err, EINVAL,
                           "%s: its header says %" PRId64 " ids of %u bytes after %u header "
                           "bytes, but the file has %" PRId64 " bytes", name, h.count,
                           h.id_bytes, h.header_bytes, src->info.size);
    if (rc == 0 && !compressed && h.count > 0 && !src->info.accepts_ranges)
        rc = tokfs_err_set(err, EINVAL, "%s: the server does not accept range requests, which "
                           "re-cutting token ids needs", name);
    src->tok_header = h.header_bytes;
    src->tok_id_bytes = h.id_bytes;
    src->tok_count = h.count;
out:
    tokfs_buf_free(&buf);
    return rc;
}

/* ---- every source's header, on several connections ------------------------------------------ */

typedef struct header_pass {
    const tokfs_config *cfg;
    tokfs_plan *plan;
} header_pass;

/* tokfs_plan_each_fn: source i's header (each step writes only its own source). */
static int header_step(void *ctx, tokfs_fetcher *fetcher, uint32_t i, tokfs_err *err)
{
    header_pass *p = ctx;
    return tokfs_plan_tokens_read(p->cfg, fetcher, &p->plan->sources[i], err);
}

int tokfs_plan_tokens_read_all(const tokfs_config *cfg, tokfs_fetcher *fetcher,
                               tokfs_plan *plan, tokfs_err *err)
{
    if (!plan->nsources || !tokfs_format_is_tokens(plan->sources[0].format))
        return 0; /* a text plan (tokfs_plan_tokens_check refused mixtures) */
    /* A thousand llm.c shards on a CDN are a thousand round trips: headers are read on several
     * connections at once, as Parquet footers are. */
    header_pass pass = {cfg, plan};
    return tokfs_plan_each_source(fetcher, plan->nsources, TOKFS_PLAN_EACH_MAX_THREADS,
                                  header_step, &pass, err);
}

/* ---- cutting ------------------------------------------------------------------------------- */

typedef struct token_pieces {
    tokfs_piece *items;
    uint32_t count, cap;
} token_pieces;

static int push_piece(token_pieces *l, tokfs_piece p)
{
    if (l->count == l->cap) {
        uint32_t cap = l->cap ? 2 * l->cap : 64;
        tokfs_piece *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = p;
    return 0;
}

int tokfs_plan_tokens_cut(const tokfs_plan *plan, const tokfs_config *cfg,
                          double bytes_per_token, tokfs_piece **pieces, uint32_t *count)
{
    int64_t target = cfg->shard_size > (uint64_t)INT64_MAX / 4 ? INT64_MAX / 4
                                                               : (int64_t)cfg->shard_size;
    if (target < 1)
        target = 1;
    int64_t total = 0;
    for (uint32_t s = 0; s < plan->nsources; s++)
        total += plan->sources[s].tok_count;
    token_pieces l = {0};
    tokfs_piece cur = {0};
    int64_t acc = 0, done = 0; /* ids in cur; ids in the pieces before it */
    int rc = 0;
    for (uint32_t s = 0; s < plan->nsources && rc == 0; s++) {
        const tokfs_source *src = &plan->sources[s];
        /* A piece full at the end of the previous source ends there (never at id 0 of this
         * one), unless what is left is a tail under a quarter piece, which joins it. */
        int64_t rest = total - done - acc;
        if (acc >= target && rest > 0 && rest >= target / 4) {
            cur.source_bytes = (int64_t)((double)acc * bytes_per_token);
            if ((rc = push_piece(&l, cur)))
                break;
            done += acc;
            acc = 0;
            cur = (tokfs_piece){.first_source = s, .begin = 0};
        }
        cur.last_source = s;
        cur.end = src->tok_count;
        int64_t off = 0;
        while (src->tok_count - off > target - acc) {
            int64_t cut = off + (target - acc);
            if (total - done - target < target / 4)
                break; /* the rest is a tail under a quarter piece: it stays in this one */
            cur.end = cut;
            cur.source_bytes = (int64_t)((double)target * bytes_per_token);
            if ((rc = push_piece(&l, cur)))
                break;
            done += target;
            acc = 0;
            off = cut;
            cur = (tokfs_piece){.first_source = s, .last_source = s, .begin = cut,
                                .end = src->tok_count};
        }
        acc += src->tok_count - off;
    }
    /* the last piece: what is left (all of a corpus under one piece's worth) */
    cur.source_bytes = (int64_t)((double)acc * bytes_per_token);
    if (rc == 0)
        rc = push_piece(&l, cur);
    if (rc) {
        free(l.items);
        return rc;
    }
    *pieces = l.items;
    *count = l.count;
    return 0;
}
