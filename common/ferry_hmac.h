/*
 * HMAC-SHA256 and lower-case hex, the one copy used by JWTs, signed report
 * links (both sides), S3 SigV4 and Slack request signatures. Pure C over
 * OpenSSL.
 */
#ifndef FERRY_HMAC_H
#define FERRY_HMAC_H

#include <stddef.h>

#define FERRY_HMAC_LEN 32

/* One piece of a message made of several. */
typedef struct {
    const void *data;
    size_t      len;
} ferry_hmac_part_t;

/* 0, or -1 when OpenSSL fails. */
int ferry_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t n, unsigned char out[FERRY_HMAC_LEN]);

/*
 * The HMAC of the concatenation of n parts, without making it: a large
 * body is hashed where it lies. 0, or -1 when OpenSSL fails.
 */
int ferry_hmac_sha256_parts(const void *key, size_t keylen,
    const ferry_hmac_part_t *parts, size_t n,
    unsigned char out[FERRY_HMAC_LEN]);

/* Writes 2 * n hex digits and a NUL. */
void ferry_hex(const unsigned char *p, size_t n, char *out);

#endif
