/*
 * A Slack export zip, read member by member with libzip, straight from the
 * spool file: nothing is unpacked to disk or held whole in memory. The
 * limits are checked on the bytes actually inflated, not on what the
 * headers claim, so a zip bomb stops at the limit.
 */
#ifndef FERRY_SLACK_ZIP_H
#define FERRY_SLACK_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include <zip.h>

typedef struct {
    zip_t   *zip;
    uint64_t max_total; /* bytes inflated in all (SLACK_ZIP_MAX_BYTES) */
    uint64_t max_ratio; /* inflated / compressed (SLACK_ZIP_MAX_RATIO) */
    uint64_t total;     /* inflated so far */
} slack_zip_t;

/* the bytes of a member, in chunks; non-zero stops the read */
typedef int (*slack_zip_chunk_pt)(void *data, const char *p, size_t n);

/* 0, or -1 with a message (not a zip, truncated) in err. */
int  slack_zip_open(slack_zip_t *z, const char *path, uint64_t max_total,
     uint64_t max_ratio, char *err, size_t errlen);
void slack_zip_close(slack_zip_t *z);

long slack_zip_count(slack_zip_t *z);

/* Member i's name; NULL when it is not a safe relative path (absolute,
 * "..", a backslash, a drive letter), or when it cannot be read. */
const char *slack_zip_name(slack_zip_t *z, long i);

/* Streams member i through fn. 0; fn's non-zero result; or -1 with a
 * message in err (corrupt data, a limit reached). */
int slack_zip_read(slack_zip_t *z, long i, slack_zip_chunk_pt fn, void *data,
    char *err, size_t errlen);

#endif
