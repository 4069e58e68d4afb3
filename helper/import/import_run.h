/*
 * Running one import job: the spool file read in chunks from where the last
 * committed batch ended, rows validated, batches loaded and committed with
 * the job's progress and bad rows, errors.csv written at the end.
 */
#ifndef FERRY_IMPORT_RUN_H
#define FERRY_IMPORT_RUN_H

#include "core/jobs.h"

void import_run(job_t *job);

#endif
