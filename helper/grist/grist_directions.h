/*
 * Directions<year>, the last step of a sync cycle (the original's
 * create_participations queue): each direction changed since the last
 * cycle gives its heads a participation in its team for the season,
 * created in Grist's Participations when they have none.
 */
#ifndef FERRY_GRIST_DIRECTIONS_H
#define FERRY_GRIST_DIRECTIONS_H

#include <libpq-fe.h>

#include "core/ferryd.h"
#include "grist_map.h"

/* The Grist table id, "Directions<year>", into out[64]. */
void grist_directions_table(const ferryd_t *ferry, char *out);

/*
 * One attempt: reads the directions changed since the stored cursor,
 * creates the participations missing, and stores the cursor and counts in
 * grist_sync_state. *seen and *created are counted. 0, or -1 with err
 * (*unavailable: Grist did not answer).
 */
int grist_directions_sync(ferryd_t *ferry, PGconn *conn,
    const grist_lookups_t *lk, long *seen, long *created, int *unavailable,
    char *err, size_t errlen);

#endif
