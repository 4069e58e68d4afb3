/*
 * errors.csv of an import: written from import_errors at the end of a job
 * into REPORTS_DIR, or put to S3-compatible storage when S3_ENDPOINT_URL is
 * set; local reports older than REPORT_TTL are swept away.
 */
#ifndef FERRY_IMPORT_REPORT_H
#define FERRY_IMPORT_REPORT_H

#include <stddef.h>

#include "core/jobs.h"

/* The path of a job's errors.csv under REPORTS_DIR. */
void import_report_path(
    const ferryd_t *ferry, const char *job_id, char *path, size_t len);

/* Writes the job's errors.csv; where becomes "local" or "s3". 0, or -1. */
int import_report_write(job_t *job, const char **where);

/* Removes local reports older than REPORT_TTL (S3 reports are left to the
 * bucket's lifecycle rules). */
void import_report_sweep(ferryd_t *ferry);

#endif
