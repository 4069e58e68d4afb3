/*
 * One phase of an export run by up to N worker threads, each with its own
 * database connection: they take the phase's items (entity ids) in order,
 * while the job's own thread keeps the job's heartbeat.
 */
#ifndef FERRY_MM_PHASE_H
#define FERRY_MM_PHASE_H

#include "mm_export.h"

/* One item: 0 when its outcome is recorded, 1 when it stopped early
 * (x->stop or x->lost: the phase then stops, to be resumed), -1 on a
 * database error (likewise). */
typedef int (*mm_item_pt)(mm_export_t *x, const char *id, void *arg);

/* Runs item() on every id of column 0 of ids, workers at a time; stops
 * early when ferryd stops or the job is lost. Adds the items done to
 * *done. 0 when every item was done, 1 when stopped early, -1 on an
 * error. */
int mm_phase_run(const mm_export_t *proto, job_t *job, const PGresult *ids,
    int workers, mm_item_pt item, void *arg, long *done);

#endif
