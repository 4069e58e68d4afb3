/*
 * The original dropped what its name rules did not keep, so a Cyrillic
 * name became a random "ch-xxxxxx" (another one on each run); here such a
 * channel is named after its Slack id, stable across runs, and shows its
 * Slack name as display name. Archiving waits for the messages (a later
 * phase): the original archived first and its posts then failed.
 */
#include "mm_export_channel.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "ferry_utf8.h"
#include "mm_client.h"

void
mm_channel_name(const char *name, const char *slack_id, char *out)
{
    size_t n = 0;
    int    dash = 0;

    for (; name && *name && n < 64; name++) {
        unsigned char c = (unsigned char) tolower((unsigned char) *name);

        if (isalnum(c) && c < 0x80) {
            out[n++] = (char) c;
            dash = 0;
        } else if ((c == '-' || c == '_' || c == ' ' || c == '.') && n && !dash)
        {
            out[n++] = '-';
            dash = 1;
        }
    }

    while (n && out[n - 1] == '-') {
        n--;
    }
    out[n] = '\0';

    if (n < 2) {
        snprintf(out, 65, "slack-%s", slack_id);
        for (n = 0; out[n]; n++) {
            out[n] = (char) tolower((unsigned char) out[n]);
        }
    }
}


/* The Mattermost ids of the channel's members that were exported, in the
 * members' order: one query for the whole list. */
static cJSON *
mm_member_ids(mm_export_t *x, const cJSON *raw)
{
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(raw, "members");
    cJSON       *ids = cJSON_CreateArray();
    const char  *p[2];
    char        *json;
    PGresult    *res;
    int          i;

    if (!cJSON_IsArray(members)
        || (json = cJSON_PrintUnformatted(members)) == NULL) {
        return ids;
    }

    p[0] = json;
    p[1] = MM_DRY_JOB(x);
    res = db_query(x->conn,
        "SELECT x.id FROM (SELECT " MM_EXPORTED(
            "u") " AS id, m.n "
                 "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY m(v, n) "
                 "JOIN entities u ON u.entity_type = 'user' "
                 "AND u.slack_id = m.v #>> '{}' "
                 "WHERE jsonb_typeof(m.v) = 'string') x "
                 "WHERE x.id IS NOT NULL ORDER BY x.n",
        2, p);
    cJSON_free(json);

    for (i = 0; res && i < PQntuples(res); i++) {
        cJSON_AddItemToArray(ids, cJSON_CreateString(PQgetvalue(res, i, 0)));
    }
    PQclear(res);

    return ids;
}

/* A channel of the team by its name (it exists already). */
static int
mm_channel_existing(mm_export_t *x, const char *name, char *id, size_t len)
{
    char        path[512];
    mm_resp_t   r;
    const char *found;
    int         rc = -1;

    snprintf(path, sizeof(path), "/api/v4/teams/%s/channels/name/%s",
        x->team_id, name);

    if (mm_call(x->ferry, NULL, "GET", path, NULL, 0, &r) == 0
        && (found = ferry_json_str(r.json, "id")))
    {
        snprintf(id, len, "%s", found);
        rc = 0;
    }
    mm_resp_free(&r);

    return rc;
}

int
mm_channel_join(mm_export_t *x, const char *channel_id, const char *user_id,
    char *err, size_t errlen)
{
    char      path[256];
    cJSON    *body;
    mm_resp_t r;
    int       rc;

    snprintf(path, sizeof(path), "/api/v4/channels/%s/members", channel_id);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "user_id", user_id);
    rc = mm_call(x->ferry, NULL, "POST", path, body, 1, &r);
    if (rc != 0) {
        snprintf(err, errlen, "%s", r.message);
    }
    mm_resp_free(&r);
    cJSON_Delete(body);

    return rc;
}

/* What refused r put right: 0 when the call is worth sending again. */
static int
mm_channel_reopen(mm_export_t *x, const char *channel_id, const char *user_id,
    const mm_resp_t *r, char *err, size_t errlen)
{
    char      path[256];
    mm_resp_t rr;
    int       rc;

    snprintf(err, errlen, "%s", r->message);

    if (strcmp(r->id, "api.post.create_post.can_not_post_to_deleted.error") == 0
        || strcmp(r->id, "api.reaction.save.archived_channel.app_error") == 0
        || strcmp(r->id,
               "api.post.patch_post.can_not_update_post_in_deleted.error")
            == 0)
    {
        snprintf(path, sizeof(path), "/api/v4/channels/%s/restore", channel_id);
        rc = mm_call(x->ferry, NULL, "POST", path, NULL, 1, &rr);
        if (rc != 0) {
            snprintf(err, errlen, "cannot unarchive its channel: %.400s",
                rr.message);
        } else {
            log_debug(x->worker, "channel %s unarchived until the export's end",
                channel_id);
        }
        mm_resp_free(&rr);
        return rc;
    }

    if (r->status == 403) {
        if (mm_channel_join(x, channel_id, user_id, err, errlen) != 0) {
            return -1;
        }
        log_debug(x->worker, "user %s joins channel %s", user_id, channel_id);
        return 0;
    }

    return -1;
}

int
mm_call_in_channel(mm_export_t *x, const char *token, const char *method,
    const char *path, const cJSON *body, int repeatable, const char *channel_id,
    const char *user_id, mm_resp_t *r)
{
    char err[512];
    int  tries, rc;

    for (tries = 0;; tries++) {
        rc = mm_call(x->ferry, token, method, path, body, repeatable, r);
        if (rc == 0 || tries == 2
            || mm_channel_reopen(x, channel_id, user_id, r, err, sizeof(err))
                != 0)
        {
            return rc;
        }
        mm_resp_free(r);
    }
}

int
mm_export_channel(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *kind = ferry_json_str(raw, "channel_kind");
    const char *slack_id = ferry_json_str(raw, "id"), *path, *why;
    char        name[65], id[64], cut[4200], p2[512];
    cJSON      *members, *body, *m;
    mm_resp_t   r;
    int         n, rc, group, failed = 0;

    kind = kind ? kind : "public";
    members = mm_member_ids(x, raw);
    n = cJSON_GetArraySize(members);
    group = strcmp(kind, "mpim") == 0;

    if (strcmp(kind, "dm") == 0 || (group && n <= 8)) {
        if ((!group && n != 2) || (group && n < 3)) {
            cJSON_Delete(members);
            why = group ? "a group DM needs 3 to 8 exported members"
                        : "a DM needs its 2 members exported";
            return mm_export_status(x, entity_id, "skipped", NULL, why);
        }

        if (x->dry_run) {
            cJSON_Delete(members);
            return 0;
        }

        path = group ? "/api/v4/channels/group" : "/api/v4/channels/direct";
        rc = mm_call(x->ferry, NULL, "POST", path, members, 1, &r);
        cJSON_Delete(members);

        if (rc == 0 && ferry_json_str(r.json, "id")) {
            snprintf(id, sizeof(id), "%s", ferry_json_str(r.json, "id"));
            mm_resp_free(&r);
            return mm_export_status(x, entity_id, "success", id, NULL);
        }

        rc = mm_export_status(x, entity_id, "failed", NULL, r.message);
        mm_resp_free(&r);
        return rc;
    }

    /* a public or private channel (an mpim of more than 8: private) */
    mm_channel_name(group ? NULL : ferry_json_str(raw, "name"),
        slack_id ? slack_id : "x", name);

    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "team_id", x->team_id);
    cJSON_AddStringToObject(body, "name", name);
    cJSON_AddStringToObject(body, "display_name",
        ferry_utf8_cut(
            ferry_json_str(raw, "name") ? ferry_json_str(raw, "name") : name,
            64, cut, sizeof(cut)));
    cJSON_AddStringToObject(
        body, "type", strcmp(kind, "public") == 0 ? "O" : "P");
    m = cJSON_GetObjectItemCaseSensitive(raw, "purpose");
    if (ferry_json_str(m, "value")) {
        cJSON_AddStringToObject(body, "purpose",
            ferry_utf8_cut(ferry_json_str(m, "value"), 250, cut, sizeof(cut)));
    }
    m = cJSON_GetObjectItemCaseSensitive(raw, "topic");
    if (ferry_json_str(m, "value")) {
        cJSON_AddStringToObject(body, "header",
            ferry_utf8_cut(ferry_json_str(m, "value"), 1024, cut, sizeof(cut)));
    }

    if (x->dry_run) {
        cJSON_Delete(body);
        cJSON_Delete(members);
        return 0;
    }

    rc = mm_call(x->ferry, NULL, "POST", "/api/v4/channels", body, 1, &r);
    cJSON_Delete(body);

    if (rc == 0 && ferry_json_str(r.json, "id")) {
        snprintf(id, sizeof(id), "%s", ferry_json_str(r.json, "id"));

    } else if (strcmp(r.id, "store.sql_channel.save_channel.exists.app_error")
            == 0
        && mm_channel_existing(x, name, id, sizeof(id)) == 0)
    {
        log_debug(x->worker, "channel %s exists in Mattermost as %s", name, id);

    } else {
        rc = mm_export_status(x, entity_id, "failed", NULL, r.message);
        mm_resp_free(&r);
        cJSON_Delete(members);
        return rc;
    }
    mm_resp_free(&r);

    /* its members */
    cJSON_ArrayForEach(m, members)
    {
        if (mm_channel_join(x, id, m->valuestring, p2, sizeof(p2)) != 0) {
            failed++;
            log_warn(x->worker, "channel %s: member %s: %s", name,
                m->valuestring, p2);
        }
    }
    cJSON_Delete(members);

    return failed ? mm_export_status(
               x, entity_id, "failed", id, "some members could not be added")
                  : mm_export_status(x, entity_id, "success", id, NULL);
}
