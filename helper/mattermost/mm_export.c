/*
 * Phases in the original's later order (user, custom_emoji, channel,
 * attachment, message, reaction); a phase exports every row of its type
 * that is pending or failed, so a re-run skips what succeeded. Progress is
 * the rows' own statuses; the job only remembers the phase it is in.
 */
#include "mm_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "core/db.h"
#include "core/log.h"
#include "mm_client.h"
#include "mm_export_user.h"

int
mm_export_status(mm_export_t *x, const char *entity_id, const char *status,
    const char *mattermost_id, const char *error)
{
    const char *p[4] = { entity_id, status, mattermost_id, error };

    return db_run(x->conn,
               "UPDATE entities SET status = $2, "
               "mattermost_id = coalesce($3, mattermost_id), "
               "error_message = $4, updated_at = now() WHERE id = $1::bigint",
               4, p)
            == 1
        ? 0
        : -1;
}

/* The team's id from its name; NULL with the reason in err. */
static char *
mm_team_id(ferryd_t *ferry, const char *team, char *err, size_t errlen)
{
    char         path[512];
    mm_resp_t    r;
    const cJSON *id;
    char        *out = NULL;

    snprintf(path, sizeof(path), "/api/v4/teams/name/%s", team);

    if (mm_call(ferry, NULL, "GET", path, NULL, 0, &r) == 0) {
        id = cJSON_GetObjectItemCaseSensitive(r.json, "id");
        out = cJSON_IsString(id) ? strdup(id->valuestring) : NULL;
    }

    if (out == NULL) {
        snprintf(err, errlen, "team %.64s: %.400s", team,
            r.status == 404 ? "no such team in Mattermost"
                            : (r.message[0] ? r.message : "no answer"));
    }

    mm_resp_free(&r);

    return out;
}

/* The user phase: every user row still pending or failed. */
static int
mm_export_users(mm_export_t *x, job_t *job, long *done)
{
    PGresult *res;
    cJSON    *raw;
    int       i, rc = 0;

    res = db_query(job->conn,
        "SELECT id, raw_data FROM entities WHERE entity_type = 'user' "
        "AND status IN ('pending', 'failed') ORDER BY id",
        0, NULL);
    if (res == NULL) {
        return -1;
    }

    for (i = 0; i < PQntuples(res) && rc == 0 && !*job->stop; i++) {
        raw = cJSON_Parse(PQgetvalue(res, i, 1));
        rc = mm_export_user(x, PQgetvalue(res, i, 0), raw);
        cJSON_Delete(raw);
        (*done)++;

        /* a heartbeat and where it stands, every 100 users */
        if (rc == 0 && *done % 100 == 0 && job_progress(job, NULL) != 1) {
            rc = -1;
        }
    }

    PQclear(res);

    return rc;
}

void
mm_export_run(job_t *job)
{
    mm_export_t x;
    cJSON      *params, *team, *dry;
    char        err[512], *team_id = NULL;
    long        done = 0;

    params = cJSON_Parse(job->params);
    team = cJSON_GetObjectItemCaseSensitive(params, "team");
    dry = cJSON_GetObjectItemCaseSensitive(params, "dry_run");

    if (!cJSON_IsString(team)) {
        (void) job_finish(job, "failed", NULL, "the export names no team");
        goto done;
    }

    if (job->ferry->cfg.mm_url[0] == '\0') {
        (void) job_finish(job, "failed", NULL, "MM_URL is not set");
        goto done;
    }

    team_id = mm_team_id(job->ferry, team->valuestring, err, sizeof(err));
    if (team_id == NULL) {
        /* nothing was written */
        (void) job_finish(job, "failed", NULL, err);
        log_info(job->worker, "export %s failed: %s", job->id, err);
        goto done;
    }

    memset(&x, 0, sizeof(x));
    x.ferry = job->ferry;
    x.conn = job->conn;
    x.team_id = team_id;
    x.worker = job->worker;
    x.dry_run = cJSON_IsTrue(dry);

    (void) job_progress(job, "{\"phase\":\"user\"}");

    if (mm_export_users(&x, job, &done) != 0) {
        log_warn(job->worker,
            "export %s: stopped in the user phase, to be "
            "resumed",
            job->id);
        goto done;
    }

    if (*job->stop) {
        job_hand_back(job);
        goto done;
    }

    if (job_finish(job, "done", "{\"phase\":null}", NULL) == 1) {
        log_info(
            job->worker, "export %s done: %ld user(s) exported", job->id, done);
    }

done:

    free(team_id);
    cJSON_Delete(params);
}
