/*
 * The original dropped what its name rules did not keep, so a Cyrillic
 * name became a random "ch-xxxxxx" (another one on each run); here such a
 * channel is named after its Slack id, stable across runs, and shows its
 * Slack name as display name. Archiving waits for the messages (a later
 * phase): the original archived first and its posts then failed. The
 * plugin mode makes the same channels through the plugin's routes.
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
#include "mm_plugin.h"

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

/* The channel's message authors that are not among its Slack members,
 * added to ids. 0, or -1 on a database error. */
static int
mm_author_ids(
    mm_export_t *x, const char *entity_id, const cJSON *raw, cJSON *ids)
{
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(raw, "members");
    const char  *p[2] = { entity_id, "[]" };
    char        *json = NULL;
    PGresult    *res;
    int          i;

    if (cJSON_IsArray(members)
        && (json = cJSON_PrintUnformatted(members)) != NULL) {
        p[1] = json;
    }

    res = db_query(x->conn,
        "SELECT DISTINCT u.mattermost_id FROM entity_relations pi "
        "JOIN entity_relations pb ON pb.to_entity_id = pi.from_entity_id "
        "AND pb.relation_type = 'posted_by' "
        "JOIN entities u ON u.id = pb.from_entity_id "
        "WHERE pi.to_entity_id = $1::bigint AND pi.relation_type = 'posted_in' "
        "AND u.entity_type = 'user' AND u.mattermost_id IS NOT NULL "
        "AND NOT $2::jsonb ? u.slack_id ORDER BY 1",
        2, p);
    cJSON_free(json);
    if (res == NULL) {
        return -1;
    }

    for (i = 0; i < PQntuples(res); i++) {
        cJSON_AddItemToArray(ids, cJSON_CreateString(PQgetvalue(res, i, 0)));
    }
    PQclear(res);

    return 0;
}

/* A channel of the team by its name (it exists already). */
static int
mm_channel_existing(mm_export_t *x, const char *name, char *id, size_t len)
{
    char        path[512];
    mm_resp_t   r;
    const char *found;
    int         rc = -1;

    snprintf(path, sizeof(path),
        "/api/v4/teams/%s/channels/name/%s?include_deleted=true", x->team_id,
        name);

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

/* The channel's id into id when it was made; 0, or -1 with the reason in
 * err. The plugin's /channel never finds an existing channel (it swaps
 * GetChannelByName's arguments) and fails to create it again, so a
 * failure is followed by the same look-up as Mattermost's "exists". */
static int
mm_channel_create(mm_export_t *x, const cJSON *body, const char *name, char *id,
    char *err, size_t errlen)
{
    mm_resp_t   r;
    const char *found;
    int         rc, exists;

    if (x->mode == MM_MODE_PLUGIN) {
        rc = mm_plugin_post(x, MM_PLUGIN_API "/channel", body, 1, "channel_id",
            id, err, errlen);
        exists = rc != 0;
    } else {
        rc = mm_call(x->ferry, NULL, "POST", "/api/v4/channels", body, 1, &r);
        if (rc == 0 && (found = ferry_json_str(r.json, "id"))) {
            snprintf(id, 64, "%s", found);
        } else {
            rc = -1;
            snprintf(err, errlen, "%s", r.message);
        }
        exists = strcmp(r.id, "store.sql_channel.save_channel.exists.app_error")
            == 0;
        mm_resp_free(&r);
    }

    if (rc != 0 && exists && mm_channel_existing(x, name, id, 64) == 0) {
        log_debug(x->worker, "channel %s exists in Mattermost as %s", name, id);
        rc = 0;
    }

    return rc == 0 ? 0 : -1;
}

/* A DM (2 members) or a group DM (3 to 8); its id into id. 0, or -1 with
 * the reason in err. */
static int
mm_channel_direct(mm_export_t *x, int group, cJSON *members, char *id,
    char *err, size_t errlen)
{
    const char *path;
    cJSON      *body;
    mm_resp_t   r;
    int         rc;

    if (x->mode == MM_MODE_PLUGIN) {
        body = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(body, "user_ids", members);
        rc = mm_plugin_post(x,
            group ? MM_PLUGIN_API "/gdm" : MM_PLUGIN_API "/dm", body, 1,
            "channel_id", id, err, errlen);
        cJSON_Delete(body);
        return rc == 0 ? 0 : -1;
    }

    path = group ? "/api/v4/channels/group" : "/api/v4/channels/direct";
    rc = mm_call(x->ferry, NULL, "POST", path, members, 1, &r);
    if (rc == 0 && ferry_json_str(r.json, "id")) {
        snprintf(id, 64, "%s", ferry_json_str(r.json, "id"));
    } else {
        rc = -1;
        snprintf(err, errlen, "%s", r.message);
    }
    mm_resp_free(&r);

    return rc;
}

/* The channel's members added (the plugin: in one call); how many could
 * not be. */
static int
mm_channel_members(
    mm_export_t *x, const char *id, const char *name, const cJSON *members)
{
    const cJSON *m;
    cJSON       *body;
    mm_resp_t    r;
    char         err[512];
    int          failed = 0;

    if (x->mode != MM_MODE_PLUGIN) {
        cJSON_ArrayForEach(m, members)
        {
            if (mm_channel_join(x, id, m->valuestring, err, sizeof(err)) != 0) {
                failed++;
                log_warn(x->worker, "channel %s: member %s: %s", name,
                    m->valuestring, err);
            }
        }
        return failed;
    }

    if (cJSON_GetArraySize(members) == 0) {
        return 0;
    }

    /* the plugin only logs a member it could not add: it is left out of
     * "added" */
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "channel_id", id);
    cJSON_AddItemReferenceToObject(body, "user_ids", (cJSON *) members);
    if (mm_call(x->ferry, NULL, "POST", MM_PLUGIN_API "/channel/members", body,
            1, &r)
        == 0)
    {
        failed = cJSON_GetArraySize(members)
            - cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(r.json, "added"));
    } else {
        failed = cJSON_GetArraySize(members);
    }
    if (failed) {
        log_warn(x->worker, "channel %s: %d member(s) not added: %s", name,
            failed, r.message[0] ? r.message : "the plugin could not");
    }
    mm_resp_free(&r);
    cJSON_Delete(body);

    return failed;
}

int
mm_export_channel(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *kind = ferry_json_str(raw, "channel_kind");
    const char *slack_id = ferry_json_str(raw, "id"), *why;
    char        name[65], id[64], cut[4200], err[512];
    cJSON      *members, *body, *m;
    int         n, rc, group;

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

        rc = mm_channel_direct(x, group, members, id, err, sizeof(err));
        cJSON_Delete(members);

        return rc == 0 ? mm_export_status(x, entity_id, "success", id, NULL)
                       : mm_export_status(x, entity_id, "failed", NULL, err);
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

    rc = mm_channel_create(x, body, name, id, err, sizeof(err));
    cJSON_Delete(body);
    if (rc != 0) {
        cJSON_Delete(members);
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    /* the plugin posts as anyone, member or not: the authors join with the
     * members, as the api mode has them join when Mattermost refuses */
    if (x->mode == MM_MODE_PLUGIN
        && mm_author_ids(x, entity_id, raw, members) != 0) {
        cJSON_Delete(members);
        return -1;
    }

    rc = mm_channel_members(x, id, name, members);
    cJSON_Delete(members);

    return rc ? mm_export_status(
               x, entity_id, "failed", id, "some members could not be added")
              : mm_export_status(x, entity_id, "success", id, NULL);
}
