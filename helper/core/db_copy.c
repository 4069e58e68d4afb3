/*
 * COPY's text format: tabs between columns, a newline after each row,
 * backslash escapes for the bytes that would break them, \\N for NULL;
 * and the COPY FROM STDIN that sends such rows.
 */
#include "db_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
db_copy_grow(char **buf, size_t *cap, size_t need)
{
    size_t n;
    char  *p;

    if (need <= *cap) {
        return 0;
    }

    for (n = *cap ? *cap : 65536; n < need; n *= 2) { /* void */
    }

    p = realloc(*buf, n);
    if (p == NULL) {
        return -1;
    }

    *buf = p;
    *cap = n;

    return 0;
}

/* The bytes COPY's text format escapes, and what follows their backslash. */
static const char db_copy_escape[256] = {
    ['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r'
};

int
db_copy_value(char **buf, size_t *len, size_t *cap, const char *s, size_t n,
    int null_if_empty)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t               i, run;
    char                *p;

    if (db_copy_grow(buf, cap, *len + 2 * n + 3) != 0) {
        return -1;
    }

    p = *buf + *len;

    if (n == 0 && null_if_empty) {
        *p++ = '\\';
        *p++ = 'N';
        *len = (size_t) (p - *buf);
        return 0;
    }

    /* runs of plain bytes are copied whole: escapes are rare */
    for (i = 0; i < n; i++) {
        for (run = i; i < n && !db_copy_escape[u[i]]; i++) { /* void */
        }

        memcpy(p, s + run, i - run);
        p += i - run;

        if (i < n) {
            *p++ = '\\';
            *p++ = db_copy_escape[u[i]];
        }
    }

    *len = (size_t) (p - *buf);

    return 0;
}

/* Feeds one COPY FROM STDIN its rows, in pieces that keep libpq's buffer
 * small whatever the batch. */
static int
db_copy_send(PGconn *conn, const char *data, size_t len)
{
    size_t k;

    while (len) {
        k = len < 262144 ? len : 262144;
        if (PQputCopyData(conn, data, (int) k) != 1) {
            return -1;
        }
        data += k;
        len -= k;
    }

    return PQputCopyEnd(conn, NULL) == 1 ? 0 : -1;
}

/* Reads sql's results, feeding its COPYs data[0], data[1]...; with detach,
 * stops once the last of the ndata COPYs has its rows (returns 1, the rest
 * still running). 0 when every result was read, -1 on an error. */
static int
db_copy_results(PGconn *conn, const db_copy_data_t *data, int ndata, int detach,
    PGresult **rows, char state[6])
{
    PGresult      *res;
    const char    *st;
    ExecStatusType status;
    int            rc = 0, fed = 0;

    while ((res = PQgetResult(conn)) != NULL) {
        status = PQresultStatus(res);

        if (status == PGRES_COPY_IN) {
            PQclear(res);
            /* a COPY the caller has no rows for gets none */
            if ((fed < ndata ? db_copy_send(conn, data[fed].data, data[fed].len)
                             : db_copy_send(conn, NULL, 0))
                != 0)
            {
                return -1;
            }
            if (++fed == ndata && detach) {
                return 1;
            }
            continue;
        }

        if (status == PGRES_TUPLES_OK && rows) {
            PQclear(*rows);
            *rows = res;
            continue;
        }

        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && rc == 0)
        {
            st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            snprintf(state, 6, "%s", st ? st : "");
            rc = -1;
        }

        PQclear(res);
    }

    if (rc != 0 && rows) {
        PQclear(*rows);
        *rows = NULL;
    }

    return rc;
}

/* No error and no rows yet; then sql sent, when there is one. 0, or -1. */
static int
db_copy_begin(PGconn *conn, const char *sql, PGresult **rows, char state[6])
{
    state[0] = '\0';
    if (rows) {
        *rows = NULL;
    }

    return sql == NULL || PQsendQuery(conn, sql) == 1 ? 0 : -1;
}

int
db_copy_script(PGconn *conn, const char *sql, const db_copy_data_t *data,
    int ndata, PGresult **rows, char state[6])
{
    return db_copy_begin(conn, sql, rows, state) != 0
        ? -1
        : db_copy_results(conn, data, ndata, 0, rows, state);
}

int
db_copy_script_start(PGconn *conn, const char *sql, const db_copy_data_t *data,
    int ndata, char state[6])
{
    return db_copy_begin(conn, sql, NULL, state) != 0
        ? -1
        : db_copy_results(conn, data, ndata, ndata > 0, NULL, state);
}

int
db_copy_script_wait(PGconn *conn, PGresult **rows, char state[6])
{
    (void) db_copy_begin(conn, NULL, rows, state);

    return db_copy_results(conn, NULL, 0, 0, rows, state);
}

int
db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len)
{
    db_copy_data_t d = { data, len };
    char           state[6];

    if (db_copy_script(conn, sql, &d, 1, NULL, state) == 0) {
        return 0;
    }

    return strcmp(state, "23505") == 0 ? 1 : -1;
}
