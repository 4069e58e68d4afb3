/*
 * S3 reports: presigned URLs, uploads through ferryd's HTTP client.
 */
#include "s3_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_sign.h"

int
s3_store_enabled(const config_t *cfg)
{
    return cfg->s3_endpoint_url[0] != '\0';
}

static char *
s3_url(const config_t *cfg, const char *endpoint, const char *method,
    const char *key, long expires, time_t now)
{
    s3_creds_t c;

    c.access_key = cfg->s3_access_key;
    c.secret_key = cfg->s3_secret_key;
    c.region = cfg->s3_region;

    return s3_presign(&c, method, endpoint, cfg->s3_bucket, key, expires, now);
}

int
s3_store_url(
    const config_t *cfg, const char *key, time_t now, char *out, size_t outlen)
{
    const char *base = cfg->s3_public_endpoint_url[0]
        ? cfg->s3_public_endpoint_url
        : cfg->s3_endpoint_url;
    char       *url;
    size_t      len;

    url = s3_url(cfg, base, "GET", key, cfg->s3_presign_ttl_seconds, now);
    if (url == NULL) {
        return -1;
    }

    /* a URL cut short would be signed for another object: refuse it */
    len = strlen(url);
    if (len >= outlen) {
        free(url);
        return -1;
    }

    memcpy(out, url, len + 1);
    free(url);

    return 0;
}

int
s3_store_put(http_client_t *http, const config_t *cfg, const char *path,
    const char *key, char *err, size_t errlen)
{
    char       *url;
    http_req_t  req;
    http_resp_t resp;
    int         rc;

    url = s3_url(cfg, cfg->s3_endpoint_url, "PUT", key, 300, time(NULL));
    if (url == NULL) {
        snprintf(err, errlen, "cannot sign for S3_ENDPOINT_URL %s: %s",
            cfg->s3_endpoint_url,
            errno == EINVAL ? "not scheme://host[:port][/path]"
                            : strerror(errno));
        return -1;
    }

    memset(&req, 0, sizeof(req));
    req.method = "PUT";
    req.url = url;
    req.body_path = path;
    req.tag = "s3";

    rc = http_client_request(http, &req, &resp, err, errlen);
    http_client_resp_free(&resp);
    free(url);

    return rc == HTTP_CLIENT_OK ? 0 : -1;
}
