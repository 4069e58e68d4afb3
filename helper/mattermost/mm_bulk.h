/*
 * The bulk mode's archive: everything the Slack ingestion wrote, as one zip
 * that `mmctl import process` and Mattermost's import_process job take:
 * import.jsonl (version, emoji, channel, user, direct_channel, post with
 * its replies, reactions and attachments, direct_post) and the files
 * under data/.
 */
#ifndef FERRY_MM_BULK_H
#define FERRY_MM_BULK_H

#include <stddef.h>

#include "core/jobs.h"
#include "mm_export.h"

/* What went into the archive, and what could not. */
typedef struct {
    long emoji;
    long channels;
    long users;
    long direct_channels;
    long posts; /* post and direct_post lines */
    long replies;
    long reactions;
    long attachments;
    long left_out; /* rows with a finding (export_findings) saying why */
    long jsonl_bytes;
} mm_bulk_counts_t;

/* Writes the archive of the team's workspace to path (renamed into place
 * when complete). Rows that cannot go in are recorded as x's findings (as
 * a dry run's are), the rows themselves left alone. 0, or -1 with why in
 * err (nothing left at path). */
int mm_bulk_write(mm_export_t *x, job_t *job, const char *team,
    const char *path, mm_bulk_counts_t *counts, char *err, size_t errlen);

#endif
