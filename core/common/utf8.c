/* tokfs — UTF-8 repair (see utf8.h).
 *
 * A well-formed sequence is a lead byte followed by continuation bytes whose allowed range
 * depends on the lead (Unicode Table 3-7):
 *
 *     lead      2nd byte   3rd byte   4th byte
 *     C2..DF    80..BF
 *     E0        A0..BF     80..BF               (A0: no overlongs)
 *     E1..EC    80..BF     80..BF
 *     ED        80..9F     80..BF               (9F: no surrogates D800..DFFF)
 *     EE..EF    80..BF     80..BF
 *     F0        90..BF     80..BF     80..BF    (90: no overlongs)
 *     F1..F3    80..BF     80..BF     80..BF
 *     F4        80..8F     80..BF     80..BF    (8F: nothing above U+10FFFF)
 *
 * Only the second byte has a lead-specific range; that is what makes the maximal-subpart rule
 * simple: a lead plus the continuation bytes that were in range so far form one invalid
 * subpart (one U+FFFD) as soon as a byte out of range shows up, and that byte is then looked at
 * again on its own. A byte that cannot start a sequence (80..BF, C0, C1, F5..FF) is one U+FFFD.
 */
#include "common/utf8.h"

#include <string.h>

#define ASCII_HIGH_BITS 0x8080808080808080ull

static const uint8_t replacement_char[3] = {0xEF, 0xBF, 0xBD};

/* Total length of the sequence a lead byte starts, or 0 if the byte cannot start one. */
static inline int sequence_length(uint8_t lead)
{
    if (lead < 0x80)
        return 1;
    if (lead < 0xC2)
        return 0; /* continuation byte, or C0/C1 which could only encode overlongs */
    if (lead < 0xE0)
        return 2;
    if (lead < 0xF0)
        return 3;
    if (lead < 0xF5)
        return 4;
    return 0;
}

/* Is `b` acceptable as byte number `pos` (1, 2 or 3) of the sequence started by `lead`? */
static inline int continuation_ok(uint8_t lead, int pos, uint8_t b)
{
    uint8_t lo = 0x80, hi = 0xBF;
    if (pos == 1) {
        switch (lead) {
        case 0xE0: lo = 0xA0; break;
        case 0xED: hi = 0x9F; break;
        case 0xF0: lo = 0x90; break;
        case 0xF4: hi = 0x8F; break;
        default: break;
        }
    }
    return b >= lo && b <= hi;
}

static inline uint64_t load_word(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w); /* compiles to one unaligned load */
    return w;
}

static inline size_t put_replacement(uint8_t *out)
{
    memcpy(out, replacement_char, sizeof replacement_char);
    return sizeof replacement_char;
}

/* Continue the sequence cut at the previous chunk boundary with bytes from `in`. Consumes the
 * continuation bytes it accepts (*used) and writes the completed sequence, or one U+FFFD when a
 * byte out of range ends it (that byte is left for the caller). Leaves the state pending when
 * `in` runs out first. Returns the number of bytes written. */
static size_t resume_pending(tokfs_utf8_state *st, const uint8_t *in, size_t n, uint8_t *out,
                             size_t *used)
{
    uint8_t lead = st->pending[0];
    int total = sequence_length(lead);
    size_t i = 0;

    while (st->npending < total && i < n) {
        if (!continuation_ok(lead, st->npending, in[i])) {
            st->npending = 0;
            *used = i;
            return put_replacement(out);
        }
        st->pending[st->npending++] = in[i++];
    }
    *used = i;
    if (st->npending < total)
        return 0; /* still cut: wait for the next chunk */
    memcpy(out, st->pending, (size_t)total);
    st->npending = 0;
    return (size_t)total;
}

size_t tokfs_utf8_repair(tokfs_utf8_state *st, const uint8_t *in, size_t n, uint8_t *out, int final)
{
    size_t i = 0, o = 0;

    if (st->npending > 0)
        o += resume_pending(st, in, n, out, &i);

    while (i < n && st->npending == 0) {
        /* Text is mostly ASCII: move 8 bytes at a time while no high bit is set. */
        while (i + 8 <= n) {
            uint64_t w = load_word(in + i);
            if (w & ASCII_HIGH_BITS)
                break;
            memcpy(out + o, &w, 8);
            i += 8;
            o += 8;
        }
        if (i >= n)
            break;

        uint8_t lead = in[i];
        if (lead < 0x80) {
            out[o++] = lead;
            i++;
            continue;
        }
        int total = sequence_length(lead);
        if (total == 0) {
            o += put_replacement(out + o);
            i++;
            continue;
        }

        int k = 1;
        while (k < total && i + (size_t)k < n && continuation_ok(lead, k, in[i + (size_t)k]))
            k++;
        if (k == total) {
            memcpy(out + o, in + i, (size_t)total);
            o += (size_t)total;
            i += (size_t)total;
        } else if (i + (size_t)k == n) {
            /* Valid so far but cut by the end of the chunk: keep it for the next call. */
            memcpy(st->pending, in + i, (size_t)k);
            st->npending = k;
            i = n;
        } else {
            /* in[i+k] is out of range: lead plus k-1 good continuations is one subpart. */
            o += put_replacement(out + o);
            i += (size_t)k;
        }
    }

    if (final && st->npending > 0) {
        o += put_replacement(out + o);
        st->npending = 0;
    }
    return o;
}

int tokfs_utf8_valid(const uint8_t *buf, size_t n)
{
    size_t i = 0;

    while (i < n) {
        while (i + 8 <= n && (load_word(buf + i) & ASCII_HIGH_BITS) == 0)
            i += 8;
        if (i >= n)
            break;

        uint8_t lead = buf[i];
        if (lead < 0x80) {
            i++;
            continue;
        }
        int total = sequence_length(lead);
        if (total == 0 || n - i < (size_t)total)
            return 0;
        for (int k = 1; k < total; k++)
            if (!continuation_ok(lead, k, buf[i + (size_t)k]))
                return 0;
        i += (size_t)total;
    }
    return 1;
}

size_t tokfs_utf8_encode(uint8_t *buf, unsigned long cp)
{
    if (cp < 0x80) {
        buf[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (uint8_t)(0xC0 | cp >> 6);
        buf[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (uint8_t)(0xE0 | cp >> 12);
        buf[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        buf[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (uint8_t)(0xF0 | cp >> 18);
    buf[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    buf[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    buf[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
