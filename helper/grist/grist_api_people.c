/*
 * Persons and participations, as the original's people router lists them:
 * a person's values raw as Grist has them ("М", "Веган"), a
 * participation's person and direction as Grist row ids, its role and
 * status by their Russian names.
 */
#include "grist_api.h"

#include "grist_api_list.h"

/* clang-format off */
#define GRIST_PERSONS_SQL                                                      \
    GRIST_LIST_SQL(GRIST_SQL_PERSON("t"), "person t", "")

#define GRIST_PARTICIPATION_SQL                                                \
    GRIST_LIST_SQL("json_build_object('id', t.id, 'year', t.year, "            \
        "'person', t.person_id, 'direction', t.direction_id, "                 \
        "'role', r.name, 'status', s.name, "                                   \
        "'nocode_int_id', t.nocode_int_id, "                                   \
        "'last_updated', " GRIST_SQL_TIME("t.last_updated") ", "               \
        "'deleted', t.deleted)",                                               \
        "participation t "                                                     \
        "LEFT JOIN participation_role r ON r.code = t.role_code "              \
        "LEFT JOIN participation_status s ON s.code = t.status_code", "")
/* clang-format on */

void
grist_api_persons(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    grist_api_plain_list(
        ferry, req, resp, GRIST_PERSONS_SQL, GRIST_PAGE_SIZE_DEFAULT);
}

void
grist_api_participation(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    grist_api_plain_list(
        ferry, req, resp, GRIST_PARTICIPATION_SQL, GRIST_PAGE_SIZE_DEFAULT);
}
