/*
 * The items of POST /feeder/back-sync, in the original service's shape
 * ({"actor_badge", "date", "data": {...}}): checked, and their data mapped
 * into the Grist columns of Badges_<year> or Arrivals_<year>.
 */
#ifndef FERRY_GRIST_BACK_ITEMS_H
#define FERRY_GRIST_BACK_ITEMS_H

#include <cjson/cJSON.h>

typedef enum { GRIST_BACK_BADGE = 0, GRIST_BACK_ARRIVAL } grist_back_kind_t;

/*
 * What an item's references are looked up in, each a JSON object from the
 * reference to the Grist row id: persons and directions by their dashed
 * uuid (PostgreSQL), badges by dashed uuid (this request's and Grist's),
 * roles by code, statuses by code and by name, transports by code (the
 * Grist lookup tables).
 */
typedef struct {
    const cJSON *persons;
    const cJSON *directions;
    const cJSON *badges;
    const cJSON *roles;
    const cJSON *statuses;
    const cJSON *transports;
} grist_back_refs_t;

typedef struct {
    grist_back_kind_t kind;
    int               index;   /* in its list */
    char              id[37];  /* dashed, lowercase */
    char              hex[33]; /* as Grist holds it */
    /* the Grist columns the item writes; references still as the feeder
     * names them until grist_back_resolve() */
    cJSON *fields;
    char   badge[37]; /* an arrival's badge, "" when it names none */
    long   row_id;    /* the Grist row, once matched or created; 0 */
    int    created;
    char   error[256]; /* why Grist did not take it; "" */
} grist_back_item_t;

/* The column a feeder date ("YYYY-MM-DD") is written to Grist as: the
 * epoch seconds of its midnight, UTC (Grist's Date). 0, or -1. */
int grist_back_date(const char *s, double *epoch);

/*
 * Checks one item (the index-th of its list) and fills it; now: the epoch
 * seconds written as feeder_update and as to_delete for "deleted": true.
 * 0, or -1 with the offending field ("badges[3].data.feed") and what is
 * wrong with it.
 */
int grist_back_check(const cJSON *item, grist_back_kind_t kind, int index,
    double now, grist_back_item_t *out, char *field, size_t field_len,
    char *msg, size_t msg_len);

/*
 * Replaces the item's references by Grist row ids. 0, or -1 with the
 * field naming the reference that refs lack.
 */
int grist_back_resolve(grist_back_item_t *it, const grist_back_refs_t *refs,
    char *field, size_t field_len, char *msg, size_t msg_len);

/* The references an item names, added to persons, directions and badges
 * (JSON objects used as sets of dashed uuids; NULL: not wanted). */
void grist_back_wants(const grist_back_item_t *it, cJSON *persons,
    cJSON *directions, cJSON *badges);

void grist_back_item_free(grist_back_item_t *it);

#endif
