/*
 * The export job: entities (what the Slack ingestion wrote) into
 * Mattermost, phase by phase, statuses kept on the rows so that a re-run
 * skips what succeeded and retries what failed.
 */
#ifndef FERRY_MM_EXPORT_H
#define FERRY_MM_EXPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "core/jobs.h"

/* How the export reaches Mattermost: POST /export's "mode", MM_API_MODE by
 * default; the index of its name in config_mm_modes. */
#define MM_MODE_API    0 /* REST v4 */
#define MM_MODE_PLUGIN 1 /* the mm-importer plugin's routes */
#define MM_MODE_BULK   2 /* a bulk-import archive, then Mattermost's import */

typedef struct mm_tokens_s mm_tokens_t;

/* Messages whose rows are read in one round trip (rather than one each: a
 * message's own work is a round trip to Mattermost and one to
 * PostgreSQL), few enough that their raw_data is small. */
#define MM_MESSAGE_BATCH 64

/* An entity's outcome held back to be recorded with others. */
typedef struct {
    char id[24];
    char status[16];
    char mattermost_id[64];
    char error[640];
    int  has_mattermost_id;
    int  has_error;
} mm_outcome_t;

/* What an exporter of one entity gets; each worker thread has its own copy
 * (its own connection), the rest is shared and read-only. */
typedef struct {
    ferryd_t    *ferry;
    PGconn      *conn;
    const char  *team_id;
    const char  *owner_id; /* MM_TOKEN's user (GET /users/me) */
    const char  *worker;   /* for the log */
    const char  *job_id;
    int          dry_run;
    int          mode;
    mm_tokens_t *tokens; /* api mode: a token per migrated user */

    /* ferryd is stopping; the job is not this runner's any more (a
     * phase's): a channel's messages stop at a batch's end (NULL: never) */
    volatile int *stop;
    atomic_int   *lost;

    /* The message phase: the outcomes of a batch's messages are held back
     * and recorded in one statement, with the worker's next query
     * (mm_export_query: the next batch's read) or at the channel's end
     * (mm_export_flush), not in a round trip each. */
    int          deferring;
    int          deferred; /* outcomes held not yet recorded */
    mm_outcome_t outcomes[MM_MESSAGE_BATCH];

    /* The message phase outside a dry run: the rows of the batch being
     * exported (mm_message_batch) and the row of the message at hand; the
     * posts made from the batch so far, for a reply whose root the batch
     * read before it was posted. */
    const PGresult *batch;
    int             batch_row;
    int             made;
    char            made_id[MM_MESSAGE_BATCH][24];
    char            made_post[MM_MESSAGE_BATCH][64];
} mm_export_t;

/* Sets an entity's outcome: status success (with mattermost_id), failed or
 * skipped (with the reason). In a dry run the rows stay as they are and a
 * failure or skip goes to the job's report (export_findings). While
 * x->deferring, it is held back until the next mm_export_query or
 * mm_export_flush (or until MM_MESSAGE_BATCH are held). 0, or -1. */
int mm_export_status(mm_export_t *x, const char *entity_id, const char *status,
    const char *mattermost_id, const char *error);

/* Records the outcomes held back, if any, in one statement. 0, or -1. */
int mm_export_flush(mm_export_t *x);

/* db_query_prepared, with the outcomes held back (if any) recorded in the
 * same round trip and transaction, before the query runs (so that it
 * sees them). */
PGresult *mm_export_query(mm_export_t *x, const char *name, const char *sql,
    int n, const char *const *params);

/*
 * SQL: the Mattermost id of the entity e (an alias), with $2 the job's id
 * in a dry run and NULL otherwise. A dry run writes nothing, so there an
 * entity that would be exported (a success, or one the run found nothing
 * against so far) reads as 'dry-run': later phases then check what they
 * would check, instead of finding every author and channel missing.
 */
#define MM_EXPORTED(e)                                                         \
    "CASE WHEN $2::uuid IS NULL THEN " e ".mattermost_id WHEN " e              \
    ".status = 'success' OR NOT EXISTS (SELECT 1 FROM export_findings f "      \
    "WHERE f.job_id = $2::uuid AND f.entity_id = " e ".id) THEN "              \
    "coalesce(" e ".mattermost_id, 'dry-run') END"

/* $2 of a query that uses MM_EXPORTED */
#define MM_DRY_JOB(x) ((x)->dry_run ? (x)->job_id : NULL)

/* The Mattermost id of the entity at the other end of entity_id's
 * relation (the "to" end, or with from set the "from" end) into out (64
 * bytes): 0; 1 when that entity was not exported (no id yet); 2 when there
 * is no such relation; -1 on a database error. */
int mm_export_related(mm_export_t *x, const char *entity_id,
    const char *relation, int from, char *out);

/* Slack's ts ("1609459200.000100") in milliseconds; 0 when it is none. */
long mm_ts_ms(const char *ts);

void mm_export_run(job_t *job);

/* The export ended without its runner: its user tokens revoked. */
void mm_export_cancel(ferryd_t *ferry, const char *id, const char *params);

/* 1 when this version exports entities of type, else 0. */
int mm_export_has_type(const char *type);

/* The types this version exports, in their order, as a phrase ("user and
 * channel") into out. Returns out. */
char *mm_export_types(char *out, size_t len);

#endif
