/*
 * SigV4: canonical request, string to sign, the derived signing key chain
 * HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request").
 * Every string is sized by vasprintf: keys, endpoints and credentials come
 * from outside, and a fixed buffer would cut them (and so sign another URL).
 */
#include "s3_sign.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "ferry_hmac.h"
#include "ferry_uri.h"

/* "scheme://authority[/path]", as spans of the endpoint string */
typedef struct {
    size_t      origin_len; /* "scheme://authority" */
    const char *path;
    size_t      path_len; /* trailing slashes dropped, as botocore does */
    char       *host;     /* the signed host: lower-case, no default port */
} s3_endpoint_t;

/* NULL, not an undefined pointer, when vasprintf fails */
static char *s3_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
s3_fmt(const char *fmt, ...)
{
    va_list ap;
    char   *s;
    int     rc;

    va_start(ap, fmt);
    rc = vasprintf(&s, fmt, ap);
    va_end(ap);

    return rc < 0 ? NULL : s;
}

/* the port a scheme's URLs leave out, 0 for another scheme */
static long
s3_default_port(const char *scheme, size_t n)
{
    if (n == 4 && strncasecmp(scheme, "http", 4) == 0) {
        return 80;
    }

    return (n == 5 && strncasecmp(scheme, "https", 5) == 0) ? 443 : 0;
}

/* 0, or -1 (errno EINVAL, or ENOMEM) */
static int
s3_endpoint_parse(const char *url, s3_endpoint_t *ep)
{
    const char *sep, *h, *end, *colon;
    size_t      alen, digits, keep, i;
    long        port = 0;

    /* the spans are printed with %.*s, which takes an int */
    if (strlen(url) > INT_MAX) {
        goto invalid;
    }

    sep = strstr(url, "://");
    if (sep == NULL || sep == url) {
        goto invalid;
    }

    h = sep + 3;
    alen = strcspn(h, "/?#");
    end = h + alen;
    ep->origin_len = (size_t) (end - url);
    ep->path = end;
    ep->path_len = strcspn(end, "?#");

    /* user info would be signed as part of the host */
    if (alen == 0 || memchr(h, '@', alen) != NULL || end[ep->path_len] != '\0')
    {
        goto invalid;
    }

    while (ep->path_len > 0 && end[ep->path_len - 1] == '/') {
        ep->path_len--;
    }

    /* the port follows the last ':' that is not inside [IPv6] */
    colon = memrchr(h, ':', alen);
    if (colon != NULL && memchr(colon, ']', (size_t) (end - colon)) != NULL) {
        colon = NULL;
    }

    if (colon != NULL) {
        digits = strspn(colon + 1, "0123456789");
        if (colon == h || digits == 0 || digits > 5
            || colon + 1 + digits != end) {
            goto invalid;
        }

        port = strtol(colon + 1, NULL, 10);
        if (port > 65535) {
            goto invalid;
        }
    }

    if (h[0] == '[' && memchr(h, ']', alen) == NULL) {
        goto invalid;
    }

    keep = (colon != NULL && port == s3_default_port(url, (size_t) (sep - url)))
        ? (size_t) (colon - h)
        : alen;

    ep->host = strndup(h, keep);
    if (ep->host == NULL) {
        return -1;
    }

    for (i = 0; i < keep; i++) {
        ep->host[i] = (char) tolower((unsigned char) ep->host[i]);
    }

    return 0;

invalid:
    errno = EINVAL;
    return -1;
}

/* the percent-encoding of s, allocated */
static char *
s3_encoded(const char *s, int keep_slash)
{
    char *out = malloc(3 * strlen(s) + 1);

    if (out != NULL) {
        ferry_uri_encode(s, keep_slash, out);
    }

    return out;
}

/* HMAC-SHA256 of a string; 0 or -1 */
static int
s3_hmac(const unsigned char *key, size_t keylen, const char *data,
    unsigned char out[FERRY_HMAC_LEN])
{
    return ferry_hmac_sha256(key, keylen, data, strlen(data), out);
}

/* the signature over sts, as 64 hex digits; 0 or -1 */
static int
s3_signature(const s3_creds_t *c, const char *day, const char *sts,
    char sig[2 * FERRY_HMAC_LEN + 1])
{
    char         *k0;
    unsigned char k[FERRY_HMAC_LEN], h[FERRY_HMAC_LEN];
    int           rc;

    k0 = s3_fmt("AWS4%s", c->secret_key);
    if (k0 == NULL) {
        return -1;
    }

    rc = s3_hmac((const unsigned char *) k0, strlen(k0), day, k)
        || s3_hmac(k, sizeof(k), c->region, k) || s3_hmac(k, sizeof(k), "s3", k)
        || s3_hmac(k, sizeof(k), "aws4_request", k)
        || s3_hmac(k, sizeof(k), sts, h);
    free(k0);

    if (rc != 0) {
        return -1;
    }

    ferry_hex(h, sizeof(h), sig);

    return 0;
}

char *
s3_presign(const s3_creds_t *c, const char *method, const char *endpoint,
    const char *bucket, const char *key, long expires, time_t now)
{
    s3_endpoint_t ep;
    char          date[17], day[9], hash_hex[65], sig[65];
    char         *enc = NULL, *path = NULL, *cred = NULL, *cred_enc = NULL;
    char         *query = NULL, *canon = NULL, *sts = NULL, *url = NULL;
    const char   *scope;
    unsigned char h[32];
    unsigned int  n = sizeof(h);
    struct tm     tm;

    if (s3_endpoint_parse(endpoint, &ep) != 0) {
        return NULL;
    }

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);

    /* path-style: the endpoint's own path, the bucket, then the key */
    enc = s3_encoded(key, 1);
    if (enc == NULL) {
        goto done;
    }

    path = s3_fmt("%.*s%s%s/%s", (int) ep.path_len, ep.path, bucket ? "/" : "",
        bucket ? bucket : "", enc);

    /* the credential is "<access key>/<scope>" */
    cred = s3_fmt("%s/%s/%s/s3/aws4_request", c->access_key, day, c->region);
    if (path == NULL || cred == NULL) {
        goto done;
    }

    scope = cred + strlen(c->access_key) + 1;
    cred_enc = s3_encoded(cred, 0);
    if (cred_enc == NULL) {
        goto done;
    }

    /* the parameters in the order their names sort */
    query = s3_fmt("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s"
                   "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=host",
        cred_enc, date, expires);
    if (query == NULL) {
        goto done;
    }

    canon = s3_fmt("%s\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", method,
        path, query, ep.host);
    if (canon == NULL
        || EVP_Digest(canon, strlen(canon), h, &n, EVP_sha256(), NULL) != 1)
    {
        goto done;
    }

    ferry_hex(h, sizeof(h), hash_hex);

    sts = s3_fmt("AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, hash_hex);
    if (sts == NULL || s3_signature(c, day, sts, sig) != 0) {
        goto done;
    }

    url = s3_fmt("%.*s%s?%s&X-Amz-Signature=%s", (int) ep.origin_len, endpoint,
        path, query, sig);

done:
    free(ep.host);
    free(enc);
    free(path);
    free(cred);
    free(cred_enc);
    free(query);
    free(canon);
    free(sts);

    if (url == NULL) {
        errno = ENOMEM;
    }

    return url;
}
