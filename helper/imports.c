/*
 * Import jobs. Creating one takes the spooled upload over (it is renamed
 * to the job's name before the job row commits, so a lost answer cannot
 * lose the file) and records the Idempotency-Key in the same transaction.
 */
#include "imports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "idempotency.h"
#include "log.h"

#define IMPORTS_JOB_COLUMNS                                                   \
    "id, status, params->>'mode', params->'file'->>'name', "                  \
    "(params->'file'->>'size')::bigint, params->'file'->>'sha256', "         \
    "coalesce((progress->>'processed_rows')::bigint, 0), "                    \
    "(progress->>'total_rows')::bigint, "                                     \
    "coalesce((progress->>'inserted')::bigint, 0), "                          \
    "coalesce((progress->>'updated')::bigint, 0), "                           \
    "coalesce((progress->>'error_rows')::bigint, 0), "                        \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "error"

/* One row of IMPORTS_JOB_COLUMNS as the job's JSON. */
static cJSON *
imports_job_json(PGresult *res, int row)
{
    static const char *const names[] = {
        "id", "status", "mode", "file_name", "file_size", "sha256", "processed_rows",
        "total_rows", "inserted", "updated", "error_rows", "created_at", "started_at",
        "finished_at", "error"
    };
    static const int numeric[] = { 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0 };

    cJSON  *json = cJSON_CreateObject();
    int     i;

    for (i = 0; i < (int) (sizeof(names) / sizeof(names[0])); i++) {
        if (PQgetisnull(res, row, i)) {
            cJSON_AddNullToObject(json, names[i]);
        } else if (numeric[i]) {
            cJSON_AddNumberToObject(json, names[i], strtod(PQgetvalue(res, row, i), NULL));
        } else {
            cJSON_AddStringToObject(json, names[i], PQgetvalue(res, row, i));
        }
    }

    return json;
}

/* The upload must be a file of the spool, named by the module. */
static const char *
imports_spool_file(ferryd_t *fd, req_t *req)
{
    cJSON       *path;
    size_t       n;
    const char  *p;

    path = cJSON_GetObjectItemCaseSensitive(req->file, "path");
    if (!cJSON_IsString(path)) {
        return NULL;
    }

    p = path->valuestring;
    n = strlen(fd->cfg.spool_dir);

    if (n == 0 || strncmp(p, fd->cfg.spool_dir, n) != 0 || p[n] != '/'
        || strchr(p + n + 1, '/') != NULL || strstr(p, "..") != NULL)
    {
        return NULL;
    }

    return p;
}

void
imports_create(ferryd_t *fd, req_t *req, resp_t *resp)
{
    char         job_path[4096];
    const char  *mode, *spool, *params[4];
    char        *pjson, id[64], location[128];
    int          renamed = 0;
    cJSON       *p, *f, *job;
    PGconn      *conn;
    PGresult    *res;
    idem_rc_t    irc;

    mode = req_query(req, "mode");
    if (mode == NULL || (strcmp(mode, "insert_only") != 0 && strcmp(mode, "upsert") != 0)) {
        resp_field_error(resp, 422, "mode", "mode must be insert_only or upsert");
        return;
    }

    if (!cJSON_IsObject(req->file)) {
        resp_field_error(resp, 422, "file", "a CSV file upload is required");
        return;
    }

    spool = imports_spool_file(fd, req);
    if (spool == NULL) {
        log_error(req->rid, "import: the uploaded file is not in SPOOL_DIR %s",
                  fd->cfg.spool_dir);
        resp_error(resp, 500, "upload spool misconfigured");
        return;
    }

    if (req->idem == NULL) {
        resp_error(resp, 400, "Idempotency-Key header is required");
        return;
    }

    conn = accounts_user_conn(fd, req, resp);
    if (conn == NULL) {
        return;
    }

    if (db_exec(conn, "BEGIN") != 0) {
        goto failed;
    }

    irc = idem_claim(conn, req, resp);
    if (irc != IDEM_NEW) {
        goto done;
    }

    res = PQexec(conn, "SELECT gen_random_uuid()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        goto failed;
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    /* the file becomes the job's before the job exists */
    snprintf(job_path, sizeof(job_path), "%s/import-%s.csv", fd->cfg.spool_dir, id);
    if (rename(spool, job_path) != 0) {
        log_error(req->rid, "import: rename %s to %s: %s", spool, job_path, strerror(errno));
        (void) db_exec(conn, "ROLLBACK");
        db_release(fd->db, conn, 1);
        resp_error(resp, 500, "cannot take over the upload");
        return;
    }
    renamed = 1;

    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "mode", mode);
    f = cJSON_Duplicate(req->file, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(f, "path", cJSON_CreateString(job_path));
    cJSON_AddItemToObject(p, "file", f);
    pjson = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);

    params[0] = id;
    params[1] = req->user;
    params[2] = pjson;
    res = PQexecParams(conn,
                       "INSERT INTO jobs (id, kind, owner, params) "
                       "VALUES ($1, 'import', $2, $3::jsonb) RETURNING " IMPORTS_JOB_COLUMNS,
                       3, NULL, params, NULL, NULL, 0);
    cJSON_free(pjson);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        goto failed;
    }

    job = imports_job_json(res, 0);
    PQclear(res);
    resp_json(resp, 201, job);

    if (idem_store(conn, req, resp) != 0 || db_exec(conn, "COMMIT") != 0) {
        goto failed;
    }

    resp_header(resp, "Ferry-File", "taken");
    snprintf(location, sizeof(location), "/imports/%s", id);
    resp_header(resp, "Location", location);

    log_info(req->rid, "import job %s created for user %s (%s)", id, req->user, mode);

    db_release(fd->db, conn, 1);
    return;

done:

    (void) db_exec(conn, resp->status < 300 ? "COMMIT" : "ROLLBACK");
    db_release(fd->db, conn, 1);
    return;

failed:

    log_error(req->rid, "import: %s", PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");
    db_release(fd->db, conn, 0);

    if (renamed && rename(job_path, spool) != 0) {
        log_error(req->rid, "import: cannot give %s back: %s", job_path, strerror(errno));
    }

    resp_error(resp, 500, "internal error");
}

void
imports_show(ferryd_t *fd, req_t *req, resp_t *resp)
{
    const char  *params[2];
    PGconn      *conn;
    PGresult    *res;

    conn = accounts_user_conn(fd, req, resp);
    if (conn == NULL) {
        return;
    }

    params[0] = req->params[0];
    params[1] = req->user;
    res = PQexecParams(conn,
                       "SELECT " IMPORTS_JOB_COLUMNS " FROM jobs "
                       "WHERE id::text = $1 AND owner = $2 AND kind = 'import'",
                       2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error(req->rid, "import: %s", PQerrorMessage(conn));
        resp_error(resp, 500, "internal error");

    } else if (PQntuples(res) == 0) {
        resp_error(resp, 404, "import not found");

    } else {
        resp_json(resp, 200, imports_job_json(res, 0));
    }

    db_release(fd->db, conn, PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);
}
