/*
 * The rows' statuses in bulk mode: an archive alone changes none of them
 * (nothing is in Mattermost yet; what could not go in is the job's
 * findings, listed by GET /export/{id}/failures). Once Mattermost's import
 * job succeeds, the rows the archive held become success (without a
 * mattermost_id: the import answers no ids) and those it could not hold
 * take their finding's status and reason; a row changed after the archive
 * was written is left pending for the next run. Mattermost's job id is
 * kept in the progress, so a restarted ferryd waits for that job instead
 * of importing again.
 */
#include "mm_bulk_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/db.h"
#include "core/log.h"
#include "core/report_link.h"
#include "ferry_json.h"
#include "mm_bulk.h"
#include "mm_bulk_upload.h"

/* clang-format off */
#define MM_BULK_FINDINGS_SQL                                                   \
    "UPDATE entities e SET status = f.status, "                                \
    "error_message = f.error_message, updated_at = now() "                     \
    "FROM export_findings f WHERE f.job_id = $1::uuid AND f.entity_id = e.id"

#define MM_BULK_SUCCESS_SQL                                                    \
    "UPDATE entities e SET status = 'success', error_message = NULL, "         \
    "updated_at = now() WHERE e.updated_at <= $2::timestamptz "                \
    "AND e.status <> 'success' "                                               \
    "AND NOT coalesce((e.raw_data->>'deleted')::boolean, false) "              \
    "AND NOT coalesce((e.raw_data->>'removed')::boolean, false) "              \
    "AND NOT EXISTS (SELECT 1 FROM export_findings f "                         \
    "WHERE f.job_id = $1::uuid AND f.entity_id = e.id)"
/* clang-format on */

void
mm_bulk_path(const ferryd_t *ferry, const char *job_id, char *path, size_t len)
{
    snprintf(path, len, "%s/%s-bulk.zip", ferry->cfg.reports_dir, job_id);
}

void
mm_bulk_sweep(ferryd_t *ferry)
{
    report_sweep(ferry, "-bulk.zip", "export");
}

/* The progress: the archive, its counts, the snapshot, Mattermost's job. */
static char *
mm_bulk_progress(
    const mm_bulk_counts_t *c, const char *snapshot, const char *mm_job)
{
    cJSON *p = cJSON_CreateObject(), *o;
    char  *text;

    cJSON_AddStringToObject(p, "phase", "bulk");
    cJSON_AddStringToObject(p, "archive", "local");
    cJSON_AddStringToObject(p, "snapshot_at", snapshot);
    if (mm_job) {
        cJSON_AddStringToObject(p, "mattermost_job", mm_job);
    }
    o = cJSON_AddObjectToObject(p, "bulk");
    cJSON_AddNumberToObject(o, "emoji", (double) c->emoji);
    cJSON_AddNumberToObject(o, "channels", (double) c->channels);
    cJSON_AddNumberToObject(o, "users", (double) c->users);
    cJSON_AddNumberToObject(o, "direct_channels", (double) c->direct_channels);
    cJSON_AddNumberToObject(o, "posts", (double) c->posts);
    cJSON_AddNumberToObject(o, "replies", (double) c->replies);
    cJSON_AddNumberToObject(o, "reactions", (double) c->reactions);
    cJSON_AddNumberToObject(o, "attachments", (double) c->attachments);
    cJSON_AddNumberToObject(o, "left_out", (double) c->left_out);
    cJSON_AddNumberToObject(o, "jsonl_bytes", (double) c->jsonl_bytes);

    text = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);

    return text;
}

/* Mattermost's import succeeded: the rows take their outcome, with the
 * job's end, in one transaction. */
static void
mm_bulk_done(job_t *job, const char *snapshot)
{
    const char *p[2] = { job->id, snapshot };

    if (db_exec(job->conn, "BEGIN") != 0
        || db_run(job->conn, MM_BULK_FINDINGS_SQL, 1, p) < 0
        || db_run(job->conn, MM_BULK_SUCCESS_SQL, 2, p) < 0
        || job_finish(job, "done", NULL, NULL) != 1
        || db_exec(job->conn, "COMMIT") != 0)
    {
        log_error(job->worker, "export %s: statuses: %s", job->id,
            PQerrorMessage(job->conn));
        (void) db_exec(job->conn, "ROLLBACK");
        return;
    }

    log_info(job->worker, "export %s done: Mattermost imported the archive",
        job->id);
}

/* Waits for Mattermost's job and ends the export with its outcome. */
static void
mm_bulk_finish(job_t *job, const char *mm_job, const char *snapshot)
{
    char err[1024];

    switch (mm_bulk_wait(job, mm_job, err, sizeof(err))) {
    case 0:
        mm_bulk_done(job, snapshot);
        break;

    case -1:
        if (job_finish(job, "failed", NULL, err) == 1) {
            log_info(job->worker, "export %s failed: %s", job->id, err);
        }
        break;

    default:
        if (*job->stop) {
            job_hand_back(job);
        }
    }
}

void
mm_bulk_run(job_t *job, mm_export_t *x, const char *team)
{
    mm_bulk_counts_t c;
    cJSON           *progress;
    PGresult        *res;
    char             path[4096], err[1024], snapshot[64];
    char             mm_job[32], *text;
    const char      *v;

    /* a restarted ferryd: Mattermost's import was started already */
    progress = cJSON_Parse(job->progress ? job->progress : "{}");
    v = ferry_json_str(progress, "mattermost_job");
    if (v && ferry_json_str(progress, "snapshot_at")) {
        snprintf(mm_job, sizeof(mm_job), "%s", v);
        snprintf(snapshot, sizeof(snapshot), "%s",
            ferry_json_str(progress, "snapshot_at"));
        cJSON_Delete(progress);
        mm_bulk_finish(job, mm_job, snapshot);
        return;
    }
    cJSON_Delete(progress);

    if (job->ferry->cfg.reports_dir[0] == '\0') {
        (void) job_finish(job, "failed", NULL,
            "the bulk mode writes to REPORTS_DIR: not set");
        return;
    }

    res = db_query(job->conn, "SELECT now()::text", 0, NULL);
    if (res == NULL) {
        return;
    }
    snprintf(snapshot, sizeof(snapshot), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    (void) job_progress(job, "{\"phase\":\"bulk\"}");
    mm_bulk_path(job->ferry, job->id, path, sizeof(path));

    if (mm_bulk_write(x, job, team, path, &c, err, sizeof(err)) != 0) {
        if (*job->stop) {
            job_hand_back(job);
        } else if (job_finish(job, "failed", NULL, err) == 1) {
            log_error(job->worker, "export %s: the archive: %s", job->id, err);
        }
        return;
    }

    log_info(job->worker,
        "export %s: archive written (%ld posts, %ld replies, %ld reactions, "
        "%ld files, %ld users, %ld channels, %ld rows left out; import.jsonl "
        "%.1f MB)",
        job->id, c.posts, c.replies, c.reactions, c.attachments, c.users,
        c.channels + c.direct_channels, c.left_out,
        (double) c.jsonl_bytes / 1e6);

    if (job->ferry->cfg.mm_url[0] == '\0' || x->dry_run) {
        text = mm_bulk_progress(&c, snapshot, NULL);
        if (job_finish(job, "done", text, NULL) == 1) {
            log_info(job->worker, "export %s done: the archive only (%s)",
                job->id, x->dry_run ? "a dry run" : "MM_URL is not set");
        }
        cJSON_free(text);
        return;
    }

    if (mm_bulk_upload(job, path, mm_job, err, sizeof(err)) != 0) {
        text = mm_bulk_progress(&c, snapshot, NULL);
        if (job_finish(job, "failed", text, err) == 1) {
            log_info(job->worker, "export %s failed: %s", job->id, err);
        }
        cJSON_free(text);
        return;
    }

    text = mm_bulk_progress(&c, snapshot, mm_job);
    if (job_progress(job, text) != 1) {
        cJSON_free(text);
        return;
    }
    cJSON_free(text);
    log_info(job->worker, "export %s: Mattermost's import job %s started",
        job->id, mm_job);

    mm_bulk_finish(job, mm_job, snapshot);
}
