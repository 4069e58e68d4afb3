/*
 * The original declared every image image/png and never kept the emoji's
 * id; here the type comes from the bytes and the id is kept. Slack's
 * aliases ("alias:<name>") have no counterpart in Mattermost: skipped,
 * with the name they stand for.
 */
#include "mm_export_emoji.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/log.h"
#include "ferry_json.h"
#include "mm_client.h"
#include "mm_emoji.h"
#include "mm_form.h"
#include "mm_slack_file.h"

/* Mattermost's MaxEmojiFileSize */
#define MM_EMOJI_MAX (512 * 1024)

/* An emoji of that name exists: its id into id (64 bytes). */
static int
mm_emoji_existing(mm_export_t *x, const char *name, char *id)
{
    char        path[256];
    const char *found;
    mm_resp_t   r;
    int         rc = -1;

    snprintf(path, sizeof(path), "/api/v4/emoji/name/%s", name);
    if (mm_call(x->ferry, NULL, "GET", path, NULL, 0, &r) == 0
        && (found = ferry_json_str(r.json, "id")))
    {
        snprintf(id, 64, "%s", found);
        rc = 0;
    }
    mm_resp_free(&r);

    return rc;
}

/* POST /emoji, a multipart form of the emoji's JSON and the image at
 * path. */
static int
mm_emoji_create(mm_export_t *x, const char *name, const char *path,
    const char *type, char *id, char *err, size_t errlen)
{
    char            form[MM_PATH_LEN + 8], ctype[MM_FORM_TYPE_LEN], file[80];
    char           *json;
    mm_form_field_t fields[2] = { { "emoji", NULL }, { NULL, NULL } };
    cJSON          *e;
    mm_req_t        req;
    mm_resp_t       r;
    const char     *found;
    int             rc = -1;

    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "creator_id", x->owner_id);
    json = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    if (json == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    fields[0].value = json;
    snprintf(form, sizeof(form), "%s.form", path);
    snprintf(file, sizeof(file), "%s.%s", name, type + 6);
    rc = mm_form_write(
        form, fields, "image", file, type, path, ctype, err, errlen);
    cJSON_free(json);
    if (rc != 0) {
        return -1;
    }

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/api/v4/emoji";
    req.content_type = ctype;
    req.body_path = form;
    req.repeatable = 1; /* a second one is refused as a duplicate */

    rc = -1;
    if (mm_send(x->ferry, &req, &r) == 0
        && (found = ferry_json_str(r.json, "id"))) {
        snprintf(id, 64, "%s", found);
        rc = 0;

    } else if (strcmp(r.id, "api.emoji.create.duplicate.app_error") == 0
        && mm_emoji_existing(x, name, id) == 0)
    {
        log_debug(x->worker, "emoji %s exists in Mattermost as %s", name, id);
        rc = 0;

    } else {
        snprintf(err, errlen, "%s", r.message);
    }
    mm_resp_free(&r);
    unlink(form);

    return rc;
}

int
mm_export_emoji(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *slack = ferry_json_str(raw, "name"),
               *url = ferry_json_str(raw, "url"), *type;
    char        name[65], id[64], path[MM_PATH_LEN], err[512], why[600];
    struct stat st;
    int         rc;

    if (slack == NULL || mm_emoji_name(slack, name, sizeof(name)) < 0) {
        return mm_export_status(x, entity_id, "skipped", NULL,
            "not a name Mattermost takes for an emoji");
    }

    if (mm_emoji_name(slack, name, sizeof(name)) == 1) {
        return mm_export_status(x, entity_id, "skipped", NULL,
            "Mattermost has a system emoji of this name");
    }

    if (url && strncmp(url, "alias:", 6) == 0) {
        snprintf(why, sizeof(why),
            "an alias of :%.64s: (Mattermost has no "
            "emoji aliases)",
            url + 6);
        return mm_export_status(x, entity_id, "skipped", NULL, why);
    }

    if (x->dry_run) {
        return 0;
    }

    if (mm_emoji_existing(x, name, id) == 0) {
        log_debug(x->worker, "emoji %s exists in Mattermost as %s", name, id);
        return mm_export_status(x, entity_id, "success", id, NULL);
    }

    rc = mm_slack_file(x, NULL, NULL, url, path, err, sizeof(err));
    if (rc != 0) {
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    /* what Mattermost would refuse, said here with the reason */
    type = mm_image_type(path);
    if (type == NULL || stat(path, &st) != 0 || st.st_size > MM_EMOJI_MAX) {
        unlink(path);
        return mm_export_status(x, entity_id, "failed", NULL,
            type == NULL ? "the image is not a PNG, JPEG or GIF"
                         : "the image is over Mattermost's 512 KiB");
    }

    rc = mm_emoji_create(x, name, path, type, id, err, sizeof(err));
    unlink(path);

    return rc == 0 ? mm_export_status(x, entity_id, "success", id, NULL)
                   : mm_export_status(x, entity_id, "failed", NULL, err);
}
