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
#include "ferry_utf8.h"
#include "mm_bulk_run.h"
#include "mm_client.h"
#include "mm_export_attachment.h"
#include "mm_export_channel.h"
#include "mm_export_emoji.h"
#include "mm_export_finish.h"
#include "mm_export_message.h"
#include "mm_export_reaction.h"
#include "mm_export_user.h"
#include "mm_phase.h"
#include "mm_plugin.h"
#include "mm_user_token.h"

/* The outcomes held back, in one statement: a JSON array of them. */
#define MM_OUTCOMES_SQL                                                        \
    "UPDATE entities e SET status = o.status, "                                \
    "mattermost_id = coalesce(o.mattermost_id, e.mattermost_id), "             \
    "error_message = o.error, updated_at = now() "                             \
    "FROM jsonb_to_recordset($1::jsonb) "                                      \
    "AS o(id bigint, status text, mattermost_id text, error text) "            \
    "WHERE e.id = o.id"

/* The outcomes held back, as MM_OUTCOMES_SQL's parameter (free it). */
static char *
mm_outcomes_json(const mm_export_t *x)
{
    const mm_outcome_t *o;
    cJSON              *all, *one;
    char               *out;
    int                 i;

    all = cJSON_CreateArray();
    for (i = 0; all != NULL && i < x->deferred; i++) {
        o = &x->outcomes[i];
        one = cJSON_CreateObject();
        if (one == NULL || !cJSON_AddItemToArray(all, one)) {
            cJSON_Delete(one);
            break;
        }
        /* one belongs to all now */
        if (cJSON_AddStringToObject(one, "id", o->id) == NULL
            || cJSON_AddStringToObject(one, "status", o->status) == NULL
            || (o->has_mattermost_id
                && cJSON_AddStringToObject(
                       one, "mattermost_id", o->mattermost_id)
                    == NULL)
            || (o->has_error
                && cJSON_AddStringToObject(one, "error", o->error) == NULL))
        {
            break;
        }
    }
    if (all != NULL && i < x->deferred) {
        cJSON_Delete(all);
        return NULL;
    }
    out = all ? cJSON_PrintUnformatted(all) : NULL;
    cJSON_Delete(all);

    return out;
}

int
mm_export_status(mm_export_t *x, const char *entity_id, const char *status,
    const char *mattermost_id, const char *error)
{
    const char   *p[4] = { entity_id, status, mattermost_id, error };
    const char   *f[4] = { x->job_id, entity_id, status, error };
    mm_outcome_t *o;
    int           i;

    /* a refusal is worth a look; a skip says why at DEBUG */
    if (strcmp(status, "failed") == 0) {
        log_warn(x->worker, "export %s: entity %s %s: %s", x->job_id, entity_id,
            x->dry_run ? "would fail" : "failed", error ? error : "");
    } else if (strcmp(status, "skipped") == 0) {
        log_debug(x->worker, "export %s: entity %s skipped: %s", x->job_id,
            entity_id, error ? error : "");
    }

    if (x->dry_run) {
        /* the report of a dry run; the rows stay as they are */
        if (strcmp(status, "success") == 0) {
            return 0;
        }
        return db_run_prepared(x->conn, "mm_export_finding",
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

    if (x->deferring) {
        /* the same row twice keeps its last outcome */
        for (i = 0; i < x->deferred; i++) {
            if (strcmp(x->outcomes[i].id, entity_id) == 0) {
                break;
            }
        }
        if (i == MM_MESSAGE_BATCH) {
            if (mm_export_flush(x) != 0) {
                return -1;
            }
            i = 0;
        }
        o = &x->outcomes[i];
        if (i == x->deferred) {
            o->has_mattermost_id = 0;
        }
        snprintf(o->id, sizeof(o->id), "%s", entity_id);
        snprintf(o->status, sizeof(o->status), "%s", status);
        /* as the statement's coalesce would: an id given once is kept */
        if (mattermost_id != NULL) {
            o->has_mattermost_id = 1;
            snprintf(o->mattermost_id, sizeof(o->mattermost_id), "%s",
                mattermost_id);
        }
        /* cut at a character's start: the batch's JSON must be UTF-8 */
        o->has_error = error != NULL;
        snprintf(o->error, sizeof(o->error), "%.*s",
            (int) ferry_utf8_prefix(error, (size_t) -1, sizeof(o->error) - 1),
            error ? error : "");
        if (i == x->deferred) {
            x->deferred++;
        }
        return 0;
    }

    return db_run_prepared(x->conn, "mm_export_status",
               "UPDATE entities SET status = $2, "
               "mattermost_id = coalesce($3, mattermost_id), "
               "error_message = $4, updated_at = now() WHERE id = $1::bigint",
               4, p)
            == 1
        ? 0
        : -1;
}

int
mm_export_flush(mm_export_t *x)
{
    const char *p[1];
    char       *json;
    int         n = x->deferred, rows;

    if (n == 0) {
        return 0;
    }
    json = mm_outcomes_json(x);
    x->deferred = 0;
    if (json == NULL) {
        return -1;
    }
    p[0] = json;
    rows =
        db_run_prepared(x->conn, "mm_export_outcomes", MM_OUTCOMES_SQL, 1, p);
    free(json);

    return rows == n ? 0 : -1;
}

PGresult *
mm_export_query(mm_export_t *x, const char *name, const char *sql, int n,
    const char *const *params)
{
    const char *p[1];
    db_stmt_t   first = { "mm_export_outcomes", MM_OUTCOMES_SQL, 1, p };
    db_stmt_t   then = { name, sql, n, params };
    PGresult   *res;
    char       *json;
    int         held = x->deferred, rows = 0;

    if (held == 0) {
        return db_query_prepared(x->conn, name, sql, n, params);
    }
    json = mm_outcomes_json(x);
    x->deferred = 0;
    if (json == NULL) {
        return NULL;
    }
    p[0] = json;

    res = db_query_prepared_after(x->conn, &first, &rows, &then);
    free(json);
    if (res && rows != held) {
        PQclear(res);
        return NULL;
    }

    return res;
}

long
mm_ts_ms(const char *ts)
{
    char *end;
    long  s, ms = 0;
    int   i;

    if (ts == NULL) {
        return 0;
    }
    s = strtol(ts, &end, 10);
    if (end == ts || s <= 0 || (*end != '.' && *end != '\0')) {
        return 0;
    }
    if (*end == '.') {
        for (i = 1; i <= 3; i++) {
            ms = ms * 10 + (end[i] >= '0' && end[i] <= '9' ? end[i] - '0' : 0);
            if (end[i] < '0' || end[i] > '9') {
                for (i++; i <= 3; i++) {
                    ms *= 10;
                }
                break;
            }
        }
    }

    return s * 1000 + ms;
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

int
mm_export_related(mm_export_t *x, const char *entity_id, const char *relation,
    int from, char *out)
{
    const char *p[2] = { entity_id, relation };
    PGresult   *res;
    int         rc;

    res = db_query(x->conn,
        from ? "SELECT e.mattermost_id FROM entity_relations r "
               "JOIN entities e ON e.id = r.from_entity_id "
               "WHERE r.to_entity_id = $1::bigint AND r.relation_type = $2 "
               "ORDER BY e.mattermost_id IS NULL, e.id LIMIT 1"
             : "SELECT e.mattermost_id FROM entity_relations r "
               "JOIN entities e ON e.id = r.to_entity_id "
               "WHERE r.from_entity_id = $1::bigint AND r.relation_type = $2 "
               "ORDER BY e.mattermost_id IS NULL, e.id LIMIT 1",
        2, p);
    if (res == NULL) {
        return -1;
    }

    rc = PQntuples(res) == 0 ? 2 : PQgetisnull(res, 0, 0) ? 1 : 0;
    if (rc == 0) {
        snprintf(out, 64, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);

    return rc;
}

typedef int (*mm_exporter_pt)(mm_export_t *x, const char *id, cJSON *raw);

/* how many at once: EXPORT_WORKERS, ATTACHMENT_WORKERS, or (messages, a
 * channel being one item) EXPORT_CHANNEL_CONCURRENCY */
enum { MM_BY_ENTITY, MM_BY_ATTACHMENT, MM_BY_CHANNEL };

typedef struct {
    const char *type;
    mm_exporter_pt export;
    int by;
} mm_phase_def_t;

/* The phases, in their order. */
static const mm_phase_def_t mm_phases[] = {
    { "user", mm_export_user, MM_BY_ENTITY },
    { "custom_emoji", mm_export_emoji, MM_BY_ENTITY },
    { "channel", mm_export_channel, MM_BY_ENTITY },
    { "attachment", mm_export_attachment, MM_BY_ATTACHMENT },
    { "message", mm_export_message, MM_BY_CHANNEL },
    { "reaction", mm_export_reaction, MM_BY_ENTITY },
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

/* One entity, unless another run did it since the phase listed it. */
static int
mm_export_one(mm_export_t *x, const char *id, mm_exporter_pt export)
{
    const char *p[1] = { id };
    PGresult   *res;
    cJSON      *raw;
    int         rc = 0;

    res = db_query_prepared(x->conn, "mm_export_one",
        "SELECT raw_data FROM entities WHERE id = $1::bigint "
        "AND status IN ('pending', 'failed')",
        1, p);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 1) {
        raw = cJSON_Parse(PQgetvalue(res, 0, 0));
        rc = export(x, id, raw);
        cJSON_Delete(raw);
    }
    PQclear(res);

    return rc;
}

/* One entity of a phase. */
static int
mm_export_item(mm_export_t *x, const char *id, void *arg)
{
    const mm_phase_def_t *phase = arg;

    return mm_export_one(x, id, phase->export);
}

/* Messages [from, to) of ids in channel, those still to export, one after
 * the other in that order. */
static int
mm_export_messages(mm_export_t *x, const char *channel, const PGresult *ids,
    int from, int to, mm_exporter_pt export)
{
    char      list[MM_MESSAGE_BATCH * 24 + 4];
    PGresult *res;
    cJSON    *raw;
    size_t    n = 0;
    int       i, rc = 0;

    list[n++] = '{';
    for (i = from; i < to; i++) {
        n += (size_t) snprintf(list + n, sizeof(list) - n, "%s%s",
            i > from ? "," : "", PQgetvalue(ids, i, 0));
    }
    snprintf(list + n, sizeof(list) - n, "}");

    res = mm_message_batch(x, channel, list);
    if (res == NULL) {
        return -1;
    }
    x->made = 0;
    x->batch = x->dry_run ? NULL : res;
    for (i = 0; i < PQntuples(res) && rc == 0; i++) {
        x->batch_row = i;
        raw = cJSON_Parse(PQgetvalue(res, i, 1));
        rc = export(x, PQgetvalue(res, i, 0), raw);
        cJSON_Delete(raw);
    }
    x->batch = NULL;
    PQclear(res);

    return rc;
}

/* A channel's messages, one after the other in Slack's order: a thread's
 * root is posted before its replies (a reply's ts is later). A batch's
 * outcomes ride with the next batch's read, the last batch's with the
 * channel's end: a round trip to PostgreSQL a batch, not one a message. */
static int
mm_export_channel_messages(mm_export_t *x, const char *id, void *arg)
{
    const mm_phase_def_t *phase = arg;
    const char           *p[1] = { id };
    PGresult             *res;
    int                   i, n, size, rc = 0;

    if (mm_message_batch_start(x, id) != 0) {
        return -1;
    }
    res = db_query(x->conn,
        "SELECT m.id FROM entity_relations r "
        "JOIN entities m ON m.id = r.from_entity_id "
        "WHERE r.to_entity_id = $1::bigint AND r.relation_type = 'posted_in' "
        "AND m.status IN ('pending', 'failed') "
        "ORDER BY CASE WHEN m.raw_data->>'ts' "
        "~ '^[0-9]{1,15}(\\.[0-9]{1,9})?$' "
        "THEN (m.raw_data->>'ts')::numeric END NULLS LAST, m.id",
        1, p);
    if (res == NULL) {
        return -1;
    }
    n = PQntuples(res);
    size = x->ferry->cfg.export_message_batch;
    size = size > 0 && size < MM_MESSAGE_BATCH ? size : MM_MESSAGE_BATCH;
    x->deferring = 1;
    for (i = 0; i < n && rc == 0; i += size) {
        /* stopping, or another runner has the job: the batches posted so
         * far are recorded, the channel's mark stays for the next run */
        if ((x->stop && *x->stop) || (x->lost && atomic_load(x->lost))) {
            rc = 1;
            break;
        }
        rc = mm_export_messages(
            x, id, res, i, i + size < n ? i + size : n, phase->export);
    }
    x->deferring = 0;
    if ((rc == 0 ? mm_message_batch_end(x, id) : mm_export_flush(x)) != 0) {
        rc = -1;
    }
    PQclear(res);

    return rc;
}

/* Messages whose channel is not in the export: nothing to post them in. */
static int
mm_export_orphans(mm_export_t *x)
{
    PGresult *res;
    int       i, rc = 0;

    res = db_query(x->conn,
        "SELECT m.id FROM entities m WHERE m.entity_type = 'message' "
        "AND m.status IN ('pending', 'failed') AND NOT EXISTS (SELECT 1 "
        "FROM entity_relations r WHERE r.from_entity_id = m.id "
        "AND r.relation_type = 'posted_in')",
        0, NULL);
    if (res == NULL) {
        return -1;
    }
    for (i = 0; i < PQntuples(res) && rc == 0; i++) {
        rc = mm_export_status(x, PQgetvalue(res, i, 0), "failed", NULL,
            "its channel is not in the Slack export");
    }
    PQclear(res);

    return rc;
}

/* A phase: every row of its type still pending or failed, by up to its
 * number of workers. 0 done, 1 stopped early, -1 an error. */
static int
mm_export_phase(mm_export_t *x, job_t *job, size_t phase, long *done)
{
    const char *params[1] = { mm_phases[phase].type };
    config_t   *cfg = &job->ferry->cfg;
    PGresult   *res;
    mm_item_pt  item = mm_export_item;
    int         workers = cfg->export_workers, rc;

    if (mm_phases[phase].by == MM_BY_CHANNEL) {
        if (mm_message_marks_tidy(x) != 0 || mm_export_orphans(x) != 0) {
            return -1;
        }
        rc = mm_tokens_mint_ahead(x, job,
            "SELECT DISTINCT u.mattermost_id FROM entities m "
            "JOIN entity_relations r ON r.to_entity_id = m.id "
            "AND r.relation_type = 'posted_by' "
            "JOIN entities u ON u.id = r.from_entity_id "
            "WHERE m.entity_type = 'message' "
            "AND m.status IN ('pending', 'failed') "
            "AND u.mattermost_id IS NOT NULL");
        if (rc != 0) {
            return rc;
        }
        /* the channels with most to post first: a large one started last
         * would leave the other workers idle at the end */
        res = db_query(job->conn,
            "SELECT c.id FROM entities c JOIN entity_relations r "
            "ON r.to_entity_id = c.id AND r.relation_type = 'posted_in' "
            "JOIN entities m ON m.id = r.from_entity_id "
            "AND m.status IN ('pending', 'failed') "
            "WHERE c.entity_type = 'channel' "
            "GROUP BY c.id ORDER BY count(*) DESC, c.id",
            0, NULL);
        item = mm_export_channel_messages;
        workers = cfg->export_channel_concurrency
            ? cfg->export_channel_concurrency
            : workers;

    } else {
        res = db_query(job->conn,
            "SELECT id FROM entities WHERE entity_type = $1 "
            "AND status IN ('pending', 'failed') ORDER BY id",
            1, params);
        if (mm_phases[phase].by == MM_BY_ATTACHMENT && cfg->attachment_workers)
        {
            workers = cfg->attachment_workers;
        }
    }

    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res)) {
        log_debug(job->worker, "export %s: %d %s item(s), %d worker(s)",
            job->id, PQntuples(res), mm_phases[phase].type, workers);
    }

    rc = mm_phase_run(
        x, job, res, workers, item, (void *) &mm_phases[phase], done);
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

/* A phase's one INFO line: its type's rows by status. */
static void
mm_export_phase_log(mm_export_t *x, const char *type)
{
    const char *p[1] = { type };
    PGresult   *res;

    res = db_query(x->conn,
        "SELECT count(*) FILTER (WHERE status = 'success'), "
        "count(*) FILTER (WHERE status = 'failed'), "
        "count(*) FILTER (WHERE status = 'skipped'), "
        "count(*) FILTER (WHERE status = 'pending') "
        "FROM entities WHERE entity_type = $1",
        1, p);
    if (res && PQntuples(res) == 1) {
        log_info(x->worker,
            "export %s: %s phase done%s: %s exported, %s failed, %s skipped, "
            "%s pending",
            x->job_id, type, x->dry_run ? " (dry run)" : "",
            PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
            PQgetvalue(res, 0, 3));
    }
    PQclear(res);
}

/* The id of MM_TOKEN's user; NULL with the reason in err. */
static char *
mm_owner_id(ferryd_t *ferry, char *err, size_t errlen)
{
    mm_resp_t   r;
    const char *id;
    char       *out = NULL;

    if (mm_call(ferry, NULL, "GET", "/api/v4/users/me", NULL, 0, &r) == 0
        && (id = ferry_json_str(r.json, "id")))
    {
        out = strdup(id);
    } else {
        snprintf(err, errlen, "MM_TOKEN's user: %.400s",
            r.message[0] ? r.message : "no answer");
    }
    mm_resp_free(&r);

    return out;
}

void
mm_export_cancel(ferryd_t *ferry, const char *id, const char *params)
{
    (void) params;

    if (ferry->cfg.mm_url[0]) {
        mm_tokens_revoke_orphaned(ferry, id);
    }
}

void
mm_export_run(job_t *job)
{
    mm_export_t x;
    cJSON      *params, *team, *types;
    char        err[512], *team_id = NULL, *owner_id = NULL, phase[64];
    long        done = 0;
    size_t      i;
    int         rc = 0;

    memset(&x, 0, sizeof(x));
    params = cJSON_Parse(job->params);
    team = cJSON_GetObjectItemCaseSensitive(params, "team");
    types = cJSON_GetObjectItemCaseSensitive(params, "types");
    x.mode = config_mm_mode(ferry_json_str(params, "mode"));
    x.mode = x.mode < 0 ? MM_MODE_API : x.mode;

    if (!cJSON_IsString(team)) {
        (void) job_finish(job, "failed", NULL, "the export names no team");
        goto done;
    }

    /* the bulk mode writes its archive without Mattermost too */
    if (job->ferry->cfg.mm_url[0] == '\0' && x.mode != MM_MODE_BULK) {
        (void) job_finish(job, "failed", NULL, "MM_URL is not set");
        goto done;
    }

    /* a missing team, or in the plugin mode a missing plugin: every write
     * would fail, so nothing is written */
    if (job->ferry->cfg.mm_url[0]
        && ((owner_id = mm_owner_id(job->ferry, err, sizeof(err))) == NULL
            || (team_id = mm_team_id(
                    job->ferry, team->valuestring, err, sizeof(err)))
                == NULL
            || (x.mode == MM_MODE_PLUGIN
                && mm_plugin_check(job->ferry, err, sizeof(err)) != 0)))
    {
        (void) job_finish(job, "failed", NULL, err);
        log_info(job->worker, "export %s failed: %s", job->id, err);
        goto done;
    }

    x.ferry = job->ferry;
    x.conn = job->conn;
    x.team_id = team_id;
    x.owner_id = owner_id;
    x.worker = job->worker;
    x.job_id = job->id;
    x.dry_run =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "dry_run"));

    if (x.mode == MM_MODE_BULK) {
        mm_bulk_run(job, &x, team->valuestring);
        goto done;
    }

    if (x.mode == MM_MODE_API && !x.dry_run
        && (x.tokens = mm_tokens_create()) == NULL)
    {
        goto done;
    }

    for (i = 0; i < MM_NPHASES && rc == 0; i++) {
        if (!mm_wants(types, mm_phases[i].type)) {
            continue;
        }

        snprintf(phase, sizeof(phase), "{\"phase\":\"%s\"}", mm_phases[i].type);
        if (job_progress(job, phase) != 1) {
            rc = -1;
            break;
        }

        rc = mm_export_phase(&x, job, i, &done);
        if (rc < 0) {
            log_warn(job->worker,
                "export %s: stopped in the %s phase, to be resumed", job->id,
                mm_phases[i].type);
        } else if (rc == 0) {
            mm_export_phase_log(&x, mm_phases[i].type);
        }
    }

    /* archived channels and deleted users once their messages are in */
    if (rc == 0 && !x.dry_run && mm_wants(types, "message")
        && mm_export_finish(&x) != 0)
    {
        rc = -1;
    }

    if (x.tokens && mm_tokens_revoke(&x, job) != 0 && rc == 0) {
        rc = -1;
    }

    if (rc == 1) {
        job_hand_back(job);

    } else if (rc == 0
        && job_finish(job, "done", "{\"phase\":null}", NULL) == 1) {
        log_info(
            job->worker, "export %s done: %ld item(s) exported", job->id, done);
    }

done:

    mm_tokens_free(x.tokens);
    free(team_id);
    free(owner_id);
    cJSON_Delete(params);
}
