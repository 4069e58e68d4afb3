/*
 * Mattermost names an uploaded import file "<upload id>_<file name>" in
 * its import directory (app/upload.go), the name import_process takes.
 * The bytes go once: an upload session appends what it gets, so a resent
 * body would be refused.
 */
#include "mm_bulk_upload.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "ferry_json.h"
#include "mm_client.h"

#define MM_BULK_POLL_MS 1000

/* The file's bytes into the upload session. */
static int
mm_bulk_send(ferryd_t *ferry, const char *upload, const char *path, char *err,
    size_t errlen)
{
    char      api[256];
    mm_req_t  req;
    mm_resp_t r;
    int       rc;

    snprintf(api, sizeof(api), "/api/v4/uploads/%s", upload);

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = api;
    req.content_type = "application/octet-stream";
    req.body_path = path;

    rc = mm_send(ferry, &req, &r);
    if (rc != 0) {
        snprintf(err, errlen, "upload to Mattermost: %s", r.message);
    } else if (r.status == 204) {
        snprintf(err, errlen, "upload to Mattermost: not all bytes arrived");
        rc = -1;
    }
    mm_resp_free(&r);

    return rc;
}

/* POSTs body (then freed) to path; the id of what was made into id. */
static int
mm_bulk_create(ferryd_t *ferry, const char *path, cJSON *body, const char *what,
    char *id, size_t len, char *err, size_t errlen)
{
    mm_resp_t   r;
    const char *v;
    int         rc;

    rc = mm_call(ferry, NULL, "POST", path, body, 0, &r);
    cJSON_Delete(body);
    v = rc == 0 ? ferry_json_str(r.json, "id") : NULL;
    if (v == NULL) {
        snprintf(err, errlen, "Mattermost's %s: %s", what,
            r.message[0] ? r.message : "no id in the answer");
    } else {
        snprintf(id, len, "%s", v);
    }
    mm_resp_free(&r);

    return v ? 0 : -1;
}

int
mm_bulk_upload(
    job_t *job, const char *path, char *mm_job, char *err, size_t errlen)
{
    ferryd_t   *ferry = job->ferry;
    struct stat st;
    cJSON      *body, *data;
    char        name[128], upload[64], file[256];

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "the archive is gone");
        return -1;
    }
    snprintf(name, sizeof(name), "%s-bulk.zip", job->id);

    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "import");
    cJSON_AddStringToObject(body, "filename", name);
    cJSON_AddNumberToObject(body, "file_size", (double) st.st_size);
    if (mm_bulk_create(ferry, "/api/v4/uploads", body, "upload session", upload,
            sizeof(upload), err, errlen)
        != 0)
    {
        return -1;
    }

    if (mm_bulk_send(ferry, upload, path, err, errlen) != 0) {
        return -1;
    }
    log_debug(job->worker, "export %s: %lld bytes uploaded to Mattermost",
        job->id, (long long) st.st_size);

    snprintf(file, sizeof(file), "%s_%s", upload, name);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "import_process");
    data = cJSON_AddObjectToObject(body, "data");
    cJSON_AddStringToObject(data, "import_file", file);

    return mm_bulk_create(
        ferry, "/api/v4/jobs", body, "import job", mm_job, 27, err, errlen);
}

int
mm_bulk_wait(job_t *job, const char *mm_job, char *err, size_t errlen)
{
    char        path[128];
    const char *status, *line;
    cJSON      *data;
    mm_resp_t   r;

    snprintf(path, sizeof(path), "/api/v4/jobs/%s", mm_job);

    for (;;) {
        if (*job->stop || job_progress(job, NULL) != 1) {
            return -2;
        }

        if (mm_call(job->ferry, NULL, "GET", path, NULL, 0, &r) != 0) {
            snprintf(err, errlen, "Mattermost's import job %s: %s", mm_job,
                r.message);
            mm_resp_free(&r);
            return -1;
        }

        status = ferry_json_str(r.json, "status");
        status = status ? status : "";
        if (strcmp(status, "success") == 0) {
            mm_resp_free(&r);
            return 0;
        }
        if (strcmp(status, "error") == 0 || strcmp(status, "canceled") == 0) {
            data = cJSON_GetObjectItemCaseSensitive(r.json, "data");
            line = ferry_json_str(data, "line_number");
            snprintf(err, errlen, "Mattermost's import %s%s%s: %s", status,
                line ? " at line " : "", line ? line : "",
                ferry_json_str(data, "error") ? ferry_json_str(data, "error")
                                              : "no reason given");
            mm_resp_free(&r);
            return -1;
        }
        mm_resp_free(&r);

        usleep(MM_BULK_POLL_MS * 1000);
    }
}
