/*
 * Fixes of the original: an author who was not exported fails the message
 * (the original posted it as the admin); a reply whose root failed fails
 * too, so that a re-run puts it in its thread (the original posted it at
 * top level and called it done). A post is marked before it is sent: a
 * crash between Mattermost's answer and the row's update leaves the mark,
 * and the resumed export looks for the post (by its ferry_slack_id prop)
 * before it posts again. The mark is a batch's: its messages' ids in the
 * channel's row of export_posting, written with the batch's read; their
 * outcomes are recorded together with the next batch's read and mark, or
 * at the channel's end when its row goes (mm_message_batch_end). A row
 * left by a run that stopped becomes a mark on each of its messages still
 * to export when the channel starts again (mm_message_batch_start), since
 * the new run's batches need not fall where the old one's did. A message
 * that got no answer keeps a mark of its own in its row ("posting: ...").
 * The plugin mode sends the same posts through the
 * plugin's /import, which keeps their author and Slack's time.
 */
#include "mm_export_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "ferry_utf8.h"
#include "mm_client.h"
#include "mm_export_channel.h"
#include "mm_export_user.h"
#include "mm_markup.h"
#include "mm_plugin.h"
#include "mm_user_token.h"

#define MM_POSTING "posting"

/* clang-format off */
/* Of message e: its channel (CHANNEL), author, the thread's root ('' when
 * not exported, NULL when none), the exported files, its mark (MARK), its
 * key, its post if it was exported before, and its root's row. EXPORTED:
 * MM_EXPORTED in a dry run; outside one the plain column, which is what
 * MM_EXPORTED gives there (a statement without the dry run's subqueries
 * starts sooner). */
#define MM_MESSAGE_COLUMNS(CHANNEL, EXPORTED, MARK)                            \
    CHANNEL ", "                                                               \
    "(SELECT " EXPORTED("u") " FROM entity_relations r "                       \
    "JOIN entities u ON u.id = r.from_entity_id WHERE r.to_entity_id = e.id "  \
    "AND r.relation_type = 'posted_by' LIMIT 1), "                             \
    "(SELECT coalesce(" EXPORTED("t") ", '') FROM entity_relations r "         \
    "JOIN entities t ON t.id = r.to_entity_id WHERE r.from_entity_id = e.id "  \
    "AND r.relation_type = 'thread_reply' LIMIT 1), "                          \
    "(SELECT coalesce(json_agg(a.mattermost_id ORDER BY a.id), '[]') "         \
    "FROM entity_relations r JOIN entities a ON a.id = r.from_entity_id "      \
    "WHERE r.to_entity_id = e.id AND r.relation_type = 'attached_to' "         \
    "AND a.status = 'success' AND a.mattermost_id IS NOT NULL), "              \
    MARK ", e.slack_id, e.mattermost_id, "                                     \
    "(SELECT r.to_entity_id FROM entity_relations r "                          \
    "WHERE r.from_entity_id = e.id AND r.relation_type = 'thread_reply' "      \
    "LIMIT 1) "

#define MM_POSTED(e) e ".mattermost_id"

/* The channel message e was posted in */
#define MM_MESSAGE_CHANNEL(EXPORTED)                                           \
    "(SELECT " EXPORTED("c") " FROM entity_relations r "                       \
    "JOIN entities c ON c.id = r.to_entity_id WHERE r.from_entity_id = e.id "  \
    "AND r.relation_type = 'posted_in' LIMIT 1)"

/* Outside a dry run a batch's messages are read at once, id and raw_data
 * first: their channels, authors and files were exported in the phases
 * before and do not change in this one; a root posted from the batch
 * itself is taken from x->made. Their channel is $2, read once for the
 * batch. The same statement marks them all, in channel $2's row of
 * export_posting. A dry run reads each message as it
 * comes to it, since what it would have exported so far (export_findings)
 * changes with every message. */
static const char mm_message_batch_sql[] =
    "WITH mark AS (INSERT INTO export_posting (channel_id, message_ids) "
    "VALUES ($2::bigint, $1::bigint[]) ON CONFLICT (channel_id) DO UPDATE "
    "SET message_ids = excluded.message_ids, updated_at = now()) "
    "SELECT e.id, e.raw_data, "
    MM_MESSAGE_COLUMNS("(SELECT c.mattermost_id FROM entities c "
                       "WHERE c.id = $2::bigint)", MM_POSTED, "e.error_message")
    "FROM entities e WHERE e.id = ANY($1::bigint[]) "
    "AND e.status IN ('pending', 'failed') "
    "ORDER BY array_position($1::bigint[], e.id)";
static const char mm_message_dry_batch_sql[] =
    "SELECT id, raw_data FROM entities WHERE id = ANY($1::bigint[]) "
    "AND status IN ('pending', 'failed') "
    "ORDER BY array_position($1::bigint[], id)";
static const char mm_message_sql[] =
    "SELECT " MM_MESSAGE_COLUMNS(MM_MESSAGE_CHANNEL(MM_EXPORTED), MM_EXPORTED,
                                 "e.error_message")
    "FROM entities e WHERE e.id = $1::bigint "
    "AND e.status IN ('pending', 'failed')";
/* clang-format on */

/* The columns of MM_MESSAGE_COLUMNS */
enum {
    MM_MSG_CHANNEL,
    MM_MSG_AUTHOR,
    MM_MSG_ROOT,
    MM_MSG_FILES,
    MM_MSG_MARK,
    MM_MSG_KEY,
    MM_MSG_POST,
    MM_MSG_ROOT_ROW
};

/* A message's row: MM_MESSAGE_COLUMNS from base on in row of res. */
typedef struct {
    const PGresult *res;
    int             row;
    int             base;
} mm_message_row_t;

static const char *
mm_msg(const mm_message_row_t *m, int col)
{
    return PQgetvalue(m->res, m->row, m->base + col);
}

static int
mm_msg_null(const mm_message_row_t *m, int col)
{
    return PQgetisnull(m->res, m->row, m->base + col);
}

PGresult *
mm_message_batch(mm_export_t *x, const char *channel, const char *ids)
{
    const char *p[2] = { ids, channel };

    /* the outcomes held back ride along: a root they made is then read */
    return x->dry_run
        ? db_query_prepared(
            x->conn, "mm_message_dry_batch", mm_message_dry_batch_sql, 1, p)
        : mm_export_query(x, "mm_message_batch", mm_message_batch_sql, 2, p);
}

/* A statement on the channels' marks, none in a dry run. 0, or -1. */
static int
mm_message_marks(mm_export_t *x, const char *name, const char *sql, int n,
    const char *const *params)
{
    if (x->dry_run) {
        return 0;
    }

    return db_run_prepared(x->conn, name, sql, n, params) >= 0 ? 0 : -1;
}

int
mm_message_marks_tidy(mm_export_t *x)
{
    return mm_message_marks(x, "mm_message_marks_tidy",
        "DELETE FROM export_posting p WHERE NOT EXISTS (SELECT 1 "
        "FROM entities e WHERE e.id = ANY(p.message_ids) "
        "AND e.status IN ('pending', 'failed'))",
        0, NULL);
}

int
mm_message_batch_start(mm_export_t *x, const char *channel)
{
    const char *p[1] = { channel };

    return mm_message_marks(x, "mm_message_batch_start",
        "WITH gone AS (DELETE FROM export_posting "
        "WHERE channel_id = $1::bigint RETURNING message_ids) "
        "UPDATE entities SET error_message = '" MM_POSTING "' "
        "WHERE id IN (SELECT unnest(message_ids) FROM gone) "
        "AND status IN ('pending', 'failed') "
        "AND mattermost_id IS NULL",
        1, p);
}

int
mm_message_batch_end(mm_export_t *x, const char *channel)
{
    const char *p[1] = { channel };
    PGresult   *res;

    if (x->dry_run) {
        return mm_export_flush(x);
    }

    /* the last outcomes, and the mark they no longer need */
    res = mm_export_query(x, "mm_message_batch_end",
        "DELETE FROM export_posting WHERE channel_id = $1::bigint", 1, p);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);

    return 0;
}

/* The post of a message of the batch, for a reply to it further on. */
static void
mm_message_made(mm_export_t *x, const char *entity_id, const char *post)
{
    if (x->batch && x->made < MM_MESSAGE_BATCH) {
        snprintf(x->made_id[x->made], sizeof(x->made_id[0]), "%s", entity_id);
        snprintf(x->made_post[x->made++], sizeof(x->made_post[0]), "%s", post);
    }
}

/* The thread's root of message m into root: as read, or when it was read
 * not exported, the post made for it from this batch since. */
static void
mm_message_root(mm_export_t *x, const mm_message_row_t *m, char *root)
{
    int i;

    snprintf(root, 64, "%s", mm_msg(m, MM_MSG_ROOT));
    if (root[0] != '\0' || mm_msg_null(m, MM_MSG_ROOT_ROW)) {
        return;
    }
    for (i = 0; i < x->made; i++) {
        if (strcmp(x->made_id[i], mm_msg(m, MM_MSG_ROOT_ROW)) == 0) {
            snprintf(root, 64, "%s", x->made_post[i]);
            return;
        }
    }
}

/* mentions: the names the exporters gave users and channels */
typedef struct {
    mm_export_t *x;
    char         name[65];
} mm_names_t;

static const char *
mm_message_name(void *ctx, char kind, const char *slack_id)
{
    mm_names_t *n = ctx;
    const char *p[2] = { kind == '@' ? "user" : "channel", slack_id };
    PGresult   *res;
    const char *name = NULL;

    res = db_query_prepared(n->x->conn, "mm_message_name",
        "SELECT raw_data->>'name', raw_data->>'channel_kind' FROM entities "
        "WHERE entity_type = $1 AND slack_id = $2",
        2, p);
    if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        if (kind == '@') {
            mm_username(PQgetvalue(res, 0, 0), slack_id, n->name);
            name = n->name;
        } else if (PQgetisnull(res, 0, 1)
            || strcmp(PQgetvalue(res, 0, 1), "public") == 0
            || strcmp(PQgetvalue(res, 0, 1), "private") == 0)
        {
            mm_channel_name(PQgetvalue(res, 0, 0), slack_id, n->name);
            name = n->name;
        }
    }
    PQclear(res);

    return name;
}

/* A post already made for this message by a run that stopped before it
 * could say so: its id into id. The channel's posts come newest first
 * (by create_at), 200 a page: the post sought is among the newest in the
 * api mode (made now) and, in the plugin mode (made at Slack's time, the
 * latest of its channel so far), before the first post older than it —
 * after any system messages ("joined the channel") made now. At most
 * MM_FIND_PAGES pages. 0 found, 1 not found, -1 no answer. */
#define MM_FIND_PAGES 20

static int
mm_message_find(mm_export_t *x, const char *channel, const char *slack_id,
    long create_at, char *id)
{
    char         path[256];
    mm_resp_t    r;
    const cJSON *post, *props;
    const char  *key;
    double       oldest;
    int          page, n, rc = 1;

    for (page = 0; page < MM_FIND_PAGES && rc == 1; page++) {
        snprintf(path, sizeof(path),
            "/api/v4/channels/%s/posts?page=%d&per_page=200", channel, page);
        if (mm_call(x->ferry, NULL, "GET", path, NULL, 0, &r) != 0) {
            mm_resp_free(&r);
            return -1;
        }

        n = 0;
        oldest = -1;
        cJSON_ArrayForEach(
            post, cJSON_GetObjectItemCaseSensitive(r.json, "posts"))
        {
            const cJSON *at =
                cJSON_GetObjectItemCaseSensitive(post, "create_at");

            n++;
            if (cJSON_IsNumber(at) && (oldest < 0 || at->valuedouble < oldest))
            {
                oldest = at->valuedouble;
            }
            props = cJSON_GetObjectItemCaseSensitive(post, "props");
            key = ferry_json_str(props, "ferry_slack_id");
            if (key && strcmp(key, slack_id) == 0 && ferry_json_str(post, "id"))
            {
                snprintf(id, 64, "%s", ferry_json_str(post, "id"));
                rc = 0;
            }
        }
        mm_resp_free(&r);

        /* the last page, or past where the post would be */
        if (n < 200 || (create_at > 0 && oldest >= 0 && oldest < create_at)) {
            break;
        }
    }

    return rc;
}

/* One post, made at create_at (ms) where the mode keeps it: through the
 * plugin's /import as its author, or by the author's own token, when the
 * author is not in the channel (left it in Slack) or the channel is
 * archived put right first. Its id into id; 0, or with the reason in err
 * -1 (refused) or -2 (no answer: it may have been made). */
static int
mm_message_post(mm_export_t *x, const char *token, const char *author,
    long create_at, cJSON *post, char *id, char *err, size_t errlen)
{
    mm_resp_t r;
    int       rc;

    if (x->mode == MM_MODE_PLUGIN) {
        cJSON_AddStringToObject(post, "user_id", author);
        cJSON_AddNumberToObject(post, "create_at", (double) create_at);
        return mm_plugin_post(
            x, MM_PLUGIN_API "/import", post, 0, "post_id", id, err, errlen);
    }

    rc = mm_call_in_channel(x, token, "POST", "/api/v4/posts", post, 0,
        ferry_json_str(post, "channel_id"), author, &r);
    if (rc == 0 && ferry_json_str(r.json, "id")) {
        snprintf(id, 64, "%s", ferry_json_str(r.json, "id"));
        mm_resp_free(&r);
        return 0;
    }

    snprintf(err, errlen, "%s", r.message);
    rc = r.status == 0 || r.status >= 500 ? -2 : -1;
    mm_resp_free(&r);

    return rc;
}

/* A post of the message: text from at, up to MM_POST_MAX_RUNES characters
 * (*at moves past them), files [*f, *f + 5) of files; key only on the
 * first. */
static cJSON *
mm_message_part(const char *channel, const char *root, const char *key,
    const char **at, const cJSON *files, int *f)
{
    cJSON *post, *ids, *props;
    size_t n;
    char  *text;
    int    i;

    n = ferry_utf8_prefix(*at, MM_POST_MAX_RUNES, (size_t) -1);
    text = strndup(*at, n);
    *at += n;

    post = cJSON_CreateObject();
    cJSON_AddStringToObject(post, "channel_id", channel);
    if (root[0]) {
        cJSON_AddStringToObject(post, "root_id", root);
    }
    ids = cJSON_AddArrayToObject(post, "file_ids");
    for (i = 0; i < MM_POST_MAX_FILES && *f < cJSON_GetArraySize(files);
         i++, (*f)++)
    {
        cJSON_AddItemToArray(
            ids, cJSON_Duplicate(cJSON_GetArrayItem(files, *f), 0));
    }
    /* what Mattermost refuses empty: the original's placeholders */
    cJSON_AddStringToObject(post, "message",
        text && text[0] ? text
            : i         ? " "
                        : "-");
    /* the message's own post is the one found again after a crash */
    if (key) {
        props = cJSON_AddObjectToObject(post, "props");
        cJSON_AddStringToObject(props, "ferry_slack_id", key);
    }
    free(text);

    return post;
}

/* clang-format off */
/* the edited message's post, its outcome and its author */
static const char mm_edited_sql[] =
    "SELECT e.mattermost_id, e.status, (SELECT u.mattermost_id "
    "FROM entity_relations r JOIN entities u ON u.id = r.from_entity_id "
    "WHERE r.to_entity_id = e.id AND r.relation_type = 'posted_by' LIMIT 1), "
    "(SELECT c.mattermost_id FROM entity_relations r "
    "JOIN entities c ON c.id = r.to_entity_id WHERE r.from_entity_id = e.id "
    "AND r.relation_type = 'posted_in' LIMIT 1) "
    "FROM entities e WHERE e.entity_type = 'message' AND e.slack_id = $1";
/* clang-format on */

/* The post's text made msg's (Slack's edit, or a message changed since it
 * was exported), by its author; the outcome recorded on entity_id. */
static int
mm_message_patch(mm_export_t *x, const char *entity_id, const char *post,
    const char *channel, const char *author, const cJSON *msg)
{
    char       path[128], token[MM_TOKEN_LEN], err[600], *text;
    mm_names_t names;
    mm_resp_t  r;
    cJSON     *patch;
    int        rc;

    if (x->dry_run) {
        return 0;
    }

    if (mm_user_token(x, author, token, err, sizeof(err)) != 0) {
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    names.x = x;
    text = mm_markup_message(msg, mm_message_name, &names);
    if (text == NULL) {
        return -1;
    }
    patch = cJSON_CreateObject();
    cJSON_AddStringToObject(patch, "message", text[0] ? text : "-");
    free(text);

    /* the same patch twice is no harm */
    snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", post);
    rc = mm_call_in_channel(
        x, token, "PUT", path, patch, 1, channel, author, &r);
    snprintf(err, sizeof(err), "%s", r.message);
    mm_resp_free(&r);
    cJSON_Delete(patch);

    return rc == 0 ? mm_export_status(x, entity_id, "success", post, NULL)
                   : mm_export_status(x, entity_id, "failed", NULL, err);
}

/* Slack's message_changed: the post of the message it edits gets the new
 * text (a later ts: that post is in already). */
static int
mm_message_edit(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const cJSON *edited = cJSON_GetObjectItemCaseSensitive(raw, "message");
    const char  *p[1], *ts = ferry_json_str(edited, "ts");
    char         key[256], post[64], author[64], channel[64];
    PGresult    *res;

    snprintf(key, sizeof(key), "%s:%s", ferry_json_str(raw, "channel_id"),
        ts ? ts : "");
    p[0] = key;
    res = mm_export_query(x, "mm_message_edited", mm_edited_sql, 1, p);
    if (res == NULL) {
        return -1;
    }
    if (ts == NULL || PQntuples(res) == 0) {
        PQclear(res);
        return mm_export_status(x, entity_id, "skipped", NULL,
            "edits a message that is not in the Slack export");
    }
    if (strcmp(PQgetvalue(res, 0, 1), "success") != 0 || PQgetisnull(res, 0, 2)
        || PQgetisnull(res, 0, 3))
    {
        PQclear(res);
        return mm_export_status(x, entity_id, "failed", NULL,
            "the message it edits was not exported");
    }
    snprintf(post, sizeof(post), "%s", PQgetvalue(res, 0, 0));
    snprintf(author, sizeof(author), "%s", PQgetvalue(res, 0, 2));
    snprintf(channel, sizeof(channel), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);

    return mm_message_patch(x, entity_id, post, channel, author, edited);
}

int
mm_export_message(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *p[2] = { entity_id, MM_DRY_JOB(x) }, *at, *why = NULL;
    char        channel[64], author[64], root[64], first[64], id[64],
        token[MM_TOKEN_LEN], key[256], err[600];
    char            *text = NULL;
    cJSON           *files = NULL, *post;
    PGresult        *res = NULL;
    mm_message_row_t m;
    mm_names_t       names;
    long             create_at;
    int              f = 0, rc = 0, marked;

    /* Slack's notes of a change, not messages of their own */
    at = ferry_json_str(raw, "subtype");
    if (at && strcmp(at, "message_changed") == 0) {
        return mm_message_edit(x, entity_id, raw);
    }
    if (at && strcmp(at, "message_deleted") == 0) {
        return mm_export_status(x, entity_id, "skipped", NULL,
            "Slack's note of a deleted message: nothing to post");
    }

    if (x->batch) {
        m.res = x->batch;
        m.row = x->batch_row;
        m.base = 2;
    } else {
        res = mm_export_query(x, "mm_message", mm_message_sql, 2, p);
        if (res == NULL) {
            return -1;
        }
        if (PQntuples(res) != 1) {
            PQclear(res);
            return 0;
        }
        m.res = res;
        m.row = 0;
        m.base = 0;
    }

    marked =
        strncmp(mm_msg(&m, MM_MSG_MARK), MM_POSTING, sizeof(MM_POSTING) - 1)
        == 0;
    mm_message_root(x, &m, root);
    why = mm_msg_null(&m, MM_MSG_CHANNEL) ? "its channel was not exported"
        : mm_msg_null(&m, MM_MSG_AUTHOR)  ? "its author was not exported"
        : !mm_msg_null(&m, MM_MSG_ROOT) && root[0] == '\0'
        ? "its thread's root was not exported"
        : NULL;
    if (why) {
        PQclear(res);
        /* a marked message keeps its mark: its post may be in */
        snprintf(err, sizeof(err), "%s%s", marked ? MM_POSTING ": " : "", why);
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    snprintf(channel, sizeof(channel), "%s", mm_msg(&m, MM_MSG_CHANNEL));
    snprintf(author, sizeof(author), "%s", mm_msg(&m, MM_MSG_AUTHOR));
    snprintf(key, sizeof(key), "%s", mm_msg(&m, MM_MSG_KEY));

    /* exported before and changed in Slack since: its post is updated */
    if (!mm_msg_null(&m, MM_MSG_POST)) {
        snprintf(id, sizeof(id), "%s", mm_msg(&m, MM_MSG_POST));
        PQclear(res);
        return mm_message_patch(x, entity_id, id, channel, author, raw);
    }

    files = cJSON_Parse(mm_msg(&m, MM_MSG_FILES));
    PQclear(res);

    if (x->dry_run) {
        cJSON_Delete(files);
        return 0;
    }

    /* sent before and maybe made: the post is kept, not made twice */
    if (marked
        && (rc = mm_message_find(x, channel, key,
                x->mode == MM_MODE_PLUGIN ? mm_ts_ms(ferry_json_str(raw, "ts"))
                                          : 0,
                id))
            <= 0)
    {
        cJSON_Delete(files);
        if (rc < 0) {
            /* still marked: the next run looks again */
            return mm_export_status(x, entity_id, "failed", NULL,
                MM_POSTING ": cannot tell whether an earlier run posted it");
        }
        log_debug(x->worker, "message %s was posted as %s", key, id);
        mm_message_made(x, entity_id, id);
        return mm_export_status(x, entity_id, "success", id, NULL);
    }

    if (mm_user_token(x, author, token, err, sizeof(err)) != 0) {
        cJSON_Delete(files);
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    names.x = x;
    text = mm_markup_message(raw, mm_message_name, &names);
    if (text == NULL) {
        cJSON_Delete(files);
        return -1;
    }

    /* the first part is the message; the rest (text past Mattermost's
     * length, files past 5) follow in its thread */
    at = text;
    first[0] = '\0';
    /* the continuations a millisecond apart, in their order */
    create_at = mm_ts_ms(ferry_json_str(raw, "ts"));
    do {
        post = mm_message_part(channel, first[0] && !root[0] ? first : root,
            first[0] ? NULL : key, &at, files, &f);
        rc = mm_message_post(x, token, author, create_at ? create_at++ : 0,
            post, id, err, sizeof(err));
        cJSON_Delete(post);
        if (rc == 0 && first[0] == '\0') {
            snprintf(first, sizeof(first), "%s", id);
        }
    } while (rc == 0 && (*at || f < cJSON_GetArraySize(files)));

    free(text);
    cJSON_Delete(files);

    if (first[0] == '\0') {
        /* no answer: the mark stays, for the next run to look first */
        if (rc == -2) {
            snprintf(key, sizeof(key), MM_POSTING ": %.*s",
                (int) ferry_utf8_prefix(err, (size_t) -1, 200), err);
        }
        return mm_export_status(
            x, entity_id, "failed", NULL, rc == -2 ? key : err);
    }
    if (rc != 0) {
        log_warn(x->worker, "message %s: a continuation failed: %s", key, err);
    }
    mm_message_made(x, entity_id, first);

    return mm_export_status(x, entity_id, "success", first, NULL);
}
