/*
 * The Grist -> PostgreSQL sync cycle (SPEC D1), run by its own scheduler
 * thread every GRIST_SYNC_INTERVAL seconds: the lookup tables, then each
 * synced table's changes since the last cycle, mapped, validated and
 * upserted with the table's sync state in one transaction.
 */
#ifndef FERRY_GRIST_SYNC_H
#define FERRY_GRIST_SYNC_H

#include "core/ferryd.h"

void grist_sync_cycle(ferryd_t *ferry);

#endif
