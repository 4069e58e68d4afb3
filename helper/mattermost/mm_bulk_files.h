/*
 * The bytes of the bulk archive's files (attachments, custom emoji): a
 * member of the Slack upload's zip copied across, or a download from Slack
 * to a temporary file; either way streamed into the archive when it is
 * closed, never held in memory.
 */
#ifndef FERRY_MM_BULK_FILES_H
#define FERRY_MM_BULK_FILES_H

#include <stddef.h>
#include <zip.h>

#include "core/ferryd.h"

typedef struct mm_bulk_files_s mm_bulk_files_t;

/* Files for the archive out; downloads go to tmpdir (made here). */
mm_bulk_files_t *mm_bulk_files_new(
    ferryd_t *ferry, zip_t *out, const char *tmpdir);

/* Adds name (a path under data/) once: the member zip_member of the Slack
 * upload ingest_job's zip when both are given, else the download of url
 * (SLACK_TOKEN sent to Slack's hosts only). 0, or -1 with why in err. */
int mm_bulk_file_add(mm_bulk_files_t *f, const char *name,
    const char *ingest_job, const char *zip_member, const char *url, char *err,
    size_t errlen);

/* After zip_close(out) (or zip_discard): the sources closed, the
 * downloads removed. */
void mm_bulk_files_free(mm_bulk_files_t *f);

#endif
