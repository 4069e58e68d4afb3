/*
 * SigV4: canonical request, string to sign, the derived signing key chain
 * HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request").
 */
#include "s3_sign.h"

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "ferry_hmac.h"

/* HMAC-SHA256 of a string; the chain's keys are always 32 bytes or short */
static void
s3_hmac(const unsigned char *key, size_t keylen, const char *data,
    unsigned char out[FERRY_HMAC_LEN])
{
    (void) ferry_hmac_sha256(key, keylen, data, strlen(data), out);
}

size_t
s3_uri_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
    size_t        n = 0;
    unsigned char c;

    for (; *s; s++) {
        c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
            || c == '~' || (keep_slash && c == '/'))
        {
            if (n + 1 >= outlen) {
                return 0;
            }
            out[n++] = (char) c;

        } else {
            if (n + 3 >= outlen) {
                return 0;
            }
            n += (size_t) snprintf(out + n, 4, "%%%02X", c);
        }
    }

    out[n] = '\0';

    return n;
}

int
s3_presign(const s3_creds_t *c, const char *method, const char *scheme,
    const char *host, const char *path, long expires, time_t now, char *out,
    size_t outlen)
{
    char          date[17], day[9], scope[128], cred[256], cred_enc[512];
    char          query[1024], canon[4096], sts[1024], hash_hex[65], sig[65];
    char          k0[256];
    unsigned char h[32], k[32];
    unsigned int  n;
    struct tm     tm;
    int           len;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);

    snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", day, c->region);
    snprintf(cred, sizeof(cred), "%s/%s", c->access_key, scope);
    s3_uri_encode(cred, 0, cred_enc, sizeof(cred_enc));

    /* the parameters in the order their names sort */
    snprintf(query, sizeof(query),
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date"
        "=%s"
        "&X-Amz-Expires=%ld&X-Amz-SignedHeaders=host",
        cred_enc, date, expires);

    len = snprintf(canon, sizeof(canon),
        "%s\n%s\n%s\nhost:%s\n\nhost\nUNSIGN"
        "ED-PAYLOAD",
        method, path, query, host);
    if (len < 0 || (size_t) len >= sizeof(canon)) {
        return -1;
    }

    n = 32;
    EVP_Digest(canon, (size_t) len, h, &n, EVP_sha256(), NULL);
    ferry_hex(h, 32, hash_hex);

    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope,
        hash_hex);

    snprintf(k0, sizeof(k0), "AWS4%s", c->secret_key);
    s3_hmac((const unsigned char *) k0, strlen(k0), day, k);
    s3_hmac(k, 32, c->region, k);
    s3_hmac(k, 32, "s3", k);
    s3_hmac(k, 32, "aws4_request", k);
    s3_hmac(k, 32, sts, h);
    ferry_hex(h, 32, sig);

    len = snprintf(out, outlen, "%s://%s%s?%s&X-Amz-Signature=%s", scheme, host,
        path, query, sig);

    return (len < 0 || (size_t) len >= outlen) ? -1 : 0;
}
