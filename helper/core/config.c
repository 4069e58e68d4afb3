/*
 * The settings table and the loader: file first, environment over it, then
 * validation of the merged values.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libpq-fe.h>

#include "ferry_jwt.h"
#include "log.h"

/* SET_SECRET: a string the debug log shows as "(set)" (a password, a key,
 * a token, a connection string that may hold a password) */
typedef enum {
    SET_STR,
    SET_SECRET,
    SET_INT,
    SET_LONG,
    SET_MODE,
    SET_LEVEL
} set_type_t;

typedef struct {
    const char *name;
    set_type_t  type;
    size_t      offset;
    const char *def;
    long        min;
    long        max;
} setting_t;

#define OFF(f) offsetof(config_t, f)

const char *const config_mm_modes[] = { "api", "plugin", "bulk", NULL };

int
config_mm_mode(const char *name)
{
    int i;

    for (i = 0; name && config_mm_modes[i]; i++) {
        if (strcmp(config_mm_modes[i], name) == 0) {
            return i;
        }
    }

    return -1;
}

/* alphabetical; min/max bound the numbers */
static const setting_t settings[] = {
    { "API_AUTH_PASSWORD", SET_SECRET, OFF(api_auth_password), "", 0, 0 },
    { "API_AUTH_USER", SET_STR, OFF(api_auth_user), "", 0, 0 },
    { "ATTACHMENT_WORKERS", SET_INT, OFF(attachment_workers), "0", 0, 64 },
    { "BATCH_SIZE", SET_INT, OFF(batch_size), "5000", 1, 1000000 },
    { "DATABASE_URL", SET_SECRET, OFF(database_url), "postgresql:///ferry", 0,
        0 },
    { "DB_CONNECT_TIMEOUT", SET_INT, OFF(db_connect_timeout), "2", 1, 3600 },
    { "DB_MAX_OVERFLOW", SET_INT, OFF(db_max_overflow), "10", 0, 1000 },
    { "DB_POOL_SIZE", SET_INT, OFF(db_pool_size), "5", 1, 1000 },
    { "DB_POOL_TIMEOUT", SET_INT, OFF(db_pool_timeout), "30", 1, 3600 },
    { "EXPORT_CHANNEL_CONCURRENCY", SET_INT, OFF(export_channel_concurrency),
        "0", 0, 64 },
    { "EXPORT_MESSAGE_BATCH", SET_INT, OFF(export_message_batch), "64", 1, 64 },
    { "EXPORT_WORKERS", SET_INT, OFF(export_workers), "5", 1, 64 },
    { "FERRY_SOCKET", SET_STR, OFF(ferry_socket), "/run/ferry/ferryd.sock", 0,
        0 },
    { "GRIST__API_KEY", SET_SECRET, OFF(grist_api_key), "", 0, 0 },
    { "GRIST__DOC_ID", SET_STR, OFF(grist_doc_id), "", 0, 0 },
    { "GRIST__SERVER", SET_STR, OFF(grist_server), "", 0, 0 },
    { "GRIST_HARD_DELETE_EVERY", SET_INT, OFF(grist_hard_delete_every), "10", 1,
        100000 },
    { "GRIST_SYNC_INTERVAL", SET_INT, OFF(grist_sync_interval), "30", 1,
        86400 },
    { "GRIST_YEAR", SET_INT, OFF(grist_year), "2026", 2000, 2999 },
    { "IMPORT_BATCH_MS", SET_INT, OFF(import_batch_ms), "250", 0, 10000 },
    { "IMPORT_LOADERS", SET_INT, OFF(import_loaders), "2", 1,
        IMPORT_MAX_LOADERS },
    { "IMPORT_MAX_FIELD_BYTES", SET_INT, OFF(import_max_field_bytes), "1024",
        16, 1048576 },
    { "IMPORT_SLOW_MS", SET_INT, OFF(import_slow_ms), "0", 0, 600000 },
    { "JOB_STALE_SECONDS", SET_INT, OFF(job_stale_seconds), "60", 1, 86400 },
    { "JOB_WORKERS", SET_INT, OFF(job_workers), "2", 0, 64 },
    { "JWT_ACCESS_TTL_SECONDS", SET_INT, OFF(jwt_access_ttl_seconds), "3600",
        60, 31536000 },
    { "JWT_AUDIENCE", SET_STR, OFF(jwt_audience), "", 0, 0 },
    { "JWT_ISSUER", SET_STR, OFF(jwt_issuer), "", 0, 0 },
    { "JWT_SECRET_FILE", SET_STR, OFF(jwt_secret_file), "", 0, 0 },
    { "LOG_FILE", SET_STR, OFF(log_file), "", 0, 0 },
    { "LOG_LEVEL", SET_LEVEL, OFF(log_level), "info", 0, 0 },
    { "MAX_FRAME_BYTES", SET_LONG, OFF(max_frame_bytes), "16777216", 64,
        1L << 30 },
    { "MIGRATIONS_DIR", SET_STR, OFF(migrations_dir), "migrations", 0, 0 },
    { "MM_API_MODE", SET_STR, OFF(mm_api_mode), "api", 0, 0 },
    { "MM_HTTP2", SET_INT, OFF(mm_http2), "0", 0, 1 },
    { "MM_MAX_CONNECTIONS", SET_INT, OFF(mm_max_connections), "100", 1, 1000 },
    { "MM_MAX_KEEPALIVE", SET_INT, OFF(mm_max_keepalive), "20", 1, 1000 },
    { "MM_TOKEN", SET_SECRET, OFF(mm_token), "", 0, 0 },
    { "MM_URL", SET_STR, OFF(mm_url), "", 0, 0 },
    { "REPORT_LINK_TTL_SECONDS", SET_INT, OFF(report_link_ttl_seconds), "3600",
        10, 604800 },
    { "REPORT_TTL", SET_INT, OFF(report_ttl), "604800", 1, 315360000 },
    { "REPORTS_DIR", SET_STR, OFF(reports_dir), "", 0, 0 },
    { "REPORTS_URL", SET_STR, OFF(reports_url), "/reports", 0, 0 },
    { "S3_ACCESS_KEY", SET_STR, OFF(s3_access_key), "", 0, 0 },
    { "S3_BUCKET", SET_STR, OFF(s3_bucket), "ferry-reports", 0, 0 },
    { "S3_ENDPOINT_URL", SET_STR, OFF(s3_endpoint_url), "", 0, 0 },
    { "S3_PRESIGN_TTL_SECONDS", SET_INT, OFF(s3_presign_ttl_seconds), "3600", 1,
        604800 },
    { "S3_PUBLIC_ENDPOINT_URL", SET_STR, OFF(s3_public_endpoint_url), "", 0,
        0 },
    { "S3_REGION", SET_STR, OFF(s3_region), "us-east-1", 0, 0 },
    { "S3_SECRET_KEY", SET_SECRET, OFF(s3_secret_key), "", 0, 0 },
    { "SLACK_API_URL", SET_STR, OFF(slack_api_url), "https://slack.com/api", 0,
        0 },
    { "SLACK_EVENT_TTL", SET_INT, OFF(slack_event_ttl), "604800", 60,
        31536000 },
    { "SLACK_MAX_ELEMENT_BYTES", SET_LONG, OFF(slack_max_element_bytes),
        "16777216", 1024, 1L << 31 },
    { "SLACK_TOKEN", SET_SECRET, OFF(slack_token), "", 0, 0 },
    { "SLACK_ZIP_MAX_BYTES", SET_LONG, OFF(slack_zip_max_bytes), "34359738368",
        1024, 1L << 50 },
    { "SLACK_ZIP_MAX_RATIO", SET_INT, OFF(slack_zip_max_ratio), "500", 2,
        100000 },
    { "SOCKET_GROUP", SET_STR, OFF(socket_group), "", 0, 0 },
    { "SOCKET_MODE", SET_MODE, OFF(socket_mode), "0660", 0, 0777 },
    { "SPOOL_DIR", SET_STR, OFF(spool_dir), "", 0, 0 },
    { "WORKERS", SET_INT, OFF(workers), "4", 1, 256 },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* The original agreemod service reads GRIST__SERVER (pydantic's nested
 * "GRIST" group); Ferry's other settings have one underscore. Both
 * spellings name the same setting. */
static const struct {
    const char *alias;
    const char *name;
} aliases[] = {
    { "GRIST_API_KEY", "GRIST__API_KEY" },
    { "GRIST_DOC_ID", "GRIST__DOC_ID" },
    { "GRIST_SERVER", "GRIST__SERVER" },
};

#define NALIASES (sizeof(aliases) / sizeof(aliases[0]))

/* The other spelling of a setting's name, or NULL. */
static const char *
setting_other_spelling(const char *key)
{
    size_t i;

    for (i = 0; i < NALIASES; i++) {
        if (strcmp(aliases[i].name, key) == 0) {
            return aliases[i].alias;
        }
        if (strcmp(aliases[i].alias, key) == 0) {
            return aliases[i].name;
        }
    }

    return NULL;
}

static const setting_t *
setting_find(const char *key)
{
    const char *other;
    size_t      i;

    other = setting_other_spelling(key);

    for (i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].name, key) == 0
            || (other && strcmp(settings[i].name, other) == 0))
        {
            return &settings[i];
        }
    }

    return NULL;
}

/* A setting's value in the environment under either spelling; both set
 * and different is an error, since either choice would surprise someone. */
static int
setting_env(const setting_t *s, const char **val, char *err, size_t errlen)
{
    const char *alias, *other;

    *val = getenv(s->name);
    alias = setting_other_spelling(s->name);
    if (alias == NULL) {
        return 0;
    }

    other = getenv(alias);
    if (other == NULL) {
        return 0;
    }

    if (*val != NULL && strcmp(*val, other) != 0) {
        snprintf(err, errlen,
            "%s and %s are both set, to different values: set one", s->name,
            alias);
        return -1;
    }

    *val = other;

    return 0;
}

int
config_set(
    config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const setting_t *s;
    char            *end, **sp, *dup;
    long             v;
    void            *field;

    s = setting_find(key);
    if (s == NULL) {
        snprintf(err, errlen, "unknown setting %s", key);
        return -1;
    }

    field = (char *) cfg + s->offset;

    switch (s->type) {

    case SET_STR:
    case SET_SECRET:
        dup = strdup(value);
        if (dup == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sp = field;
        free(*sp);
        *sp = dup;
        return 0;

    case SET_LEVEL:
        v = log_level_parse(value);
        if (v < 0) {
            snprintf(err, errlen,
                "LOG_LEVEL must be debug, info, warn or error, not \"%s\"",
                value);
            return -1;
        }
        *(int *) field = (int) v;
        return 0;

    case SET_INT:
    case SET_LONG:
    case SET_MODE:
        errno = 0;
        v = strtol(value, &end, s->type == SET_MODE ? 8 : 10);
        if (errno || end == value || *end != '\0' || v < s->min || v > s->max) {
            snprintf(err, errlen,
                "%s must be %s between %ld and %ld, not \"%s\"", key,
                s->type == SET_MODE ? "an octal mode" : "a number", s->min,
                s->max, value);
            return -1;
        }
        if (s->type == SET_LONG) {
            *(long *) field = v;
        } else {
            *(int *) field = (int) v;
        }
        return 0;
    }

    return -1;
}

/* Only out of memory can fail here: the defaults are valid values. */
static int
config_init(config_t *cfg, char *err, size_t errlen)
{
    size_t i;

    memset(cfg, 0, sizeof(*cfg));

    for (i = 0; i < NSETTINGS; i++) {
        if (config_set(cfg, settings[i].name, settings[i].def, err, errlen)
            != 0) {
            return -1;
        }
    }

    return 0;
}

void
config_defaults(config_t *cfg)
{
    char err[256];

    (void) config_init(cfg, err, sizeof(err));
}

static char *
trim(char *s)
{
    char *e;

    while (isspace((unsigned char) *s)) {
        s++;
    }

    e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1])) {
        *--e = '\0';
    }

    return s;
}

/* Values that fail in the file may still be overridden by the environment:
 * the file's values are only checked for syntax here, kept as text. */
static int
config_read_file(
    const char *path, char ***pairs, size_t *npairs, char *err, size_t errlen)
{
    FILE  *f;
    char   line[4096], *p, *eq, *k, *v, **np;
    size_t vlen;
    int    lineno = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read config file %s: %s", path,
            strerror(errno));
        return -1;
    }

    while (fgets(line, sizeof(line), f)) {
        lineno++;

        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path,
                lineno, sizeof(line) - 2);
            fclose(f);
            return -1;
        }

        p = trim(line);

        if (*p == '\0' || *p == '#') {
            continue;
        }

        eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected KEY=VALUE", path, lineno);
            fclose(f);
            return -1;
        }

        *eq = '\0';
        k = trim(p);
        v = trim(eq + 1);
        vlen = strlen(v);

        if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
            v[vlen - 1] = '\0';
            v++;
        }

        if (setting_find(k) == NULL) {
            snprintf(err, errlen, "%s:%d: unknown setting %s", path, lineno, k);
            fclose(f);
            return -1;
        }

        np = realloc(*pairs, (*npairs + 2) * sizeof(char *));
        if (np == NULL) {
            fclose(f);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        *pairs = np;
        np[*npairs] = strdup(k);
        np[*npairs + 1] = strdup(v);
        *npairs += 2;

        if (np[*npairs - 2] == NULL || np[*npairs - 1] == NULL) {
            fclose(f);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    /* a directory opens fine and then fails to read (EISDIR) */
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read config file %s: %s", path,
            strerror(errno));
        fclose(f);
        return -1;
    }

    fclose(f);

    return 0;
}

int
config_read_secret(
    const char *path, unsigned char *key, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    FILE       *f;
    size_t      n;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "JWT_SECRET_FILE %s cannot be read: %s", path,
            strerror(errno));
        return -1;
    }

    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > CONFIG_SECRET_MAX)
    {
        snprintf(err, errlen,
            "JWT_SECRET_FILE %s is not a regular file of at most %d bytes",
            path, CONFIG_SECRET_MAX);
        fclose(f);
        return -1;
    }

    n = fread(key, 1, CONFIG_SECRET_MAX, f);
    fclose(f);

    *len = ferry_jwt_key_len(key, n);

    if (*len < FERRY_JWT_KEY_MIN) {
        snprintf(err, errlen,
            "JWT_SECRET_FILE %s holds a secret shorter than %d bytes", path,
            FERRY_JWT_KEY_MIN);
        return -1;
    }

    return 0;
}

int
config_load(config_t *cfg, const char *path, char *err, size_t errlen)
{
    char            **pairs = NULL, *msg;
    const char       *env;
    size_t            npairs = 0, i;
    int               rc = -1;
    PQconninfoOption *opts;

    if (config_init(cfg, err, errlen) != 0) {
        goto done;
    }

    if (path && config_read_file(path, &pairs, &npairs, err, errlen) != 0) {
        goto done;
    }

    for (i = 0; i < NSETTINGS; i++) {
        if (setting_env(&settings[i], &env, err, errlen) != 0) {
            goto done;
        }
    }

    for (i = 0; i < npairs; i += 2) {
        /* the environment wins: a bad value it overrides does not matter */
        if (setting_env(setting_find(pairs[i]), &env, err, errlen) == 0
            && env != NULL) {
            continue;
        }
        if (config_set(cfg, pairs[i], pairs[i + 1], err, errlen) != 0) {
            goto done;
        }
    }

    for (i = 0; i < NSETTINGS; i++) {
        (void) setting_env(&settings[i], &env, err, errlen);
        if (env != NULL
            && config_set(cfg, settings[i].name, env, err, errlen) != 0) {
            goto done;
        }
    }

    msg = NULL;
    opts = PQconninfoParse(cfg->database_url, &msg);
    if (opts == NULL) {
        snprintf(err, errlen,
            "DATABASE_URL is not a valid connection string: %s",
            msg ? trim(msg) : "out of memory");
        PQfreemem(msg);
        goto done;
    }
    PQconninfoFree(opts);

    if (cfg->jwt_secret_file[0]) {
        unsigned char key[CONFIG_SECRET_MAX];
        size_t        klen;

        if (config_read_secret(cfg->jwt_secret_file, key, &klen, err, errlen)
            != 0) {
            goto done;
        }
    }

    if (config_mm_mode(cfg->mm_api_mode) < 0) {
        snprintf(err, errlen,
            "MM_API_MODE must be api, plugin or bulk, not \"%s\"",
            cfg->mm_api_mode);
        goto done;
    }

    if (cfg->socket_group[0] && getgrnam(cfg->socket_group) == NULL) {
        snprintf(
            err, errlen, "SOCKET_GROUP %s: no such group", cfg->socket_group);
        goto done;
    }

    rc = 0;

done:

    for (i = 0; i < npairs; i++) {
        free(pairs[i]);
    }
    free(pairs);

    return rc;
}

void
config_free(config_t *cfg)
{
    size_t i;

    for (i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == SET_STR || settings[i].type == SET_SECRET) {
            free(*(char **) ((char *) cfg + settings[i].offset));
        }
    }

    memset(cfg, 0, sizeof(*cfg));
}

void
config_log(const config_t *cfg)
{
    size_t      i;
    const void *field;

    for (i = 0; i < NSETTINGS; i++) {
        field = (const char *) cfg + settings[i].offset;

        switch (settings[i].type) {
        case SET_STR:
            log_debug(
                "config", "%s=%s", settings[i].name, *(char *const *) field);
            break;
        case SET_SECRET:
            log_debug("config", "%s=(set)", settings[i].name);
            break;
        case SET_LONG:
            log_debug(
                "config", "%s=%ld", settings[i].name, *(const long *) field);
            break;
        case SET_MODE:
            log_debug(
                "config", "%s=%04o", settings[i].name, *(const int *) field);
            break;
        default:
            log_debug(
                "config", "%s=%d", settings[i].name, *(const int *) field);
        }
    }
}
