/*
 * AWS Signature Version 4 presigned URLs (query-string authentication, as
 * the S3 API reference describes it), for reports put to and read from an
 * S3-compatible store. t/unit/test_s3_sign.c holds them to botocore's.
 */
#ifndef FERRY_S3_SIGN_H
#define FERRY_S3_SIGN_H

#include <stddef.h>
#include <time.h>

typedef struct {
    const char *access_key;
    const char *secret_key;
    const char *region;
} s3_creds_t;

/*
 * A presigned URL for key (raw bytes, UTF-8 for S3) in bucket, path-style:
 * "<endpoint>/<bucket>/<key>?X-Amz-...&X-Amz-Signature=...", endpoint being
 * "scheme://host[:port][/path]". As botocore does, the URL keeps the
 * endpoint as written, but the signed host is lower-cased and loses a
 * default port (:80 for http, :443 for https): that is the Host header an
 * HTTP client sends. bucket NULL: virtual-hosted style, the bucket is in the
 * endpoint's host. Any length: the result is allocated, to free().
 * NULL with errno EINVAL when endpoint is not such a URL (query, fragment
 * and user info included), ENOMEM when memory (or OpenSSL) fails.
 */
char *s3_presign(const s3_creds_t *c, const char *method, const char *endpoint,
    const char *bucket, const char *key, long expires, time_t now);


#endif
