/*
 * S3 reports over libcurl.
 */
#include "s3_store.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <curl/curl.h>

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
    const char  *p, *h, *e;

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
s3_url(const config_t *cfg, const char *base, const char *method, const char *key,
    long expires, time_t now, char *out, size_t outlen)
{
    char        scheme[16], host[256], path[2048], enc[1536];
    s3_creds_t  c;

    if (s3_split(base, scheme, sizeof(scheme), host, sizeof(host)) != 0
        || s3_uri_encode(key, 1, enc, sizeof(enc)) == 0)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "/%s/%s", cfg->s3_bucket, enc);

    c.access_key = cfg->s3_access_key;
    c.secret_key = cfg->s3_secret_key;
    c.region = cfg->s3_region;

    return s3_presign(&c, method, scheme, host, path, expires, now, out, outlen);
}

int
s3_store_url(const config_t *cfg, const char *key, time_t now, char *out, size_t outlen)
{
    const char  *base = cfg->s3_public_endpoint_url[0] ? cfg->s3_public_endpoint_url
                                                       : cfg->s3_endpoint_url;

    return s3_url(cfg, base, "GET", key, cfg->s3_presign_ttl_seconds, now, out, outlen);
}

int
s3_store_put(const config_t *cfg, const char *path, const char *key, char *err,
    size_t errlen)
{
    char         url[4096];
    FILE        *f;
    CURL        *curl;
    CURLcode     rc;
    long         status = 0;
    struct stat  st;

    if (s3_url(cfg, cfg->s3_endpoint_url, "PUT", key, 300, time(NULL), url, sizeof(url)) != 0) {
        snprintf(err, errlen, "S3_ENDPOINT_URL %s is not a URL", cfg->s3_endpoint_url);
        return -1;
    }

    f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot read %s", path);
        if (f) {
            fclose(f);
        }
        return -1;
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READDATA, f);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) st.st_size);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    fclose(f);

    if (rc != CURLE_OK) {
        snprintf(err, errlen, "PUT %s/%s: %s", cfg->s3_bucket, key, curl_easy_strerror(rc));
        return -1;
    }

    if (status != 200) {
        snprintf(err, errlen, "PUT %s/%s: HTTP %ld", cfg->s3_bucket, key, status);
        return -1;
    }

    return 0;
}
