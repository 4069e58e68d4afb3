/*
 * Claiming and running jobs. A claim is one UPDATE ... WHERE id = (SELECT
 * ... FOR UPDATE SKIP LOCKED): two runners never get the same job, and a
 * stale "processing" job (no heartbeat for JOB_STALE_SECONDS) is claimable
 * again. Runners stopped by SIGTERM hand their job back as pending.
 */
#include "jobs.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/stat.h>

#include "import/import_run.h"
#include "log.h"

struct jobs_s {
    ferryd_t         *ferry;
    pthread_t        *threads;
    int               n;
    volatile int      stop;

    pthread_mutex_t   lock;
    pthread_cond_t    cond;
    unsigned          wakeups;
};

typedef struct {
    jobs_t  *jobs;
    int      index;
} runner_arg_t;

#define JOBS_IDLE_MS  250

#define JOBS_MAX_ATTEMPTS    5
#define JOBS_MAX_ATTEMPTS_S  "5"

/* Waits up to ms, or until jobs_notify() or jobs_stop(). */
static void
jobs_sleep_ms(jobs_t *jobs, int ms)
{
    struct timespec  ts;
    unsigned         seen;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }

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

/* One claim; 1 when a job ran, 0 when there was none, -1 on a DB error. */
static int
jobs_run_one(jobs_t *jobs, PGconn *conn, const char *worker)
{
    char         stale[16];
    const char  *params[2];
    PGresult    *res;
    job_t        job;

    snprintf(stale, sizeof(stale), "%d", jobs->ferry->cfg.job_stale_seconds);
    params[0] = worker;
    params[1] = stale;

    res = PQexecParams(conn,
        "UPDATE jobs SET status = 'processing', worker = $1, heartbeat_at = now(), "
        "started_at = coalesce(started_at, now()), attempts = attempts + 1 "
        "WHERE id = (SELECT id FROM jobs WHERE kind = 'import' AND "
        "(status = 'pending' OR (status = 'processing' AND "
        "heartbeat_at < now() - $2::int * interval '1 second')) "
        "ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) "
        "RETURNING id, kind, owner, params, progress, attempts",
        2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
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
    job.worker = worker;
    job.owner = PQgetvalue(res, 0, 2);
    job.params = PQgetvalue(res, 0, 3);
    job.progress = PQgetvalue(res, 0, 4);
    job.stop = &jobs->stop;

    log_info(worker, "job %s (%s) claimed, attempt %s", job.id, PQgetvalue(res, 0, 1),
             PQgetvalue(res, 0, 5));

    if (atoi(PQgetvalue(res, 0, 5)) > JOBS_MAX_ATTEMPTS) {
        /* it failed the same way every time: stop trying */
        const char  *p[2] = { job.id, worker };
        PGresult    *r2;

        r2 = PQexecParams(conn,
            "UPDATE jobs SET status = 'failed', finished_at = now(), "
            "error = 'gave up after " JOBS_MAX_ATTEMPTS_S " attempts (see the ferryd log)' "
            "WHERE id = $1 AND worker = $2 RETURNING params->'file'->>'path'",
            2, NULL, p, NULL, NULL, 0);

        /* a final state: the upload is not needed any more */
        if (PQresultStatus(r2) == PGRES_TUPLES_OK && PQntuples(r2) == 1
            && !PQgetisnull(r2, 0, 0))
        {
            unlink(PQgetvalue(r2, 0, 0));
        }

        PQclear(r2);
        log_error(worker, "job %s failed: gave up after %d attempts", job.id, JOBS_MAX_ATTEMPTS);
        PQclear(res);
        return 1;
    }

    import_run(&job);

    PQclear(res);

    return 1;
}

/*
 * Reports older than REPORT_TTL leave REPORTS_DIR (S3 reports are left to
 * the bucket's lifecycle rules). The first runner looks at most once a
 * minute, when it has nothing else to do.
 */
static void
jobs_sweep_reports(jobs_t *jobs, const char *worker)
{
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    char            path[4096];
    time_t          now = time(NULL);
    size_t          n;
    int             removed = 0;

    if (jobs->ferry->cfg.reports_dir[0] == '\0') {
        return;
    }

    d = opendir(jobs->ferry->cfg.reports_dir);
    if (d == NULL) {
        return;
    }

    while ((e = readdir(d)) != NULL) {
        n = strlen(e->d_name);
        if (n < 11 || strcmp(e->d_name + n - 11, "-errors.csv") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", jobs->ferry->cfg.reports_dir, e->d_name);

        if (stat(path, &st) == 0 && now - st.st_mtime > jobs->ferry->cfg.report_ttl
            && unlink(path) == 0)
        {
            removed++;
        }
    }

    closedir(d);

    if (removed) {
        log_info(worker, "removed %d report(s) older than REPORT_TTL (%d s)", removed,
                 jobs->ferry->cfg.report_ttl);
    }
}

static void *
jobs_main(void *data)
{
    runner_arg_t  *arg = data;
    jobs_t        *jobs = arg->jobs;
    char           worker[96], host[64], err[256];
    PGconn        *conn = NULL;
    int            rc, backoff = 0, sweep_every;
    time_t         swept = 0;

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "ferryd");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(worker, sizeof(worker), "%s:%d:runner-%d", host, (int) getpid(), arg->index);

    while (!jobs->stop) {
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            conn = db_connect(jobs->ferry->cfg.database_url, jobs->ferry->cfg.db_connect_timeout,
                              err, sizeof(err));
            if (conn == NULL) {
                if (backoff == 0) {
                    log_warn(worker, "cannot connect to PostgreSQL: %s", err);
                }
                backoff = backoff ? (backoff < 5000 ? backoff * 2 : 5000) : 250;
                jobs_sleep_ms(jobs, backoff);
                continue;
            }
            backoff = 0;
        }

        rc = jobs_run_one(jobs, conn, worker);

        sweep_every = jobs->ferry->cfg.report_ttl < 60 ? jobs->ferry->cfg.report_ttl : 60;

        if (rc == 0 && arg->index == 1 && time(NULL) - swept >= sweep_every) {
            jobs_sweep_reports(jobs, worker);
            swept = time(NULL);
        }

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
    jobs_t        *jobs;
    runner_arg_t  *arg;
    sigset_t       all, old;
    int            i;

    jobs = calloc(1, sizeof(*jobs));
    if (jobs == NULL) {
        return NULL;
    }

    jobs->ferry = ferry;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_cond_init(&jobs->cond, NULL);
    jobs->threads = calloc((size_t) (ferry->cfg.job_workers + 1), sizeof(pthread_t));
    if (jobs->threads == NULL) {
        free(jobs);
        return NULL;
    }

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    for (i = 0; i < ferry->cfg.job_workers; i++) {
        arg = malloc(sizeof(*arg));
        if (arg == NULL) {
            break;
        }
        arg->jobs = jobs;
        arg->index = i + 1;

        if (pthread_create(&jobs->threads[i], NULL, jobs_main, arg) != 0) {
            free(arg);
            break;
        }
        jobs->n++;
    }

    pthread_sigmask(SIG_SETMASK, &old, NULL);

    return jobs;
}

void
jobs_stop(jobs_t *jobs)
{
    int  i;

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
