/*
 * The export job: entities (what the Slack ingestion wrote) into
 * Mattermost, phase by phase, statuses kept on the rows so that a re-run
 * skips what succeeded and retries what failed. This slice exports users
 * and channels (REST v4 with the admin token); the other phases come next.
 */
#ifndef FERRY_MM_EXPORT_H
#define FERRY_MM_EXPORT_H

#include <stddef.h>
#include <libpq-fe.h>

#include "core/jobs.h"

/* How the export reaches Mattermost: POST /export's "mode", MM_API_MODE by
 * default. */
#define MM_MODE_API    0 /* REST v4 */
#define MM_MODE_PLUGIN 1 /* the mm-importer plugin's routes */
#define MM_MODE_BULK   2 /* a bulk-import archive, then Mattermost's import */

/* MM_MODE_* of a mode's name, or -1. */
int mm_export_mode(const char *name);

/* What an exporter of one entity gets. */
typedef struct {
    ferryd_t   *ferry;
    PGconn     *conn;
    const char *team_id;
    const char *worker; /* for the log */
    const char *job_id;
    int         dry_run;
    int         mode; /* MM_MODE_* */
} mm_export_t;

/* Sets an entity's outcome: status success (with mattermost_id), failed or
 * skipped (with the reason). In a dry run the rows stay as they are and a
 * failure or skip goes to the job's report (export_findings). 0, or -1. */
int mm_export_status(mm_export_t *x, const char *entity_id, const char *status,
    const char *mattermost_id, const char *error);

void mm_export_run(job_t *job);

/* 1 when this version exports entities of type, else 0. */
int mm_export_has_type(const char *type);

/* The types this version exports, in their order, as a phrase ("user and
 * channel") into out. Returns out. */
char *mm_export_types(char *out, size_t len);

#endif
