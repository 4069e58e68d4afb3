/*
 * libzip reads the central directory at open (a truncated zip has none and
 * is refused there) and inflates a member as it is read.
 */
#include "slack_zip.h"

#include <stdio.h>
#include <string.h>

#define SLACK_ZIP_CHUNK (64 * 1024)

/* a member may always inflate this much, whatever its ratio */
#define SLACK_ZIP_RATIO_FLOOR (1024 * 1024)

int
slack_zip_open(slack_zip_t *z, const char *path, uint64_t max_total,
    uint64_t max_ratio, char *err, size_t errlen)
{
    zip_error_t ze;
    int         e = 0;

    memset(z, 0, sizeof(*z));
    z->max_total = max_total;
    z->max_ratio = max_ratio;

    z->zip = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &e);
    if (z->zip == NULL) {
        zip_error_init_with_code(&ze, e);
        snprintf(err, errlen, "not a readable zip archive: %s",
            zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }

    return 0;
}

void
slack_zip_close(slack_zip_t *z)
{
    if (z->zip) {
        zip_discard(z->zip);
        z->zip = NULL;
    }
}

long
slack_zip_count(slack_zip_t *z)
{
    return (long) zip_get_num_entries(z->zip, 0);
}

const char *
slack_zip_name(slack_zip_t *z, long i)
{
    const char *name, *p;

    name = zip_get_name(z->zip, (zip_uint64_t) i, ZIP_FL_ENC_GUESS);
    if (name == NULL || name[0] == '\0' || name[0] == '/' || name[0] == '\\'
        || strchr(name, '\\') || (name[0] && name[1] == ':'))
    {
        return NULL;
    }

    /* no ".." component anywhere */
    for (p = name; p; p = strchr(p, '/')) {
        if (*p == '/') {
            p++;
        }
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')) {
            return NULL;
        }
    }

    return name;
}

int
slack_zip_read(slack_zip_t *z, long i, slack_zip_chunk_pt fn, void *data,
    char *err, size_t errlen)
{
    zip_stat_t  st;
    zip_file_t *f;
    zip_int64_t n;
    uint64_t    inflated = 0, comp = 0, allowed;
    int         rc = 0;

    zip_stat_init(&st);
    if (zip_stat_index(z->zip, (zip_uint64_t) i, 0, &st) == 0
        && (st.valid & ZIP_STAT_COMP_SIZE))
    {
        comp = st.comp_size;
    }

    allowed = comp * z->max_ratio;
    if (allowed < SLACK_ZIP_RATIO_FLOOR) {
        allowed = SLACK_ZIP_RATIO_FLOOR;
    }

    f = zip_fopen_index(z->zip, (zip_uint64_t) i, 0);
    if (f == NULL) {
        snprintf(
            err, errlen, "cannot read the member: %s", zip_strerror(z->zip));
        return -1;
    }

    {
        char chunk[SLACK_ZIP_CHUNK];

        while ((n = zip_fread(f, chunk, sizeof(chunk))) > 0) {
            inflated += (uint64_t) n;
            z->total += (uint64_t) n;

            if (inflated > allowed) {
                snprintf(err, errlen,
                    "the member inflates more than %llu times its "
                    "compressed size (SLACK_ZIP_MAX_RATIO): refused as a "
                    "zip bomb",
                    (unsigned long long) z->max_ratio);
                rc = -1;
                break;
            }

            if (z->total > z->max_total) {
                snprintf(err, errlen,
                    "the archive inflates to more than %llu bytes "
                    "(SLACK_ZIP_MAX_BYTES)",
                    (unsigned long long) z->max_total);
                rc = -1;
                break;
            }

            rc = fn(data, chunk, (size_t) n);
            if (rc != 0) {
                break;
            }
        }

        if (n < 0 && rc == 0) {
            snprintf(err, errlen, "corrupt member: %s", zip_file_strerror(f));
            rc = -1;
        }
    }

    zip_fclose(f);

    return rc;
}
