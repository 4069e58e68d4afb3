/*
 * The counts are the rows' statuses by type, as they were when counted
 * ("counts_at"): an export moves rows from pending to success, failed or
 * skipped. Counting them is a scan of the whole table (60-90 ms of
 * PostgreSQL's time at 100,000 messages, in parallel workers), which a
 * client polling a running export once a second would take from the export
 * it watches: while an export runs, its answers share a counting made
 * while one ran, for up to MM_COUNTS_MAX_AGE_MS.
 */
#include "mm_api.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/caller.h"
#include "core/idempotency.h"
#include "core/job_api.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/page.h"
#include "core/report_link.h"
#include "mm_bulk_run.h"
#include "mm_export.h"

#define MM_COUNTS_MAX_AGE_MS 5000

/* the last counting made while an export ran, shared by the request
 * threads */
static struct {
    pthread_mutex_t lock;
    cJSON          *counts; /* NULL before the first */
    struct timespec taken;  /* CLOCK_MONOTONIC, as the counting began */
    char            at[LOG_TIME_LEN]; /* as the counting began (log_time) */
} mm_counts = { PTHREAD_MUTEX_INITIALIZER, NULL, { 0, 0 }, "" };

/* columns 0-3 for GET /export/{id}; 4 whether it is a dry run; 5 where a
 * bulk archive is ("local" or ""), 6 its counts; 7 the mode */
static const job_api_t mm_export_api = { "export", "export",
    "id, status, progress->>'phase', error, "
    "coalesce((params->>'dry_run')::boolean, false), "
    "coalesce(progress->>'archive', ''), progress->'bulk', "
    "coalesce(params->>'mode', 'api')",
    NULL };


/* A bulk export's archive: "archive" {"url","expires_at"} while the file is
 * there, and what it holds ("bulk"). */
static void
mm_export_archive(const ferryd_t *ferry, cJSON *json, const char *id,
    const char *where, const char *counts)
{
    char        file[128], path[4200], link[4096];
    struct stat st;
    time_t      t;

    if (counts) {
        cJSON_AddItemToObject(json, "bulk", cJSON_Parse(counts));
    }
    if (strcmp(where, "local") != 0) {
        return;
    }

    mm_bulk_path(ferry, id, path, sizeof(path));
    snprintf(file, sizeof(file), "%s-bulk.zip", id);
    if (stat(path, &st) == 0
        && report_link(ferry, file, link, sizeof(link), &t) == 0)
    {
        cJSON_AddItemToObject(json, "archive", report_link_json(link, t));
    }
}

/* Mattermost's team names (model/team.go, IsValidTeamName): 2 to 64 of
 * [a-z0-9_-], alphanumeric at both ends. */
static int
mm_team_name_valid(const char *name)
{
    size_t n = strlen(name);

    return n >= 2 && n <= 64
        && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n
        && isalnum((unsigned char) name[0])
        && isalnum((unsigned char) name[n - 1]);
}

/* GET /export: the caller's exports, newest first; each as its status, not
 * its counts (which are the rows', the same for every export) */
static cJSON *
mm_export_row_json(PGresult *res, int row)
{
    cJSON *json = cJSON_CreateObject();

    job_api_text(json, "id", res, row, 0);
    cJSON_AddStringToObject(json, "status",
        strcmp(PQgetvalue(res, row, 1), "processing") == 0
            ? "running"
            : PQgetvalue(res, row, 1));
    job_api_text(json, "phase", res, row, 2);
    job_api_text(json, "mode", res, row, 3);
    cJSON_AddBoolToObject(json, "dry_run", PQgetvalue(res, row, 4)[0] == 't');
    job_api_text(json, "team", res, row, 5);
    job_api_text(json, "error", res, row, 6);
    job_api_text(json, "created_at", res, row, 7);
    job_api_text(json, "finished_at", res, row, 8);

    return json;
}

/* clang-format off */
static const job_api_t mm_export_list_api = { "export", "export",
    "id, status, progress->>'phase', coalesce(params->>'mode', 'api'), "
    "coalesce((params->>'dry_run')::boolean, false), params->>'team', "
    "error, " JOB_API_ISO("created_at") ", " JOB_API_ISO("finished_at"),
    mm_export_row_json };
/* clang-format on */

void
mm_export_list(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    job_api_list(&mm_export_list_api, ferry, req, resp);
}

/* Every row counted by type and status, as {type: {status: n}}; NULL when
 * the count failed. */
static cJSON *
mm_count_rows(PGconn *conn)
{
    PGresult *res;
    cJSON    *counts, *t;
    int       i;

    res = db_query(conn,
        "SELECT entity_type, status, count(*) FROM entities "
        "GROUP BY entity_type, status",
        0, NULL);
    if (res == NULL) {
        return NULL;
    }
    counts = cJSON_CreateObject();
    for (i = 0; i < PQntuples(res); i++) {
        t = cJSON_GetObjectItemCaseSensitive(counts, PQgetvalue(res, i, 0));
        if (t == NULL) {
            t = cJSON_AddObjectToObject(counts, PQgetvalue(res, i, 0));
            cJSON_AddNumberToObject(t, "pending", 0);
            cJSON_AddNumberToObject(t, "success", 0);
            cJSON_AddNumberToObject(t, "failed", 0);
            cJSON_AddNumberToObject(t, "skipped", 0);
        }
        cJSON_ReplaceItemInObjectCaseSensitive(t, PQgetvalue(res, i, 1),
            cJSON_CreateNumber(strtod(PQgetvalue(res, i, 2), NULL)));
    }
    PQclear(res);

    return counts;
}

/* "counts" and "counts_at" into json: counted now, or, while the export
 * runs, the last counting made while one ran when it is young enough. 0, or
 * -1 when the count failed. */
static int
mm_export_counts(PGconn *conn, cJSON *json, int running)
{
    struct timespec now;
    cJSON          *counts = NULL;
    char            at[LOG_TIME_LEN] = "";
    long long       age;

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&mm_counts.lock);
    age = (now.tv_sec - mm_counts.taken.tv_sec) * 1000LL
        + (now.tv_nsec - mm_counts.taken.tv_nsec) / 1000000;
    if (running && mm_counts.counts != NULL && age < MM_COUNTS_MAX_AGE_MS) {
        counts = cJSON_Duplicate(mm_counts.counts, 1);
        memcpy(at, mm_counts.at, sizeof(at));
    }
    pthread_mutex_unlock(&mm_counts.lock);

    if (counts == NULL) {
        (void) log_time(at, sizeof(at));
        counts = mm_count_rows(conn);
        if (counts == NULL) {
            return -1;
        }
        /* kept unless a counting begun later is there already */
        pthread_mutex_lock(&mm_counts.lock);
        if (running
            && (mm_counts.counts == NULL || now.tv_sec > mm_counts.taken.tv_sec
                || (now.tv_sec == mm_counts.taken.tv_sec
                    && now.tv_nsec > mm_counts.taken.tv_nsec)))
        {
            cJSON_Delete(mm_counts.counts);
            mm_counts.counts = cJSON_Duplicate(counts, 1);
            mm_counts.taken = now;
            memcpy(mm_counts.at, at, sizeof(at));
        }
        pthread_mutex_unlock(&mm_counts.lock);
    }
    cJSON_AddItemToObject(json, "counts", counts);
    cJSON_AddStringToObject(json, "counts_at", at);

    return 0;
}

static int
mm_export_answer(ferryd_t *ferry, PGconn *conn, req_t *req, resp_t *resp,
    int status, const char *id)
{
    PGresult *res;
    cJSON    *json;
    int       running;

    res = job_api_find(&mm_export_api, conn, req, resp, id, NULL);
    if (res == NULL) {
        return -1;
    }

    running = strcmp(PQgetvalue(res, 0, 1), "processing") == 0;
    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "id", PQgetvalue(res, 0, 0));
    cJSON_AddStringToObject(
        json, "status", running ? "running" : PQgetvalue(res, 0, 1));
    job_api_text(json, "phase", res, 0, 2);
    if (!PQgetisnull(res, 0, 3)) {
        cJSON_AddStringToObject(json, "error", PQgetvalue(res, 0, 3));
    }
    cJSON_AddStringToObject(json, "mode", PQgetvalue(res, 0, 7));
    cJSON_AddBoolToObject(json, "dry_run", PQgetvalue(res, 0, 4)[0] == 't');
    mm_export_archive(ferry, json, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 5),
        PQgetisnull(res, 0, 6) ? NULL : PQgetvalue(res, 0, 6));
    PQclear(res);

    /* (in POST /export's transaction, a failed count has aborted it) */
    if (mm_export_counts(conn, json, running) != 0) {
        cJSON_Delete(json);
        resp_internal_error(resp, req->rid, "export %s: counting: %s", id,
            PQerrorMessage(conn));
        return -1;
    }

    resp_json(resp, status, json);

    return 0;
}

void
mm_export_create(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    const cJSON *team, *types, *t, *dry, *mode;
    char         id[JOB_ID_LEN], *pjson, names[256], why[320];
    cJSON       *params;
    PGconn      *conn;
    int          rc;

    team = cJSON_GetObjectItemCaseSensitive(req->body, "team");
    if (!cJSON_IsString(team) || team->valuestring[0] == '\0') {
        resp_field_error(resp, 422, "team", "team (a team name) is required");
        return;
    }

    /* a team's name as Mattermost has them (it goes into a path) */
    if (!mm_team_name_valid(team->valuestring)) {
        resp_field_error(resp, 422, "team",
            "team is a Mattermost team name: 2 to 64 of a-z, 0-9, - and _, "
            "a letter or digit at both ends");
        return;
    }

    types = cJSON_GetObjectItemCaseSensitive(req->body, "types");
    cJSON_ArrayForEach(t, types)
    {
        if (!cJSON_IsString(t) || !mm_export_has_type(t->valuestring)) {
            snprintf(why, sizeof(why), "this version exports the types %s",
                mm_export_types(names, sizeof(names)));
            resp_field_error(resp, 422, "types", why);
            return;
        }
    }

    dry = cJSON_GetObjectItemCaseSensitive(req->body, "dry_run");
    if (dry && !cJSON_IsBool(dry)) {
        resp_field_error(resp, 422, "dry_run", "dry_run is true or false");
        return;
    }

    /* none: MM_API_MODE */
    mode = cJSON_GetObjectItemCaseSensitive(req->body, "mode");
    if (mode
        && (!cJSON_IsString(mode) || config_mm_mode(mode->valuestring) < 0)) {
        resp_field_error(
            resp, 422, "mode", "mode is one of api, plugin and bulk");
        return;
    }

    /* only the bulk mode does without Mattermost (it writes its archive) */
    if (ferry->cfg.mm_url[0] == '\0'
        && config_mm_mode(mode ? mode->valuestring : ferry->cfg.mm_api_mode)
            != MM_MODE_BULK)
    {
        resp_error(resp, 503,
            "MM_URL is not set: ferryd cannot reach Mattermost (the bulk "
            "mode writes its archive without it)");
        return;
    }

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    if (db_exec(conn, "BEGIN") != 0
        || db_exec(conn, "LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE") != 0)
    {
        goto failed;
    }

    if (req->idem) {
        idem_rc_t irc = idem_claim(conn, req, resp);

        if (irc != IDEM_NEW) {
            (void) db_exec(conn, resp->status < 300 ? "COMMIT" : "ROLLBACK");
            db_release(ferry->db, conn);
            return;
        }
    }

    /* one export at a time: two would create the same things twice */
    rc = db_run(conn,
        "SELECT 1 FROM jobs WHERE kind = 'export' "
        "AND status IN ('pending', 'processing')",
        0, NULL);
    if (rc != 0) {
        if (rc > 0) {
            resp_error(resp, 409, "an export is already running");
            (void) db_exec(conn, "ROLLBACK");
            db_release(ferry->db, conn);
            return;
        }
        goto failed;
    }

    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "team", team->valuestring);
    cJSON_AddBoolToObject(params, "dry_run", cJSON_IsTrue(dry));
    cJSON_AddStringToObject(
        params, "mode", mode ? mode->valuestring : ferry->cfg.mm_api_mode);
    if (cJSON_IsArray(types)) {
        cJSON_AddItemToObject(params, "types", cJSON_Duplicate(types, 1));
    }
    pjson = cJSON_PrintUnformatted(params);
    cJSON_Delete(params);

    rc = pjson && job_new_id(conn, id) == 0
            && job_create(conn, id, "export", req->user, pjson) == 0
        ? 0
        : -1;
    cJSON_free(pjson);

    if (rc != 0) {
        goto failed;
    }
    if (mm_export_answer(ferry, conn, req, resp, 202, id) != 0) {
        /* its answer says why */
        (void) db_exec(conn, "ROLLBACK");
        db_release(ferry->db, conn);
        return;
    }
    if ((req->idem && idem_store(conn, req, resp) != 0)
        || db_exec(conn, "COMMIT") != 0)
    {
        goto failed;
    }

    log_info(req->rid, "export job %s created for team %s (%s mode)", id,
        team->valuestring, mode ? mode->valuestring : ferry->cfg.mm_api_mode);
    jobs_notify(ferry->jobs);
    db_release(ferry->db, conn);
    return;

failed:

    resp_internal_error(resp, req->rid, "export: %s", PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");
    db_release(ferry->db, conn);
}

void
mm_export_show(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    PGconn *conn;

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    (void) mm_export_answer(ferry, conn, req, resp, 200, req->params[0]);
    db_release(ferry->db, conn);
}

/* clang-format off */
/* A dry run's failures: what it found would fail. */
static const char mm_findings_sql[] =
    "SELECT e.id, e.entity_type, e.slack_id, f.error_message, "
    JOB_API_ISO("f.found_at") " "
    "FROM jobs j JOIN export_findings f ON f.job_id = j.id "
    "AND f.status = 'failed' JOIN entities e ON e.id = f.entity_id "
    "WHERE j.id::text = $1 AND j.owner = $2 "
    "AND e.id > $3::bigint ORDER BY e.id LIMIT $4::int";

/* An export's failures: its types' rows that are failed now. */
static const char mm_failures_sql[] =
    "SELECT e.id, e.entity_type, e.slack_id, "
    "COALESCE(e.error_message, ''), " JOB_API_ISO("e.updated_at") " "
    "FROM jobs j JOIN entities e ON e.status = 'failed' "
    "AND (j.params->'types' IS NULL OR j.params->'types' ? e.entity_type) "
    "WHERE j.id::text = $1 AND j.owner = $2 "
    "AND e.id > $3::bigint ORDER BY e.id LIMIT $4::int";
/* clang-format on */

void
mm_export_failures(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    const char *params[4], *cursor;
    char        limit[16];
    long        n;
    int         i, dry;
    cJSON      *json, *items, *item;
    PGconn     *conn;
    PGresult   *res;

    if (page_limit(req, resp, &n) != 0) {
        return;
    }
    cursor = req_query(req, "cursor");
    if (cursor
        && (cursor[0] == '\0' || strlen(cursor) > 18
            || strspn(cursor, "0123456789") != strlen(cursor)))
    {
        resp_field_error(resp, 422, "cursor",
            "cursor must be the next_cursor of an earlier page");
        return;
    }
    snprintf(limit, sizeof(limit), "%ld", n);

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    res = job_api_find(&mm_export_api, conn, req, resp, req->params[0], NULL);
    if (res == NULL) {
        db_release(ferry->db, conn);
        return;
    }
    dry = PQgetvalue(res, 0, 4)[0] == 't';
    PQclear(res);

    /* the rows of the export's types that failed (a dry run: that it found
     * would fail), oldest first; the cursor is the id of the last row seen */
    params[0] = req->params[0];
    params[1] = req->user;
    params[2] = cursor ? cursor : "0";
    params[3] = limit;
    res = db_query(conn, dry ? mm_findings_sql : mm_failures_sql, 4, params);
    if (res == NULL) {
        resp_internal_error(resp, req->rid, "export: %s", PQerrorMessage(conn));
        db_release(ferry->db, conn);
        return;
    }

    json = cJSON_CreateObject();
    items = cJSON_AddArrayToObject(json, "items");
    for (i = 0; i < PQntuples(res); i++) {
        item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "type", PQgetvalue(res, i, 1));
        cJSON_AddStringToObject(item, "slack_id", PQgetvalue(res, i, 2));
        cJSON_AddStringToObject(item, "error_message", PQgetvalue(res, i, 3));
        cJSON_AddStringToObject(item, "updated_at", PQgetvalue(res, i, 4));
        cJSON_AddItemToArray(items, item);
    }
    if (PQntuples(res) == (int) n) {
        cJSON_AddStringToObject(
            json, "next_cursor", PQgetvalue(res, (int) n - 1, 0));
    } else {
        cJSON_AddNullToObject(json, "next_cursor");
    }
    PQclear(res);

    resp_json(resp, 200, json);
    db_release(ferry->db, conn);
}
