/*
 * COPY's text format: tabs between columns, a newline after each row,
 * backslash escapes for the bytes that would break them, \\N for NULL;
 * and the COPY FROM STDIN that sends such rows.
 */
#include "db_copy.h"

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

int
db_copy_value(char **buf, size_t *len, size_t *cap, const char *s, size_t n,
    int null_if_empty)
{
    size_t i;
    char  *p;

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

    for (i = 0; i < n; i++) {
        switch (s[i]) {
        case '\\':
            *p++ = '\\';
            *p++ = '\\';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        default:
            *p++ = s[i];
        }
    }

    *len = (size_t) (p - *buf);

    return 0;
}

int
db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len)
{
    PGresult   *res;
    const char *state;
    int         rc;

    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        PQclear(res);
        return -1;
    }
    PQclear(res);

    if ((len && PQputCopyData(conn, data, (int) len) != 1)
        || PQputCopyEnd(conn, NULL) != 1)
    {
        return -1;
    }

    rc = 0;

    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            rc = (state && strcmp(state, "23505") == 0) ? 1 : -1;
        }
        PQclear(res);
    }

    return rc;
}
