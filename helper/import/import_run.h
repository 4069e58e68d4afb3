/*
 * Running one import job: the spool file read in chunks from where the last
 * committed batch ended, rows validated, batches loaded and committed with
 * the job's progress and bad rows, errors.csv written at the end.
 */
#ifndef FERRY_IMPORT_RUN_H
#define FERRY_IMPORT_RUN_H

#include "core/jobs.h"

void import_run(job_t *job);

/* The path of a job's errors.csv under REPORTS_DIR (and its file name). */
void import_report_path(const ferryd_t *ferry, const char *job_id, char *path, size_t len);

#endif
