/*
 * `ferryd migrate up|down`: applies migrations/NNN_name.up.sql in order, or
 * reverts the last one, each in its own transaction, recorded in
 * schema_migrations.
 */
#ifndef FERRY_MIGRATE_H
#define FERRY_MIGRATE_H

#include "config.h"

/* Returns the process exit code: 0, or 1 with the reason on stderr. */
int migrate_run(const config_t *cfg, const char *direction);

#endif
