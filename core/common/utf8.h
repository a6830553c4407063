/* tokfs — UTF-8 repair for tokenizers that work on text.
 *
 * Each maximal invalid subpart (Unicode §3.9, "U+FFFD substitution of maximal subparts") becomes
 * one U+FFFD, exactly as Python's bytes.decode('utf-8', 'replace') and WHATWG TextDecoder do.
 * Streaming: a sequence cut at a chunk boundary is carried in the state to the next call. */
#ifndef TOKFS_UTF8_H
#define TOKFS_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokfs_utf8_state {
    uint8_t pending[4]; /* start of a sequence cut by the chunk boundary */
    int npending;
} tokfs_utf8_state;

/* Worst-case output size for n input bytes (each byte may become a 3-byte U+FFFD, plus what is
 * pending from the previous call). */
#define TOKFS_UTF8_OUT_MAX(n) (3 * ((n) + 4))

/* Copy `in` to `out`, replacing invalid sequences. `out` holds TOKFS_UTF8_OUT_MAX(n) bytes.
 * final != 0 flushes: an incomplete sequence still pending at the end becomes U+FFFD.
 * Returns the number of bytes written. The state must start zeroed (one state per document);
 * a call with final != 0 leaves it zeroed again. */
size_t tokfs_utf8_repair(tokfs_utf8_state *st, const uint8_t *in, size_t n, uint8_t *out, int final);

/* 1 if buf[0..n) is entirely valid UTF-8 (no surrogates, no overlongs, <= U+10FFFF), else 0. */
int tokfs_utf8_valid(const uint8_t *buf, size_t n);

/* Write code point cp (at most U+10FFFF, not checked) as UTF-8 into buf (room for 4 bytes).
 * Returns the number of bytes written. */
size_t tokfs_utf8_encode(uint8_t *buf, unsigned long cp);

#endif
