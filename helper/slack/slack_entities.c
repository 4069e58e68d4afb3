/*
 * Keys follow the original service (user id, channel id, file id, emoji
 * name) except where its keys collided: a message is "<channel>:<ts>" (a ts
 * alone repeats across channels) and a reaction "<channel>:<ts>:<emoji>:
 * <user>". A row changed by a new upload goes back to pending; an
 * unchanged row is left as it is.
 */
#include "slack_entities.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/db_copy.h"
#include "ferry_json.h"
#include "ferry_map.h"

const char *const slack_type_names[SLACK_NTYPES] = { "user", "custom_emoji",
    "attachment", "channel", "message", "reaction" };

void
slack_rows_free(slack_rows_t *r)
{
    ferry_map_free(&r->files, NULL);
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* 1 when id was seen before, 0 when it is new (and now seen), -1. */
static int
slack_rows_seen(slack_rows_t *r, const char *id)
{
    if (ferry_map_get(&r->files, id)) {
        return 1;
    }

    /* a set: the value only says "seen" */
    return ferry_map_put(&r->files, id, r) ? 0 : -1;
}

int
slack_rows_file_seen(slack_rows_t *r, const char *id)
{
    return slack_rows_seen(r, id) < 0 ? -1 : 0;
}

/* One staged row: type, key, raw_data (JSON text), placeholder. */
static int
slack_rows_add(slack_rows_t *r, slack_type_t type, const char *key, cJSON *raw,
    int placeholder)
{
    const char *t = slack_type_names[type];
    char       *json;
    int         rc;

    json = cJSON_PrintUnformatted(raw);
    if (json == NULL) {
        return -1;
    }

    rc = db_copy_value(&r->buf, &r->len, &r->cap, t, strlen(t), 0) != 0
            || db_copy_grow(&r->buf, &r->cap, r->len + 1) != 0
        ? -1
        : 0;

    if (rc == 0) {
        r->buf[r->len++] = '\t';
        rc = db_copy_value(&r->buf, &r->len, &r->cap, key, strlen(key), 0);
    }

    if (rc == 0 && db_copy_grow(&r->buf, &r->cap, r->len + 1) == 0) {
        r->buf[r->len++] = '\t';
        rc = db_copy_value(&r->buf, &r->len, &r->cap, json, strlen(json), 0);
    } else {
        rc = -1;
    }

    if (rc == 0 && db_copy_grow(&r->buf, &r->cap, r->len + 3) == 0) {
        r->buf[r->len++] = '\t';
        r->buf[r->len++] = placeholder ? 't' : 'f';
        r->buf[r->len++] = '\n';
        r->rows++;
        if (!placeholder) {
            r->counts[type]++;
        }
    } else {
        rc = -1;
    }

    cJSON_free(json);

    return rc;
}


int
slack_rows_user(slack_rows_t *r, cJSON *user)
{
    const char *id = ferry_json_str(user, "id"),
               *name = ferry_json_str(user, "name");

    if (id == NULL) {
        return 1;
    }

    /* the original looked users up by a "username" Slack never wrote */
    if (name && !cJSON_HasObjectItem(user, "username")) {
        cJSON_AddStringToObject(user, "username", name);
    }

    return slack_rows_add(r, SLACK_USER, id, user, 0);
}

int
slack_rows_channel(slack_rows_t *r, cJSON *channel, const char *kind)
{
    const char *id = ferry_json_str(channel, "id");
    cJSON      *v;

    if (id == NULL) {
        return 1;
    }

    /* private is what the file and the object say, not an id prefix */
    v = cJSON_GetObjectItemCaseSensitive(channel, "is_private");
    if (!cJSON_IsBool(v)) {
        cJSON_DeleteItemFromObjectCaseSensitive(channel, "is_private");
        cJSON_AddBoolToObject(channel, "is_private",
            strcmp(kind, "public") != 0 && strcmp(kind, "dm") != 0);
    }

    cJSON_DeleteItemFromObjectCaseSensitive(channel, "channel_kind");
    cJSON_AddStringToObject(channel, "channel_kind", kind);

    return slack_rows_add(r, SLACK_CHANNEL, id, channel, 0);
}

int
slack_rows_emoji(slack_rows_t *r, const char *name, const char *url)
{
    cJSON *raw;
    int    rc;

    raw = cJSON_CreateObject();
    cJSON_AddStringToObject(raw, "name", name);
    cJSON_AddStringToObject(raw, "url", url);

    rc = slack_rows_add(r, SLACK_CUSTOM_EMOJI, name, raw, 0);
    cJSON_Delete(raw);

    return rc;
}

/* A user row for a message's author that users.json does not hold: a bot
 * (bot_id) or Slackbot, as the original made them. Only inserted when no
 * row has that id. */
static int
slack_rows_placeholder(slack_rows_t *r, cJSON *msg)
{
    const char *user = ferry_json_str(msg, "user"),
               *bot = ferry_json_str(msg, "bot_id");
    const char *id, *name;
    cJSON      *raw;
    int         rc;

    if (user && strcmp(user, "USLACKBOT") == 0) {
        id = user;
        name = "Slackbot";
    } else if (bot && (user == NULL || user[0] == 'B')) {
        id = bot;
        name = ferry_json_str(msg, "username");
    } else {
        return 0;
    }

    raw = cJSON_CreateObject();
    cJSON_AddStringToObject(raw, "id", id);
    cJSON_AddBoolToObject(raw, "is_bot", 1);
    cJSON_AddStringToObject(raw, "name", name ? name : id);
    cJSON_AddStringToObject(raw, "username", name ? name : id);
    cJSON_AddStringToObject(raw, "first_name", name ? name : id);

    rc = slack_rows_add(r, SLACK_USER, id, raw, 1);
    cJSON_Delete(raw);

    return rc;
}

static int
slack_rows_reactions_at(
    slack_rows_t *r, cJSON *msg, const char *channel_id, const char *ts)
{
    const cJSON *reaction, *user;
    const char  *name;
    cJSON       *raw;
    char        *key;
    int          rc = 0;

    cJSON_ArrayForEach(
        reaction, cJSON_GetObjectItemCaseSensitive(msg, "reactions"))
    {
        name = ferry_json_str(reaction, "name");
        if (name == NULL) {
            continue;
        }

        cJSON_ArrayForEach(
            user, cJSON_GetObjectItemCaseSensitive(reaction, "users"))
        {
            if (!cJSON_IsString(user)
                || asprintf(&key, "%s:%s:%s:%s", channel_id, ts, name,
                       user->valuestring)
                    < 0)
            {
                continue;
            }

            raw = cJSON_CreateObject();
            cJSON_AddStringToObject(raw, "name", name);
            cJSON_AddStringToObject(raw, "user", user->valuestring);
            cJSON_AddStringToObject(raw, "message_ts", ts);
            cJSON_AddStringToObject(raw, "channel_id", channel_id);

            rc = slack_rows_add(r, SLACK_REACTION, key, raw, 0);
            cJSON_Delete(raw);
            free(key);

            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}

int
slack_rows_reactions(slack_rows_t *r, cJSON *msg, const char *channel_id)
{
    const char *ts = ferry_json_str(msg, "ts");

    return ts ? slack_rows_reactions_at(r, msg, channel_id, ts) : 1;
}

int
slack_rows_file_stub(slack_rows_t *r, cJSON *file)
{
    const char *id = ferry_json_str(file, "id");

    return id ? slack_rows_add(r, SLACK_ATTACHMENT, id, file, 1) : 1;
}

static int
slack_rows_files(slack_rows_t *r, cJSON *msg, const char *channel_id,
    const char *message_key, slack_file_member_pt file_member, void *data)
{
    cJSON      *file, *raw;
    const char *id, *member;
    int         rc, seen;

    cJSON_ArrayForEach(file, cJSON_GetObjectItemCaseSensitive(msg, "files"))
    {
        id = ferry_json_str(file, "id");
        if (id == NULL) {
            continue;
        }

        raw = cJSON_Duplicate(file, 1);
        if (raw == NULL) {
            return -1;
        }
        cJSON_AddStringToObject(raw, "message", message_key);
        cJSON_AddStringToObject(raw, "channel_id", channel_id);

        member = file_member ? file_member(data, id) : NULL;
        if (member) {
            cJSON_AddStringToObject(raw, "zip_member", member);
        }

        seen = slack_rows_seen(r, id);
        rc = seen < 0 ? -1 : slack_rows_add(r, SLACK_ATTACHMENT, id, raw, 0);

        /* one attachment, however often the file was shared */
        if (rc == 0 && seen) {
            r->counts[SLACK_ATTACHMENT]--;
        }
        cJSON_Delete(raw);

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}

int
slack_rows_message(slack_rows_t *r, cJSON *msg, const char *channel_id,
    slack_file_member_pt file_member, void *data)
{
    const char *ts = ferry_json_str(msg, "ts");
    char       *key;
    int         rc;

    if (!cJSON_IsObject(msg) || ts == NULL) {
        return 1;
    }

    if (asprintf(&key, "%s:%s", channel_id, ts) < 0) {
        return -1;
    }

    /* the files and reactions are rows of their own, kept in the message
     * too: the export renders it from raw_data */
    cJSON_DeleteItemFromObjectCaseSensitive(msg, "channel_id");
    cJSON_AddStringToObject(msg, "channel_id", channel_id);

    rc = slack_rows_add(r, SLACK_MESSAGE, key, msg, 0);

    if (rc == 0) {
        rc = slack_rows_reactions_at(r, msg, channel_id, ts);
    }

    if (rc == 0) {
        rc = slack_rows_files(r, msg, channel_id, key, file_member, data);
    }

    if (rc == 0) {
        rc = slack_rows_placeholder(r, msg);
    }

    free(key);

    return rc;
}

/* A new or changed object goes (back) to pending; an unchanged one is not
 * touched, so an upload of the same export again writes almost nothing. */
/* clang-format off */
#define SLACK_ROWS_SCRIPT(job)                                                 \
    "CREATE TEMP TABLE IF NOT EXISTS slack_stage (ord bigserial, "             \
    "entity_type text, slack_id text, raw_data text, placeholder bool) "       \
    "ON COMMIT DELETE ROWS;"                                                   \
    "COPY slack_stage (entity_type, slack_id, raw_data, placeholder) "         \
    "FROM STDIN;"                                                              \
    "INSERT INTO entities (entity_type, slack_id, raw_data, job_id) "          \
    "SELECT DISTINCT ON (entity_type, slack_id) entity_type, slack_id, "       \
    "raw_data::jsonb, " job "::uuid FROM slack_stage WHERE NOT placeholder "   \
    "ORDER BY entity_type, slack_id, ord DESC "                                \
    "ON CONFLICT (entity_type, slack_id) DO UPDATE SET "                       \
    "raw_data = EXCLUDED.raw_data, job_id = EXCLUDED.job_id, "                 \
    "status = 'pending', error_message = NULL, updated_at = now() "            \
    "WHERE entities.raw_data IS DISTINCT FROM EXCLUDED.raw_data;"              \
    "INSERT INTO entities (entity_type, slack_id, raw_data, job_id) "          \
    "SELECT DISTINCT ON (entity_type, slack_id) entity_type, slack_id, "       \
    "raw_data::jsonb, " job "::uuid FROM slack_stage s WHERE placeholder "     \
    "AND NOT EXISTS (SELECT 1 FROM slack_stage r WHERE NOT r.placeholder "     \
    "AND r.entity_type = s.entity_type AND r.slack_id = s.slack_id) "          \
    "ORDER BY entity_type, slack_id ON CONFLICT DO NOTHING;"
/* clang-format on */

char *
slack_rows_script(
    PGconn *conn, const char *job_id, const char *before, const char *after)
{
    char *job, *sql;

    job = PQescapeLiteral(conn, job_id, strlen(job_id));
    if (job == NULL) {
        return NULL;
    }

    if (asprintf(
            &sql, "%s" SLACK_ROWS_SCRIPT("%s") "%s", before, job, job, after)
        < 0)
    {
        sql = NULL;
    }

    PQfreemem(job);

    return sql;
}

void
slack_rows_clear(slack_rows_t *r)
{
    r->len = 0;
    r->rows = 0;
    memset(r->counts, 0, sizeof(r->counts));
}

int
slack_rows_flush(PGconn *conn, slack_rows_t *r, const char *job_id)
{
    db_copy_data_t data = { r->buf, r->len };
    char           state[6], *sql;
    int            rc;

    if (r->rows == 0) {
        return 0;
    }

    sql = slack_rows_script(conn, job_id, "", "");
    if (sql == NULL) {
        return -1;
    }

    rc = db_copy_script(conn, sql, &data, 1, NULL, state);
    free(sql);

    if (rc == 0) {
        slack_rows_clear(r);
    }

    return rc;
}
