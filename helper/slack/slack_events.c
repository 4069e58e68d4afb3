/*
 * An event is applied in one transaction with its event_id, so a retry
 * that races the first delivery waits for it and then finds the id. Rows
 * an event writes carry a fresh id of their own in job_id, which scopes
 * the relations derived for them. Deletions and removals are marked in
 * raw_data ("deleted", "removed") and the row goes back to pending: what
 * to do with them in Mattermost is the export's to decide.
 */
#include "slack_events.h"

#include <stdio.h>
#include <string.h>

#include "core/caller.h"
#include "core/db.h"
#include "core/log.h"
#include "slack_entities.h"
#include "slack_relations.h"

static const char *
slack_ev_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Marks a row: raw_data gets mark: true, the row goes back to pending. */
static int
slack_ev_mark(PGconn *conn, const char *type, const char *key, const char *mark)
{
    const char *params[3] = { type, key, mark };

    return db_run(conn,
        "UPDATE entities SET raw_data = raw_data || "
        "jsonb_build_object($3::text, "
        "true), status = 'pending', updated_at = now() "
        "WHERE entity_type = $1 AND slack_id = $2",
        3, params);
}

static int
slack_ev_reaction(slack_rows_t *rows, PGconn *conn, cJSON *ev, int added)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, "item");
    const char  *channel = slack_ev_str(item, "channel");
    const char  *ts = slack_ev_str(item, "ts");
    const char  *user = slack_ev_str(ev, "user");
    const char  *name = slack_ev_str(ev, "reaction");
    char         key[512];
    cJSON       *msg, *r, *users;
    int          rc;

    if (!channel || !ts || !user || !name) {
        return 1;
    }

    if (!added) {
        snprintf(key, sizeof(key), "%s:%s:%s:%s", channel, ts, name, user);
        return slack_ev_mark(conn, "reaction", key, "removed") < 0 ? -1 : 0;
    }

    /* the same rows a message of an export with this reaction gives */
    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "ts", ts);
    r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", name);
    users = cJSON_AddArrayToObject(r, "users");
    cJSON_AddItemToArray(users, cJSON_CreateString(user));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(msg, "reactions"), r);

    rc = slack_rows_reactions(rows, msg, channel);
    cJSON_Delete(msg);

    return rc;
}

/* What the event changes: 0 applied, 1 an event this does not handle. */
static int
slack_ev_apply(slack_rows_t *rows, PGconn *conn, cJSON *ev)
{
    const char *type = slack_ev_str(ev, "type");
    const char *subtype = slack_ev_str(ev, "subtype");
    const char *channel = slack_ev_str(ev, "channel");
    cJSON      *o, *e;
    char        key[512];
    int         rc = 1;

    if (type == NULL) {
        return 1;
    }

    if (strcmp(type, "message") == 0 && channel) {
        if (subtype && strcmp(subtype, "message_changed") == 0) {
            o = cJSON_GetObjectItemCaseSensitive(ev, "message");
            rc = cJSON_IsObject(o)
                ? slack_rows_message(rows, o, channel, NULL, NULL)
                : 1;
        } else if (subtype && strcmp(subtype, "message_deleted") == 0) {
            snprintf(key, sizeof(key), "%s:%s", channel,
                slack_ev_str(ev, "deleted_ts") ? slack_ev_str(ev, "deleted_ts")
                                               : "");
            rc = slack_ev_mark(conn, "message", key, "deleted") < 0 ? -1 : 0;
        } else {
            rc = slack_rows_message(rows, ev, channel, NULL, NULL);
        }

    } else if (strcmp(type, "reaction_added") == 0
        || strcmp(type, "reaction_removed") == 0)
    {
        rc = slack_ev_reaction(
            rows, conn, ev, strcmp(type, "reaction_added") == 0);

    } else if (strcmp(type, "user_change") == 0
        || strcmp(type, "team_join") == 0) {
        o = cJSON_GetObjectItemCaseSensitive(ev, "user");
        rc = cJSON_IsObject(o) ? slack_rows_user(rows, o) : 1;

    } else if (strcmp(type, "channel_created") == 0) {
        o = cJSON_GetObjectItemCaseSensitive(ev, "channel");
        rc = cJSON_IsObject(o) ? slack_rows_channel(rows, o, "public") : 1;

    } else if (strcmp(type, "channel_rename") == 0) {
        o = cJSON_GetObjectItemCaseSensitive(ev, "channel");
        if (slack_ev_str(o, "id") && slack_ev_str(o, "name")) {
            const char *p[2] = { slack_ev_str(o, "id"),
                slack_ev_str(o, "name") };

            rc = db_run(conn,
                     "UPDATE entities SET raw_data = raw_data || "
                     "jsonb_build_object('name', $2::text), "
                     "status = 'pending', updated_at = now() "
                     "WHERE entity_type = 'channel' AND slack_id = $1 "
                     "AND raw_data->>'name' IS DISTINCT FROM $2",
                     2, p)
                    < 0
                ? -1
                : 0;
        }

    } else if (strcmp(type, "emoji_changed") == 0 && subtype) {
        if (strcmp(subtype, "add") == 0 && slack_ev_str(ev, "name")
            && slack_ev_str(ev, "value"))
        {
            rc = slack_rows_emoji(
                rows, slack_ev_str(ev, "name"), slack_ev_str(ev, "value"));
        } else if (strcmp(subtype, "remove") == 0) {
            rc = 0;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(ev, "names"))
            {
                if (cJSON_IsString(e)
                    && slack_ev_mark(
                           conn, "custom_emoji", e->valuestring, "removed")
                        < 0)
                {
                    rc = -1;
                }
            }
        }

    } else if (strcmp(type, "file_shared") == 0 && slack_ev_str(ev, "file_id"))
    {
        /* only the id: the message that shares it brings the whole file */
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", slack_ev_str(ev, "file_id"));
        if (slack_ev_str(ev, "channel_id")) {
            cJSON_AddStringToObject(
                o, "channel_id", slack_ev_str(ev, "channel_id"));
        }
        rc = slack_rows_file_stub(rows, o);
        cJSON_Delete(o);
    }

    return rc;
}

void
slack_events_receive(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    const char  *event_id, *type, *params[1];
    char         scope[64];
    slack_rows_t rows;
    cJSON       *ev, *json;
    PGconn      *conn;
    PGresult    *res;
    int          rc;

    type = slack_ev_str(req->body, "type");
    event_id = slack_ev_str(req->body, "event_id");
    ev = cJSON_GetObjectItemCaseSensitive(req->body, "event");

    if (type == NULL || strcmp(type, "event_callback") != 0 || !event_id
        || !cJSON_IsObject(ev))
    {
        /* Slack needs no more than a 200 for what is no event of ours */
        log_debug(req->rid, "slack event: not an event callback (%s)",
            type ? type : "no type");
        resp_json(resp, 200, cJSON_CreateObject());
        return;
    }

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return;
    }

    memset(&rows, 0, sizeof(rows));
    params[0] = event_id;

    if (db_exec(conn, "BEGIN") != 0) {
        goto failed;
    }

    res = db_query(conn,
        "INSERT INTO slack_events (event_id) VALUES ($1) "
        "ON CONFLICT DO NOTHING RETURNING gen_random_uuid()",
        1, params);
    if (res == NULL) {
        goto failed;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        (void) db_exec(conn, "ROLLBACK");
        log_debug(req->rid, "slack event %s: a repeat, dropped", event_id);
        json = cJSON_CreateObject();
        cJSON_AddBoolToObject(json, "duplicate", 1);
        resp_json(resp, 200, json);
        db_release(ferry->db, conn);
        return;
    }

    snprintf(scope, sizeof(scope), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    rc = slack_ev_apply(&rows, conn, ev);

    if (rc < 0 || slack_rows_flush(conn, &rows, scope) != 0
        || slack_relations(conn, NULL, scope, SLACK_RELATIONS_FORWARD,
               SLACK_RELATIONS_ALL_IDS, NULL, NULL, NULL, 0)
            != 0
        || db_exec(conn, "COMMIT") != 0)
    {
        goto failed;
    }

    if (rc == 1) {
        log_debug(req->rid, "slack event %s: %s not handled", event_id,
            slack_ev_str(ev, "type") ? slack_ev_str(ev, "type") : "?");
    } else {
        log_info(req->rid, "slack event %s (%s) applied", event_id,
            slack_ev_str(ev, "type"));
    }

    resp_json(resp, 200, cJSON_CreateObject());
    slack_rows_free(&rows);
    db_release(ferry->db, conn);
    return;

failed:

    resp_internal_error(
        resp, req->rid, "slack event %s: %s", event_id, PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");
    slack_rows_free(&rows);
    db_release(ferry->db, conn);
}

void
slack_events_purge(ferryd_t *ferry)
{
    char        ttl[16];
    const char *params[1] = { ttl };
    PGconn     *conn;
    int         n;

    conn = db_acquire(ferry->db);
    if (conn == NULL) {
        return;
    }

    snprintf(ttl, sizeof(ttl), "%d", ferry->cfg.slack_event_ttl);
    n = db_run(conn,
        "DELETE FROM slack_events WHERE received_at < now() - "
        "$1::int * interval '1 second'",
        1, params);

    if (n < 0) {
        log_warn("slack", "purging event ids: %s", PQerrorMessage(conn));
    } else if (n > 0) {
        log_info("slack",
            "purged %d Slack event id(s) older than "
            "SLACK_EVENT_TTL",
            n);
    }

    db_release(ferry->db, conn);
}
