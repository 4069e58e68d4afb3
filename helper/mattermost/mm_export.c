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
#include "ferry_json.h"
#include "mm_bulk_run.h"
#include "mm_client.h"
#include "mm_export_channel.h"
#include "mm_export_user.h"

int
mm_export_status(mm_export_t *x, const char *entity_id, const char *status,
    const char *mattermost_id, const char *error)
{
    const char *p[4] = { entity_id, status, mattermost_id, error };
    const char *f[4] = { x->job_id, entity_id, status, error };

    if (x->dry_run) {
        /* the report of a dry run; the rows stay as they are */
        if (strcmp(status, "success") == 0) {
            return 0;
        }
        return db_run(x->conn,
                   "INSERT INTO export_findings "
                   "(job_id, entity_id, status, error_message) "
                   "VALUES ($1::uuid, $2::bigint, $3, coalesce($4, '')) "
                   "ON CONFLICT (job_id, entity_id) DO UPDATE "
                   "SET status = $3, error_message = coalesce($4, ''), "
                   "found_at = now()",
                   4, f)
                == 1
            ? 0
            : -1;
    }

    return db_run(x->conn,
               "UPDATE entities SET status = $2, "
               "mattermost_id = coalesce($3, mattermost_id), "
               "error_message = $4, updated_at = now() WHERE id = $1::bigint",
               4, p)
            == 1
        ? 0
        : -1;
}

int
mm_export_mode(const char *name)
{
    static const char *const names[] = { "api", "plugin", "bulk" };
    int                      i;

    for (i = 0; name && i < 3; i++) {
        if (strcmp(names[i], name) == 0) {
            return i;
        }
    }

    return -1;
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

typedef int (*mm_exporter_pt)(mm_export_t *x, const char *id, cJSON *raw);

/* The phases this version exports, in their order. */
static const struct {
    const char *type;
    mm_exporter_pt export;
} mm_phases[] = {
    { "user", mm_export_user },
    { "channel", mm_export_channel },
};

#define MM_NPHASES (sizeof(mm_phases) / sizeof(mm_phases[0]))

int
mm_export_has_type(const char *type)
{
    size_t i;

    for (i = 0; i < MM_NPHASES; i++) {
        if (strcmp(mm_phases[i].type, type) == 0) {
            return 1;
        }
    }

    return 0;
}

char *
mm_export_types(char *out, size_t len)
{
    size_t i, n = 0;

    out[0] = '\0';
    for (i = 0; i < MM_NPHASES && n < len; i++) {
        n += (size_t) snprintf(out + n, len - n, "%s%s",
            i == 0                    ? ""
                : i + 1 == MM_NPHASES ? " and "
                                      : ", ",
            mm_phases[i].type);
    }

    return out;
}

/* A phase: every row of its type still pending or failed. */
static int
mm_export_phase(mm_export_t *x, job_t *job, const char *type,
    mm_exporter_pt export, long *done)
{
    const char *params[1] = { type };
    PGresult   *res;
    cJSON      *raw;
    int         i, rc = 0;

    res = db_query(job->conn,
        "SELECT id, raw_data FROM entities WHERE entity_type = $1 "
        "AND status IN ('pending', 'failed') ORDER BY id",
        1, params);
    if (res == NULL) {
        return -1;
    }

    for (i = 0; i < PQntuples(res) && rc == 0 && !*job->stop; i++) {
        raw = cJSON_Parse(PQgetvalue(res, i, 1));
        rc = export(x, PQgetvalue(res, i, 0), raw);
        cJSON_Delete(raw);
        (*done)++;

        /* a heartbeat every 100 entities */
        if (rc == 0 && *done % 100 == 0 && job_progress(job, NULL) != 1) {
            rc = -1;
        }
    }

    PQclear(res);

    return rc;
}

/* 1 when the export's "types" (none: all) include type. */
static int
mm_wants(const cJSON *types, const char *type)
{
    const cJSON *t;

    if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) == 0) {
        return 1;
    }

    cJSON_ArrayForEach(t, types)
    {
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0) {
            return 1;
        }
    }

    return 0;
}

void
mm_export_run(job_t *job)
{
    mm_export_t x;
    cJSON      *params, *team, *dry;
    char        err[512], *team_id = NULL, phase[64];
    long        done = 0;
    size_t      i;
    int         mode;

    params = cJSON_Parse(job->params);
    team = cJSON_GetObjectItemCaseSensitive(params, "team");
    dry = cJSON_GetObjectItemCaseSensitive(params, "dry_run");

    if (!cJSON_IsString(team)) {
        (void) job_finish(job, "failed", NULL, "the export names no team");
        goto done;
    }

    mode = mm_export_mode(ferry_json_str(params, "mode"));
    mode = mode < 0 ? MM_MODE_API : mode;

    /* the bulk mode writes its archive without Mattermost too */
    if (job->ferry->cfg.mm_url[0] == '\0' && mode != MM_MODE_BULK) {
        (void) job_finish(job, "failed", NULL, "MM_URL is not set");
        goto done;
    }

    if (job->ferry->cfg.mm_url[0]
        && (team_id =
                   mm_team_id(job->ferry, team->valuestring, err, sizeof(err)))
            == NULL)
    {
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
    x.job_id = job->id;
    x.dry_run = cJSON_IsTrue(dry);
    x.mode = mode;

    if (mode == MM_MODE_BULK) {
        mm_bulk_run(job, &x, team->valuestring);
        goto done;
    }

    for (i = 0; i < MM_NPHASES; i++) {
        if (!mm_wants(cJSON_GetObjectItemCaseSensitive(params, "types"),
                mm_phases[i].type))
        {
            continue;
        }

        snprintf(phase, sizeof(phase), "{\"phase\":\"%s\"}", mm_phases[i].type);
        (void) job_progress(job, phase);

        if (mm_export_phase(
                &x, job, mm_phases[i].type, mm_phases[i].export, &done)
            != 0)
        {
            log_warn(job->worker,
                "export %s: stopped in the %s phase, to be resumed", job->id,
                mm_phases[i].type);
            goto done;
        }

        if (*job->stop) {
            break;
        }
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
