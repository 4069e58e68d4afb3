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

#include "core/log.h"
#include "ferry_json.h"
#include "mm_client.h"
#include "mm_emoji.h"
#include "mm_slack_file.h"

/* Mattermost's MaxEmojiFileSize */
#define MM_EMOJI_MAX (512 * 1024)

#define MM_BOUNDARY "ferry-emoji-5c1f0a7e3b"

static const char *
mm_image_type(const unsigned char *p, size_t n)
{
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        return "image/png";
    }
    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) {
        return "image/jpeg";
    }
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
    {
        return "image/gif";
    }

    return NULL;
}

/* The image's bytes (at most MM_EMOJI_MAX) from path; NULL with err. */
static unsigned char *
mm_emoji_image(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE          *f;
    unsigned char *buf;

    f = fopen(path, "rb");
    buf = f ? malloc(MM_EMOJI_MAX + 1) : NULL;
    if (buf == NULL) {
        snprintf(err, errlen, "cannot read the image: %s", strerror(errno));
        if (f) {
            fclose(f);
        }
        return NULL;
    }

    *len = fread(buf, 1, MM_EMOJI_MAX + 1, f);
    fclose(f);

    if (*len > MM_EMOJI_MAX) {
        snprintf(err, errlen, "the image is over Mattermost's %d KiB",
            MM_EMOJI_MAX / 1024);
        free(buf);
        return NULL;
    }

    return buf;
}

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

/* POST /emoji, a multipart form of the image and the emoji's JSON. */
static int
mm_emoji_create(mm_export_t *x, const char *name, const unsigned char *img,
    size_t n, const char *type, char *id, char *err, size_t errlen)
{
    char       *body = NULL, *json = NULL;
    size_t      len = 0;
    FILE       *m;
    cJSON      *e;
    mm_req_t    req;
    mm_resp_t   r;
    const char *found;
    int         rc = -1;

    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "creator_id", x->owner_id);
    json = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);

    m = json ? open_memstream(&body, &len) : NULL;
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        cJSON_free(json);
        return -1;
    }
    fprintf(m,
        "--" MM_BOUNDARY "\r\n"
        "Content-Disposition: form-data; name=\"image\"; "
        "filename=\"%s.%s\"\r\nContent-Type: %s\r\n\r\n",
        name, type + 6, type);
    fwrite(img, 1, n, m);
    fprintf(m,
        "\r\n--" MM_BOUNDARY "\r\n"
        "Content-Disposition: form-data; name=\"emoji\"\r\n\r\n"
        "%s\r\n--" MM_BOUNDARY "--\r\n",
        json);
    fclose(m);
    cJSON_free(json);

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/api/v4/emoji";
    req.content_type = "multipart/form-data; boundary=" MM_BOUNDARY;
    req.body = body;
    req.body_len = len;
    req.repeatable = 1; /* a second one is refused as a duplicate */

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
    free(body);

    return rc;
}

int
mm_export_emoji(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *slack = ferry_json_str(raw, "name"),
               *url = ferry_json_str(raw, "url"), *type;
    char           name[65], id[64], path[MM_PATH_LEN], err[512], why[600];
    unsigned char *img;
    size_t         n;
    int            rc;

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

    img = mm_emoji_image(path, &n, err, sizeof(err));
    unlink(path);
    if (img == NULL) {
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    type = mm_image_type(img, n);
    if (type == NULL) {
        free(img);
        return mm_export_status(x, entity_id, "failed", NULL,
            "the image is not a PNG, JPEG or GIF");
    }

    rc = mm_emoji_create(x, name, img, n, type, id, err, sizeof(err));
    free(img);

    return rc == 0 ? mm_export_status(x, entity_id, "success", id, NULL)
                   : mm_export_status(x, entity_id, "failed", NULL, err);
}
