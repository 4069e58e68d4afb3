/*
 * Migrations. An advisory lock keeps two ferryd from migrating at once; a
 * failing migration is rolled back whole and stops the run.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"

#define MIGRATE_LOCK_KEY "727272" /* any constant: pg_advisory_lock(key) */

typedef struct {
    long  version;
    char *name; /* "001_jobs" */
} migration_t;

static int
migration_cmp(const void *a, const void *b)
{
    const migration_t *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

static void
migrate_free(migration_t *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(m[i].name);
    }
    free(m);
}

/* The *.up.sql files of dir, sorted by version. -1 with the reason on
 * stderr. */
static int
migrate_scan(const char *dir, migration_t **out, size_t *n)
{
    DIR           *d;
    struct dirent *e;
    size_t         len, cap = 0, i;
    char          *end;
    long           v;
    migration_t   *m = NULL, *nm;

    *n = 0;
    *out = NULL;

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "ferryd: cannot read MIGRATIONS_DIR %s: %s\n", dir,
            strerror(errno));
        return -1;
    }

    while ((e = readdir(d)) != NULL) {
        len = strlen(e->d_name);

        if (len <= 7 || strcmp(e->d_name + len - 7, ".up.sql") != 0) {
            continue;
        }

        v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '_' || v <= 0) {
            continue;
        }

        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            nm = realloc(m, cap * sizeof(*m));
            if (nm == NULL) {
                goto nomem;
            }
            m = nm;
        }

        m[*n].version = v;
        m[*n].name = strndup(e->d_name, len - 7);
        if (m[*n].name == NULL) {
            goto nomem;
        }
        (*n)++;
    }

    closedir(d);

    qsort(m, *n, sizeof(*m), migration_cmp);

    /* the second of two files with one version would be skipped unseen */
    for (i = 1; i < *n; i++) {
        if (m[i].version == m[i - 1].version) {
            fprintf(stderr,
                "ferryd: migrations %s and %s have the same version\n",
                m[i - 1].name, m[i].name);
            migrate_free(m, *n);
            *n = 0;
            return -1;
        }
    }

    *out = m;

    return 0;

nomem:

    closedir(d);
    migrate_free(m, *n);
    *n = 0;
    fprintf(stderr, "ferryd: out of memory reading MIGRATIONS_DIR\n");

    return -1;
}

static char *
migrate_read(const char *dir, const char *name, const char *suffix)
{
    char  path[4096], *buf;
    FILE *f;
    long  size;

    snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);

    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    buf = malloc((size_t) size + 1);
    if (buf && fread(buf, 1, (size_t) size, f) != (size_t) size) {
        free(buf);
        buf = NULL;
    }
    if (buf) {
        buf[size] = '\0';
    }

    fclose(f);

    return buf;
}

/* Runs sql and the bookkeeping statement in one transaction. */
static int
migrate_apply(PGconn *conn, const char *name, const char *sql,
    const char *record, int nparams, long version, const char *what)
{
    char        v[32];
    const char *params[2] = { v, name };
    PGresult   *res;
    char        msg[1024];

    snprintf(v, sizeof(v), "%ld", version);

    if (db_exec(conn, "BEGIN") != 0) {
        goto fail;
    }

    if (db_exec(conn, sql) != 0) {
        goto fail;
    }

    res = PQexecParams(conn, record, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        goto fail;
    }
    PQclear(res);

    if (db_exec(conn, "COMMIT") != 0) {
        goto fail;
    }

    printf("%s %s\n", what, name);
    log_info("migrate", "%s %s", what, name);

    return 0;

fail:

    snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    (void) db_exec(conn, "ROLLBACK");
    fprintf(
        stderr, "ferryd: migration %s failed (rolled back): %s\n", name, msg);
    log_error("migrate", "migration %s failed (rolled back): %s", name, msg);

    return -1;
}

static int
migrate_up(PGconn *conn, const config_t *cfg, migration_t *m, size_t n)
{
    size_t      i;
    int         applied = 0;
    char        v[32], *sql;
    const char *params[1] = { v };
    PGresult   *res;
    int         done;

    for (i = 0; i < n; i++) {
        snprintf(v, sizeof(v), "%ld", m[i].version);

        res = PQexecParams(conn,
            "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
            params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "ferryd: %s", PQerrorMessage(conn));
            PQclear(res);
            return 1;
        }
        done = PQntuples(res) > 0;
        PQclear(res);

        if (done) {
            continue;
        }

        sql = migrate_read(cfg->migrations_dir, m[i].name, ".up.sql");
        if (sql == NULL) {
            fprintf(stderr, "ferryd: cannot read %s.up.sql\n", m[i].name);
            return 1;
        }

        if (migrate_apply(conn, m[i].name, sql,
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                2, m[i].version, "applied")
            != 0)
        {
            free(sql);
            return 1;
        }

        free(sql);
        applied++;
    }

    if (applied == 0) {
        printf("database is up to date\n");
    }

    return 0;
}

static int
migrate_down(PGconn *conn, const config_t *cfg, migration_t *m, size_t n)
{
    PGresult *res;
    long      version;
    size_t    i;
    char     *sql, name[256];

    res = PQexec(conn,
        "SELECT version, name FROM schema_migrations ORDER BY version DESC "
        "LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "ferryd: %s", PQerrorMessage(conn));
        PQclear(res);
        return 1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        printf("no migration to revert\n");
        return 0;
    }

    version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(name, sizeof(name), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);

    for (i = 0; i < n; i++) {
        if (m[i].version == version) {
            snprintf(name, sizeof(name), "%s", m[i].name);
        }
    }

    sql = migrate_read(cfg->migrations_dir, name, ".down.sql");
    if (sql == NULL) {
        fprintf(stderr, "ferryd: no down migration for %s (%s/%s.down.sql)\n",
            name, cfg->migrations_dir, name);
        return 1;
    }

    if (migrate_apply(conn, name, sql,
            "DELETE FROM schema_migrations WHERE version = $1", 1, version,
            "reverted")
        != 0)
    {
        free(sql);
        return 1;
    }

    free(sql);

    return 0;
}

int
migrate_run(const config_t *cfg, const char *direction)
{
    char         err[512];
    PGconn      *conn;
    migration_t *m = NULL;
    size_t       n = 0;
    int          rc;

    if (strcmp(direction, "up") != 0 && strcmp(direction, "down") != 0) {
        fprintf(
            stderr, "ferryd: migrate takes up or down, not %s\n", direction);
        return 2;
    }

    if (migrate_scan(cfg->migrations_dir, &m, &n) != 0) {
        return 1;
    }

    conn = db_connect(
        cfg->database_url, cfg->db_connect_timeout, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "ferryd: cannot connect to the database: %s\n", err);
        migrate_free(m, n);
        return 1;
    }

    /* notices (e.g. "relation already exists, skipping") are noise here */
    (void) db_exec(conn, "SET client_min_messages = warning");

    if (db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")") != 0
        || db_exec(conn,
               "CREATE TABLE IF NOT EXISTS schema_migrations ("
               "version bigint PRIMARY KEY, name text NOT NULL, "
               "applied_at timestamptz NOT NULL DEFAULT now())")
            != 0)
    {
        fprintf(stderr, "ferryd: %s", PQerrorMessage(conn));
        PQfinish(conn);
        migrate_free(m, n);
        return 1;
    }

    rc = strcmp(direction, "up") == 0 ? migrate_up(conn, cfg, m, n)
                                      : migrate_down(conn, cfg, m, n);

    PQfinish(conn);
    migrate_free(m, n);

    return rc;
}
