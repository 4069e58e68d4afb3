/*
 * HMAC-SHA256 and hex.
 */
#include "ferry_hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

int
ferry_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
    unsigned char out[FERRY_HMAC_LEN])
{
    unsigned int len = 0;

    if (HMAC(EVP_sha256(), key, (int) keylen, data, n, out, &len) == NULL
        || len != FERRY_HMAC_LEN)
    {
        return -1;
    }

    return 0;
}

void
ferry_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t            i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }

    out[2 * n] = '\0';
}
