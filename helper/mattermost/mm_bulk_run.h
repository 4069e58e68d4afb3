/*
 * An export in bulk mode: the archive written to REPORTS_DIR (its signed
 * link on GET /export/{id}), then, when MM_URL is set, uploaded and
 * imported by Mattermost, whose job's outcome becomes the export's.
 */
#ifndef FERRY_MM_BULK_RUN_H
#define FERRY_MM_BULK_RUN_H

#include "core/ferryd.h"
#include "core/jobs.h"
#include "mm_export.h"

/* Runs the export job (its team checked in Mattermost already when MM_URL
 * is set) to its end. */
void mm_bulk_run(job_t *job, mm_export_t *x, const char *team);

/* REPORTS_DIR/<job id>-bulk.zip into path. */
void mm_bulk_path(
    const ferryd_t *ferry, const char *job_id, char *path, size_t len);

/* Removes archives older than REPORT_TTL (the export kind's sweep). */
void mm_bulk_sweep(ferryd_t *ferry);

#endif
