/*
 * ferryd's settings: KEY=VALUE lines from the config file, each overridable
 * by the environment variable of the same name. One table lists them all.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stddef.h>

typedef struct {
    char *api_auth_password; /* the read API's basic auth (nginx's) */
    char *api_auth_user;
    int   attachment_workers; /* 0: EXPORT_WORKERS */
    int   batch_size;
    char *database_url;
    int   db_connect_timeout;
    int   db_max_overflow;
    int   db_pool_size;
    int   db_pool_timeout;
    int   export_channel_concurrency; /* 0: EXPORT_WORKERS */
    int   export_message_batch;       /* a channel's messages read at once */
    int   export_workers;
    char *ferry_socket;
    char *grist_api_key;
    char *grist_doc_id;
    int   grist_hard_delete_every; /* cycles between id-set comparisons */
    char *grist_server;            /* "": no sync cycle */
    int   grist_sync_interval;     /* seconds */
    int   grist_year;              /* Badges_<year>, Arrivals_<year> … */
    int   import_max_field_bytes;
    int   import_slow_ms;
    int   import_batch_ms;
    int   import_loaders; /* batches of an import loaded at once */
    int   job_stale_seconds;
    int   job_workers;
    int   jwt_access_ttl_seconds;
    char *jwt_audience;
    char *jwt_issuer;
    char *jwt_secret_file;
    char *log_file;
    int   log_level;
    long  max_frame_bytes;
    char *migrations_dir;
    char *mm_api_mode;
    int   mm_http2;
    int   mm_max_connections;
    int   mm_max_keepalive;
    char *mm_token;
    char *mm_url;
    char *reports_dir;
    char *reports_url;
    int   report_link_ttl_seconds;
    int   report_ttl;
    char *s3_access_key;
    char *s3_bucket;
    char *s3_endpoint_url;
    int   s3_presign_ttl_seconds;
    char *s3_public_endpoint_url;
    char *s3_region;
    char *s3_secret_key;
    char *slack_api_url;
    int   slack_event_ttl;
    long  slack_max_element_bytes;
    char *slack_token;
    long  slack_zip_max_bytes;
    int   slack_zip_max_ratio;
    char *socket_group;
    int   socket_mode;
    char *spool_dir;
    int   workers;
} config_t;

/* MM_API_MODE's values ("api", "plugin", "bulk"), NULL-ended; an export's
 * mode is its index. */
extern const char *const config_mm_modes[];

/* The index of a mode's name in config_mm_modes, or -1. */
int config_mm_mode(const char *name);

/* Sets every setting to its default. */
void config_defaults(config_t *cfg);

/*
 * Reads the file (NULL: none), then the environment, then checks every
 * value. Returns 0, or -1 with a one-line message in err (a configuration
 * error: exit code 2).
 */
int config_load(config_t *cfg, const char *path, char *err, size_t errlen);

/* Parses one "KEY=VALUE" line into cfg (for tests and the loader). */
int config_set(config_t *cfg, const char *key, const char *value, char *err,
    size_t errlen);

#define CONFIG_SECRET_MAX 4096

/* IMPORT_LOADERS at most */
#define IMPORT_MAX_LOADERS 4

/* Reads the JWT secret (the file less trailing whitespace, at least
 * FERRY_JWT_KEY_MIN bytes) into key (CONFIG_SECRET_MAX bytes). */
int config_read_secret(const char *path, unsigned char *key, size_t *len,
    char *err, size_t errlen);

/* Every setting at DEBUG, secrets left out. */
void config_log(const config_t *cfg);

void config_free(config_t *cfg);

#endif
