/*
 * auth_data is the Slack user id: stable and unique, where the original's
 * hash of the username kept only 100,000 values and collided. A deleted
 * Slack user is created like the others (deactivated once the later phases
 * have put their posts in).
 */
#include "mm_export_user.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "ferry_json.h"
#include "ferry_utf8.h"
#include "mm_client.h"
#include "mm_form.h"
#include "mm_slack_file.h"

void
mm_username(const char *name, const char *slack_id, char *out)
{
    size_t n = 0;

    for (; name && *name && n < 64; name++) {
        unsigned char c = (unsigned char) tolower((unsigned char) *name);

        out[n++] =
            (char) (isalnum(c) || c == '.' || c == '-' || c == '_' ? c : '-');
    }
    out[n] = '\0';

    /* nothing usable, or no letter first: from the Slack id */
    if (n == 0 || !isalpha((unsigned char) out[0])) {
        snprintf(out, 65, "u-%s", slack_id);
        for (n = 0; out[n]; n++) {
            out[n] = (char) tolower((unsigned char) out[n]);
        }
    }
}


/* A user that is there already: looked up by email, then by username. */
static int
mm_user_existing(mm_export_t *x, const char *email, const char *username,
    char *id, size_t idlen)
{
    char        path[512];
    mm_resp_t   r;
    const char *found;
    int         i;

    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/api/v4/users/%s/%s",
            i == 0 ? "email" : "username", i == 0 ? email : username);

        if (mm_call(x->ferry, NULL, "GET", path, NULL, 0, &r) == 0
            && (found = ferry_json_str(r.json, "id")))
        {
            snprintf(id, idlen, "%s", found);
            mm_resp_free(&r);
            return 0;
        }
        mm_resp_free(&r);
    }

    return -1;
}

/* The Slack profile's picture as the new user's avatar: the largest one
 * that is Slack's own (a Gravatar is Mattermost's to show). A failure is
 * only logged: the user is there all the same. */
static void
mm_user_avatar(mm_export_t *x, const char *user_id, const cJSON *profile)
{
    static const char *const sizes[] = { "image_original", "image_1024",
        "image_512", "image_192", "image_72", "image_48", "image_32",
        "image_24" };
    char                     path[MM_PATH_LEN], form[MM_PATH_LEN + 8], api[128],
        ctype[MM_FORM_TYPE_LEN], err[512];
    const char *url = NULL, *type;
    mm_req_t    req;
    mm_resp_t   r;
    size_t      i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && url == NULL; i++) {
        url = ferry_json_str(profile, sizes[i]);
        if (url && strstr(url, "gravatar.com")) {
            url = NULL;
        }
    }
    if (url == NULL) {
        return;
    }

    if (mm_slack_file(x, NULL, NULL, url, path, err, sizeof(err)) != 0) {
        log_warn(x->worker, "user %s: no avatar: %s", user_id, err);
        return;
    }

    type = mm_image_type(path);
    snprintf(form, sizeof(form), "%s.form", path);
    if (type == NULL
        || mm_form_write(form, NULL, "image", "avatar", type, path, ctype, err,
               sizeof(err))
            != 0)
    {
        log_warn(x->worker, "user %s: no avatar: %s", user_id,
            type ? err : "Slack's picture is not a PNG, JPEG or GIF");
        unlink(path);
        return;
    }
    unlink(path);

    snprintf(api, sizeof(api), "/api/v4/users/%s/image", user_id);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = api;
    req.content_type = ctype;
    req.body_path = form;
    req.repeatable = 1; /* the same picture twice is the same avatar */

    if (mm_send(x->ferry, &req, &r) != 0) {
        log_warn(x->worker, "user %s: avatar refused: %s", user_id, r.message);
    }
    mm_resp_free(&r);
    unlink(form);
}

/* RFC 5322's atext, ASCII only */
static int
mm_atext(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

static const char *
mm_dot_atom(const char *p)
{
    const char *start;

    for (;;) {
        start = p;
        while (mm_atext((unsigned char) *p)) {
            p++;
        }
        if (p == start) {
            return NULL;
        }
        if (*p != '.') {
            return p;
        }
        p++;
    }
}

void
mm_email(const char *v, const char *username, char *out, size_t len)
{
    size_t n;

    if (v == NULL) {
        snprintf(out, len, "%s@example.com", username);
        return;
    }

    /* Mattermost trims and lower-cases it (model.NormalizeEmail) */
    while (isspace((unsigned char) *v)) {
        v++;
    }
    snprintf(out, len, "%s", v);
    for (n = strlen(out); n && isspace((unsigned char) out[n - 1]);) {
        out[--n] = '\0';
    }
    for (n = 0; out[n]; n++) {
        out[n] = (char) tolower((unsigned char) out[n]);
    }
}

/* Mattermost's IsValidEmail on an address it has lower-cased and trimmed
 * (model.NormalizeEmail): what Go's mail.ParseAddress takes with no display
 * name, "local@domain" or "<local@domain>", the local part a dot-atom or a
 * quoted string, the domain a dot-atom or a [literal]; at most 128 bytes. */
int
mm_email_valid(const char *e)
{
    const char *p = e, *end;
    size_t      len = strlen(e);

    if (len == 0 || len > 128) {
        return 0;
    }
    end = e + len;
    if (*p == '<') {
        if (end[-1] != '>') {
            return 0;
        }
        p++;
        end--;
    }

    if (*p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end) {
                p++;
            } else if (*p == '\r' || *p == '\n') {
                return 0;
            }
        }
        if (p == end) {
            return 0;
        }
        p++;
    } else if ((p = mm_dot_atom(p)) == NULL) {
        return 0;
    }
    if (*p++ != '@') {
        return 0;
    }

    if (*p == '[') {
        for (p++; p < end && *p != ']'; p++) {
            if (*p == '[' || *p == '\\' || isspace((unsigned char) *p)) {
                return 0;
            }
        }
        return p + 1 == end;
    }

    p = mm_dot_atom(p);

    return p == end;
}

int
mm_export_user(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const cJSON *profile = cJSON_GetObjectItemCaseSensitive(raw, "profile");
    const char  *slack_id = ferry_json_str(raw, "id"), *v;
    char         username[65], email[256], id[64], path[256], cut[1024];
    cJSON       *body;
    mm_resp_t    r;
    int          rc;

    mm_username(
        ferry_json_str(raw, "name"), slack_id ? slack_id : "x", username);

    mm_email(ferry_json_str(profile, "email"), username, email, sizeof(email));

    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "username", username);
    cJSON_AddStringToObject(body, "email", email);
    cJSON_AddStringToObject(body, "auth_service", "gitlab");
    cJSON_AddStringToObject(body, "auth_data", slack_id ? slack_id : username);
    /* Mattermost's limits: 64 runes of name, 128 of position */
    if ((v = ferry_json_str(profile, "first_name"))) {
        cJSON_AddStringToObject(
            body, "first_name", ferry_utf8_cut(v, 64, cut, sizeof(cut)));
    }
    if ((v = ferry_json_str(profile, "last_name"))) {
        cJSON_AddStringToObject(
            body, "last_name", ferry_utf8_cut(v, 64, cut, sizeof(cut)));
    }
    if ((v = ferry_json_str(profile, "title"))) {
        cJSON_AddStringToObject(
            body, "position", ferry_utf8_cut(v, 128, cut, sizeof(cut)));
    }

    if (x->dry_run) {
        cJSON_Delete(body);
        return mm_email_valid(email)
            ? 0
            : mm_export_status(x, entity_id, "failed", NULL,
                "Invalid email: Mattermost would refuse the user");
    }

    rc = mm_call(x->ferry, NULL, "POST", "/api/v4/users", body, 1, &r);
    cJSON_Delete(body);

    if (rc == 0 && ferry_json_str(r.json, "id")) {
        snprintf(id, sizeof(id), "%s", ferry_json_str(r.json, "id"));
        mm_user_avatar(x, id, profile);

    } else if ((strcmp(r.id, "app.user.save.email_exists.app_error") == 0
                   || strcmp(r.id, "app.user.save.username_exists.app_error")
                       == 0)
        && mm_user_existing(x, email, username, id, sizeof(id)) == 0)
    {
        log_debug(
            x->worker, "user %s exists in Mattermost as %s", username, id);

    } else {
        rc = mm_export_status(x, entity_id, "failed", NULL,
            r.message[0] ? r.message : "Mattermost refused the user");
        mm_resp_free(&r);
        return rc;
    }

    mm_resp_free(&r);

    /* a member of the team, as every imported user is (idempotent) */
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "team_id", x->team_id);
    cJSON_AddStringToObject(body, "user_id", id);
    snprintf(path, sizeof(path), "/api/v4/teams/%s/members", x->team_id);
    rc = mm_call(x->ferry, NULL, "POST", path, body, 1, &r);
    cJSON_Delete(body);

    if (rc != 0) {
        rc = mm_export_status(x, entity_id, "failed", id, r.message);
        mm_resp_free(&r);
        return rc;
    }
    mm_resp_free(&r);

    return mm_export_status(x, entity_id, "success", id, NULL);
}
