/*
 * HMAC-SHA256 and lower-case hex, the one copy used by JWTs, signed report
 * links (both sides) and S3 SigV4. Pure C over OpenSSL.
 */
#ifndef FERRY_HMAC_H
#define FERRY_HMAC_H

#include <stddef.h>

#define FERRY_HMAC_LEN 32

/* 0, or -1 when OpenSSL fails. */
int ferry_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t n, unsigned char out[FERRY_HMAC_LEN]);

/* Writes 2 * n hex digits and a NUL. */
void ferry_hex(const unsigned char *p, size_t n, char *out);

#endif
