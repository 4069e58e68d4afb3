/*
 * Expiring signed links to reports: ferryd signs "<path>\n<expires>" with
 * HMAC-SHA256 under a key derived from the shared secret (HMAC-SHA256 of
 * the secret and a label), the module's ferry_signed_download checks it.
 * The secret itself stays the JWTs' HS256 key. Pure C over OpenSSL,
 * compiled into both.
 */
#ifndef FERRY_LINK_H
#define FERRY_LINK_H

#include <stddef.h>

#define FERRY_LINK_SIG_LEN 64 /* hex */

/* Writes the hex signature and a NUL into out. 0, or -1. */
int ferry_link_sign(const unsigned char *key, size_t keylen, const char *path,
    size_t pathlen, long long expires, char out[FERRY_LINK_SIG_LEN + 1]);

/* 1 when sig (hex, any case) is the signature, compared in constant time. */
int ferry_link_check(const unsigned char *key, size_t keylen, const char *path,
    size_t pathlen, long long expires, const char *sig, size_t siglen);

#endif
