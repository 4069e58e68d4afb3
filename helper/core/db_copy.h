/*
 * Rows in PostgreSQL's COPY text format, built in a growing buffer: the
 * CSV import's batches and the Slack ingestion's staged entities.
 */
#ifndef FERRY_DB_COPY_H
#define FERRY_DB_COPY_H

#include <stddef.h>
#include <libpq-fe.h>

/* Makes room for need bytes in buf (capacity cap, doubling). 0, or -1. */
int db_copy_grow(char **buf, size_t *cap, size_t need);

/* Appends s as one COPY text value (\\N for an empty s when null_if_empty),
 * with room left for one more byte (the separator after it). 0, or -1 when
 * out of memory. */
int db_copy_value(char **buf, size_t *len, size_t *cap, const char *s, size_t n,
    int null_if_empty);

/* COPY sql FROM STDIN with the len bytes of data, every result drained:
 * 0; 1 when a unique constraint refused a row (SQLSTATE 23505); -1 on any
 * other error (in PQerrorMessage(conn)). */
int db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len);

/* The rows of one COPY FROM STDIN of a db_copy_script. */
typedef struct {
    const char *data;
    size_t      len;
} db_copy_data_t;

/*
 * Runs sql, one simple query of several statements (one transaction unless
 * it says otherwise), feeding its COPY FROM STDIN statements data[0],
 * data[1]... in turn: one round trip per COPY plus one, however many
 * statements. rows (may be NULL) keeps the last result that had rows (NULL
 * when none; PQclear it). 0; or -1 with the SQLSTATE of the first error in
 * state ("" when the connection failed) and the error in PQerrorMessage().
 */
int db_copy_script(PGconn *conn, const char *sql, const db_copy_data_t *data,
    int ndata, PGresult **rows, char state[6]);

/* db_copy_script in two steps, for a caller with work of its own to do
 * while PostgreSQL runs the statements after the script's last COPY: the
 * start returns once that COPY has its rows (1: db_copy_script_wait must
 * follow before the connection is used again), or 0 or -1 when the script
 * already ended as db_copy_script would. The wait returns as
 * db_copy_script, rows (may be NULL) with the last result after the COPYs
 * that had rows. */
int db_copy_script_start(PGconn *conn, const char *sql,
    const db_copy_data_t *data, int ndata, char state[6]);
int db_copy_script_wait(PGconn *conn, PGresult **rows, char state[6]);

#endif
