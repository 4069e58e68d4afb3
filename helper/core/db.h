/*
 * The PostgreSQL connection pool: DB_POOL_SIZE libpq connections made on
 * demand, shared by the handler threads, dropped and remade when broken.
 */
#ifndef FERRY_DB_H
#define FERRY_DB_H

#include <libpq-fe.h>

typedef struct db_pool_s db_pool_t;

/* size connections kept, up to overflow more opened while all are busy
 * (closed again when given back); a caller waits wait_timeout seconds for
 * one beyond that. */
db_pool_t *db_pool_create(const char *url, int size, int overflow,
    int connect_timeout, int wait_timeout);
void       db_pool_destroy(db_pool_t *pool);

/* A connection, or NULL when none can be had (the database is down, or
 * every connection stayed busy for DB_POOL_TIMEOUT). */
PGconn *db_acquire(db_pool_t *pool);

/* Gives a connection back. It is kept when it is still connected: an SQL
 * error (a constraint violation, a bad parameter) does not break it; a
 * transaction left open is rolled back first. */
void db_release(db_pool_t *pool, PGconn *conn);

/* Runs a statement that returns no rows to keep (BEGIN, COMMIT, DDL, a
 * whole migration file). 0, or -1 with the error in PQerrorMessage(). */
int db_exec(PGconn *conn, const char *sql);

/* PQexecParams with text parameters: the result of a statement that
 * returned rows or a command status; NULL (nothing to clear) on an error,
 * which is then in PQerrorMessage(conn). */
PGresult *db_query(
    PGconn *conn, const char *sql, int n, const char *const *params);

/* The number of rows a statement returned or touched, or -1 on an error. */
int db_run(PGconn *conn, const char *sql, int n, const char *const *params);

/* db_query and db_run for a statement run over and over (once per row of
 * an export): prepared on the connection under name the first time, so
 * that PostgreSQL does not plan it again each time (planning can cost more
 * than running). One name per SQL text. Inside a transaction they are
 * db_query and db_run. */
PGresult *db_query_prepared(PGconn *conn, const char *name, const char *sql,
    int n, const char *const *params);
int db_run_prepared(PGconn *conn, const char *name, const char *sql, int n,
    const char *const *params);

/* A statement for db_query_prepared_after: its name, SQL and text
 * parameters. */
typedef struct {
    const char        *name;
    const char        *sql;
    int                n;
    const char *const *params;
} db_stmt_t;

/* Two prepared statements (as db_query_prepared) in one round trip and one
 * transaction: first, whose rows are not kept (how many it touched goes
 * into *first_rows), then the query, whose result is returned. NULL on an
 * error in either, neither then applied. Inside a transaction, or where
 * libpq has no pipeline mode, the two go one after the other. */
PGresult *db_query_prepared_after(PGconn *conn, const db_stmt_t *first,
    int *first_rows, const db_stmt_t *then);

/* One connection outside the pool (migrations). */
PGconn *db_connect(
    const char *url, int connect_timeout, char *err, size_t errlen);

#endif
