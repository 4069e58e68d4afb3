/*
 * Uploads to jobs. The client may be gone by the time ferryd renames its
 * file (nginx removes an upload it did not hand over): that is no error.
 */
#include "upload_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry_frame.h"
#include "caller.h"
#include "idempotency.h"
#include "jobs.h"
#include "log.h"

void
upload_job_create(ferryd_t *ferry, req_t *req, resp_t *resp, const char *kind,
    const char *suffix, cJSON *params, upload_job_answer_pt answer,
    const char *location)
{
    char        job_path[4096], id[JOB_ID_LEN], loc[256];
    const char *spool;
    char       *pjson = NULL;
    int         renamed = 0, err;
    cJSON      *f;
    PGconn     *conn;

    if (params == NULL) {
        params = cJSON_CreateObject();
    }

    if (!cJSON_IsObject(req->file)) {
        resp_field_error(resp, 422, "file", "a file upload is required");
        goto out;
    }

    spool = caller_upload(ferry, req);
    if (spool == NULL) {
        log_error(req->rid, "%s: the uploaded file is not in SPOOL_DIR %s",
            kind, ferry->cfg.spool_dir);
        resp_error(resp, 500, "upload spool misconfigured");
        goto out;
    }

    if (req->idem == NULL) {
        resp_error(resp, 400, "Idempotency-Key header is required");
        goto out;
    }

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        goto out;
    }

    if (db_exec(conn, "BEGIN") != 0) {
        goto failed;
    }

    if (idem_claim(conn, req, resp) != IDEM_NEW) {
        /* a replay, a mismatch or an error: resp holds the answer */
        (void) db_exec(conn, resp->status < 300 ? "COMMIT" : "ROLLBACK");
        db_release(ferry->db, conn);
        goto out;
    }

    if (job_new_id(conn, id) != 0) {
        goto failed;
    }

    /* the file becomes the job's before the job exists */
    snprintf(job_path, sizeof(job_path), "%s/%s-%s%s", ferry->cfg.spool_dir,
        kind, id, suffix);

    if (rename(spool, job_path) != 0) {
        err = errno;
        (void) db_exec(conn, "ROLLBACK");
        db_release(ferry->db, conn);

        /* the client went away and nginx removed its upload: nobody
         * waits for this answer, and nothing is lost */
        if (err == ENOENT) {
            log_info(req->rid,
                "%s: the upload is gone (the client aborted "
                "the request)",
                kind);
            resp_error(resp, 409, "the uploaded file is gone");
            goto out;
        }

        resp_internal_error(resp, req->rid, "%s: rename %s to %s: %s", kind,
            spool, job_path, strerror(err));
        goto out;
    }
    renamed = 1;

    f = cJSON_Duplicate(req->file, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(
        f, "path", cJSON_CreateString(job_path));
    cJSON_DeleteItemFromObjectCaseSensitive(params, "file");
    cJSON_AddItemToObject(params, "file", f);
    pjson = cJSON_PrintUnformatted(params);

    if (pjson == NULL || job_create(conn, id, kind, req->user, pjson) != 0
        || answer(conn, req, resp, id) != 0 || idem_store(conn, req, resp) != 0
        || db_exec(conn, "COMMIT") != 0)
    {
        goto failed;
    }

    resp_header(resp, FERRY_HDR_FILE, FERRY_FILE_TAKEN);
    snprintf(loc, sizeof(loc), "%s%s", location, id);
    resp_header(resp, "Location", loc);

    log_info(req->rid, "%s job %s created for user %s", kind, id, req->user);
    jobs_notify(ferry->jobs);

    db_release(ferry->db, conn);
    goto out;

failed:

    resp_internal_error(resp, req->rid, "%s: %s", kind, PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");
    db_release(ferry->db, conn);

    if (renamed && rename(job_path, spool) != 0) {
        log_error(req->rid, "%s: cannot give %s back: %s", kind, job_path,
            strerror(errno));
    }

out:

    cJSON_free(pjson);
    cJSON_Delete(params);
}

void
upload_job_cancel(ferryd_t *ferry, const char *id, const char *params)
{
    cJSON *p, *path;

    (void) ferry;

    p = cJSON_Parse(params);
    path = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p, "file"), "path");

    if (cJSON_IsString(path) && unlink(path->valuestring) != 0
        && errno != ENOENT) {
        log_warn("jobs", "job %s: cannot remove %s: %s", id, path->valuestring,
            strerror(errno));
    }

    cJSON_Delete(p);
}
