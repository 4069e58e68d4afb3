/*
 * base64url without padding (RFC 4648 section 5), as JWTs use it. Pure C,
 * compiled into both the nginx module and ferryd.
 */
#ifndef FERRY_BASE64URL_H
#define FERRY_BASE64URL_H

#include <stddef.h>

/* Room needed to encode n bytes (no padding, no terminating NUL). */
#define FERRY_B64URL_ENCODED_LEN(n)                                            \
    (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Room enough to decode n characters. */
#define FERRY_B64URL_DECODED_MAX(n) (((n) / 4) * 3 + 2)

/* Writes FERRY_B64URL_ENCODED_LEN(n) characters to dst; returns that count. */
size_t ferry_b64url_encode(char *dst, const unsigned char *src, size_t n);

/* Decodes n characters into dst. Returns the byte count, or -1 for a
 * character outside the alphabet, padding, or an impossible length. The
 * unused bits of the last character must be zero (one spelling per value). */
long ferry_b64url_decode(unsigned char *dst, const char *src, size_t n);

#endif
