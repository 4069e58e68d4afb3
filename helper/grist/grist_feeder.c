/*
 * The original added three hours to from_date's wall clock whatever its
 * offset and compared with a strict ">" at second precision. Here a date
 * without a zone is UTC, an offset is honoured, and a row changed at the
 * very moment asked for is sent (">="): a row sent twice does no harm to
 * the feeder, a row never sent does.
 */
#include "grist_feeder.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "core/caller.h"
#include "core/log.h"
#include "grist_api_list.h"

/* clang-format off */
/* an ISO 8601 date, or date and time, with or without a zone */
#define GRIST_FEEDER_DATE_RE                                                   \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}"                                              \
    "([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?"                     \
    "([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"

/* $1 the date as sent, $2 whether it carries a zone: the moment, in UTC */
#define GRIST_FEEDER_MOMENT_SQL                                                \
    "SELECT to_char(CASE WHEN $2::boolean THEN $1::text::timestamptz "         \
    "ELSE replace($1::text, ',', '.')::timestamp AT TIME ZONE 'UTC' END "      \
    "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define GRIST_FEEDER_FEED(col)                                                 \
    "CASE WHEN " col " IN ('Бесплатно', 'FREE') THEN 'FREE' "         \
    "WHEN " col " IN ('Платно', 'PAID') THEN 'PAID' "                    \
    "WHEN " col " IN ('Без питания', 'NO') THEN 'NO' "               \
    "WHEN " col " IN ('Ребенок', 'CHILD') THEN 'CHILD' END"

#define GRIST_FEEDER_BADGES                                                    \
    "SELECT coalesce(json_agg(json_build_object('id', t.id, "                  \
    "'deleted', t.deleted, 'name', t.name, "                                   \
    "'first_name', coalesce(t.first_name, ''), "                               \
    "'last_name', coalesce(t.last_name, ''), "                                 \
    "'phone', coalesce(t.phone, ''), "                                         \
    "'gender', " GRIST_SQL_GENDER("t.gender") ", "                             \
    "'infant', coalesce(t.child, false), "                                     \
    "'vegan', " GRIST_SQL_VEGAN("t.diet") ", "                                 \
    "'feed', " GRIST_FEEDER_FEED("t.feed") ", "                                \
    "'number', t.number, 'batch', t.batch::text, 'role', t.role_code, "        \
    "'position', coalesce(nullif(t.occupation, ''), r.name), "                 \
    "'photo', t.photo, 'person', p.id, 'comment', t.comment, "                 \
    "'nocode_int_id', t.nocode_int_id, 'ticket', t.ticket, "                   \
    "'directions', (SELECT coalesce(json_agg(d.id "                            \
    "ORDER BY d.nocode_int_id), '[]') FROM badge_directions bd "               \
    "JOIN direction d ON d.nocode_int_id = bd.direction_id "                   \
    "WHERE bd.badge_id = t.nocode_int_id), "                                   \
    "'responsible_id', pb.id) ORDER BY t.nocode_int_id), '[]') "               \
    "FROM badge t "                                                            \
    "LEFT JOIN participation_role r ON r.code = t.role_code "                  \
    "LEFT JOIN person p ON p.nocode_int_id = t.person_id "                     \
    "LEFT JOIN badge pb ON pb.nocode_int_id = t.parent_id "                    \
    "WHERE t.last_updated >= $1::timestamptz"

#define GRIST_FEEDER_ARRIVALS                                                  \
    "SELECT coalesce(json_agg(json_build_object('id', t.id, "                  \
    "'deleted', t.deleted, 'badge', b.id, 'status', t.status, "                \
    "'arrival_date', t.arrival_date, 'departure_date', t.departure_date, "     \
    "'arrival_transport', t.arrival_transport, "                               \
    "'departure_transport', t.departure_transport) "                           \
    "ORDER BY t.nocode_int_id), '[]') "                                        \
    "FROM arrival t JOIN badge b ON b.nocode_int_id = t.badge_id "             \
    "WHERE t.last_updated >= $1::timestamptz"

#define GRIST_FEEDER_ENGAGEMENTS                                               \
    "SELECT coalesce(json_agg(json_build_object('id', t.id, "                  \
    "'deleted', t.deleted, 'year', t.year, 'person', p.id, "                   \
    "'role', t.role_code, 'position', r.name, 'status', t.status_code, "       \
    "'direction', d.id, "                                                      \
    "'last_updated', " GRIST_SQL_TIME("t.last_updated") ") "                   \
    "ORDER BY t.nocode_int_id), '[]') "                                        \
    "FROM participation t "                                                    \
    "LEFT JOIN person p ON p.nocode_int_id = t.person_id "                     \
    "LEFT JOIN direction d ON d.nocode_int_id = t.direction_id "               \
    "LEFT JOIN participation_role r ON r.code = t.role_code "                  \
    "WHERE t.last_updated >= $1::timestamptz"

#define GRIST_FEEDER_PERSONS                                                   \
    "SELECT coalesce(json_agg(json_build_object('id', t.id, "                  \
    "'deleted', t.deleted, 'name', t.name, 'first_name', t.first_name, "       \
    "'last_name', t.last_name, 'nickname', t.nickname, "                       \
    "'other_names', array_to_string(t.other_names, ', '), "                    \
    "'gender', coalesce(" GRIST_SQL_GENDER("t.gender") ", 'OTHER'), "          \
    "'birth_date', t.birth_date, 'phone', t.phone, "                           \
    "'telegram', t.telegram, 'email', t.email, 'city', t.city, "               \
    "'vegan', " GRIST_SQL_VEGAN("t.diet") ", "                                 \
    "'nocode_int_id', t.nocode_int_id, 'banned', t.banned) "                   \
    "ORDER BY t.nocode_int_id), '[]') "                                        \
    "FROM person t WHERE t.last_updated >= $1::timestamptz"

#define GRIST_FEEDER_DIRECTIONS                                                \
    "SELECT coalesce(json_agg(json_build_object('id', t.id, "                  \
    "'deleted', t.deleted, 'name', t.name, 'first_year', t.first_year, "       \
    "'last_year', t.last_year, 'type', dt.code, "                              \
    "'nocode_int_id', t.nocode_int_id) ORDER BY t.nocode_int_id), '[]') "      \
    "FROM direction t LEFT JOIN direction_type dt ON dt.name = t.type "        \
    "WHERE t.last_updated >= $1::timestamptz"

/* one statement, so one snapshot: an arrival never names a badge the same
 * answer has not caught up with */
#define GRIST_FEEDER_SQL                                                       \
    "SELECT json_build_object("                                                \
    "'badges', (" GRIST_FEEDER_BADGES "), "                                    \
    "'arrivals', (" GRIST_FEEDER_ARRIVALS "), "                                \
    "'engagements', (" GRIST_FEEDER_ENGAGEMENTS "), "                          \
    "'persons', (" GRIST_FEEDER_PERSONS "), "                                  \
    "'directions', (" GRIST_FEEDER_DIRECTIONS "))::text"
/* clang-format on */

/* from_date checked: 1 when it names its zone, 0 when not, -1 when it is
 * not an ISO 8601 date. */
static int
grist_feeder_date_form(const char *s)
{
    regex_t    re;
    regmatch_t m[5];
    int        rc;

    if (regcomp(&re, GRIST_FEEDER_DATE_RE, REG_EXTENDED) != 0) {
        return -1;
    }

    rc = regexec(&re, s, 5, m, 0);
    regfree(&re);

    if (rc != 0) {
        return -1;
    }

    /* group 4: the zone */
    return m[4].rm_so >= 0 && m[4].rm_eo > m[4].rm_so;
}

/* The moment from_date names, in UTC, into out. 0, or -1 answered. */
static int
grist_feeder_moment(
    PGconn *conn, const req_t *req, resp_t *resp, char *out, size_t len)
{
    const char *params[2], *from = req_query(req, "from_date");
    PGresult   *res;
    int         zone;

    zone = from ? grist_feeder_date_form(from) : -1;
    if (zone < 0) {
        resp_field_error(resp, 422, "from_date",
            from ? "from_date must be an ISO 8601 date and time, e.g. "
                   "2026-06-01T00:00:00Z"
                 : "from_date is required");
        return -1;
    }

    params[0] = from;
    params[1] = zone ? "true" : "false";
    res = db_query(conn, GRIST_FEEDER_MOMENT_SQL, 2, params);
    if (res == NULL) {
        if (PQstatus(conn) != CONNECTION_OK) {
            resp_internal_error(
                resp, req->rid, "feeder sync: %s", PQerrorMessage(conn));
        } else {
            resp_field_error(
                resp, 422, "from_date", "from_date is not a date that exists");
        }
        return -1;
    }

    snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    return 0;
}

void
grist_feeder_sync(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    static const char *const names[] = { "from_date", NULL };

    const char *params[1];
    char        moment[64];
    PGconn     *conn;

    if (grist_list_only(req, resp, names, 0) != 0) {
        return;
    }

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return;
    }

    if (grist_feeder_moment(conn, req, resp, moment, sizeof(moment)) == 0) {
        params[0] = moment;
        grist_list_answer(conn, req, resp, GRIST_FEEDER_SQL, 1, params);
        if (resp->status == 200) {
            log_info(req->rid, "feeder sync since %s: %zu bytes", moment,
                resp->body_len);
        }
    }

    db_release(ferry->db, conn);
}
