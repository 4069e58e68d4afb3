/*
 * Import jobs. Creating one takes the spooled upload over (it is renamed
 * to the job's name before the job row commits, so a lost answer cannot
 * lose the file) and records the Idempotency-Key in the same transaction.
 */
#include "import_api.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry_frame.h"
#include "core/caller.h"
#include "core/jobs.h"
#include "core/job_api.h"
#include "core/log.h"
#include "core/report_link.h"
#include "core/upload_job.h"
#include "import_report.h"
#include "storage/s3_store.h"

/* one column of the SELECT a line */
/* clang-format off */
#define IMPORTS_JOB_COLUMNS                                                    \
    "id, status, params->>'mode', params->'file'->>'name', "                   \
    "(params->'file'->>'size')::bigint, params->'file'->>'sha256', "           \
    "coalesce((progress->>'processed_rows')::bigint, 0), "                     \
    "(progress->>'total_rows')::bigint, "                                      \
    "coalesce((progress->>'inserted')::bigint, 0), "                           \
    "coalesce((progress->>'updated')::bigint, 0), "                            \
    "coalesce((progress->>'error_rows')::bigint, 0), "                         \
    JOB_API_ISO("created_at") ", "                                             \
    JOB_API_ISO("started_at") ", "                                             \
    JOB_API_ISO("finished_at") ", "                                            \
    "error"
/* clang-format on */

/* One row of IMPORTS_JOB_COLUMNS as the job's JSON. */
static cJSON *
imports_job_json(PGresult *res, int row)
{
    static const char *const names[] = { "id", "status", "mode", "file_name",
        "file_size", "sha256", "processed_rows", "total_rows", "inserted",
        "updated", "error_rows", "created_at", "started_at", "finished_at",
        "error" };
    static const int numeric[] = { 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0,
        0 };

    cJSON *json = cJSON_CreateObject();
    int    i;

    for (i = 0; i < (int) (sizeof(names) / sizeof(names[0])); i++) {
        if (PQgetisnull(res, row, i)) {
            cJSON_AddNullToObject(json, names[i]);
        } else if (numeric[i]) {
            cJSON_AddNumberToObject(
                json, names[i], strtod(PQgetvalue(res, row, i), NULL));
        } else {
            cJSON_AddStringToObject(json, names[i], PQgetvalue(res, row, i));
        }
    }

    return json;
}

static const job_api_t imports_api = { "import", "import", IMPORTS_JOB_COLUMNS,
    imports_job_json };

/* The new job's answer, 201, inside its transaction. */
static int
imports_created(PGconn *conn, req_t *req, resp_t *resp, const char *id)
{
    return job_api_answer(&imports_api, conn, req, resp, 201, id);
}

void
imports_create(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    const char *mode;
    cJSON      *params;

    mode = req_query(req, "mode");
    if (mode == NULL
        || (strcmp(mode, "insert_only") != 0 && strcmp(mode, "upsert") != 0))
    {
        resp_field_error(
            resp, 422, "mode", "mode must be insert_only or upsert");
        return;
    }

    if (!cJSON_IsObject(req->file)) {
        resp_field_error(resp, 422, "file", "a CSV file upload is required");
        return;
    }

    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "mode", mode);

    upload_job_create(ferry, req, resp, "import", ".csv", params,
        imports_created, "/imports/");
}

void
imports_show(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    job_api_show(&imports_api, ferry, req, resp);
}

void
imports_list(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    job_api_list(&imports_api, ferry, req, resp);
}

void
imports_cancel(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    char    before[16];
    PGconn *conn;

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    /* rows already loaded stay; the job's counters say how many */
    switch (
        job_cancel(ferry, conn, "import", req->params[0], req->user, before)) {
    case 0:
        resp_error(resp, 404, "import not found");
        break;

    case 2:
        resp_error(resp, 409, "import already %s", before);
        break;

    case 1:
        log_info(req->rid, "import %s cancelled by its owner", req->params[0]);
        (void) job_api_answer(
            &imports_api, conn, req, resp, 200, req->params[0]);
        break;

    default:
        resp_internal_error(
            resp, req->rid, "imports: %s", PQerrorMessage(conn));
    }

    db_release(ferry->db, conn);
}

void
imports_errors(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    char        path[4096], file[128], link[4096];
    struct stat st;
    time_t      t;
    PGconn     *conn;
    PGresult   *res;
    cJSON      *json;

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    res = job_api_find(&imports_api, conn, req, resp, req->params[0],
        "id, status, coalesce((progress->>'error_rows')::bigint, 0), "
        "coalesce(progress->>'report', '')");
    if (res == NULL) {
        goto done;
    }

    if (strcmp(PQgetvalue(res, 0, 1), "pending") == 0
        || strcmp(PQgetvalue(res, 0, 1), "processing") == 0)
    {
        json = cJSON_CreateObject();
        cJSON_AddStringToObject(json, "detail", "not ready");
        resp_json(resp, 409, json);
        goto done;
    }

    if (strcmp(PQgetvalue(res, 0, 3), "s3") == 0) {
        snprintf(
            file, sizeof(file), "reports/%s-errors.csv", PQgetvalue(res, 0, 0));
        t = time(NULL);

        if (s3_store_url(&ferry->cfg, file, t, link, sizeof(link)) != 0) {
            resp_error(resp, 500, "cannot sign the report URL");
            goto done;
        }

        resp_json(resp, 200,
            report_link_json(link, t + ferry->cfg.s3_presign_ttl_seconds));
        goto done;
    }

    import_report_path(ferry, PQgetvalue(res, 0, 0), path, sizeof(path));

    if (strcmp(PQgetvalue(res, 0, 2), "0") == 0 || stat(path, &st) != 0) {
        resp_error(resp, 404, "this import has no errors report");
        goto done;
    }

    snprintf(file, sizeof(file), "%s-errors.csv", PQgetvalue(res, 0, 0));

    if (report_link(ferry, file, link, sizeof(link), &t) != 0) {
        resp_error(resp, 503, "report links need JWT_SECRET_FILE");
        goto done;
    }
    resp_json(resp, 200, report_link_json(link, t));

done:

    db_release(ferry->db, conn);
    PQclear(res);
}
