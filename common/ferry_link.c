/*
 * Signed links.
 */
#include "ferry_link.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "ferry_hmac.h"

/* Links are signed with a key of their own, derived from the secret they
 * share with JWTs: what signs a link can never sign a token. */
#define FERRY_LINK_LABEL "ferry signed download link v1"

int
ferry_link_sign(const unsigned char *key, size_t keylen, const char *path,
    size_t pathlen, long long expires, char out[FERRY_LINK_SIG_LEN + 1])
{
    unsigned char msg[4096 + 32], md[FERRY_HMAC_LEN], lkey[FERRY_HMAC_LEN];
    int           n;

    if (pathlen > 4096
        || ferry_hmac_sha256(key, keylen, FERRY_LINK_LABEL,
               sizeof(FERRY_LINK_LABEL) - 1, lkey)
            != 0)
    {
        return -1;
    }

    memcpy(msg, path, pathlen);
    n = snprintf(
        (char *) msg + pathlen, sizeof(msg) - pathlen, "\n%lld", expires);

    if (ferry_hmac_sha256(lkey, sizeof(lkey), msg, pathlen + (size_t) n, md)
        != 0) {
        return -1;
    }

    ferry_hex(md, sizeof(md), out);

    return 0;
}

int
ferry_link_check(const unsigned char *key, size_t keylen, const char *path,
    size_t pathlen, long long expires, const char *sig, size_t siglen)
{
    char   want[FERRY_LINK_SIG_LEN + 1], got[FERRY_LINK_SIG_LEN];
    size_t i;

    if (siglen != FERRY_LINK_SIG_LEN
        || ferry_link_sign(key, keylen, path, pathlen, expires, want) != 0)
    {
        return 0;
    }

    for (i = 0; i < siglen; i++) {
        got[i] = (char) tolower((unsigned char) sig[i]);
    }

    return CRYPTO_memcmp(got, want, FERRY_LINK_SIG_LEN) == 0;
}
