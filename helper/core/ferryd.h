/*
 * What every handler gets: the settings and the PostgreSQL pool. One value
 * of this type lives in main() for the life of the process.
 */
#ifndef FERRY_FERRYD_H
#define FERRY_FERRYD_H

#include "config.h"
#include "db.h"

struct jobs_s;

typedef struct {
    config_t              cfg;
    db_pool_t            *db;
    struct jobs_s        *jobs;
    struct http_client_s *http; /* outbound HTTP (http/http_client.h) */

    /* set once ferryd is stopping: long periodic work leaves early */
    volatile int stopping;

    /* the HS256 key tokens are signed with (JWT_SECRET_FILE) */
    unsigned char jwt_key[CONFIG_SECRET_MAX];
    size_t        jwt_key_len;
} ferryd_t;

#endif
