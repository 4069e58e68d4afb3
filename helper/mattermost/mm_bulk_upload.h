/*
 * A bulk archive into Mattermost through its own import API: an upload
 * session of type import, the bytes streamed from the file, an
 * import_process job on it, polled until it ends.
 */
#ifndef FERRY_MM_BULK_UPLOAD_H
#define FERRY_MM_BULK_UPLOAD_H

#include <stddef.h>

#include "core/jobs.h"

/* Uploads path and starts Mattermost's import of it; the job's id into
 * mm_job (27 bytes). 0, or -1 with why in err. */
int mm_bulk_upload(
    job_t *job, const char *path, char *mm_job, char *err, size_t errlen);

/* Waits for Mattermost's job mm_job, heartbeating job: 0 when it
 * succeeded, -1 when it failed (Mattermost's error and line in err), -2
 * when the wait was cut short (ferryd stopping, the job lost). */
int mm_bulk_wait(job_t *job, const char *mm_job, char *err, size_t errlen);

#endif
