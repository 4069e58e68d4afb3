/*
 * One read-only REPEATABLE READ transaction on a connection of its own
 * gives every pass the same snapshot, and its queries hand the rows over
 * one by one as they are made; the job's own connection stays free for
 * heartbeats and findings. Memory holds the users (Slack id -> username) and
 * the channels, never the messages: these come ordered by channel, thread (the
 * root's ts) and ts, so a root is followed by its replies and the line of a
 * thread is written as its rows arrive. A reply whose root is not in the
 * archive (not in the export, deleted, or left out) becomes a post of its own.
 * Mattermost's import decides what exists already (users by username, channels
 * by name, posts by channel, create_at and message), so the archive always
 * holds everything, whatever the rows' statuses.
 */
#include "mm_bulk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "ferry_map.h"
#include "ferry_utf8.h"
#include "mm_bulk_files.h"
#include "mm_emoji.h"
#include "mm_export_channel.h"
#include "mm_export_user.h"
#include "mm_markup.h"

/* Mattermost's limits: PostMessageMaxRunesV2, and file_ids (300 runes of
 * JSON) that hold five ids */
#define MM_BULK_MAX_RUNES 16383
#define MM_BULK_MAX_FILES 5
#define MM_BULK_BEAT      1000

/* A Slack conversation as the archive has it. */
typedef struct {
    char   name[65]; /* 'O', 'P': its Mattermost name */
    char   type;     /* 'O', 'P', 'D' (direct or group), 0: left out */
    cJSON *members;  /* 'D': the Slack ids, then the usernames */
} mm_bulk_channel_t;

static void
mm_bulk_channel_free(void *p)
{
    mm_bulk_channel_t *c = p;

    if (c) {
        cJSON_Delete(c->members);
        free(c);
    }
}

/* The thread whose line is being written. */
typedef struct {
    char *head;     /* the line so far, less its closing braces */
    char  key[160]; /* channel id and the root's ts */
    long  replies;
    long  create_at; /* the last post's, for the extra replies */
} mm_bulk_thread_t;

typedef struct {
    mm_export_t      *x; /* findings: x->dry_run set */
    job_t            *job;
    const char       *team;
    PGconn           *reader;
    FILE             *jsonl;
    zip_t            *zip;
    mm_bulk_files_t  *files;
    ferry_map_t       users;    /* Slack id -> username */
    ferry_map_t       names;    /* username and e-mail -> username */
    ferry_map_t       channels; /* Slack id -> mm_bulk_channel_t */
    ferry_map_t       taken;    /* channel names written */
    mm_bulk_thread_t  thread;
    int               direct; /* this pass writes direct_post lines */
    mm_bulk_counts_t *c;
    char             *err;
    size_t            errlen;
} mm_bulk_t;

typedef int (*mm_bulk_row_pt)(mm_bulk_t *b, PGresult *res, int i);

static int
mm_bulk_left_out(
    mm_bulk_t *b, const char *entity_id, const char *status, const char *why)
{
    b->c->left_out++;
    log_debug(b->job->worker, "export %s: entity %s left out: %s", b->job->id,
        entity_id, why);

    return mm_export_status(b->x, entity_id, status, NULL, why);
}

/* A heartbeat (and the findings so far committed with it: one commit a
 * thousand rows, not one a finding), or -1 with the reason in b->err. */
static int
mm_bulk_beat(mm_bulk_t *b)
{
    if (*b->job->stop) {
        snprintf(b->err, b->errlen, "ferryd is stopping");
        return -1;
    }
    if (job_progress(b->job, NULL) != 1) {
        snprintf(b->err, b->errlen, "the job is no longer this runner's");
        return -1;
    }
    if (db_exec(b->job->conn, "COMMIT") != 0
        || db_exec(b->job->conn, "BEGIN") != 0) {
        snprintf(b->err, b->errlen, "%s", PQerrorMessage(b->job->conn));
        return -1;
    }

    return 0;
}

/* Every row of sql (params as db_query's) through row, with a heartbeat
 * every MM_BULK_BEAT rows. The rows come one by one as PostgreSQL makes
 * them (libpq's single-row mode), so that it makes the next rows while
 * ferryd writes these, and a plan may use parallel workers (a cursor's
 * may not). */
static int
mm_bulk_each(mm_bulk_t *b, const char *sql, int n, const char *const *params,
    mm_bulk_row_pt row)
{
    PGresult *res;
    PGcancel *cancel;
    char      why[256];
    long      rows = 0;
    int       rc = 0, cancelled = 0;

    if (PQsendQueryParams(b->reader, sql, n, NULL, params, NULL, NULL, 0) != 1
        || PQsetSingleRowMode(b->reader) != 1)
    {
        snprintf(b->err, b->errlen, "%s", PQerrorMessage(b->reader));
        return -1;
    }

    while ((res = PQgetResult(b->reader)) != NULL) {
        if (rc == 0 && PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
            rc = row(b, res, 0);
            if (rc == 0 && ++rows % MM_BULK_BEAT == 0) {
                rc = mm_bulk_beat(b);
            }
        } else if (rc == 0 && PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(b->err, b->errlen, "%s", PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);

        /* the rest is not wanted: the query is cancelled, its rows read
         * to the end */
        if (rc != 0 && !cancelled && (cancel = PQgetCancel(b->reader))) {
            (void) PQcancel(cancel, why, sizeof(why));
            PQfreeCancel(cancel);
            cancelled = 1;
        }
    }

    return rc == 0 ? mm_bulk_beat(b) : rc;
}

/* One line: {"type":type,type:obj}. Takes obj over. */
static int
mm_bulk_line(mm_bulk_t *b, const char *type, cJSON *obj)
{
    cJSON *line = cJSON_CreateObject();
    char  *text;
    int    rc;

    cJSON_AddStringToObject(line, "type", type);
    cJSON_AddItemToObject(line, type, obj);
    text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (text == NULL) {
        snprintf(b->err, b->errlen, "out of memory");
        return -1;
    }
    rc = fputs(text, b->jsonl) < 0 || fputc('\n', b->jsonl) == EOF ? -1 : 0;
    cJSON_free(text);
    if (rc != 0) {
        snprintf(b->err, b->errlen, "import.jsonl: %s", strerror(errno));
    }

    return rc;
}

static void
mm_bulk_add_cut(cJSON *o, const char *name, const char *v, size_t max)
{
    char cut[4200];

    if (v) {
        cJSON_AddStringToObject(
            o, name, ferry_utf8_cut(v, max, cut, sizeof(cut)));
    }
}

/* ------------------------------------------------------------ emoji */

static int
mm_bulk_emoji(mm_bulk_t *b, PGresult *res, int i)
{
    const char *id = PQgetvalue(res, i, 0), *url = PQgetvalue(res, i, 2);
    char        name[128], path[256], why[512];
    cJSON      *e;
    int         k;

    k = mm_emoji_name(PQgetvalue(res, i, 1), name, sizeof(name));
    if (k != 0) {
        return mm_bulk_left_out(b, id, "skipped",
            k > 0 ? "Mattermost has a system emoji of that name"
                  : "not a valid Mattermost emoji name");
    }
    if (strncmp(url, "alias:", 6) == 0) {
        return mm_bulk_left_out(
            b, id, "skipped", "an alias: Mattermost has no emoji aliases");
    }

    snprintf(path, sizeof(path), "data/emoji/%s/image", name);
    if (mm_bulk_file_add(b->files, path, NULL, NULL, url, why, sizeof(why))
        != 0) {
        return mm_bulk_left_out(b, id, "failed", why);
    }

    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "image", path + 5);
    b->c->emoji++;

    return mm_bulk_line(b, "emoji", e);
}

/* ------------------------------------------------------------ channels */

static int
mm_bulk_channel_load(mm_bulk_t *b, PGresult *res, int i)
{
    mm_bulk_channel_t *c;
    cJSON             *raw, *o, *m;
    const char        *kind, *slack_id = PQgetvalue(res, i, 1), *v;
    int                n;

    raw = cJSON_Parse(PQgetvalue(res, i, 2));
    c = calloc(1, sizeof(*c));
    if (raw == NULL || c == NULL
        || ferry_map_put(&b->channels, slack_id, c) == NULL)
    {
        cJSON_Delete(raw);
        free(c);
        snprintf(b->err, b->errlen, "out of memory");
        return -1;
    }

    kind = ferry_json_str(raw, "channel_kind");
    kind = kind ? kind : "public";
    m = cJSON_GetObjectItemCaseSensitive(raw, "members");
    n = cJSON_IsArray(m) ? cJSON_GetArraySize(m) : 0;

    /* a group DM of more than 8 people: private, as the API mode does */
    if (strcmp(kind, "dm") == 0 || (strcmp(kind, "mpim") == 0 && n <= 8)) {
        c->type = 'D';
        c->members = cJSON_DetachItemViaPointer(raw, m);
        cJSON_Delete(raw);
        return 0;
    }

    c->type = strcmp(kind, "public") == 0 ? 'O' : 'P';
    mm_channel_name(
        strcmp(kind, "mpim") == 0 ? NULL : ferry_json_str(raw, "name"),
        slack_id, c->name);

    /* a second Slack channel of the same name joins the first, as a
     * channel that exists already does in the API mode */
    if (ferry_map_get(&b->taken, c->name)) {
        log_debug(
            b->job->worker, "channel %s: one more Slack channel", c->name);
        cJSON_Delete(raw);
        return 0;
    }
    if (ferry_map_put(&b->taken, c->name, c) == NULL) {
        cJSON_Delete(raw);
        return -1;
    }

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "team", b->team);
    cJSON_AddStringToObject(o, "name", c->name);
    v = ferry_json_str(raw, "name");
    mm_bulk_add_cut(o, "display_name", v ? v : c->name, 64);
    cJSON_AddStringToObject(o, "type", c->type == 'O' ? "O" : "P");
    mm_bulk_add_cut(o, "header",
        ferry_json_str(cJSON_GetObjectItemCaseSensitive(raw, "topic"), "value"),
        1024);
    mm_bulk_add_cut(o, "purpose",
        ferry_json_str(
            cJSON_GetObjectItemCaseSensitive(raw, "purpose"), "value"),
        250);
    cJSON_Delete(raw);
    b->c->channels++;

    return mm_bulk_line(b, "channel", o);
}

/* The usernames of a DM's or group DM's members, its direct_channel line:
 * 2 for a DM, 3 to 8 for a group, else left out. */
static int
mm_bulk_direct_channels(mm_bulk_t *b)
{
    mm_bulk_channel_t *c;
    cJSON             *names, *m, *o;
    const char        *u;
    size_t             i;
    int                n, ok, group;

    for (i = 0; i < b->channels.cap; i++) {
        c = b->channels.vals[i];
        if (b->channels.keys[i] == NULL || c->type != 'D') {
            continue;
        }

        names = cJSON_CreateArray();
        cJSON_ArrayForEach(m, c->members)
        {
            u = cJSON_IsString(m) ? ferry_map_get(&b->users, m->valuestring)
                                  : NULL;
            if (u) {
                cJSON_AddItemToArray(names, cJSON_CreateString(u));
            }
        }
        group = cJSON_GetArraySize(c->members) > 2;
        n = cJSON_GetArraySize(names);
        ok = group ? n >= 3 : n == 2;
        cJSON_Delete(c->members);
        c->members = names;

        if (!ok) {
            c->type = 0;
            log_debug(b->job->worker,
                "export %s: conversation %s left out: "
                "too few of its members are in the archive",
                b->job->id, b->channels.keys[i]);
            continue;
        }

        o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "members", cJSON_Duplicate(names, 1));
        b->c->direct_channels++;
        if (mm_bulk_line(b, "direct_channel", o) != 0) {
            return -1;
        }
    }

    return 0;
}

/* The findings of the conversations left out, once the users are known. */
static int
mm_bulk_direct_left_out(mm_bulk_t *b, PGresult *res, int i)
{
    mm_bulk_channel_t *c = ferry_map_get(&b->channels, PQgetvalue(res, i, 1));

    if (c && c->type == 0) {
        return mm_bulk_left_out(b, PQgetvalue(res, i, 0), "skipped",
            "a DM needs its 2 members in the archive, a group DM 3 to 8");
    }

    return 0;
}

/* ------------------------------------------------------------ users */

static int
mm_bulk_user(mm_bulk_t *b, PGresult *res, int i)
{
    const char *id = PQgetvalue(res, i, 0), *slack_id = PQgetvalue(res, i, 1);
    char        username[65], email[256];
    const char *same;
    cJSON      *raw, *profile, *u, *teams, *team, *chans, *ch, *ids, *cid;
    mm_bulk_channel_t *c;

    raw = cJSON_Parse(PQgetvalue(res, i, 2));
    profile = cJSON_GetObjectItemCaseSensitive(raw, "profile");
    mm_username(ferry_json_str(raw, "name"), slack_id, username);
    mm_email(ferry_json_str(profile, "email"), username, email, sizeof(email));

    if (!mm_email_valid(email)) {
        cJSON_Delete(raw);
        return mm_bulk_left_out(
            b, id, "failed", "Invalid email: Mattermost would refuse the user");
    }

    /* a username or e-mail taken by an earlier user: the same person in
     * Mattermost, as the API mode maps an existing user */
    same = ferry_map_get(&b->names, username);
    same = same ? same : ferry_map_get(&b->names, email);
    if (same) {
        log_debug(
            b->job->worker, "user %s is %s in the archive", slack_id, same);
        cJSON_Delete(raw);
        return ferry_map_put(&b->users, slack_id, (void *) same) ? 0 : -1;
    }

    /* the names map's key is the one copy of the username */
    same = ferry_map_put(&b->names, username, NULL);
    if (same == NULL || ferry_map_put(&b->names, same, (void *) same) == NULL
        || ferry_map_put(&b->names, email, (void *) same) == NULL
        || ferry_map_put(&b->users, slack_id, (void *) same) == NULL)
    {
        cJSON_Delete(raw);
        snprintf(b->err, b->errlen, "out of memory");
        return -1;
    }

    u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "username", username);
    cJSON_AddStringToObject(u, "email", email);
    cJSON_AddStringToObject(u, "auth_service", "gitlab");
    cJSON_AddStringToObject(u, "auth_data", slack_id);
    mm_bulk_add_cut(u, "first_name", ferry_json_str(profile, "first_name"), 64);
    mm_bulk_add_cut(u, "last_name", ferry_json_str(profile, "last_name"), 64);
    mm_bulk_add_cut(u, "position", ferry_json_str(profile, "title"), 128);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(raw, "deleted"))) {
        /* deactivated, its posts kept */
        cJSON_AddNumberToObject(u, "delete_at", (double) time(NULL) * 1000);
    }
    cJSON_Delete(raw);

    teams = cJSON_AddArrayToObject(u, "teams");
    team = cJSON_CreateObject();
    cJSON_AddStringToObject(team, "name", b->team);
    cJSON_AddStringToObject(team, "roles", "team_user");
    chans = cJSON_AddArrayToObject(team, "channels");
    cJSON_AddItemToArray(teams, team);

    ids = cJSON_Parse(PQgetvalue(res, i, 3));
    cJSON_ArrayForEach(cid, ids)
    {
        c = cJSON_IsString(cid) ? ferry_map_get(&b->channels, cid->valuestring)
                                : NULL;
        if (c && (c->type == 'O' || c->type == 'P')) {
            ch = cJSON_CreateObject();
            cJSON_AddStringToObject(ch, "name", c->name);
            cJSON_AddStringToObject(ch, "roles", "channel_user");
            cJSON_AddItemToArray(chans, ch);
        }
    }
    cJSON_Delete(ids);

    b->c->users++;

    return mm_bulk_line(b, "user", u);
}

/* ------------------------------------------------------------ posts */

static const char *
mm_bulk_name(void *ctx, char kind, const char *slack_id)
{
    mm_bulk_t         *b = ctx;
    mm_bulk_channel_t *c;

    if (kind == '@') {
        return ferry_map_get(&b->users, slack_id);
    }
    c = ferry_map_get(&b->channels, slack_id);

    return c && (c->type == 'O' || c->type == 'P') ? c->name : NULL;
}

/* A file's name as a path segment of the archive: no separators, no dot
 * names. */
static void
mm_bulk_file_name(const char *name, const char *id, char *out, size_t len)
{
    size_t n;

    ferry_utf8_cut(name ? name : "", 200, out, len);
    for (n = 0; out[n]; n++) {
        if (out[n] == '/' || out[n] == '\\' || (unsigned char) out[n] < 0x20) {
            out[n] = '_';
        }
    }
    if (out[0] == '\0' || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
        snprintf(out, len, "%s", id);
    }
}

/* The reactions of a post: [{"id","user","name"}] from the query. */
static cJSON *
mm_bulk_reactions(mm_bulk_t *b, const char *json, long create_at)
{
    cJSON      *in = cJSON_Parse(json), *out = cJSON_CreateArray(), *r, *o, *e;
    const char *user, *id;
    char        emoji[128];
    int         dup;

    cJSON_ArrayForEach(r, in)
    {
        id = ferry_json_str(r, "id");
        user = ferry_map_get(&b->users, ferry_json_str(r, "user"));
        if (user == NULL) {
            (void) mm_bulk_left_out(
                b, id, "skipped", "its user is not in the archive");
            continue;
        }
        if (mm_emoji_name(
                ferry_json_str(r, "name") ? ferry_json_str(r, "name") : "",
                emoji, sizeof(emoji))
            < 0)
        {
            (void) mm_bulk_left_out(
                b, id, "skipped", "not a valid Mattermost emoji name");
            continue;
        }

        /* "+1" and "thumbsup" by one person are one reaction */
        dup = 0;
        cJSON_ArrayForEach(e, out)
        {
            dup |= strcmp(ferry_json_str(e, "user"), user) == 0
                && strcmp(ferry_json_str(e, "emoji_name"), emoji) == 0;
        }
        if (dup) {
            continue;
        }

        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", user);
        cJSON_AddStringToObject(o, "emoji_name", emoji);
        /* Slack keeps no time for a reaction; Mattermost wants one, not
         * before the post's */
        cJSON_AddNumberToObject(o, "create_at", (double) create_at);
        cJSON_AddItemToArray(out, o);
        b->c->reactions++;
    }
    cJSON_Delete(in);

    return out;
}

/* The attachments of a post, their bytes put in the archive:
 * [{"id","job","raw"}] from the query. */
static cJSON *
mm_bulk_attachments(mm_bulk_t *b, const char *json)
{
    cJSON *in = cJSON_Parse(json), *out = cJSON_CreateArray(), *f, *raw, *o;
    const char *id, *fid, *url;
    char        name[256], path[512], why[512];

    cJSON_ArrayForEach(f, in)
    {
        id = ferry_json_str(f, "id");
        raw = cJSON_GetObjectItemCaseSensitive(f, "raw");
        fid = ferry_json_str(raw, "id");
        mm_bulk_file_name(
            ferry_json_str(raw, "name"), fid ? fid : id, name, sizeof(name));
        snprintf(path, sizeof(path), "data/files/%s/%s", fid ? fid : id, name);

        url = ferry_json_str(raw, "url_private_download");
        url = url ? url : ferry_json_str(raw, "url_private");
        if (mm_bulk_file_add(b->files, path, ferry_json_str(f, "job"),
                ferry_json_str(raw, "zip_member"), url, why, sizeof(why))
            != 0)
        {
            (void) mm_bulk_left_out(b, id, "failed", why);
            continue;
        }

        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path + 5);
        cJSON_AddItemToArray(out, o);
        b->c->attachments++;
    }
    cJSON_Delete(in);

    return out;
}

static int
mm_bulk_thread_close(mm_bulk_t *b)
{
    mm_bulk_thread_t *t = &b->thread;
    int               rc;

    if (t->head == NULL) {
        return 0;
    }
    rc = fputs(t->head, b->jsonl) < 0
        || fputs(t->replies ? "]}}\n" : "}}\n", b->jsonl) < 0;
    free(t->head);
    t->head = NULL;
    t->key[0] = '\0';
    if (rc) {
        snprintf(b->err, b->errlen, "import.jsonl: %s", strerror(errno));
    }

    return rc ? -1 : 0;
}

/* A post (a thread's root: a new line) or a reply (into the line). */
static int
mm_bulk_emit(mm_bulk_t *b, cJSON *post, int reply)
{
    mm_bulk_thread_t *t = &b->thread;
    char             *text;
    int               rc = 0;

    text = cJSON_PrintUnformatted(post);
    cJSON_Delete(post);
    if (text == NULL) {
        snprintf(b->err, b->errlen, "out of memory");
        return -1;
    }

    if (!reply) {
        /* the line waits for its replies: its closing brace comes off */
        text[strlen(text) - 1] = '\0';
        rc = asprintf(&t->head, "{\"type\":\"%s\",\"%s\":%s",
                 b->direct ? "direct_post" : "post",
                 b->direct ? "direct_post" : "post", text)
            < 0;
        t->replies = 0;
        b->c->posts++;
    } else {
        rc = fputs(t->head, b->jsonl) < 0
            || fputs(t->replies ? "," : ",\"replies\":[", b->jsonl) < 0
            || fputs(text, b->jsonl) < 0;
        t->head[0] = '\0';
        t->replies++;
        b->c->replies++;
    }
    cJSON_free(text);

    if (rc) {
        snprintf(b->err, b->errlen, "import.jsonl: %s", strerror(errno));
        return -1;
    }

    return 0;
}

/* What does not fit one post (files past five, text past Mattermost's
 * length) follows in replies by the same author, a millisecond apart; the
 * post keeps the first five files. Takes files over. */
static cJSON *
mm_bulk_overflow(
    cJSON *post, cJSON *files, char *rest, const char *author, long at)
{
    cJSON *more = cJSON_CreateArray(), *first = cJSON_CreateArray(), *p = NULL;
    cJSON *f;
    size_t n;
    char   save;
    int    k, nfiles = cJSON_GetArraySize(files);

    for (k = 0; k < nfiles; k++) {
        f = cJSON_DetachItemFromArray(files, 0);
        if (k < MM_BULK_MAX_FILES) {
            cJSON_AddItemToArray(first, f);
            continue;
        }
        if (k % MM_BULK_MAX_FILES == 0) {
            p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "user", author);
            cJSON_AddStringToObject(p, "message", "");
            cJSON_AddNumberToObject(p, "create_at", (double) ++at);
            cJSON_AddArrayToObject(p, "attachments");
            cJSON_AddItemToArray(more, p);
        }
        cJSON_AddItemToArray(
            cJSON_GetObjectItemCaseSensitive(p, "attachments"), f);
    }
    cJSON_AddItemToObject(post, "attachments", first);
    cJSON_Delete(files);

    while (*rest) {
        n = ferry_utf8_prefix(rest, MM_BULK_MAX_RUNES, (size_t) -1);
        save = rest[n];
        rest[n] = '\0';
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "user", author);
        cJSON_AddStringToObject(p, "message", rest);
        cJSON_AddNumberToObject(p, "create_at", (double) ++at);
        cJSON_AddItemToArray(more, p);
        rest[n] = save;
        rest += n;
    }

    return more;
}

static int
mm_bulk_message(mm_bulk_t *b, PGresult *res, int i)
{
    const char        *id = PQgetvalue(res, i, 0), *cid = PQgetvalue(res, i, 1);
    const char        *user, *author, *bot;
    char               key[160], ts[64], *text, *rest;
    mm_bulk_channel_t *c;
    cJSON             *raw, *post, *files, *more;
    long               create_at, edit_at;
    int                reply, rc;
    size_t             n;

    c = ferry_map_get(&b->channels, cid);
    if (c == NULL || c->type == 0) {
        return mm_bulk_left_out(
            b, id, "skipped", "its conversation is not in the archive");
    }

    raw = cJSON_Parse(PQgetvalue(res, i, 2));
    user = ferry_json_str(raw, "user");
    bot = ferry_json_str(raw, "bot_id");
    /* a bot's message is its placeholder user's, as the ingestion made it */
    author = user == NULL || user[0] == 'B' ? (bot ? bot : user) : user;
    author = ferry_map_get(&b->users, author);
    snprintf(ts, sizeof(ts), "%s",
        ferry_json_str(raw, "ts") ? ferry_json_str(raw, "ts") : "");
    create_at = mm_ts_ms(ts);
    if (author == NULL || create_at == 0) {
        cJSON_Delete(raw);
        return mm_bulk_left_out(b, id, "skipped",
            author ? "its ts is no time" : "its author is not in the archive");
    }

    snprintf(key, sizeof(key), "%s:%s", cid, PQgetvalue(res, i, 4));
    reply = PQgetvalue(res, i, 3)[0] == 't' && b->thread.head
        && strcmp(b->thread.key, key) == 0;
    if (!reply && mm_bulk_thread_close(b) != 0) {
        cJSON_Delete(raw);
        return -1;
    }

    text = mm_markup_message(raw, mm_bulk_name, b);
    if (text == NULL) {
        cJSON_Delete(raw);
        snprintf(b->err, b->errlen, "out of memory");
        return -1;
    }

    post = cJSON_CreateObject();
    if (!reply && b->direct) {
        cJSON_AddItemToObject(
            post, "channel_members", cJSON_Duplicate(c->members, 1));
    } else if (!reply) {
        cJSON_AddStringToObject(post, "team", b->team);
        cJSON_AddStringToObject(post, "channel", c->name);
    }
    cJSON_AddStringToObject(post, "user", author);
    n = ferry_utf8_prefix(text, MM_BULK_MAX_RUNES, (size_t) -1);
    rest = text[n] ? strdup(text + n) : NULL;
    text[n] = '\0';
    cJSON_AddStringToObject(post, "message", text);
    cJSON_AddNumberToObject(post, "create_at", (double) create_at);
    edit_at = mm_ts_ms(
        ferry_json_str(cJSON_GetObjectItemCaseSensitive(raw, "edited"), "ts"));
    if (edit_at) {
        cJSON_AddNumberToObject(post, "edit_at", (double) edit_at);
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(raw, "pinned_to"))
        > 0) {
        cJSON_AddTrueToObject(post, "is_pinned");
    }
    cJSON_AddItemToObject(post, "reactions",
        mm_bulk_reactions(b, PQgetvalue(res, i, 5), create_at));
    files = mm_bulk_attachments(b, PQgetvalue(res, i, 6));
    cJSON_Delete(raw);

    more = mm_bulk_overflow(post, files, rest ? rest : "", author, create_at);
    free(rest);
    free(text);

    rc = mm_bulk_emit(b, post, reply);
    if (rc == 0 && !reply) {
        /* its replies: the rows whose thread is this post's ts (a reply
         * made a post of its own takes none) */
        snprintf(b->thread.key, sizeof(b->thread.key), "%s:%s", cid, ts);
    }
    while (rc == 0 && cJSON_GetArraySize(more) > 0) {
        rc = mm_bulk_emit(b, cJSON_DetachItemFromArray(more, 0), 1);
    }
    cJSON_Delete(more);

    return rc;
}

/* clang-format off */
#define MM_BULK_EMOJI_SQL                                                      \
    "SELECT id, slack_id, coalesce(raw_data->>'url', '') FROM entities "       \
    "WHERE entity_type = 'custom_emoji' "                                      \
    "AND NOT coalesce((raw_data->>'removed')::boolean, false) ORDER BY id"

#define MM_BULK_CHANNELS_SQL                                                   \
    "SELECT id, slack_id, raw_data FROM entities "                             \
    "WHERE entity_type = 'channel' ORDER BY id"

/* each user with the Slack ids of its channels */
#define MM_BULK_USERS_SQL                                                      \
    "SELECT u.id, u.slack_id, u.raw_data, coalesce((SELECT "                   \
    "jsonb_agg(c.slack_id ORDER BY c.id) FROM entity_relations r "             \
    "JOIN entities c ON c.id = r.to_entity_id "                                \
    "WHERE r.from_entity_id = u.id AND r.relation_type = 'member_of'), "       \
    "'[]') FROM entities u WHERE u.entity_type = 'user' ORDER BY u.id"

/* a message that was not deleted */
#define MM_BULK_LIVE(m)                                                        \
    m ".entity_type = 'message' "                                              \
    "AND NOT coalesce((" m ".raw_data->>'deleted')::boolean, false)"

/* a Slack ts as a numeric to sort by (NULL when it is none) */
#define MM_BULK_TS(v)                                                          \
    "CASE WHEN (" v ") ~ '^[0-9]{1,12}(\\.[0-9]{1,9})?$' "                   \
    "THEN (" v ")::numeric END"

/* messages of the channels in $1 (or not in them, $2 false), a thread's
 * root before its replies: id, channel, raw_data, a reply whose root is
 * there, the thread's ts, reactions, files */
#define MM_BULK_MESSAGES_SQL                                                   \
    "SELECT m.id, m.raw_data->>'channel_id', m.raw_data, "                     \
    "t.id IS NOT NULL, coalesce(t.raw_data->>'ts', m.raw_data->>'ts'), "       \
    "coalesce((SELECT jsonb_agg(jsonb_build_object('id', x.id::text, "         \
    "'user', x.raw_data->>'user', 'name', x.raw_data->>'name') "               \
    "ORDER BY x.id) FROM entity_relations r "                                  \
    "JOIN entities x ON x.id = r.from_entity_id "                              \
    "WHERE r.to_entity_id = m.id AND r.relation_type = 'reacted_to' "          \
    "AND NOT coalesce((x.raw_data->>'removed')::boolean, false)), '[]'), "     \
    "coalesce((SELECT jsonb_agg(jsonb_build_object('id', a.id::text, "         \
    "'job', a.job_id::text, 'raw', a.raw_data) ORDER BY f.n) "                 \
    "FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.raw_data->'files') "   \
    "= 'array' THEN m.raw_data->'files' ELSE '[]' END) "                       \
    "WITH ORDINALITY f(v, n) JOIN entities a "                                 \
    "ON a.entity_type = 'attachment' AND a.slack_id = f.v->>'id'), '[]') "     \
    "FROM entities m LEFT JOIN entities t ON " MM_BULK_LIVE("t") " "           \
    "AND m.raw_data->>'thread_ts' <> m.raw_data->>'ts' "                       \
    "AND t.slack_id = (m.raw_data->>'channel_id') || ':' || "                  \
    "(m.raw_data->>'thread_ts') "                                              \
    "WHERE " MM_BULK_LIVE("m") " "                                             \
    "AND (m.raw_data->>'channel_id' = ANY($1::text[])) = $2::boolean "         \
    "ORDER BY m.raw_data->>'channel_id', "                                     \
    MM_BULK_TS("coalesce(t.raw_data->>'ts', m.raw_data->>'ts')") ", "          \
    MM_BULK_TS("m.raw_data->>'ts'") ", m.id"
/* clang-format on */

/* The Slack ids of the conversations written as direct channels, as a
 * PostgreSQL array literal. */
static char *
mm_bulk_direct_ids(mm_bulk_t *b)
{
    mm_bulk_channel_t *c;
    size_t             i, len = 3, n = 0;
    char              *out;

    for (i = 0; i < b->channels.cap; i++) {
        if (b->channels.keys[i]) {
            len += strlen(b->channels.keys[i]) * 2 + 3;
        }
    }
    out = malloc(len);
    if (out == NULL) {
        return NULL;
    }

    out[n++] = '{';
    for (i = 0; i < b->channels.cap; i++) {
        c = b->channels.vals[i];
        if (b->channels.keys[i] == NULL || c->type != 'D') {
            continue;
        }
        if (n > 1) {
            out[n++] = ',';
        }
        out[n++] = '"';
        for (const char *k = b->channels.keys[i]; *k; k++) {
            if (*k == '"' || *k == '\\') {
                out[n++] = '\\';
            }
            out[n++] = *k;
        }
        out[n++] = '"';
    }
    out[n++] = '}';
    out[n] = '\0';

    return out;
}

/* Every pass, in the order Mattermost's import wants its lines. */
static int
mm_bulk_passes(mm_bulk_t *b)
{
    const char *p[2];
    char       *direct;
    int         rc;

    if (mm_bulk_line(b, "version", cJSON_CreateNumber(1)) != 0) {
        return -1;
    }
    if (mm_bulk_each(b, MM_BULK_EMOJI_SQL, 0, NULL, mm_bulk_emoji) != 0
        || mm_bulk_each(b, MM_BULK_CHANNELS_SQL, 0, NULL, mm_bulk_channel_load)
            != 0
        || mm_bulk_each(b, MM_BULK_USERS_SQL, 0, NULL, mm_bulk_user) != 0
        || mm_bulk_direct_channels(b) != 0
        || mm_bulk_each(
               b, MM_BULK_CHANNELS_SQL, 0, NULL, mm_bulk_direct_left_out)
            != 0)
    {
        return -1;
    }

    direct = mm_bulk_direct_ids(b);
    if (direct == NULL) {
        snprintf(b->err, b->errlen, "out of memory");
        return -1;
    }
    p[0] = direct;
    p[1] = "false";
    rc = mm_bulk_each(b, MM_BULK_MESSAGES_SQL, 2, p, mm_bulk_message);
    if (rc == 0) {
        rc = mm_bulk_thread_close(b);
    }
    if (rc == 0) {
        b->direct = 1;
        p[1] = "true";
        rc = mm_bulk_each(b, MM_BULK_MESSAGES_SQL, 2, p, mm_bulk_message);
    }
    if (rc == 0) {
        rc = mm_bulk_thread_close(b);
    }
    free(direct);

    return rc;
}

int
mm_bulk_write(mm_export_t *x, job_t *job, const char *team, const char *path,
    mm_bulk_counts_t *counts, char *err, size_t errlen)
{
    mm_bulk_t     b;
    mm_export_t   fx = *x;
    char          tmp[4200], jsonl[4200], dir[4200];
    zip_source_t *src;
    zip_int64_t   idx;
    int           e, rc = -1;

    memset(&b, 0, sizeof(b));
    memset(counts, 0, sizeof(*counts));
    fx.conn = job->conn;
    fx.dry_run = 1; /* the rows' outcome waits for Mattermost's import */
    b.x = &fx;
    b.job = job;
    b.team = team;
    b.c = counts;
    b.err = err;
    b.errlen = errlen;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(jsonl, sizeof(jsonl), "%s.jsonl.tmp", path);
    snprintf(dir, sizeof(dir), "%s.files.tmp", path);

    b.reader = db_acquire(job->ferry->db);
    if (b.reader == NULL) {
        snprintf(err, errlen, "no database connection");
        return -1;
    }
    /* the messages' query: its JIT compiling took 300 ms of a second, and
     * its sort spilled to disk at the default work_mem */
    if (db_exec(b.reader,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
            "SET LOCAL jit = off; SET LOCAL work_mem = '256MB'")
            != 0
        || db_exec(job->conn, "BEGIN") != 0)
    {
        snprintf(err, errlen, "%s", PQerrorMessage(b.reader));
        goto done;
    }

    b.jsonl = fopen(jsonl, "w");
    b.zip = b.jsonl ? zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &e) : NULL;
    if (b.zip == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", b.jsonl ? tmp : jsonl,
            strerror(errno));
        goto done;
    }
    b.files = mm_bulk_files_new(job->ferry, b.zip, dir);
    if (b.files == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    if (mm_bulk_passes(&b) != 0) {
        goto done;
    }

    counts->jsonl_bytes = ftell(b.jsonl);
    if (fclose(b.jsonl) != 0) {
        b.jsonl = NULL;
        snprintf(err, errlen, "import.jsonl: %s", strerror(errno));
        goto done;
    }
    b.jsonl = NULL;

    src = zip_source_file(b.zip, jsonl, 0, -1);
    if (src == NULL || (idx = zip_file_add(b.zip, "import.jsonl", src, 0)) < 0)
    {
        zip_source_free(src);
        snprintf(err, errlen, "import.jsonl: %s", zip_strerror(b.zip));
        goto done;
    }
    /* zlib's default level, zip(1)'s: libzip's own is the best and
     * slowest, twice the time for 6 % less */
    (void) zip_set_file_compression(
        b.zip, (zip_uint64_t) idx, ZIP_CM_DEFLATE, 6);

    /* every member is read now: the Slack zips, the downloads, the JSONL */
    if (zip_close(b.zip) != 0) {
        snprintf(err, errlen, "%s: %s", path, zip_strerror(b.zip));
        goto done;
    }
    b.zip = NULL;

    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (db_exec(job->conn, "COMMIT") != 0) {
        snprintf(err, errlen, "%s", PQerrorMessage(job->conn));
        goto done;
    }
    rc = 0;

done:

    free(b.thread.head);
    if (b.jsonl) {
        fclose(b.jsonl);
    }
    if (b.zip) {
        zip_discard(b.zip);
    }
    mm_bulk_files_free(b.files);
    (void) unlink(jsonl);
    if (rc != 0) {
        (void) unlink(tmp);
    }
    if (rc != 0) {
        (void) db_exec(job->conn, "ROLLBACK");
    }
    (void) db_exec(b.reader, "ROLLBACK");
    db_release(job->ferry->db, b.reader);
    ferry_map_free(&b.taken, NULL);
    ferry_map_free(&b.channels, mm_bulk_channel_free);
    ferry_map_free(&b.users, NULL);
    ferry_map_free(&b.names, NULL);

    return rc;
}
