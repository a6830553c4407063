/* tokfs — base64 (RFC 4648 standard alphabet, with padding): how .tiktoken ranks, tekken.json
 * token_bytes and tokenizer.json's Precompiled charsmap store bytes. */
#ifndef TOKFS_BASE64_H
#define TOKFS_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decode in[0..n) (n a non-zero multiple of 4, '=' padding only at the end) into out, which holds
 * n / 4 * 3 bytes. Returns the decoded length, or -1 on malformed input. */
long tokfs_base64_decode(const uint8_t *in, size_t n, uint8_t *out);

#endif
