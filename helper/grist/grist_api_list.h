/*
 * What every list of the Grist read API shares: the query checked against
 * the names a route takes, paging (page/page_size or limit/offset),
 * include_deleted, and the answer built by PostgreSQL as one JSON document.
 */
#ifndef FERRY_GRIST_API_LIST_H
#define FERRY_GRIST_API_LIST_H

#include <libpq-fe.h>

#include "core/ferryd.h"
#include "core/request.h"
#include "core/response.h"

#define GRIST_PAGE_SIZE_DEFAULT 10 /* the original's */
#define GRIST_PAGE_SIZE_MAX     1000

/* The first three parameters of every list statement: $1 the limit (NULL:
 * all rows), $2 the offset, $3 include_deleted. */
#define GRIST_LIST_NPARAMS 3

typedef struct {
    char        buf[2][24];
    const char *params[GRIST_LIST_NPARAMS];
} grist_list_t;

/* clang-format off */
/* A list statement over the table aliased t (nocode_int_id, deleted):
 * json is the item's expression, from the FROM list and the filters. */
#define GRIST_LIST_SQL(json, from, where)                                      \
    "SELECT coalesce(json_agg(j ORDER BY k), '[]')::text FROM ("               \
    "SELECT " json " AS j, t.nocode_int_id AS k FROM " from                    \
    " WHERE ($3::boolean OR NOT t.deleted) " where                             \
    " ORDER BY t.nocode_int_id LIMIT $1 OFFSET $2) s"

/* A timestamptz as the original wrote it (Moscow's wall clock, UTC+3), with
 * its offset: the same reading, now unambiguous. */
#define GRIST_SQL_TIME(col)                                                    \
    "to_char(" col " AT TIME ZONE 'UTC' + interval '3 hours', "                \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+03:00\"')"

/* Grist's gender choice ("М", "Ж", "др.") as the original's Gender name */
#define GRIST_SQL_GENDER(col)                                                  \
    "CASE WHEN " col " IN ('М', 'MALE') THEN 'MALE' "                         \
    "WHEN " col " IN ('Ж', 'FEMALE') THEN 'FEMALE' "                          \
    "WHEN " col " IN ('др.', 'OTHER') THEN 'OTHER' END"

/* A person as /persons lists it, and /badges?include_person=true embeds it */
#define GRIST_SQL_PERSON(p)                                                    \
    "json_build_object('id', " p ".id, 'name', " p ".name, "                   \
    "'last_name', " p ".last_name, 'first_name', " p ".first_name, "           \
    "'nickname', " p ".nickname, 'other_names', " p ".other_names, "           \
    "'gender', " p ".gender, 'birth_date', " p ".birth_date, "                 \
    "'city', " p ".city, 'telegram', " p ".telegram, 'phone', " p ".phone, "   \
    "'email', " p ".email, 'diet', " p ".diet, 'comment', " p ".comment, "     \
    "'nocode_int_id', " p ".nocode_int_id, "                                   \
    "'last_updated', " GRIST_SQL_TIME(p ".last_updated") ", "                  \
    "'deleted', " p ".deleted, 'banned', " p ".banned)"

/* diet "Веган" (or VEGAN, once the original's cleanup ran); spelt out, as
 * lower() of Cyrillic depends on the database's locale */
#define GRIST_SQL_VEGAN(col)                                                   \
    "coalesce(" col " IN ('Веган', 'веган', 'VEGAN'), false)"
/* clang-format on */

/* Checks that every query parameter is one of names (NULL-ended), or with
 * paging one of the paging names. 0, or -1 with a 422 naming it. */
int grist_list_only(
    const req_t *req, resp_t *resp, const char *const *names, int paging);

/*
 * Checks that every query parameter is page, page_size, limit, offset,
 * include_deleted or one of names (NULL-ended), and fills list's
 * parameters; default_size rows a page (0: all rows) when the query asks
 * for no page. 0, or -1 with a 422 naming the parameter in resp.
 */
int grist_list_query(const req_t *req, resp_t *resp, const char *const *names,
    long default_size, grist_list_t *list);

/* A true/false query parameter (also 1/0) into *v, left as it is when
 * absent. 0, or -1 with a 422 naming it. */
int grist_list_bool(const req_t *req, resp_t *resp, const char *name, int *v);

/* Runs sql, a statement that returns one text value (a JSON document), and
 * answers 200 with it; 500 when it fails. */
void grist_list_answer(PGconn *conn, const req_t *req, resp_t *resp,
    const char *sql, int n, const char *const *params);

/* A list without filters of its own: sql over GRIST_LIST_NPARAMS, answered. */
void grist_api_plain_list(ferryd_t *ferry, req_t *req, resp_t *resp,
    const char *sql, long default_size);

/* A Grist UUID as Grist writes it (32 hex digits) or as the API does (with
 * dashes) into out, lowercase with dashes. 0, or -1 when it is not one. */
int grist_list_uuid(const char *s, char out[37]);

/*
 * The query parameter name looked up by sql (one parameter, the value;
 * returns the canonical value in its first row) into out. 0 when absent, 1
 * found, -1 with a 422 (no such value) or a 500 in resp.
 */
int grist_list_code(PGconn *conn, const req_t *req, resp_t *resp,
    const char *name, const char *sql, char *out, size_t outlen);

#endif
