/*
 * HMAC-SHA256 and hex.
 */
#include "ferry_hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

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

int
ferry_hmac_sha256_parts(const void *key, size_t keylen,
    const ferry_hmac_part_t *parts, size_t n, unsigned char out[FERRY_HMAC_LEN])
{
    int          rc;
    size_t       i, len;
    EVP_MAC     *mac;
    OSSL_PARAM   params[2];
    EVP_MAC_CTX *ctx;

    /* an empty key is a key: OpenSSL reads a NULL one as "keep the last" */
    static const unsigned char none[1];

    mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac == NULL) {
        return -1;
    }

    ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (ctx == NULL) {
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    rc = EVP_MAC_init(ctx, keylen ? key : none, keylen, params) == 1 ? 0 : -1;

    for (i = 0; rc == 0 && i < n; i++) {
        if (parts[i].len
            && EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1) {
            rc = -1;
        }
    }

    if (rc == 0
        && (EVP_MAC_final(ctx, out, &len, FERRY_HMAC_LEN) != 1
            || len != FERRY_HMAC_LEN))
    {
        rc = -1;
    }

    EVP_MAC_CTX_free(ctx);

    return rc;
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
