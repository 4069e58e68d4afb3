/*
 * Claiming and running jobs. A claim is one UPDATE ... WHERE id = (SELECT
 * ... FOR UPDATE SKIP LOCKED): two runners never get the same job, and a
 * stale "processing" job (no heartbeat for JOB_STALE_SECONDS) is claimable
 * again. Runners stopped by SIGTERM hand their job back as pending.
 */
#include "jobs.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"

struct jobs_s {
    ferryd_t    *ferry;
    char         kinds[256]; /* {import,...}: what the runners claim */
    pthread_t   *threads;
    int          n;
    volatile int stop;

    pthread_mutex_t lock;
    pthread_cond_t  cond;
    unsigned        wakeups;
};

typedef struct {
    jobs_t *jobs;
    int     index;
} runner_arg_t;

#define JOBS_IDLE_MS 250

#define JOBS_MAX_ATTEMPTS         5
#define JOBS_SELF_RETRY_SECONDS_S "5"
#define JOBS_MAX_ATTEMPTS_S       "5"

const job_kind_t *
job_kind(const char *name)
{
    int i;

    for (i = 0; i < job_nkinds; i++) {
        if (strcmp(job_kinds[i].name, name) == 0) {
            return &job_kinds[i];
        }
    }

    return NULL;
}

int
job_new_id(PGconn *conn, char id[JOB_ID_LEN])
{
    PGresult *res;
    int       rc = -1;

    res = PQexec(conn, "SELECT gen_random_uuid()");

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(id, JOB_ID_LEN, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    }

    PQclear(res);

    return rc;
}

int
job_create(PGconn *conn, const char *id, const char *kind, const char *owner,
    const char *params)
{
    const char *p[4] = { id, kind, owner, params };

    return db_run(conn,
               "INSERT INTO jobs (id, kind, owner, params) "
               "VALUES ($1, $2, $3, $4::jsonb)",
               4, p)
            == 1
        ? 0
        : -1;
}

/* clang-format off */
#define JOB_PROGRESS_SQL(progress, id, worker)                                \
    "UPDATE jobs SET progress = coalesce(" progress "::jsonb, progress), "    \
    "heartbeat_at = now() "                                                   \
    "WHERE id = " id " AND worker = " worker " AND status = 'processing'"
/* clang-format on */

int
job_progress(job_t *job, const char *progress)
{
    const char *p[3] = { job->id, job->worker, progress };

    return db_run(job->conn, JOB_PROGRESS_SQL("$3", "$1", "$2"), 3, p);
}

char *
job_progress_stmt(job_t *job, PGconn *conn, const char *progress)
{
    char *id, *worker, *json, *sql = NULL;

    id = PQescapeLiteral(conn, job->id, strlen(job->id));
    worker = PQescapeLiteral(conn, job->worker, strlen(job->worker));
    json = PQescapeLiteral(conn, progress, strlen(progress));

    /* no row updated: a division by zero fails the statement, and with it
     * the transaction it belongs to */
    /* clang-format off */
    if (id && worker && json
        && asprintf(&sql, "WITH u AS ("
               JOB_PROGRESS_SQL("%s", "%s", "%s")
               " RETURNING 1) SELECT 1 / count(*) FROM u", json, id, worker)
            < 0)
    {
        sql = NULL;
    }
    /* clang-format on */

    PQfreemem(id);
    PQfreemem(worker);
    PQfreemem(json);

    return sql;
}

int
job_finish(
    job_t *job, const char *status, const char *progress, const char *error)
{
    const char *p[5] = { job->id, job->worker, status, progress, error };

    return db_run(job->conn,
        "UPDATE jobs SET status = $3, "
        "progress = coalesce($4::jsonb, progress), error = $5, "
        "finished_at = now(), heartbeat_at = now() "
        "WHERE id = $1 AND worker = $2 AND status = 'processing'",
        5, p);
}

void
job_hand_back(job_t *job)
{
    const char *p[2] = { job->id, job->worker };

    (void) db_run(job->conn,
        "UPDATE jobs SET status = 'pending', worker = NULL, "
        "attempts = greatest(attempts - 1, 0) "
        "WHERE id = $1 AND worker = $2 AND status = 'processing'",
        2, p);
}

int
job_is_cancelled(job_t *job)
{
    const char *p[1] = { job->id };

    return db_run(job->conn,
        "SELECT 1 FROM jobs WHERE id = $1 AND status = 'cancelled'", 1, p);
}

int
job_cancel(ferryd_t *ferry, PGconn *conn, const char *kind, const char *id,
    const char *owner, char before[16])
{
    const char       *p[3] = { id, owner, kind };
    const job_kind_t *k;
    PGresult         *res;
    int               rc;

    res = db_query(conn,
        "WITH j AS (SELECT id, status AS before FROM jobs "
        "WHERE id::text = $1 AND owner = $2 AND kind = $3 FOR UPDATE), "
        "c AS (UPDATE jobs SET status = 'cancelled', finished_at = now() "
        "FROM j WHERE jobs.id = j.id AND j.before IN ('pending', 'processing') "
        "RETURNING jobs.id, jobs.params) "
        "SELECT j.before, c.params FROM j LEFT JOIN c ON c.id = j.id",
        3, p);

    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }

    snprintf(before, 16, "%s", PQgetvalue(res, 0, 0));
    rc = PQgetisnull(res, 0, 1) ? 2 : 1;

    /* a pending job has no runner to clean up after it */
    k = job_kind(kind);
    if (rc == 1 && strcmp(before, "pending") == 0 && k && k->cancel) {
        k->cancel(ferry, id, PQgetvalue(res, 0, 1));
    }

    PQclear(res);

    return rc;
}

/* Waits up to ms, or until jobs_notify() or jobs_stop(). */
static void
jobs_sleep_ms(jobs_t *jobs, int ms)
{
    struct timespec ts;
    unsigned        seen;

    thread_deadline(&ts, CLOCK_REALTIME, ms);

    pthread_mutex_lock(&jobs->lock);
    seen = jobs->wakeups;
    while (!jobs->stop && jobs->wakeups == seen) {
        if (pthread_cond_timedwait(&jobs->cond, &jobs->lock, &ts) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&jobs->lock);
}

void
jobs_notify(jobs_t *jobs)
{
    if (jobs == NULL) {
        return;
    }

    pthread_mutex_lock(&jobs->lock);
    jobs->wakeups++;
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->lock);
}

/*
 * A processing job can be claimed again when its runner is known to be
 * gone: nobody holds its runner's advisory lock any more (the runner's
 * session ended: a ferryd killed, a connection lost); or it names this very
 * runner ($1), which is looking for work, so the job is an orphan of its own
 * (a batch failed under it), taken back after JOBS_SELF_RETRY_SECONDS, not at
 * once, so that a lasting failure does not spend every attempt in a blink.
 * The heartbeat's age ($2, JOB_STALE_SECONDS) decides only for a job whose
 * runner took no lock. A live runner keeps its job however long a
 * statement of it runs.
 */
/* clang-format off */
#define JOBS_CLAIM_SQL                                                         \
    "UPDATE jobs SET status = 'processing', worker = $1, "                     \
    "runner_lock = $4::bigint, heartbeat_at = now(), "                         \
    "started_at = coalesce(started_at, now()), attempts = attempts + 1 "       \
    "WHERE id = (SELECT id FROM jobs j WHERE kind = ANY ($3::text[]) AND "     \
    "(status = 'pending' OR (status = 'processing' AND ("                      \
    "(runner_lock IS NULL "                                                    \
    "AND heartbeat_at < now() - $2::int * interval '1 second') "               \
    "OR (worker = $1 AND heartbeat_at < now() - interval '"                    \
    JOBS_SELF_RETRY_SECONDS_S " seconds') "                                    \
    "OR (runner_lock IS NOT NULL AND worker <> $1 AND NOT EXISTS (SELECT 1 "   \
    "FROM pg_locks l "                                                         \
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "          \
    "AND l.database = (SELECT oid FROM pg_database "                           \
    "WHERE datname = current_database()) "                                     \
    "AND (l.classid::bigint << 32 | l.objid::bigint) = j.runner_lock))))) "    \
    "ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) "                     \
    "RETURNING id, kind, owner, params, progress, attempts"
/* clang-format on */

/*
 * Takes a session advisory lock under a random key on a runner's new
 * connection, and writes the key to out. It lives as long as the session:
 * PostgreSQL drops it when the runner's process or connection dies.
 */
static int
jobs_lock(PGconn *conn, char *out, size_t outlen)
{
    unsigned long long key;
    const char        *params[1];
    int                tries, rc;

    for (tries = 0; tries < 8; tries++) {
        if (RAND_bytes((unsigned char *) &key, sizeof(key)) != 1) {
            return -1;
        }

        /* non-negative, so that classid << 32 | objid gives it back */
        key &= 0x3fffffffffffffffULL;
        snprintf(out, outlen, "%llu", key);
        params[0] = out;

        rc = db_run(
            conn, "SELECT 1 WHERE pg_try_advisory_lock($1::bigint)", 1, params);
        if (rc != 0) {
            return rc == 1 ? 0 : -1;
        }
    }

    return -1;
}

/* One claim; 1 when a job ran, 0 when there was none, -1 on a DB error. */
static int
jobs_run_one(jobs_t *jobs, PGconn *conn, const char *worker, const char *lock)
{
    char              stale[16];
    const char       *params[4];
    const job_kind_t *kind;
    PGresult         *res;
    job_t             job;

    snprintf(stale, sizeof(stale), "%d", jobs->ferry->cfg.job_stale_seconds);
    params[0] = worker;
    params[1] = stale;
    params[2] = jobs->kinds;
    params[3] = lock;

    res = db_query(conn, JOBS_CLAIM_SQL, 4, params);

    if (res == NULL) {
        log_error(worker, "claiming a job: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }

    memset(&job, 0, sizeof(job));
    job.ferry = jobs->ferry;
    job.conn = conn;
    job.id = PQgetvalue(res, 0, 0);
    job.kind = PQgetvalue(res, 0, 1);
    job.worker = worker;
    job.owner = PQgetvalue(res, 0, 2);
    job.params = PQgetvalue(res, 0, 3);
    job.progress = PQgetvalue(res, 0, 4);
    job.stop = &jobs->stop;

    log_info(worker, "job %s (%s) claimed, attempt %s", job.id,
        PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 5));

    kind = job_kind(job.kind);

    if (atoi(PQgetvalue(res, 0, 5)) > JOBS_MAX_ATTEMPTS) {
        /* it failed the same way every time: stop trying */
        if (job_finish(&job, "failed", NULL,
                "gave up after " JOBS_MAX_ATTEMPTS_S
                " attempts (see the ferryd log)")
                == 1
            && kind->cancel)
        {
            /* a final state: what the job held is not needed any more */
            kind->cancel(jobs->ferry, job.id, job.params);
        }

        log_error(worker, "job %s failed: gave up after %d attempts", job.id,
            JOBS_MAX_ATTEMPTS);
        PQclear(res);
        return 1;
    }

    kind->run(&job);

    PQclear(res);

    return 1;
}

static void *
jobs_main(void *data)
{
    runner_arg_t *arg = data;
    jobs_t       *jobs = arg->jobs;
    char          worker[112], host[64], err[256], lock[24];
    unsigned      nonce;
    PGconn       *conn = NULL;
    int           rc, backoff = 0;

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "ferryd");
    }
    host[sizeof(host) - 1] = '\0';
    /* host:pid names a process only where hosts differ; the nonce makes it
     * one of its own where they do not (containers all running as pid 1) */
    if (RAND_bytes((unsigned char *) &nonce, sizeof(nonce)) != 1) {
        nonce = (unsigned) time(NULL) ^ (unsigned) getpid();
    }
    snprintf(worker, sizeof(worker), "%s:%d:runner-%d:%08x", host,
        (int) getpid(), arg->index, nonce);

    while (!jobs->stop) {
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            conn = db_connect(jobs->ferry->cfg.database_url,
                jobs->ferry->cfg.db_connect_timeout, err, sizeof(err));
            if (conn == NULL) {
                if (backoff == 0) {
                    log_warn(worker, "cannot connect to PostgreSQL: %s", err);
                }
                backoff = backoff ? (backoff < 5000 ? backoff * 2 : 5000) : 250;
                jobs_sleep_ms(jobs, backoff);
                continue;
            }
            backoff = 0;

            if (jobs_lock(conn, lock, sizeof(lock)) != 0) {
                log_warn(worker, "cannot take a runner lock: %s",
                    PQerrorMessage(conn));
                PQfinish(conn);
                conn = NULL;
                jobs_sleep_ms(jobs, 1000);
                continue;
            }
        }

        rc = jobs_run_one(jobs, conn, worker, lock);

        if (rc == 0) {
            jobs_sleep_ms(jobs, JOBS_IDLE_MS);
        } else if (rc < 0) {
            jobs_sleep_ms(jobs, 1000);
        }
    }

    PQfinish(conn);
    free(arg);

    return NULL;
}

jobs_t *
jobs_start(ferryd_t *ferry)
{
    jobs_t       *jobs;
    runner_arg_t *arg;
    int           i, n;

    jobs = calloc(1, sizeof(*jobs));
    if (jobs == NULL) {
        return NULL;
    }

    jobs->ferry = ferry;

    n = snprintf(jobs->kinds, sizeof(jobs->kinds), "{");
    for (i = 0; i < job_nkinds; i++) {
        n += snprintf(jobs->kinds + n, sizeof(jobs->kinds) - (size_t) n, "%s%s",
            i ? "," : "", job_kinds[i].name);
    }
    snprintf(jobs->kinds + n, sizeof(jobs->kinds) - (size_t) n, "}");
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_cond_init(&jobs->cond, NULL);
    jobs->threads =
        calloc((size_t) (ferry->cfg.job_workers + 1), sizeof(pthread_t));
    if (jobs->threads == NULL) {
        free(jobs);
        return NULL;
    }

    for (i = 0; i < ferry->cfg.job_workers; i++) {
        arg = malloc(sizeof(*arg));
        if (arg == NULL) {
            break;
        }
        arg->jobs = jobs;
        arg->index = i + 1;

        if (thread_start(&jobs->threads[i], jobs_main, arg) != 0) {
            free(arg);
            break;
        }
        jobs->n++;
    }

    return jobs;
}

void
jobs_stop(jobs_t *jobs)
{
    int i;

    if (jobs == NULL) {
        return;
    }

    pthread_mutex_lock(&jobs->lock);
    jobs->stop = 1;
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->lock);

    for (i = 0; i < jobs->n; i++) {
        pthread_join(jobs->threads[i], NULL);
    }

    pthread_mutex_destroy(&jobs->lock);
    pthread_cond_destroy(&jobs->cond);
    free(jobs->threads);
    free(jobs);
}
