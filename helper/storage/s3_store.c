/*
 * S3 reports: presigned URLs, uploads through ferryd's HTTP client.
 */
#include "s3_store.h"

#include <stdio.h>
#include <string.h>

#include "s3_sign.h"

int
s3_store_enabled(const config_t *cfg)
{
    return cfg->s3_endpoint_url[0] != '\0';
}

/* "http://host:port/prefix" -> scheme, host (with port) */
static int
s3_split(const char *url, char *scheme, size_t slen, char *host, size_t hlen)
{
    const char *p, *h, *e;

    p = strstr(url, "://");
    if (p == NULL || (size_t) (p - url) >= slen) {
        return -1;
    }

    memcpy(scheme, url, (size_t) (p - url));
    scheme[p - url] = '\0';

    h = p + 3;
    e = strchr(h, '/');
    e = e ? e : h + strlen(h);

    if (e == h || (size_t) (e - h) >= hlen) {
        return -1;
    }

    memcpy(host, h, (size_t) (e - h));
    host[e - h] = '\0';

    return 0;
}

static int
s3_url(const config_t *cfg, const char *base, const char *method,
    const char *key, long expires, time_t now, char *out, size_t outlen)
{
    char       scheme[16], host[256], path[2048], enc[1536];
    s3_creds_t c;

    if (s3_split(base, scheme, sizeof(scheme), host, sizeof(host)) != 0
        || s3_uri_encode(key, 1, enc, sizeof(enc)) == 0)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "/%s/%s", cfg->s3_bucket, enc);

    c.access_key = cfg->s3_access_key;
    c.secret_key = cfg->s3_secret_key;
    c.region = cfg->s3_region;

    return s3_presign(
        &c, method, scheme, host, path, expires, now, out, outlen);
}

int
s3_store_url(
    const config_t *cfg, const char *key, time_t now, char *out, size_t outlen)
{
    const char *base = cfg->s3_public_endpoint_url[0]
        ? cfg->s3_public_endpoint_url
        : cfg->s3_endpoint_url;

    return s3_url(
        cfg, base, "GET", key, cfg->s3_presign_ttl_seconds, now, out, outlen);
}

int
s3_store_put(http_client_t *http, const config_t *cfg, const char *path,
    const char *key, char *err, size_t errlen)
{
    char        url[4096];
    http_req_t  req;
    http_resp_t resp;
    int         rc;

    if (s3_url(cfg, cfg->s3_endpoint_url, "PUT", key, 300, time(NULL), url,
            sizeof(url))
        != 0)
    {
        snprintf(err, errlen, "S3_ENDPOINT_URL %s is not a URL",
            cfg->s3_endpoint_url);
        return -1;
    }

    memset(&req, 0, sizeof(req));
    req.method = "PUT";
    req.url = url;
    req.body_path = path;
    req.tag = "s3";

    rc = http_client_request(http, &req, &resp, err, errlen);
    http_client_resp_free(&resp);

    return rc == HTTP_CLIENT_OK ? 0 : -1;
}
