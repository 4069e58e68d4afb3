/*
 * Directions (Grist's Teams), as the original's places router lists them:
 * all of them unless a page is asked for, the type as its code
 * (CITY_SERVICE), and the original's always-empty badges.
 */
#include "grist_api.h"

#include "grist_api_list.h"

/* clang-format off */
#define GRIST_DIRECTIONS_SQL                                                   \
    GRIST_LIST_SQL("json_build_object('id', t.id, 'name', t.name, "            \
        "'type', dt.code, 'first_year', t.first_year, "                        \
        "'last_year', t.last_year, "                                           \
        "'last_updated', " GRIST_SQL_TIME("t.last_updated") ", "               \
        "'deleted', t.deleted, 'nocode_int_id', t.nocode_int_id, "             \
        "'badges', '[]'::json)",                                               \
        "direction t LEFT JOIN direction_type dt ON dt.name = t.type", "")
/* clang-format on */

void
grist_api_directions(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    grist_api_plain_list(ferry, req, resp, GRIST_DIRECTIONS_SQL, 0);
}
