/*
 * Reports in S3-compatible storage (when S3_ENDPOINT_URL is set): a file
 * is PUT through a presigned URL on S3_ENDPOINT_URL, and read back through a
 * presigned GET on S3_PUBLIC_ENDPOINT_URL. Path-style URLs: [/path]/bucket/key.
 */
#ifndef FERRY_S3_STORE_H
#define FERRY_S3_STORE_H

#include <stddef.h>
#include <time.h>

#include "core/config.h"
#include "http/http_client.h"

int s3_store_enabled(const config_t *cfg);

/* Uploads path as key (a PUT streamed from the file, retried by http).
   0, or -1 with a message in err. */
int s3_store_put(http_client_t *http, const config_t *cfg, const char *path,
    const char *key, char *err, size_t errlen);

/* A presigned GET URL for key, valid S3_PRESIGN_TTL_SECONDS from now. */
int s3_store_url(
    const config_t *cfg, const char *key, time_t now, char *out, size_t outlen);

#endif
