/*
 * Badges and arrivals. The original's GET /badges always answered 500 (its
 * repository took no include_infant); this one answers, with its filters:
 * a role or colour by code or Russian name, a direction by its type or its
 * id, a party (batch) by number.
 */
#include "grist_api.h"

#include <stdio.h>
#include <string.h>

#include "core/caller.h"
#include "grist_api_list.h"

/* clang-format off */
#define GRIST_BADGE_DIRECTION                                                  \
    "json_build_object('id', d.id, 'name', d.name, 'type', dt.code, "          \
    "'nocode_int_id', d.nocode_int_id)"

#define GRIST_BADGE_JSON                                                       \
    "json_build_object('id', t.id, 'name', t.name, "                           \
    "'last_name', t.last_name, 'first_name', t.first_name, "                   \
    "'nickname', t.nickname, 'gender', " GRIST_SQL_GENDER("t.gender") ", "     \
    "'phone', t.phone, 'parent', t.parent_id, "                                \
    "'child', coalesce(t.child, false), "                                      \
    "'diet', CASE WHEN " GRIST_SQL_VEGAN("t.diet") " THEN 'VEGAN' "            \
    "ELSE 'STANDARD' END, 'vegan', " GRIST_SQL_VEGAN("t.diet") ", "            \
    "'feed', t.feed, 'number', t.number, 'batch', t.batch::text, "             \
    "'role', t.role_code, 'color', coalesce(r.color, 'ORANGE'), "              \
    "'photo', t.photo, "                                                       \
    "'person', CASE WHEN $4::boolean THEN (SELECT " GRIST_SQL_PERSON("p")      \
    " FROM person p WHERE p.nocode_int_id = t.person_id) "                     \
    "ELSE to_json(t.person_id) END, "                                          \
    "'comment', t.comment, "                                                   \
    "'occupation', coalesce(nullif(t.occupation, ''), r.name, t.role_code), "  \
    "'nocode_int_id', t.nocode_int_id, 'deleted', t.deleted, "                 \
    "'ticket', t.ticket, "                                                     \
    "'last_updated', " GRIST_SQL_TIME("t.last_updated") ", "                   \
    "'directions', CASE WHEN $5::boolean THEN (SELECT coalesce(json_agg("      \
    GRIST_BADGE_DIRECTION " ORDER BY d.nocode_int_id), '[]') "                 \
    "FROM badge_directions bd "                                                \
    "JOIN direction d ON d.nocode_int_id = bd.direction_id "                   \
    "LEFT JOIN direction_type dt ON dt.name = d.type "                         \
    "WHERE bd.badge_id = t.nocode_int_id) ELSE '[]'::json END)"

#define GRIST_BADGE_FILTERS                                                    \
    "AND ($6::int IS NULL OR t.batch = $6::int) "                              \
    "AND ($7::text IS NULL OR coalesce(r.color, 'ORANGE') = $7) "              \
    "AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM badge_directions bd "      \
    "JOIN direction d ON d.nocode_int_id = bd.direction_id "                   \
    "LEFT JOIN direction_type dt ON dt.name = d.type "                         \
    "WHERE bd.badge_id = t.nocode_int_id "                                     \
    "AND (dt.code = $8 OR d.id::text = $8))) "                                 \
    "AND ($9::text IS NULL OR t.role_code = $9) "                              \
    "AND ($10::text IS NULL OR t.occupation = $10) "                           \
    "AND ($11::text IS NULL OR t.parent_id IN (SELECT p.nocode_int_id "        \
    "FROM badge p WHERE p.id::text = $11 OR p.nocode_int_id::text = $11))"

#define GRIST_BADGES_SQL                                                       \
    GRIST_LIST_SQL(GRIST_BADGE_JSON,                                           \
        "badge t LEFT JOIN participation_role r ON r.code = t.role_code",      \
        GRIST_BADGE_FILTERS)

#define GRIST_ARRIVALS_SQL                                                     \
    GRIST_LIST_SQL("json_build_object('id', t.id, 'badge', b.id, "             \
        "'arrival_date', t.arrival_date, "                                     \
        "'arrival_transport', t.arrival_transport, "                           \
        "'arrival_registered', t.arrival_registered, "                         \
        "'departure_date', t.departure_date, "                                 \
        "'departure_transport', t.departure_transport, "                       \
        "'departure_registered', t.departure_registered, "                     \
        "'status', t.status, 'extra_data', t.extra_data, "                     \
        "'comment', t.comment, "                                               \
        "'last_updated', " GRIST_SQL_TIME("t.last_updated") ", "               \
        "'deleted', t.deleted, 'nocode_int_id', t.nocode_int_id, "             \
        "'coda_index', NULL)",                                                 \
        "arrival t JOIN badge b ON b.nocode_int_id = t.badge_id", "")

#define GRIST_COLOR_SQL                                                        \
    "SELECT code FROM badge_color WHERE code = upper($1) OR color = lower($1)"

#define GRIST_ROLE_SQL                                                         \
    "SELECT code FROM participation_role "                                     \
    "WHERE code = upper($1) OR lower(name) = lower($1) "                       \
    "ORDER BY code = upper($1) DESC LIMIT 1"

#define GRIST_DIRECTION_TYPE_SQL                                               \
    "SELECT code FROM direction_type WHERE code = upper($1) OR name = $1"
/* clang-format on */

enum { GRIST_BADGE_NPARAMS = 11 };

/* The direction filter: a direction's id, or a direction type's code or
 * name (the original's DirectionType). 0 absent, 1 set, -1 answered. */
static int
grist_badges_direction(
    PGconn *conn, const req_t *req, resp_t *resp, char *out, size_t outlen)
{
    const char *v = req_query(req, "direction");

    if (v != NULL && grist_list_uuid(v, out) == 0) {
        return 1;
    }

    return grist_list_code(
        conn, req, resp, "direction", GRIST_DIRECTION_TYPE_SQL, out, outlen);
}

/* The batch, or its other name, party (digits); the parent badge of
 * infants (a row id or a UUID). 0, or -1 with a 422. */
static int
grist_badges_numbers(const req_t *req, resp_t *resp, const char **params,
    char *parent, size_t len)
{
    const char *batch = req_query(req, "batch"), *infants;

    if (batch == NULL) {
        batch = req_query(req, "party");
    }
    if (batch
        && (*batch == '\0' || strlen(batch) > 9
            || strspn(batch, "0123456789") != strlen(batch)))
    {
        resp_field_error(resp, 422, req_query(req, "batch") ? "batch" : "party",
            "the batch must be a whole number");
        return -1;
    }
    params[5] = batch;

    infants = req_query(req, "infants");
    params[10] = NULL;
    if (infants) {
        if (*infants && strlen(infants) <= 9
            && strspn(infants, "0123456789") == strlen(infants))
        {
            snprintf(parent, len, "%s", infants);
        } else if (len < 37 || grist_list_uuid(infants, parent) != 0) {
            resp_field_error(
                resp, 422, "infants", "infants must be a badge's id or row id");
            return -1;
        }
        params[10] = parent;
    }

    return 0;
}

void
grist_api_badges(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    static const char *const names[] = { "batch", "party", "color", "direction",
        "role", "occupation", "infants", "include_person", "include_directions",
        "include_infant", NULL };

    grist_list_t list;
    const char  *params[GRIST_BADGE_NPARAMS];
    char         color[64], direction[64], role[64], parent[40];
    int          person = 0, directions = 0, infant = 0, rc;
    PGconn      *conn;

    if (grist_list_query(req, resp, names, GRIST_PAGE_SIZE_DEFAULT, &list) != 0
        || grist_list_bool(req, resp, "include_person", &person) != 0
        || grist_list_bool(req, resp, "include_directions", &directions) != 0
        || grist_list_bool(req, resp, "include_infant", &infant) != 0
        || grist_badges_numbers(req, resp, params, parent, sizeof(parent)) != 0)
    {
        return;
    }

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return;
    }

    memcpy(params, list.params, sizeof(list.params));
    params[3] = person ? "true" : "false";
    params[4] = directions ? "true" : "false";
    params[9] = req_query(req, "occupation");

    rc = grist_list_code(
        conn, req, resp, "color", GRIST_COLOR_SQL, color, sizeof(color));
    params[6] = rc > 0 ? color : NULL;
    if (rc >= 0) {
        rc = grist_badges_direction(
            conn, req, resp, direction, sizeof(direction));
        params[7] = rc > 0 ? direction : NULL;
    }
    if (rc >= 0) {
        rc = grist_list_code(
            conn, req, resp, "role", GRIST_ROLE_SQL, role, sizeof(role));
        params[8] = rc > 0 ? role : NULL;
    }

    if (rc >= 0) {
        grist_list_answer(
            conn, req, resp, GRIST_BADGES_SQL, GRIST_BADGE_NPARAMS, params);
    }

    db_release(ferry->db, conn);
}

void
grist_api_arrivals(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    grist_api_plain_list(
        ferry, req, resp, GRIST_ARRIVALS_SQL, GRIST_PAGE_SIZE_DEFAULT);
}
