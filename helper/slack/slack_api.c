/*
 * An upload's answer is the job as its progress stands: counts per entity
 * type, the first errors (file and error) and how many there were.
 */
#include "slack_api.h"

#include <stdlib.h>
#include <string.h>

#include "core/job_api.h"
#include "core/upload_job.h"
#include "slack_entities.h"

/* clang-format off */
#define SLACK_UPLOAD_COLUMNS                                                   \
    "id, status, params->'file'->>'name', "                                    \
    "(params->'file'->>'size')::bigint, params->'file'->>'sha256', "           \
    "progress->'counts', progress->'errors', "                                 \
    "coalesce((progress->>'error_count')::bigint, 0), "                        \
    JOB_API_ISO("created_at") ", "                                             \
    JOB_API_ISO("started_at") ", "                                             \
    JOB_API_ISO("finished_at") ", "                                            \
    "error"
/* clang-format on */

static cJSON *
slack_upload_json(PGresult *res, int row)
{
    cJSON *json, *counts, *c, *errors;
    int    i;

    json = cJSON_CreateObject();
    job_api_text(json, "id", res, row, 0);
    job_api_text(json, "status", res, row, 1);
    job_api_text(json, "file_name", res, row, 2);
    cJSON_AddNumberToObject(
        json, "file_size", strtod(PQgetvalue(res, row, 3), NULL));
    job_api_text(json, "sha256", res, row, 4);

    /* every type, 0 until the ingest has seen one */
    c = cJSON_Parse(PQgetvalue(res, row, 5));
    counts = cJSON_AddObjectToObject(json, "counts");
    for (i = 0; i < SLACK_NTYPES; i++) {
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(c, slack_type_names[i]);

        cJSON_AddNumberToObject(counts, slack_type_names[i],
            cJSON_IsNumber(v) ? v->valuedouble : 0);
    }
    cJSON_Delete(c);

    errors = cJSON_Parse(PQgetvalue(res, row, 6));
    if (!cJSON_IsArray(errors)) {
        cJSON_Delete(errors);
        errors = cJSON_CreateArray();
    }
    cJSON_AddItemToObject(json, "errors", errors);
    cJSON_AddNumberToObject(
        json, "error_count", strtod(PQgetvalue(res, row, 7), NULL));

    job_api_text(json, "created_at", res, row, 8);
    job_api_text(json, "started_at", res, row, 9);
    job_api_text(json, "finished_at", res, row, 10);
    job_api_text(json, "error", res, row, 11);

    return json;
}

static const job_api_t slack_uploads_api = { "slack_ingest", "slack upload",
    SLACK_UPLOAD_COLUMNS, slack_upload_json };

static int
slack_upload_created(PGconn *conn, req_t *req, resp_t *resp, const char *id)
{
    return job_api_answer(&slack_uploads_api, conn, req, resp, 201, id);
}

void
slack_upload_create(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    upload_job_create(ferry, req, resp, "slack_ingest", ".zip", NULL,
        slack_upload_created, "/slack/uploads/");
}

void
slack_upload_show(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    job_api_show(&slack_uploads_api, ferry, req, resp);
}

void
slack_upload_list(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    job_api_list(&slack_uploads_api, ferry, req, resp);
}
