/*
 * The file is uploaded, not yet attached: the message phase attaches it
 * (the plugin mode uploads through the plugin, which any post may claim).
 * A file Slack no longer serves (deleted, or hidden by the plan's limit)
 * is skipped with that reason, so that its message is still posted.
 */
#include "mm_export_attachment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "ferry_uri.h"
#include "mm_client.h"
#include "mm_form.h"
#include "mm_plugin.h"
#include "mm_slack_file.h"
#include "mm_user_token.h"

/* clang-format off */
/* the upload's job, the message's channel and author (Mattermost ids),
 * the file's own id when it was uploaded before */
static const char mm_attachment_sql[] =
    "SELECT a.job_id, " MM_EXPORTED("c") ", " MM_EXPORTED("u") ", "
    "a.mattermost_id "
    "FROM entities a "
    "LEFT JOIN entity_relations am ON am.from_entity_id = a.id "
    "AND am.relation_type = 'attached_to' "
    "LEFT JOIN entity_relations mc ON mc.from_entity_id = am.to_entity_id "
    "AND mc.relation_type = 'posted_in' "
    "LEFT JOIN entities c ON c.id = mc.to_entity_id "
    "LEFT JOIN entity_relations mu ON mu.to_entity_id = am.to_entity_id "
    "AND mu.relation_type = 'posted_by' "
    "LEFT JOIN entities u ON u.id = mu.from_entity_id "
    "WHERE a.id = $1::bigint "
    "ORDER BY 2 NULLS LAST, am.to_entity_id LIMIT 1";
/* clang-format on */

/* An upload of the file body_path (a second one makes an unattached copy,
 * which nobody sees, so it may be repeated); the file's id into id: 0, or
 * -1 with the reason in err. */
static int
mm_attachment_send(mm_export_t *x, mm_req_t *req, const char *path, char *id,
    char *err, size_t errlen)
{
    const char *found = NULL;
    mm_resp_t   r;

    req->method = "POST";
    req->body_path = path;
    req->repeatable = 1;

    /* Mattermost answers {"file_infos":[{"id"}]}, the plugin {"file_id"} */
    if (mm_send(x->ferry, req, &r) == 0) {
        found = ferry_json_str(r.json, "file_id");
        found = found
            ? found
            : ferry_json_str(
                cJSON_GetArrayItem(
                    cJSON_GetObjectItemCaseSensitive(r.json, "file_infos"), 0),
                "id");
    }
    if (found) {
        snprintf(id, 64, "%s", found);
    } else {
        snprintf(err, errlen, "%s",
            r.message[0] ? r.message : "Mattermost kept no file");
    }
    mm_resp_free(&r);

    return found ? 0 : -1;
}

/* POST /files?channel_id=&filename= with the bytes as the body. */
static int
mm_attachment_upload(mm_export_t *x, const char *token, const char *channel,
    const char *name, const char *path, char *id, char *err, size_t errlen)
{
    char    *enc, *url;
    mm_req_t req;
    int      rc;

    enc = malloc(3 * strlen(name) + 1);
    if (enc == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ferry_uri_encode(name, 0, enc);
    if (asprintf(&url, "/api/v4/files?channel_id=%s&filename=%s", channel, enc)
        < 0) {
        free(enc);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(enc);

    memset(&req, 0, sizeof(req));
    req.token = token;
    req.path = url;
    req.content_type = "application/octet-stream";
    rc = mm_attachment_send(x, &req, path, id, err, errlen);
    free(url);

    return rc;
}

/* The plugin's /attachment_multipart: the form (channel_id, filename,
 * file) written around the file's bytes into a second file of the spool,
 * sent from there; never the whole file in memory. */
static int
mm_attachment_plugin(mm_export_t *x, const char *channel, const char *name,
    const char *path, char *id, char *err, size_t errlen)
{
    char                  form[MM_PATH_LEN + 8], type[MM_FORM_TYPE_LEN];
    const mm_form_field_t fields[] = { { "channel_id", channel },
        { "filename", name }, { NULL, NULL } };
    mm_req_t              req;
    int                   rc;

    snprintf(form, sizeof(form), "%s.form", path);
    if (mm_form_write(form, fields, "file", name, "application/octet-stream",
            path, type, err, errlen)
        != 0)
    {
        return -1;
    }

    memset(&req, 0, sizeof(req));
    req.path = MM_PLUGIN_API "/attachment_multipart";
    req.content_type = type;
    rc = mm_attachment_send(x, &req, form, id, err, errlen);
    unlink(form);

    return rc;
}

int
mm_export_attachment(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *p[2] = { entity_id, MM_DRY_JOB(x) }, *name, *url;
    char        token[MM_TOKEN_LEN], path[MM_PATH_LEN], id[64], err[600];
    PGresult   *res;
    int         rc;

    res = db_query(x->conn, mm_attachment_sql, 2, p);
    if (res == NULL) {
        return -1;
    }

    /* uploaded before (the row changed in Slack since): a file's bytes do
     * not change, and a second copy would be left unattached */
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 3)) {
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 3));
        PQclear(res);
        return mm_export_status(x, entity_id, "success", id, NULL);
    }

    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 1)) {
        PQclear(res);
        return mm_export_status(x, entity_id, "failed", NULL,
            "its message's channel was not exported");
    }
    if (PQgetisnull(res, 0, 2)) {
        PQclear(res);
        return mm_export_status(x, entity_id, "failed", NULL,
            "its message's author was not exported");
    }

    name = ferry_json_str(raw, "name");
    name = name ? name : ferry_json_str(raw, "title");
    name = name ? name : "file.bin";
    url = ferry_json_str(raw, "url_private_download");
    url = url ? url : ferry_json_str(raw, "url_private");

    if (x->dry_run) {
        rc = mm_slack_file_check(x,
            PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
            ferry_json_str(raw, "zip_member"), url, err, sizeof(err));
        PQclear(res);
        return rc == 0 ? 0
                       : mm_export_status(x, entity_id, "skipped", NULL, err);
    }

    if (mm_user_token(x, PQgetvalue(res, 0, 2), token, err, sizeof(err)) != 0) {
        PQclear(res);
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    rc = mm_slack_file(x, PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
        ferry_json_str(raw, "zip_member"), url, path, err, sizeof(err));
    if (rc != 0) {
        PQclear(res);
        return mm_export_status(
            x, entity_id, rc == 1 ? "skipped" : "failed", NULL, err);
    }

    rc = x->mode == MM_MODE_PLUGIN
        ? mm_attachment_plugin(
            x, PQgetvalue(res, 0, 1), name, path, id, err, sizeof(err))
        : mm_attachment_upload(
            x, token, PQgetvalue(res, 0, 1), name, path, id, err, sizeof(err));
    unlink(path);
    PQclear(res);

    if (rc == 0) {
        log_debug(x->worker, "file %s uploaded as %s", name, id);
    }

    return rc == 0 ? mm_export_status(x, entity_id, "success", id, NULL)
                   : mm_export_status(x, entity_id, "failed", NULL, err);
}
