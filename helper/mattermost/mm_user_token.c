/*
 * The tokens are kept in memory only; their ids go to export_tokens in the
 * same step as the minting, so a crash leaves nothing unrevoked for long:
 * the resumed job revokes them at its end. A user's token is minted
 * outside the table's lock (a round trip to Mattermost each, thousands at
 * the start of a large export, which would otherwise stop every worker in
 * turn); the user's entry says it is being minted, and another worker that
 * needs the same user waits for it: two workers never mint twice for one
 * user. The revocation at the end goes EXPORT_WORKERS at a time.
 */
#include "mm_user_token.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "ferry_map.h"
#include "mm_client.h"
#include "mm_phase.h"

/* what the minted tokens say they are for, and an id not yet known */
#define MM_TOKEN_DESC    "ferry export "
#define MM_TOKEN_MINTING "minting:"

/* a user's entry, made once and then changed in place under the lock */
typedef struct {
    int  minting;
    char token[MM_TOKEN_LEN]; /* "" until minted */
    char refused[256];        /* why Mattermost refused one: not asked again */
} mm_token_t;

/* user id -> mm_token_t (malloc'd) */
struct mm_tokens_s {
    pthread_mutex_t lock;
    pthread_cond_t  minted;
    ferry_map_t     map;
};

mm_tokens_t *
mm_tokens_create(void)
{
    mm_tokens_t *t = calloc(1, sizeof(*t));

    if (t != NULL) {
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->minted, NULL);
    }

    return t;
}

/* the tokens are secrets: not left in freed memory */
static void
mm_token_free(void *p)
{
    explicit_bzero(p, sizeof(mm_token_t));
    free(p);
}

void
mm_tokens_free(mm_tokens_t *t)
{
    if (t == NULL) {
        return;
    }

    ferry_map_free(&t->map, mm_token_free);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->minted);
    free(t);
}

/* POST /users/{id}/tokens, its id listed for the revocation; 0 or -1. */
static int
mm_token_mint(
    mm_export_t *x, const char *user_id, char *out, char *err, size_t errlen)
{
    char        path[256], desc[128];
    const char *id, *token, *p[3];
    cJSON      *body;
    mm_resp_t   r;
    int         rc = -1, placed;

    snprintf(path, sizeof(path), "/api/v4/users/%s/tokens", user_id);
    snprintf(desc, sizeof(desc), MM_TOKEN_DESC "%s", x->job_id);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "description", desc);

    /* listed before it exists: a crash between Mattermost's answer and the
     * listing of its id still leaves the user's name for the revocation */
    p[0] = x->job_id;
    p[1] = user_id;
    placed = db_run(x->conn,
        "INSERT INTO export_tokens (job_id, token_id, user_id) "
        "VALUES ($1::uuid, '" MM_TOKEN_MINTING "' || $2, $2) "
        "ON CONFLICT DO NOTHING",
        2, p);
    if (placed < 0) {
        snprintf(
            err, errlen, "cannot list a token: %s", PQerrorMessage(x->conn));
        cJSON_Delete(body);
        return -1;
    }

    if (mm_call(x->ferry, NULL, "POST", path, body, 0, &r) != 0) {
        snprintf(err, errlen, "cannot get a token for user %s: %s", user_id,
            r.message);
        /* refused (tokens off, a deactivated user): as good as final */
        rc = r.status >= 400 && r.status < 500 ? -2 : -1;
        goto done;
    }

    id = ferry_json_str(r.json, "id");
    token = ferry_json_str(r.json, "token");
    if (id == NULL || token == NULL || strlen(token) >= MM_TOKEN_LEN) {
        snprintf(err, errlen, "cannot get a token for user %s: %s", user_id,
            "Mattermost's answer holds none");
        goto done;
    }

    /* a placeholder that was there already (a run killed while it minted,
     * maybe after Mattermost made the token) stays: at the end the user's
     * tokens are looked up by their description, that one among them */
    p[0] = x->job_id;
    p[1] = id;
    p[2] = user_id;
    if (db_run(x->conn,
            placed ? "UPDATE export_tokens SET token_id = $2 "
                     "WHERE job_id = $1::uuid "
                     "AND token_id = '" MM_TOKEN_MINTING "' || $3"
                   : "INSERT INTO export_tokens (job_id, token_id, user_id) "
                     "VALUES ($1::uuid, $2, $3)",
            3, p)
        != 1)
    {
        snprintf(
            err, errlen, "cannot list a token: %s", PQerrorMessage(x->conn));
        goto done;
    }

    snprintf(out, MM_TOKEN_LEN, "%s", token);
    log_debug(x->worker, "export %s: a token for user %s", x->job_id, user_id);
    rc = 0;

done:

    mm_resp_free(&r);
    cJSON_Delete(body);

    return rc;
}

int
mm_user_token(
    mm_export_t *x, const char *user_id, char *out, char *err, size_t errlen)
{
    mm_tokens_t *t = x->tokens;
    mm_token_t  *s;
    int          rc;

    if (x->mode != MM_MODE_API || strcmp(user_id, x->owner_id) == 0) {
        snprintf(out, MM_TOKEN_LEN, "%s", x->ferry->cfg.mm_token);
        return 0;
    }

    pthread_mutex_lock(&t->lock);

    s = ferry_map_get(&t->map, user_id);
    if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL
        && ferry_map_put(&t->map, user_id, s) == NULL)
    {
        free(s);
        s = NULL;
    }
    if (s == NULL) {
        pthread_mutex_unlock(&t->lock);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    while (s->minting) {
        pthread_cond_wait(&t->minted, &t->lock);
    }
    if (s->token[0]) {
        snprintf(out, MM_TOKEN_LEN, "%s", s->token);
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    if (s->refused[0]) {
        snprintf(err, errlen, "%s", s->refused);
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    s->minting = 1;
    pthread_mutex_unlock(&t->lock);

    /* a mint that got no answer leaves no token: the next call tries
     * again; a refusal is kept for the user's other entities */
    rc = mm_token_mint(x, user_id, out, err, errlen);

    pthread_mutex_lock(&t->lock);
    if (rc == 0) {
        snprintf(s->token, sizeof(s->token), "%s", out);
    } else if (rc == -2) {
        snprintf(s->refused, sizeof(s->refused), "%s", err);
        rc = -1;
    }
    s->minting = 0;
    pthread_cond_broadcast(&t->minted);
    pthread_mutex_unlock(&t->lock);

    return rc;
}

/* One user's token minted ahead; one that cannot be had is left for the
 * entity that needs it to report. */
static int
mm_token_ahead(mm_export_t *x, const char *user_id, void *arg)
{
    char token[MM_TOKEN_LEN], err[512];

    (void) arg;

    if (mm_user_token(x, user_id, token, err, sizeof(err)) != 0) {
        log_debug(x->worker, "export %s: no token ahead for user %s: %s",
            x->job_id, user_id, err);
    }
    explicit_bzero(token, sizeof(token));

    return 0;
}

int
mm_tokens_mint_ahead(mm_export_t *x, job_t *job, const char *sql)
{
    PGresult *res;
    long      done = 0;
    int       rc;

    if (x->tokens == NULL) {
        return 0;
    }

    res = db_query(x->conn, sql, 0, NULL);
    if (res == NULL) {
        return -1;
    }
    rc = mm_phase_run(x, job, res, job->ferry->cfg.export_workers,
        mm_token_ahead, NULL, &done);
    PQclear(res);

    return rc;
}

/* 0 when the token is revoked or gone, -1 when Mattermost refused. */
static int
mm_token_revoke(mm_export_t *x, const char *token_id)
{
    cJSON    *body;
    mm_resp_t r;
    int       gone;

    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "token_id", token_id);

    /* a token already gone (its user deleted, revoked by hand) is as good
     * as revoked */
    gone = mm_call(x->ferry, NULL, "POST", "/api/v4/users/tokens/revoke", body,
               1, &r)
            == 0
        || r.status == 404;
    if (!gone) {
        log_warn(x->worker, "export %s: cannot revoke token %s: %s", x->job_id,
            token_id, r.message);
    }
    mm_resp_free(&r);
    cJSON_Delete(body);

    return gone ? 0 : -1;
}

/* The tokens of a user that this job may have minted without listing their
 * ids (a crash in between): found by their description. */
static int
mm_token_revoke_unlisted(mm_export_t *x, const char *user_id)
{
    char         path[256], desc[128];
    const cJSON *t;
    mm_resp_t    r;
    int          page, n = 200, rc = 0;

    snprintf(desc, sizeof(desc), MM_TOKEN_DESC "%s", x->job_id);

    /* every page: a user may have many tokens of their own */
    for (page = 0; n == 200 && rc == 0; page++) {
        snprintf(path, sizeof(path),
            "/api/v4/users/%s/tokens?page=%d&per_page=200", user_id, page);
        if (mm_call(x->ferry, NULL, "GET", path, NULL, 0, &r) != 0) {
            rc = r.status == 404 ? 0 : -1;
            mm_resp_free(&r);
            return rc;
        }

        n = cJSON_GetArraySize(r.json);
        cJSON_ArrayForEach(t, r.json)
        {
            if (ferry_json_str(t, "description")
                && strcmp(ferry_json_str(t, "description"), desc) == 0
                && ferry_json_str(t, "id")
                && mm_token_revoke(x, ferry_json_str(t, "id")) != 0)
            {
                rc = -1;
            }
        }
        mm_resp_free(&r);
    }

    return rc;
}

/* One listed token revoked (or a user's unlisted ones, for a row still
 * 'minting:<user>') and unlisted; one Mattermost would not revoke stays
 * listed, for the next run, and is counted in *arg. */
static int
mm_token_revoke_listed(mm_export_t *x, const char *token_id, void *arg)
{
    const char *p[2] = { x->job_id, token_id };
    atomic_int *kept = arg;
    int         gone;

    gone =
        strncmp(token_id, MM_TOKEN_MINTING, sizeof(MM_TOKEN_MINTING) - 1) == 0
        ? mm_token_revoke_unlisted(x, token_id + sizeof(MM_TOKEN_MINTING) - 1)
        : mm_token_revoke(x, token_id);
    if (gone != 0) {
        atomic_fetch_add(kept, 1);
        return 0;
    }

    return db_run(x->conn,
               "DELETE FROM export_tokens WHERE job_id = $1::uuid "
               "AND token_id = $2",
               2, p)
            < 0
        ? -1
        : 0;
}

int
mm_tokens_revoke(mm_export_t *x, job_t *job)
{
    const char *p[1] = { x->job_id };
    PGresult   *res;
    atomic_int  kept = 0;
    long        done = 0;
    int         rc;

    res = db_query(x->conn,
        "SELECT token_id FROM export_tokens WHERE job_id = $1::uuid", 1, p);
    if (res == NULL) {
        return -1;
    }

    rc = mm_phase_run(x, job, res, job->ferry->cfg.export_workers,
        mm_token_revoke_listed, &kept, &done);

    if (PQntuples(res)) {
        log_info(x->worker, "export %s: %ld user token(s) revoked", x->job_id,
            done - kept);
    }
    PQclear(res);

    pthread_mutex_lock(&x->tokens->lock);
    ferry_map_free(&x->tokens->map, mm_token_free);
    pthread_mutex_unlock(&x->tokens->lock);

    return rc != 0 || kept ? -1 : 0;
}

void
mm_tokens_revoke_orphaned(ferryd_t *ferry, const char *job_id)
{
    mm_export_t x;
    const char *p[1] = { job_id };
    PGresult   *res;
    atomic_int  kept = 0;
    int         i, rc = 0;

    memset(&x, 0, sizeof(x));
    x.ferry = ferry;
    x.job_id = job_id;
    x.worker = "export";
    x.mode = MM_MODE_API;

    x.conn = db_acquire(ferry->db);
    if (x.conn == NULL) {
        log_warn(x.worker,
            "export %s ended without its runner: no database connection to "
            "revoke its user tokens",
            job_id);
        return;
    }

    res = db_query(x.conn,
        "SELECT token_id FROM export_tokens WHERE job_id = $1::uuid", 1, p);
    if (res == NULL) {
        log_warn(x.worker,
            "export %s ended without its runner: its user tokens: %s", job_id,
            PQerrorMessage(x.conn));
    }
    for (i = 0; res && i < PQntuples(res) && rc == 0; i++) {
        rc = mm_token_revoke_listed(&x, PQgetvalue(res, i, 0), &kept);
    }
    if (res && PQntuples(res)) {
        log_info(x.worker,
            "export %s ended without its runner: %d of %d "
            "user token(s) revoked",
            job_id, PQntuples(res) - (int) kept, PQntuples(res));
    }
    PQclear(res);
    db_release(ferry->db, x.conn);
}
