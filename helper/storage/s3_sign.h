/*
 * AWS Signature Version 4 presigned URLs (query-string authentication, as
 * the S3 API reference describes it), for reports put to and read from an
 * S3-compatible store.
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
 * Writes "<scheme>://<host><path>?X-Amz-...&X-Amz-Signature=..." into out.
 * path is the object's path as sent (already URI-encoded, starting with
 * '/'); host includes a non-default port. Returns 0, or -1 when out is too
 * small.
 */
int s3_presign(const s3_creds_t *c, const char *method, const char *scheme,
    const char *host, const char *path, long expires, time_t now, char *out,
    size_t outlen);

/* URI-encodes s for a SigV4 path (keep_slash) or query value. */
size_t s3_uri_encode(const char *s, int keep_slash, char *out, size_t outlen);

#endif
