/*
 * libzip reads every source when the archive is closed, so the Slack
 * uploads' zips stay open and the downloads stay on disk until then. A
 * file shared in several messages is one member, found by its name.
 * Downloads go through mm_slack_download, which sends SLACK_TOKEN to
 * Slack's hosts only.
 */
#include "mm_bulk_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "mm_slack_file.h"

typedef struct {
    char   job[64];
    zip_t *zip;
} mm_bulk_source_t;

struct mm_bulk_files_s {
    ferryd_t         *ferry;
    zip_t            *out;
    char              tmpdir[4096];
    long              downloads;
    mm_bulk_source_t *sources;
    size_t            nsources;
};

mm_bulk_files_t *
mm_bulk_files_new(ferryd_t *ferry, zip_t *out, const char *tmpdir)
{
    mm_bulk_files_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return NULL;
    }
    f->ferry = ferry;
    f->out = out;
    snprintf(f->tmpdir, sizeof(f->tmpdir), "%s", tmpdir);

    return f;
}

/* The Slack upload's zip of that ingest job, opened once. */
static zip_t *
mm_bulk_source(mm_bulk_files_t *f, const char *job, char *err, size_t errlen)
{
    mm_bulk_source_t *s;
    char              path[4096];
    size_t            i;
    int               e;

    for (i = 0; i < f->nsources; i++) {
        if (strcmp(f->sources[i].job, job) == 0) {
            return f->sources[i].zip;
        }
    }

    s = realloc(f->sources, (f->nsources + 1) * sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->sources = s;
    s = &f->sources[f->nsources];

    snprintf(path, sizeof(path), "%s/slack_ingest-%s.zip",
        f->ferry->cfg.spool_dir, job);
    s->zip = zip_open(path, ZIP_RDONLY, &e);
    if (s->zip == NULL) {
        snprintf(
            err, errlen, "the Slack upload %s is no longer in the spool", job);
        return NULL;
    }
    snprintf(s->job, sizeof(s->job), "%s", job);
    f->nsources++;

    return s->zip;
}

/* url into a new temporary file, its name into path */
static int
mm_bulk_download(mm_bulk_files_t *f, const char *url, char *path, size_t len,
    char *err, size_t errlen)
{
    int rc;

    if (f->downloads == 0 && mkdir(f->tmpdir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", f->tmpdir, strerror(errno));
        return -1;
    }
    snprintf(path, len, "%s/%ld", f->tmpdir, f->downloads++);

    rc = mm_slack_download(f->ferry, url, path, err, errlen);
    if (rc != 0) {
        unlink(path);
    }

    return rc == 0 ? 0 : -1;
}

int
mm_bulk_file_add(mm_bulk_files_t *f, const char *name, const char *ingest_job,
    const char *zip_member, const char *url, char *err, size_t errlen)
{
    zip_source_t *src = NULL;
    zip_t        *z;
    zip_int64_t   i;
    char          path[4200];

    if (zip_name_locate(f->out, name, 0) >= 0) {
        return 0;
    }

    if (ingest_job && zip_member) {
        z = mm_bulk_source(f, ingest_job, err, errlen);
        if (z == NULL) {
            return -1;
        }
        i = zip_name_locate(z, zip_member, 0);
        if (i < 0) {
            snprintf(err, errlen, "%s is not in the Slack upload", zip_member);
            return -1;
        }
        src = zip_source_zip(f->out, z, (zip_uint64_t) i, 0, 0, -1);

    } else if (url) {
        if (mm_bulk_download(f, url, path, sizeof(path), err, errlen) != 0) {
            return -1;
        }
        src = zip_source_file(f->out, path, 0, -1);

    } else {
        snprintf(err, errlen, "Slack gave neither its bytes nor a URL");
        return -1;
    }

    if (src == NULL
        || (i = zip_file_add(f->out, name, src, ZIP_FL_ENC_UTF_8)) < 0) {
        snprintf(err, errlen, "%s: %s", name, zip_strerror(f->out));
        zip_source_free(src);
        return -1;
    }

    /* mostly images and documents, compressed already */
    (void) zip_set_file_compression(f->out, (zip_uint64_t) i, ZIP_CM_STORE, 0);

    return 0;
}

void
mm_bulk_files_free(mm_bulk_files_t *f)
{
    char   path[4200];
    size_t i;
    long   n;

    if (f == NULL) {
        return;
    }

    for (i = 0; i < f->nsources; i++) {
        zip_discard(f->sources[i].zip);
    }
    free(f->sources);

    for (n = 0; n < f->downloads; n++) {
        snprintf(path, sizeof(path), "%s/%ld", f->tmpdir, n);
        (void) unlink(path);
    }
    if (f->downloads) {
        (void) rmdir(f->tmpdir);
    }

    free(f);
}
