/*
 * The members are read in an order of our own, not the zip's: users, the
 * four conversation files, emoji.json, then the day files by name; a day
 * file's folder names its channel. Every batch is one transaction holding
 * its rows and the job's progress (member, element, counts, errors), so a
 * killed ferryd resumes at the element after the last committed batch.
 * Relations are derived at the end, so a reply read before its root gets
 * its thread_reply all the same.
 */
#include "slack_ingest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ferry_json.h"
#include "core/db.h"
#include "core/db_copy.h"
#include "core/log.h"
#include "http/http_client.h"
#include "slack_entities.h"
#include "slack_follow.h"
#include "slack_json.h"
#include "slack_relations.h"
#include "slack_zip.h"

#define SLACK_ERRORS_MAX 100

/* the ids' sequence: no row inserted so far has an id above it */
#define SLACK_IDS_SQL "SELECT last_value FROM entities_id_seq"

/* a batch commits at BATCH_SIZE rows or this many bytes of COPY text,
 * whichever comes first: elements may be large */
#define SLACK_BATCH_BYTES (32 * 1024 * 1024)

typedef enum {
    SLACK_M_USERS,
    SLACK_M_CHANNELS,
    SLACK_M_EMOJI,
    SLACK_M_DAY
} slack_member_role_t;

typedef struct {
    long                index; /* in the zip */
    slack_member_role_t role;
    const char         *kind; /* a conversation file's kind */
    const char         *name;
} slack_member_t;

typedef struct {
    char *key;   /* a folder name, or a file id */
    char *value; /* its channel id, or its zip member */
} slack_pair_t;

typedef struct {
    job_t       *job;
    slack_zip_t  zip;
    slack_rows_t rows;
    slack_json_t json;

    slack_member_t *plan;
    long            nplan;
    long            member;  /* the plan's member being read */
    long            element; /* its elements read so far */
    long            skip;    /* elements already committed (resume) */

    slack_pair_t *folders; /* folder -> channel id, sorted */
    long          nfolders;
    slack_pair_t *files; /* file id -> zip member, sorted */
    long          nfiles;
    long          files_cap;

    const char *channel_id;  /* of the day file being read */
    char       *resume_name; /* the member an earlier run stopped in */
    long        counts[SLACK_NTYPES];
    cJSON      *errors;
    long        error_count;
    int         stop;    /* SLACK_GO_ON or why the reading stopped */
    int         writing; /* a batch's script still runs (slack_wait) */

    /* relations derived while reading, for the ids above start_id */
    slack_follow_t follow;
    int            following;
    long long      start_id;
} slack_ingest_t;

enum { SLACK_GO_ON = 0, SLACK_STOP, SLACK_FAIL };

static int
slack_pair_cmp(const void *a, const void *b)
{
    return strcmp(
        ((const slack_pair_t *) a)->key, ((const slack_pair_t *) b)->key);
}

static const char *
slack_pair_find(slack_pair_t *pairs, long n, const char *key)
{
    slack_pair_t want = { (char *) key, NULL }, *p;

    if (n == 0) {
        return NULL;
    }

    p = bsearch(&want, pairs, (size_t) n, sizeof(*pairs), slack_pair_cmp);

    return p ? p->value : NULL;
}

static void
slack_pairs_free(slack_pair_t *pairs, long n)
{
    long i;

    for (i = 0; i < n; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
}

static const char *
slack_file_member(void *data, const char *file_id)
{
    slack_ingest_t *in = data;

    return slack_pair_find(in->files, in->nfiles, file_id);
}

/* An error of one member (or element) of the zip: listed on the job, the
 * rest goes on. The same error twice (a resumed job) is listed once. */
static void slack_error(slack_ingest_t *in, const char *file, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
slack_error(slack_ingest_t *in, const char *file, const char *fmt, ...)
{
    char         msg[512];
    va_list      ap;
    const cJSON *e;
    cJSON       *o;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    cJSON_ArrayForEach(e, in->errors)
    {
        if (strcmp(cJSON_GetObjectItem(e, "file")->valuestring, file) == 0
            && strcmp(cJSON_GetObjectItem(e, "error")->valuestring, msg) == 0)
        {
            return;
        }
    }

    in->error_count++;
    log_warn(
        in->job->worker, "slack upload %s: %s: %s", in->job->id, file, msg);

    if (cJSON_GetArraySize(in->errors) < SLACK_ERRORS_MAX) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddStringToObject(o, "error", msg);
        cJSON_AddItemToArray(in->errors, o);
    }
}

static char *
slack_progress_json(slack_ingest_t *in)
{
    cJSON *p, *c;
    char  *s;
    int    i;

    p = cJSON_CreateObject();
    /* the member by its name too: the plan may differ on resume (a
     * SLACK_TOKEN set or not changes whether emoji.list is one) */
    cJSON_AddNumberToObject(p, "member", (double) in->member);
    if (in->member < in->nplan) {
        cJSON_AddStringToObject(p, "member_name", in->plan[in->member].name);
    }
    cJSON_AddNumberToObject(p, "element",
        (double) (in->element > in->skip ? in->element : in->skip));
    c = cJSON_AddObjectToObject(p, "counts");
    for (i = 0; i < SLACK_NTYPES; i++) {
        cJSON_AddNumberToObject(
            c, slack_type_names[i], (double) (in->counts[i]));
    }
    cJSON_AddItemToObject(p, "errors", cJSON_Duplicate(in->errors, 1));
    cJSON_AddNumberToObject(p, "error_count", (double) in->error_count);

    s = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);

    return s;
}

/* How a batch's script ended: its SQLSTATE, "" when it went in. */
static int
slack_batch_ended(slack_ingest_t *in, int rc, const char *state)
{
    PGconn *conn = in->job->conn;

    if (rc == 0) {
        return *in->job->stop ? SLACK_STOP : SLACK_GO_ON;
    }

    if (strcmp(state, JOB_LOST_STATE) == 0) {
        /* cancelled, or taken over: not ours any more */
        (void) db_exec(conn, "ROLLBACK");
        return SLACK_STOP;
    }

    log_error(in->job->worker, "slack upload %s: writing a batch: %s",
        in->job->id, PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");

    return SLACK_FAIL;
}

/* Waits for the batch PostgreSQL is still writing, if any; once it
 * committed, its rows' relations can follow. */
static int
slack_wait(slack_ingest_t *in)
{
    PGresult *res;
    char      state[6];
    int       rc;

    if (!in->writing) {
        return SLACK_GO_ON;
    }

    in->writing = 0;
    rc = db_copy_script_wait(in->job->conn, &res, state);

    if (rc == 0 && in->following && res && PQntuples(res) == 1) {
        slack_follow_advance(&in->follow, atoll(PQgetvalue(res, 0, 0)));
    }

    PQclear(res);

    return slack_batch_ended(in, rc, state);
}

/*
 * One batch, one transaction: its rows and the job's progress, sent as one
 * script. Unless wait, it returns once the rows are sent, and PostgreSQL
 * upserts them while the next batch is read (slack_wait before the
 * connection is used again); a failure then shows at the next batch, and
 * the job resumes after the last batch that committed.
 */
static int
slack_commit(slack_ingest_t *in, int wait)
{
    db_copy_data_t data;
    char          *progress, *stmt = NULL, *after = NULL, *sql = NULL;
    char           state[6];
    int            i, rc;

    rc = slack_wait(in);
    if (rc != SLACK_GO_ON) {
        return rc;
    }

    for (i = 0; i < SLACK_NTYPES; i++) {
        in->counts[i] += in->rows.counts[i];
    }

    progress = slack_progress_json(in);
    if (progress) {
        stmt = job_progress_stmt(in->job, in->job->conn, progress);
    }
    /* the ids' sequence, for the relations to follow: no id of this
     * batch is above it */
    if (stmt && asprintf(&after, "%s;" SLACK_IDS_SQL ";COMMIT;", stmt) < 0) {
        after = NULL;
    }
    if (after) {
        sql = slack_rows_script(in->job->conn, in->job->id, "BEGIN;", after);
    }

    free(progress);
    free(stmt);
    free(after);

    if (sql == NULL) {
        log_error(
            in->job->worker, "slack upload %s: out of memory", in->job->id);
        return SLACK_FAIL;
    }

    data.data = in->rows.buf;
    data.len = in->rows.len;

    rc = db_copy_script_start(in->job->conn, sql, &data, 1, state);
    free(sql);
    slack_rows_clear(&in->rows);

    if (rc == 1) {
        in->writing = 1;
        return wait ? slack_wait(in) : slack_batch_ended(in, 0, "");
    }

    /* the script has a COPY: it ended before it only on an error */
    return slack_batch_ended(in, rc, state);
}

/* One element of a users, conversations or day file. */
static int
slack_on_element(void *data, const char *s, size_t n)
{
    slack_ingest_t       *in = data;
    const slack_member_t *m = &in->plan[in->member];
    char                  path[FERRY_JSON_PATH_MAX];
    const char           *why, *end;
    cJSON                *o;
    int                   rc;

    in->element++;

    if (in->element <= in->skip) {
        return 0;
    }

    /* jsonb takes neither \u0000 nor bytes that are not UTF-8 */
    if (ferry_json_check_strings(s, n, path, sizeof(path), &why) != 0) {
        slack_error(in, m->name, "element %ld: %s%s holds %s", in->element,
            path[0] ? "at " : "", path, why);
        return 0;
    }

    /* the whole element, not its first value: [{..}{..}] is no array */
    o = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (o == NULL || end != s + n) {
        cJSON_Delete(o);
        slack_error(in, m->name, "element %ld: not valid JSON", in->element);
        return 0;
    }

    switch (m->role) {
    case SLACK_M_USERS:
        rc = slack_rows_user(&in->rows, o);
        break;
    case SLACK_M_CHANNELS:
        rc = slack_rows_channel(&in->rows, o, m->kind);
        break;
    default:
        rc = slack_rows_message(
            &in->rows, o, in->channel_id, slack_file_member, in);
    }

    cJSON_Delete(o);

    if (rc < 0) {
        in->stop = SLACK_FAIL;
        return 1;
    }

    if (in->rows.rows >= (size_t) in->job->ferry->cfg.batch_size
        || in->rows.len >= SLACK_BATCH_BYTES)
    {
        in->stop = slack_commit(in, 0);
        return in->stop != SLACK_GO_ON;
    }

    return 0;
}

static int
slack_on_chunk(void *data, const char *p, size_t n)
{
    slack_ingest_t *in = data;

    return slack_json_feed(&in->json, p, n);
}

/* emoji.json is one object (name -> URL or "alias:<name>"), small: read
 * whole, within SLACK_MAX_ELEMENT_BYTES. */
typedef struct {
    char  *buf;
    size_t len;
    size_t max;
} slack_whole_t;

static int
slack_on_whole(void *data, const char *p, size_t n)
{
    slack_whole_t *w = data;
    char          *b;

    if (w->len + n > w->max || (b = realloc(w->buf, w->len + n)) == NULL) {
        return 1;
    }

    memcpy(b + w->len, p, n);
    w->buf = b;
    w->len += n;

    return 0;
}

/* emoji.list of Slack's Web API, when the export has no emoji.json and
 * SLACK_TOKEN is set: {"ok":true,"emoji":{name: URL or "alias:<name>"}} */
static int
slack_fetch_emoji(
    slack_ingest_t *in, slack_whole_t *w, char *err, size_t errlen)
{
    ferryd_t   *ferry = in->job->ferry;
    char        url[2048], auth[1024];
    const char *headers[2] = { auth, NULL };
    http_req_t  req;
    http_resp_t resp;
    cJSON      *o;
    int         rc;

    snprintf(url, sizeof(url), "%s/emoji.list", ferry->cfg.slack_api_url);
    snprintf(
        auth, sizeof(auth), "Authorization: Bearer %s", ferry->cfg.slack_token);

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.max_body = w->max;
    req.tag = in->job->worker;

    rc = http_client_request(ferry->http, &req, &resp, err, errlen);

    if (rc == HTTP_CLIENT_OK) {
        o = cJSON_Parse(resp.body ? resp.body : "");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");

            snprintf(err, errlen, "emoji.list: %s",
                cJSON_IsString(e) ? e->valuestring : "not ok");
            rc = -1;
        } else {
            w->buf = cJSON_PrintUnformatted(
                cJSON_GetObjectItemCaseSensitive(o, "emoji"));
            w->len = w->buf ? strlen(w->buf) : 0;
            rc = w->buf ? 0 : -1;
            if (rc != 0) {
                snprintf(err, errlen, "emoji.list: no emoji in the answer");
            }
        }
        cJSON_Delete(o);
    }

    http_client_resp_free(&resp);

    return rc;
}

static void
slack_read_emoji(slack_ingest_t *in, const slack_member_t *m)
{
    slack_whole_t w = { NULL, 0,
        (size_t) in->job->ferry->cfg.slack_max_element_bytes };
    char          err[512], path[FERRY_JSON_PATH_MAX];
    const char   *why;
    cJSON        *o, *e;
    int           rc;

    if (m->index < 0) {
        rc = slack_fetch_emoji(in, &w, err, sizeof(err));
    } else {
        rc = slack_zip_read(
            &in->zip, m->index, slack_on_whole, &w, err, sizeof(err));
    }

    if (rc != 0) {
        slack_error(in, m->name, "%s",
            rc > 0 ? "larger than SLACK_MAX_ELEMENT_BYTES" : err);

    } else if (ferry_json_check_strings(w.buf, w.len, path, sizeof(path), &why)
        != 0)
    {
        slack_error(in, m->name, "%s holds %s", path, why);

    } else if ((o = cJSON_ParseWithLength(w.buf, w.len)) == NULL
        || !cJSON_IsObject(o))
    {
        slack_error(in, m->name, "not a JSON object");
        cJSON_Delete(o);

    } else {
        cJSON_ArrayForEach(e, o)
        {
            if (cJSON_IsString(e) && e->string[0]
                && slack_rows_emoji(&in->rows, e->string, e->valuestring) != 0)
            {
                in->stop = SLACK_FAIL;
                break;
            }
        }
        cJSON_Delete(o);
    }

    free(w.buf);
}

/* folder -> channel id, from every channel known (this upload's and
 * earlier ones'): a DM's folder is its id, the others' their name. */
static int
slack_load_folders(slack_ingest_t *in)
{
    const char *params[1];
    PGresult   *res;
    const char *folder;
    int         i, n;

    params[0] = in->job->id;

    /* one channel per folder: two of a name (an older upload, another
     * workspace) give this upload's, else the newest */
    res = db_query(in->job->conn,
        "SELECT DISTINCT ON (folder) slack_id, folder FROM (SELECT slack_id, "
        "CASE WHEN raw_data->>'channel_kind' = 'dm' THEN slack_id "
        "ELSE coalesce(raw_data->>'name', slack_id) END AS folder, "
        "job_id, updated_at FROM entities WHERE entity_type = 'channel') c "
        "ORDER BY folder, job_id IS NOT DISTINCT FROM $1::uuid DESC, "
        "updated_at DESC",
        1, params);
    if (res == NULL) {
        return -1;
    }

    n = PQntuples(res);
    in->folders = calloc((size_t) n + 1, sizeof(slack_pair_t));
    if (in->folders == NULL) {
        PQclear(res);
        return -1;
    }

    for (i = 0; i < n; i++) {
        folder = PQgetvalue(res, i, 1);
        in->folders[in->nfolders].key = strdup(folder);
        in->folders[in->nfolders].value = strdup(PQgetvalue(res, i, 0));
        in->nfolders++;
    }

    PQclear(res);

    qsort(in->folders, (size_t) in->nfolders, sizeof(slack_pair_t),
        slack_pair_cmp);

    return 0;
}

static void
slack_read_array(slack_ingest_t *in, const slack_member_t *m)
{
    char err[512];
    int  rc;

    slack_json_init(&in->json,
        (size_t) in->job->ferry->cfg.slack_max_element_bytes, slack_on_element,
        in);

    rc = slack_zip_read(
        &in->zip, m->index, slack_on_chunk, in, err, sizeof(err));

    if (in->stop == SLACK_GO_ON) {
        if (rc < 0) {
            slack_error(in, m->name, "%s", err);
        } else if (rc != 0 || slack_json_finish(&in->json) != 0) {
            slack_error(in, m->name, "%s", in->json.err);
        }
    }

    slack_json_free(&in->json);
}

static const char *
slack_kind(const char *name)
{
    static const char *const files[][2] = { { "channels.json", "public" },
        { "groups.json", "private" }, { "dms.json", "dm" },
        { "mpims.json", "mpim" } };
    size_t                   i;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(name, files[i][0]) == 0) {
            return files[i][1];
        }
    }

    return NULL;
}

static int
slack_plan_cmp(const void *a, const void *b)
{
    const slack_member_t *x = a, *y = b;
    static const char    *kinds = "public private dm mpim";

    if (x->role != y->role) {
        return (int) x->role - (int) y->role;
    }

    if (x->role == SLACK_M_CHANNELS) {
        return (int) (strstr(kinds, x->kind) - strstr(kinds, y->kind));
    }

    return strcmp(x->name, y->name);
}

/* __uploads/<file id>/<name>: the file's bytes, for the export */
static int
slack_plan_upload(slack_ingest_t *in, const char *name)
{
    const char   *id = name + sizeof("__uploads/") - 1, *slash;
    slack_pair_t *p;

    slash = strchr(id, '/');
    if (slash == NULL || slash == id || slash[1] == '\0') {
        return 0;
    }

    if (in->nfiles == in->files_cap) {
        in->files_cap = in->files_cap ? in->files_cap * 2 : 64;
        p = realloc(in->files, (size_t) in->files_cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        in->files = p;
    }

    in->files[in->nfiles].key = strndup(id, (size_t) (slash - id));
    in->files[in->nfiles].value = strdup(name);
    in->nfiles++;

    return 0;
}

/* Which members are read, in which order; the others are skipped. */
static int
slack_plan(slack_ingest_t *in)
{
    long        i, n = slack_zip_count(&in->zip);
    const char *name, *slash, *kind;
    size_t      len;

    in->plan = calloc((size_t) n + 2, sizeof(slack_member_t));
    if (in->plan == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        name = slack_zip_name(&in->zip, i);
        if (name == NULL) {
            const char *raw = zip_get_name(in->zip.zip, (zip_uint64_t) i, 0);

            slack_error(in, raw ? raw : "?",
                "refused: not a safe relative member name");
            continue;
        }

        len = strlen(name);
        slash = strchr(name, '/');
        kind = slack_kind(name);

        slack_member_t *m = &in->plan[in->nplan];
        m->index = i;
        m->name = name;

        if (strcmp(name, "users.json") == 0) {
            m->role = SLACK_M_USERS;
        } else if (kind) {
            m->role = SLACK_M_CHANNELS;
            m->kind = kind;
        } else if (strcmp(name, "emoji.json") == 0) {
            m->role = SLACK_M_EMOJI;
        } else if (strncmp(name, "__uploads/", 10) == 0) {
            if (slack_plan_upload(in, name) != 0) {
                return -1;
            }
            continue;
        } else if (slash && slash != name && strchr(slash + 1, '/') == NULL
            && len > 5 && strcmp(name + len - 5, ".json") == 0)
        {
            m->role = SLACK_M_DAY;
        } else {
            log_debug(in->job->worker, "slack upload %s: %s skipped",
                in->job->id, name);
            continue;
        }

        in->nplan++;
    }

    /* no emoji.json: Slack's emoji.list, when there is a token to ask */
    if (in->job->ferry->cfg.slack_token[0]) {
        for (i = 0; i < in->nplan && in->plan[i].role != SLACK_M_EMOJI; i++) {
            /* void */
        }
        if (i == in->nplan) {
            in->plan[in->nplan].index = -1;
            in->plan[in->nplan].role = SLACK_M_EMOJI;
            in->plan[in->nplan].name = "emoji.list";
            in->nplan++;
        }
    }

    qsort(in->plan, (size_t) in->nplan, sizeof(slack_member_t), slack_plan_cmp);
    if (in->nfiles) {
        qsort(in->files, (size_t) in->nfiles, sizeof(slack_pair_t),
            slack_pair_cmp);
    }

    return 0;
}

/* Reads one member of the plan; commits its last rows and moves on. */
static void
slack_read_member(slack_ingest_t *in)
{
    const slack_member_t *m = &in->plan[in->member];
    char                  folder[1024];
    size_t                flen;

    switch (m->role) {

    case SLACK_M_EMOJI:
        slack_read_emoji(in, m);
        break;

    case SLACK_M_DAY:
        if (in->folders == NULL) {
            /* the channels read so far must be in the table to be found */
            in->stop = slack_commit(in, 1);
            if (in->stop != SLACK_GO_ON) {
                return;
            }

            if (slack_load_folders(in) != 0) {
                in->stop = SLACK_FAIL;
                return;
            }
        }

        flen = (size_t) (strchr(m->name, '/') - m->name);
        snprintf(folder, sizeof(folder), "%.*s", (int) flen, m->name);
        in->channel_id = slack_pair_find(in->folders, in->nfolders, folder);

        if (in->channel_id == NULL) {
            slack_error(
                in, m->name, "no channel named %s in the export", folder);
            break;
        }

        slack_read_array(in, m);
        break;

    default:
        slack_read_array(in, m);
    }

    if (in->stop != SLACK_GO_ON) {
        return;
    }

    /* the member is done; its rows commit with the next batch, whichever
     * member that ends in (a commit per day file would cost more than the
     * rows) */
    in->member++;
    in->element = 0;
    in->skip = 0;
}


/* A file shared again after a resume is not a new attachment: the files
 * of the rows this job wrote before it stopped are seen already. (A file
 * an earlier upload wrote, unchanged, is not among them: shared both
 * before and after the stop, it counts twice.) */
static int
slack_resume_files(slack_ingest_t *in)
{
    const char *params[1] = { in->job->id };
    PGresult   *res;
    int         i, rc = 0;

    res = db_query(in->job->conn,
        "SELECT slack_id FROM entities WHERE entity_type = 'attachment' "
        "AND job_id = $1::uuid",
        1, params);
    if (res == NULL) {
        return -1;
    }

    for (i = 0; i < PQntuples(res) && rc == 0; i++) {
        rc = slack_rows_file_seen(&in->rows, PQgetvalue(res, i, 0));
    }

    PQclear(res);

    return rc;
}

/* Where an earlier run of this job stopped. */
static void
slack_resume(slack_ingest_t *in, const char *progress)
{
    cJSON *p, *c;
    int    i;

    p = cJSON_Parse(progress);

    in->member = ferry_json_long(p, "member");
    in->skip = ferry_json_long(p, "element");
    c = cJSON_GetObjectItemCaseSensitive(p, "member_name");
    if (cJSON_IsString(c)) {
        in->resume_name = strdup(c->valuestring);
    }
    in->error_count = ferry_json_long(p, "error_count");

    c = cJSON_GetObjectItemCaseSensitive(p, "counts");
    for (i = 0; i < SLACK_NTYPES; i++) {
        in->counts[i] = ferry_json_long(c, slack_type_names[i]);
    }

    c = cJSON_GetObjectItemCaseSensitive(p, "errors");
    if (cJSON_IsArray(c)) {
        cJSON_Delete(in->errors);
        in->errors = cJSON_Duplicate(c, 1);
    }

    cJSON_Delete(p);
}

static void
slack_finish(slack_ingest_t *in, const char *status, const char *error,
    const char *zip_path)
{
    job_t *job = in->job;
    char  *progress;
    int    rc;

    progress = slack_progress_json(in);
    rc = job_finish(job, status, progress, error);
    free(progress);

    if (rc != 1) {
        return;
    }

    /* a done upload keeps its zip: attachments' bytes are read from it at
     * export time; a failed one has no use for it */
    if (strcmp(status, "done") != 0 && zip_path && unlink(zip_path) != 0
        && errno != ENOENT)
    {
        log_warn(job->worker, "slack upload %s: cannot remove %s: %s", job->id,
            zip_path, strerror(errno));
    }

    log_info(job->worker,
        "slack upload %s %s: %ld users, %ld channels, %ld messages, "
        "%ld reactions, %ld attachments, %ld custom emoji, %ld error(s)%s%s",
        job->id, status, in->counts[SLACK_USER], in->counts[SLACK_CHANNEL],
        in->counts[SLACK_MESSAGE], in->counts[SLACK_REACTION],
        in->counts[SLACK_ATTACHMENT], in->counts[SLACK_CUSTOM_EMOJI],
        in->error_count, error ? ": " : "", error ? error : "");
}

/* Between relation statements: still this runner's job? */
static int
slack_beat(void *data)
{
    return job_progress(data, NULL) == 1 ? 0 : -1;
}

/* A fresh run derives its batches' relations while it reads (a resumed
 * one in its final pass), on a second connection, for the ids above the
 * sequence's value now. */
static void
slack_follow_batches(slack_ingest_t *in, PGconn *extra)
{
    PGresult *res;

    res = db_query(in->job->conn, SLACK_IDS_SQL, 0, NULL);

    if (res && PQntuples(res) == 1) {
        in->start_id = atoll(PQgetvalue(res, 0, 0));
        in->following = slack_follow_start(&in->follow, extra, in->job->id,
                            in->job->worker, in->start_id)
            == 0;
    }

    PQclear(res);
}

/* What the following left: the relations of rows that were there before
 * the upload (its ids up to start_id) and the reverse side; every
 * relation when the following did not run or failed. Two relation types
 * at once when there is a second connection: the pass is PostgreSQL's
 * work, two cores. */
static int
slack_final_relations(
    slack_ingest_t *in, PGconn *extra, char *err, size_t errlen)
{
    long long upto = LLONG_MAX;

    if (in->following) {
        in->following = 0;

        if (slack_follow_finish(&in->follow, 1) == 0) {
            upto = in->start_id;
        } else {
            log_warn(in->job->worker,
                "slack upload %s: relations while reading: %s; all of them "
                "at the end instead",
                in->job->id, in->follow.err);
        }
    }

    return slack_relations(in->job->conn, extra, in->job->id,
        SLACK_RELATIONS_FORWARD | SLACK_RELATIONS_REVERSE, 0, upto, slack_beat,
        in->job, err, errlen);
}

void
slack_ingest_run(job_t *job)
{
    slack_ingest_t in;
    cJSON         *params, *path;
    char           err[512];
    const char    *zip_path = NULL;
    PGconn        *extra = NULL;

    memset(&in, 0, sizeof(in));
    in.job = job;
    in.errors = cJSON_CreateArray();

    params = cJSON_Parse(job->params);
    path = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(params, "file"), "path");

    if (!cJSON_IsString(path)) {
        slack_finish(&in, "failed", "the job has no file", NULL);
        goto done;
    }

    zip_path = path->valuestring;
    slack_resume(&in, job->progress);

    if ((in.member || in.skip) && slack_resume_files(&in) != 0) {
        log_warn(job->worker,
            "slack upload %s: the files it read before it stopped: %s; to be "
            "resumed",
            job->id, PQerrorMessage(job->conn));
        goto done;
    }

    if (in.member || in.skip) {
        log_info(job->worker,
            "slack upload %s: resuming at member %ld, "
            "element %ld",
            job->id, in.member, in.skip);
    }

    if (slack_zip_open(&in.zip, zip_path,
            (uint64_t) job->ferry->cfg.slack_zip_max_bytes,
            (uint64_t) job->ferry->cfg.slack_zip_max_ratio, err, sizeof(err))
        != 0)
    {
        slack_finish(&in, "failed", err, zip_path);
        goto done;
    }

    if (slack_plan(&in) != 0) {
        slack_finish(&in, "failed", "out of memory", zip_path);
        goto done;
    }

    if (in.nplan == 0
        || (in.plan[0].role != SLACK_M_USERS
            && in.plan[0].role != SLACK_M_CHANNELS))
    {
        slack_finish(&in, "failed",
            "no users.json or channels.json at the top of the zip: not a "
            "Slack workspace export (or one inside a folder)",
            zip_path);
        goto done;
    }

    /* where the earlier run stopped, by name: the plan may have changed */
    if (in.resume_name) {
        long i;

        for (i = 0; i < in.nplan; i++) {
            if (strcmp(in.plan[i].name, in.resume_name) == 0) {
                in.member = i;
                break;
            }
        }
    }

    extra = db_acquire(job->ferry->db);
    if (extra && in.member == 0 && in.skip == 0) {
        slack_follow_batches(&in, extra);
    }

    while (in.member < in.nplan && in.stop == SLACK_GO_ON) {
        slack_read_member(&in);

        if (in.zip.total > in.zip.max_total) {
            (void) slack_wait(&in);
            slack_finish(&in, "failed",
                "the archive inflates to more than SLACK_ZIP_MAX_BYTES",
                zip_path);
            goto done;
        }
    }

    /* the last rows, and the progress that says every member was read */
    if (in.stop == SLACK_GO_ON) {
        in.stop = slack_commit(&in, 1);
    } else {
        /* a batch read before the stop may still commit */
        (void) slack_wait(&in);
    }

    if (in.stop == SLACK_GO_ON
        && slack_final_relations(&in, extra, err, sizeof(err)) != 0)
    {
        log_error(job->worker, "slack upload %s: relations: %s", job->id, err);
        in.stop = SLACK_FAIL;
    }

    switch (in.stop) {
    case SLACK_GO_ON:
        slack_finish(&in, "done", NULL, zip_path);
        break;

    case SLACK_STOP:
        if (job_is_cancelled(job) == 1) {
            log_info(job->worker, "slack upload %s cancelled", job->id);
            unlink(zip_path);
        } else if (*job->stop) {
            job_hand_back(job);
            log_info(job->worker, "slack upload %s: handed back", job->id);
        }
        break;

    default:
        /* a database failure: the job is taken up again */
        log_warn(job->worker,
            "slack upload %s: stopped at member %ld, to be "
            "resumed",
            job->id, in.member);
    }

done:

    if (in.following) {
        (void) slack_follow_finish(&in.follow, 0);
    }
    if (extra) {
        db_release(job->ferry->db, extra);
    }

    slack_zip_close(&in.zip);
    slack_rows_free(&in.rows);
    slack_pairs_free(in.folders, in.nfolders);
    slack_pairs_free(in.files, in.nfiles);
    free(in.plan);
    free(in.resume_name);
    cJSON_Delete(in.errors);
    cJSON_Delete(params);
}
