/*
 * The connection pool. Connecting happens outside the lock, so a slow or
 * unreachable server never holds up threads that only give connections back.
 */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct db_pool_s {
    char *url;
    int   size;     /* kept open when idle */
    int   overflow; /* opened beyond size under load, closed when idle */
    int   connect_timeout;
    int   wait_timeout;

    pthread_mutex_t lock;
    pthread_cond_t  cond;
    PGconn        **idle;
    int             nidle;
    int             total; /* idle + in use + being made */
    int             down;  /* the last attempt failed */
};

/* PostgreSQL's notices ("relation already exists, skipping") go to the log
 * at DEBUG instead of libpq's stderr */
static void
db_notice(void *arg, const char *msg)
{
    (void) arg;
    log_debug("db", "%.*s", (int) strcspn(msg, "\n"), msg);
}

PGconn *
db_connect(const char *url, int connect_timeout, char *err, size_t errlen)
{
    char        timeout[16];
    const char *keys[] = { "dbname", "connect_timeout", "application_name",
        NULL };
    const char *vals[] = { url, timeout, "ferryd", NULL };
    PGconn     *conn;

    snprintf(timeout, sizeof(timeout), "%d", connect_timeout);

    conn = PQconnectdbParams(keys, vals, 1);

    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        snprintf(
            err, errlen, "%s", conn ? PQerrorMessage(conn) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        return NULL;
    }

    PQsetNoticeProcessor(conn, db_notice, NULL);

    return conn;
}

db_pool_t *
db_pool_create(const char *url, int size, int overflow, int connect_timeout,
    int wait_timeout)
{
    db_pool_t *pool;

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        return NULL;
    }

    pool->url = strdup(url);
    pool->idle = calloc((size_t) size, sizeof(PGconn *));

    if (pool->url == NULL || pool->idle == NULL) {
        free(pool->url);
        free(pool->idle);
        free(pool);
        return NULL;
    }

    pool->size = size;
    pool->overflow = overflow;
    pool->connect_timeout = connect_timeout;
    pool->wait_timeout = wait_timeout;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);

    return pool;
}

void
db_pool_destroy(db_pool_t *pool)
{
    int i;

    if (pool == NULL) {
        return;
    }

    for (i = 0; i < pool->nidle; i++) {
        PQfinish(pool->idle[i]);
    }

    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool->idle);
    free(pool->url);
    free(pool);
}

static int
db_idle_ok(PGconn *conn)
{
    struct pollfd p;

    p.fd = PQsocket(conn);
    p.events = POLLIN;
    p.revents = 0;

    return PQstatus(conn) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

PGconn *
db_acquire(db_pool_t *pool)
{
    char            err[256];
    PGconn         *conn;
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += pool->wait_timeout;

    pthread_mutex_lock(&pool->lock);

    for (;;) {
        if (pool->nidle) {
            conn = pool->idle[--pool->nidle];

            /* an idle connection gets nothing from the server unless it
             * went away (a restart, a failover left a goodbye and an EOF):
             * such a one is dropped before a request uses it */
            if (db_idle_ok(conn)) {
                pthread_mutex_unlock(&pool->lock);
                return conn;
            }

            log_debug("db", "dropping an idle connection the server closed");
            PQfinish(conn);
            pool->total--;
            continue;
        }

        if (pool->total < pool->size + pool->overflow) {
            pool->total++;
            break;
        }

        if (pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline)
            == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            log_warn("db",
                "no free database connection after %d s (DB_POOL_SIZE %d, "
                "DB_MAX_OVERFLOW %d)",
                pool->wait_timeout, pool->size, pool->overflow);
            return NULL;
        }
    }

    pthread_mutex_unlock(&pool->lock);

    conn = db_connect(pool->url, pool->connect_timeout, err, sizeof(err));

    pthread_mutex_lock(&pool->lock);

    if (conn == NULL) {
        pool->total--;
        if (!pool->down) {
            log_warn("db", "cannot connect to PostgreSQL: %s", err);
        }
        pool->down = 1;
        pthread_cond_signal(&pool->cond);

    } else if (pool->down) {
        pool->down = 0;
        log_info("db", "connected to PostgreSQL again");
    }

    pthread_mutex_unlock(&pool->lock);

    return conn;
}

void
db_release(db_pool_t *pool, PGconn *conn)
{
    int         i, nstale = 0, lost, ok = 1;
    const char *msg;
    PGconn    **stale = NULL;

    if (conn == NULL) {
        return;
    }

    /* a handler left a transaction open: never hand that on */
    if (PQstatus(conn) == CONNECTION_OK
        && PQtransactionStatus(conn) != PQTRANS_IDLE
        && (db_exec(conn, "ROLLBACK") != 0
            || PQtransactionStatus(conn) != PQTRANS_IDLE))
    {
        ok = 0;
    }

    /* nor one left in pipeline mode (a pipeline that broke off) */
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
        ok = 0;
    }

    lost = PQstatus(conn) != CONNECTION_OK;

    pthread_mutex_lock(&pool->lock);

    if (ok && !lost && pool->nidle < pool->size) {
        pool->idle[pool->nidle++] = conn;
        conn = NULL;

    } else {
        pool->total--;
    }

    /*
     * The server dropped this connection (a restart, a failover): the idle
     * ones went with it, and handing them out would fail one request each.
     */
    if (lost && pool->nidle) {
        stale = malloc((size_t) pool->nidle * sizeof(PGconn *));
        if (stale) {
            nstale = pool->nidle;
            memcpy(stale, pool->idle, (size_t) nstale * sizeof(PGconn *));
            pool->total -= nstale;
            pool->nidle = 0;
        }
    }

    if (lost && !pool->down) {
        pool->down = 1;
        msg = PQerrorMessage(conn);
        log_warn("db", "lost a connection to PostgreSQL: %.*s",
            (int) strcspn(msg, "\n"), msg);
    }

    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);

    if (conn) {
        log_debug("db", "dropping a connection");
        PQfinish(conn);
    }

    for (i = 0; i < nstale; i++) {
        PQfinish(stale[i]);
    }
    free(stale);
}

int
db_exec(PGconn *conn, const char *sql)
{
    PGresult *res;
    int       ok;

    res = PQexec(conn, sql);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK
        || PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);

    return ok ? 0 : -1;
}

/* res when it holds rows or a command status, else NULL (res cleared). */
static PGresult *
db_ok(PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK
        && PQresultStatus(res) != PGRES_COMMAND_OK)
    {
        PQclear(res);
        return NULL;
    }

    return res;
}

/* The rows res returned or touched, res cleared; -1 for no result. */
static int
db_rows(PGresult *res)
{
    int rc;

    if (res == NULL) {
        return -1;
    }

    rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
                                                : atoi(PQcmdTuples(res));
    PQclear(res);

    return rc;
}

PGresult *
db_query(PGconn *conn, const char *sql, int n, const char *const *params)
{
    return db_ok(PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0));
}

int
db_run(PGconn *conn, const char *sql, int n, const char *const *params)
{
    return db_rows(db_query(conn, sql, n, params));
}

/*
 * The statement is prepared when the server says it does not know the name
 * (SQLSTATE 26000): a connection the pool made again knows none, and the
 * pool keeps no list of what each connection prepared. That error would
 * abort a transaction, hence the plain path inside one.
 */
PGresult *
db_query_prepared(PGconn *conn, const char *name, const char *sql, int n,
    const char *const *params)
{
    PGresult   *res;
    const char *state;

    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        return db_query(conn, sql, n, params);
    }

    res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state == NULL || strcmp(state, "26000") != 0) {
        return db_ok(res);
    }
    PQclear(res);

    res = PQprepare(conn, name, sql, n, NULL);
    if (db_ok(res) == NULL) {
        return NULL;
    }
    PQclear(res);

    return db_ok(PQexecPrepared(conn, name, n, params, NULL, NULL, 0));
}

int
db_run_prepared(PGconn *conn, const char *name, const char *sql, int n,
    const char *const *params)
{
    return db_rows(db_query_prepared(conn, name, sql, n, params));
}

/* The result of a pipeline's next statement, the NULL that ends it read. */
static PGresult *
db_pipeline_result(PGconn *conn)
{
    PGresult *res = PQgetResult(conn), *more;

    while (res && (more = PQgetResult(conn)) != NULL) {
        PQclear(more);
    }

    return res;
}

/*
 * libpq's pipeline mode: both statements and a Sync sent at once, so they
 * run in one implicit transaction. A statement the connection has not
 * prepared yet (SQLSTATE 26000) aborts the pipeline, nothing applied; the
 * two then go one after the other, which prepares them.
 */
PGresult *
db_query_prepared_after(PGconn *conn, const db_stmt_t *first, int *first_rows,
    const db_stmt_t *then)
{
    PGresult   *a = NULL, *b = NULL, *sync;
    const char *state;
    int         rows;

    if (PQtransactionStatus(conn) != PQTRANS_IDLE
        || PQenterPipelineMode(conn) != 1) {
        goto apart;
    }

    if (PQsendQueryPrepared(
            conn, first->name, first->n, first->params, NULL, NULL, 0)
            != 1
        || PQsendQueryPrepared(
               conn, then->name, then->n, then->params, NULL, NULL, 0)
            != 1
        || PQpipelineSync(conn) != 1)
    {
        /* a connection that broke: the pool drops it */
        (void) PQexitPipelineMode(conn);
        return NULL;
    }

    a = db_pipeline_result(conn);
    b = db_pipeline_result(conn);
    sync = PQgetResult(conn);
    if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        PQclear(sync);
        PQclear(a);
        PQclear(b);
        (void) PQexitPipelineMode(conn);
        return NULL;
    }
    PQclear(sync);
    (void) PQexitPipelineMode(conn);

    state = PQresultErrorField(a, PG_DIAG_SQLSTATE);
    if (state == NULL) {
        state = PQresultErrorField(b, PG_DIAG_SQLSTATE);
    }
    if (state && strcmp(state, "26000") == 0) {
        PQclear(a);
        PQclear(b);
        goto apart;
    }

    a = db_ok(a);
    b = db_ok(b);
    if (a == NULL || b == NULL) {
        PQclear(a);
        PQclear(b);
        return NULL;
    }
    *first_rows = db_rows(a);

    return b;

apart:

    rows =
        db_run_prepared(conn, first->name, first->sql, first->n, first->params);
    if (rows < 0) {
        return NULL;
    }
    *first_rows = rows;

    return db_query_prepared(
        conn, then->name, then->sql, then->n, then->params);
}
