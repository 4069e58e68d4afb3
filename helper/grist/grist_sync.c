/*
 * Changes are found with the table's updated_at (a trigger formula in the
 * Grist document): the state keeps when the last successful fetch began,
 * and the next fetch asks for updated_at >= that - OVERLAP, as the
 * original did, so a row changed while a long fetch paged past it, or
 * stamped by a Grist clock somewhat behind ferryd's, is read again.
 * Rows read again unchanged are not written: the upsert skips rows whose
 * values are the same, and grist_touch() (migration 009) keeps their
 * last_updated. Pages go by row id (keyset), so a page is one cheap
 * query on Grist's side and no answer outgrows memory.
 */
#include "grist_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/db.h"
#include "ferry_json.h"
#include "core/log.h"
#include "grist_client.h"
#include "grist_directions.h"
#include "grist_map.h"
#include "grist_queue.h"

#define SYNC_OVERLAP_S      300.0
#define SYNC_PAGE_ROWS      5000
#define SYNC_IDS_PAGE       50000
#define SYNC_TABLE_ATTEMPTS 5
#define SYNC_CYCLE_ATTEMPTS 3
#define SYNC_TABLE_BASE_MS  200
#define SYNC_TABLE_CAP_MS   5000
#define SYNC_CYCLE_BASE_MS  1000
#define SYNC_CYCLE_CAP_MS   30000
#define SYNC_LOCK_KEY       "hashtext('grist_sync')"
#define SYNC_LOCK           "SELECT pg_try_advisory_lock(" SYNC_LOCK_KEY ")"
#define SYNC_UNLOCK         "SELECT pg_advisory_unlock(" SYNC_LOCK_KEY ")"

typedef struct {
    long seen;        /* rows fetched */
    long written;     /* rows inserted or changed */
    long inserted;    /* of them, rows new to PostgreSQL */
    long rejected;    /* rows that failed validation or PostgreSQL */
    long deleted;     /* rows gone from Grist, marked deleted */
    long queued;      /* delete/restore messages added */
    long created;     /* participations created in Grist for heads */
    int  unavailable; /* Grist did not answer: the next table would not */
    char error[512];
} sync_result_t;

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
fail_db(sync_result_t *res, PGconn *conn, const char *what)
{
    snprintf(
        res->error, sizeof(res->error), "%s: %s", what, PQerrorMessage(conn));
    res->error[strcspn(res->error, "\n")] = '\0';
}

static void
fail_grist(sync_result_t *res, const grist_resp_t *resp, const char *what)
{
    snprintf(res->error, sizeof(res->error), "%s: %.400s", what, resp->message);
    res->unavailable = grist_unavailable(resp);
}

/* ------------------------------------------------------------------ lookups */

static int
lookup_get(ferryd_t *ferry, const char *table, grist_resp_t *resp,
    const cJSON **records, sync_result_t *res)
{
    char path[128];

    snprintf(path, sizeof(path), "/tables/%s/records", table);
    if (grist_call(ferry, "GET", path, NULL, 0, resp) != 0) {
        fail_grist(res, resp, table);
        return -1;
    }
    *records = cJSON_GetObjectItemCaseSensitive(resp->json, "records");
    if (!cJSON_IsArray(*records)) {
        snprintf(res->error, sizeof(res->error), "%s: no records", table);
        return -1;
    }
    return 0;
}

/* rows[i].fields[code] and [name] when both are set, as
 * {"<row id>": code} in map and, with rows_out, [{code, name, ...}]. */
static void
lookup_codes(const cJSON *records, const char *code_col, const char *name_col,
    cJSON *map, cJSON *rows_out)
{
    const cJSON *rec, *f;
    const char  *code, *name;
    char         key[32];
    cJSON       *row;

    cJSON_ArrayForEach(rec, records)
    {
        f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
        code = ferry_json_str(f, code_col);
        name = ferry_json_str(f, name_col);
        if (code == NULL || name == NULL) {
            continue;
        }
        snprintf(key, sizeof(key), "%ld", ferry_json_long(rec, "id"));
        cJSON_AddStringToObject(map, key, code);
        if (rows_out) {
            row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "code", code);
            cJSON_AddStringToObject(row, "name", name);
            cJSON_AddBoolToObject(row, "to_list",
                !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(f, "to_list")));
            cJSON_AddItemToObject(row, "comment",
                ferry_json_str(f, "B")
                    ? cJSON_CreateString(ferry_json_str(f, "B"))
                    : cJSON_CreateNull());
            cJSON_AddItemToArray(rows_out, row);
        }
    }
}

/* clang-format off */
#define SQL_STATUSES                                                           \
    "INSERT INTO participation_status (code, name, to_list, comment) "         \
    "SELECT code, name, to_list, comment FROM jsonb_to_recordset($1::jsonb) "  \
    "AS x(code varchar, name varchar, to_list boolean, comment varchar) "      \
    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, "                  \
    "to_list = EXCLUDED.to_list, comment = EXCLUDED.comment "                  \
    "WHERE (participation_status.name, participation_status.to_list, "         \
    "participation_status.comment) IS DISTINCT FROM "                          \
    "(EXCLUDED.name, EXCLUDED.to_list, EXCLUDED.comment)"

/* new roles reach PostgreSQL every cycle (the original's INSERT without
 * ON CONFLICT failed after the first run, so they never did) */
#define SQL_ROLES                                                              \
    "INSERT INTO participation_role (code, name) "                             \
    "SELECT code, name FROM jsonb_to_recordset($1::jsonb) "                    \
    "AS x(code varchar, name varchar) "                                        \
    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name "                   \
    "WHERE participation_role.name IS DISTINCT FROM EXCLUDED.name"
/* clang-format on */

static int
load_lookups(
    ferryd_t *ferry, PGconn *conn, grist_lookups_t *lk, sync_result_t *res)
{
    grist_resp_t resp[3];
    const cJSON *st, *ro, *tr, *rec;
    cJSON       *rows[2], *codes;
    char        *text[2];
    const char  *param;
    PGresult    *r;
    int          i, ok = -1;
    char         key[32];

    memset(resp, 0, sizeof(resp));
    lk->roles = cJSON_CreateObject();
    lk->statuses = cJSON_CreateObject();
    lk->transports = cJSON_CreateObject();
    lk->dir_types = cJSON_CreateObject();
    snprintf(lk->photo_url, sizeof(lk->photo_url),
        "%s/api/docs/%s/attachments/", ferry->cfg.grist_server,
        ferry->cfg.grist_doc_id);

    if (lookup_get(ferry, "Participation_statuses", &resp[0], &st, res) != 0
        || lookup_get(ferry, "Roles", &resp[1], &ro, res) != 0
        || lookup_get(ferry, "Arrival_type", &resp[2], &tr, res) != 0)
    {
        goto done;
    }

    rows[0] = cJSON_CreateArray();
    rows[1] = cJSON_CreateArray();
    codes = cJSON_CreateObject();
    lookup_codes(st, "code", "A", lk->statuses, rows[0]);
    lookup_codes(ro, "Code", "Name", lk->roles, rows[1]);
    lookup_codes(tr, "code", "title", codes, NULL);
    text[0] = cJSON_PrintUnformatted(rows[0]);
    text[1] = cJSON_PrintUnformatted(rows[1]);
    cJSON_Delete(rows[0]);
    cJSON_Delete(rows[1]);

    if (db_exec(conn, "BEGIN") != 0) {
        fail_db(res, conn, "lookups");
    } else if (db_run(conn, SQL_STATUSES, 1, (const char *const *) &text[0]) < 0
        || db_run(conn, SQL_ROLES, 1, (const char *const *) &text[1]) < 0)
    {
        fail_db(res, conn, "lookups");
        db_exec(conn, "ROLLBACK");
    } else if (db_exec(conn, "COMMIT") != 0) {
        fail_db(res, conn, "lookups");
    } else {
        ok = 0;
    }
    cJSON_free(text[0]);
    cJSON_free(text[1]);

    /* transports PostgreSQL does not know are left out: NULL, not an FK
     * violation that blocks the table */
    r = ok == 0 ? db_query(conn, "SELECT code FROM transport_type", 0, NULL)
                : NULL;
    for (i = 0; r && i < PQntuples(r); i++) {
        cJSON_ArrayForEach(rec, codes)
        {
            if (strcmp(rec->valuestring, PQgetvalue(r, i, 0)) == 0) {
                snprintf(key, sizeof(key), "%s", rec->string);
                cJSON_AddStringToObject(lk->transports, key, rec->valuestring);
            }
        }
    }
    PQclear(r);
    cJSON_Delete(codes);

    r = ok == 0 ? db_query(conn, "SELECT name FROM direction_type", 0, NULL)
                : NULL;
    for (i = 0; r && i < PQntuples(r); i++) {
        param = PQgetvalue(r, i, 0);
        cJSON_AddTrueToObject(lk->dir_types, param);
    }
    if (ok == 0 && r == NULL) {
        fail_db(res, conn, "lookups");
        ok = -1;
    }
    PQclear(r);

done:
    for (i = 0; i < 3; i++) {
        grist_resp_free(&resp[i]);
    }
    return ok;
}

static void
free_lookups(grist_lookups_t *lk)
{
    cJSON_Delete(lk->roles);
    cJSON_Delete(lk->statuses);
    cJSON_Delete(lk->transports);
    cJSON_Delete(lk->dir_types);
    memset(lk, 0, sizeof(*lk));
}

/* ------------------------------------------------------------------ upsert */

/* The upsert of one page, from the entity's column list: a row with an
 * empty UUID gets md5(table:row id) as a stable id, and keeps the id it
 * has; a row whose values are all the same is not written. */
static char *
build_upsert(const grist_entity_t *e)
{
    char        names[1024] = "", sel[2048] = "", set[2048] = "";
    char        tcols[1024] = "", xcols[1024] = "", col[64];
    const char *p = e->columns, *sp, *q;
    size_t      n;
    char       *sql;
    int         first = 1;

    while (*p) {
        sp = strchr(p, ' ');
        n = (size_t) (sp - p);
        snprintf(col, sizeof(col), "%.*s", (int) n, p);
        q = strchr(p, ',');
        p = q ? q + 2 : p + strlen(p);

        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
            strlen(names) ? ", " : "", col);
        if (strcmp(col, "id") == 0) {
            snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel),
                "%sCOALESCE(x.id, md5($2 || ':' || x.nocode_int_id)::uuid)",
                strlen(sel) ? ", " : "");
            continue;
        }
        snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "%sx.%s",
            strlen(sel) ? ", " : "", col);
        if (strcmp(col, "nocode_int_id") == 0) {
            continue;
        }
        snprintf(set + strlen(set), sizeof(set) - strlen(set),
            ", %s = EXCLUDED.%s", col, col);
        snprintf(tcols + strlen(tcols), sizeof(tcols) - strlen(tcols), "%st.%s",
            first ? "" : ", ", col);
        snprintf(xcols + strlen(xcols), sizeof(xcols) - strlen(xcols),
            "%sEXCLUDED.%s", first ? "" : ", ", col);
        first = 0;
    }

#define SYNC_ID_EXPR                                                           \
    "COALESCE(NULLIF(EXCLUDED.id, "                                            \
    "md5($2 || ':' || EXCLUDED.nocode_int_id)::uuid), t.id)"

    n = strlen(names) + strlen(sel) + strlen(set) + strlen(tcols)
        + strlen(xcols) + strlen(e->columns) + 1024;
    sql = malloc(n);
    if (sql) {
        snprintf(sql, n,
            "INSERT INTO %s AS t (%s) SELECT %s "
            "FROM jsonb_to_recordset($1::jsonb) AS x(%s) "
            "ON CONFLICT (nocode_int_id) DO UPDATE SET id = " SYNC_ID_EXPR
            "%s WHERE (%s) IS DISTINCT FROM (%s) OR t.id <> " SYNC_ID_EXPR
            " RETURNING (xmax = 0)",
            e->pg_table, names, sel, e->columns, set, tcols, xcols);
    }

    return sql;
}

/* The upsert: rows written (a new one counted in *inserted too), or -1. */
static int
upsert_run(
    PGconn *conn, const char *sql, const char *const *params, long *inserted)
{
    PGresult *r = db_query(conn, sql, 2, params);
    int       i, n;

    if (r == NULL) {
        return -1;
    }
    n = PQntuples(r);
    for (i = 0; i < n; i++) {
        *inserted += PQgetvalue(r, i, 0)[0] == 't';
    }
    PQclear(r);

    return n;
}

/* Upserts rows (a JSON array); when the batch fails (a row PostgreSQL
 * refuses: a reference to a row it lacks, a duplicate UUID), each row goes
 * alone, and the refused ones are counted and logged, not the page lost. */
static int
upsert_rows(PGconn *conn, const char *sql, const char *table_id,
    const cJSON *rows, sync_result_t *res)
{
    const char  *params[2];
    const cJSON *row;
    cJSON       *one;
    char        *text;
    int          n, bad = 0;

    if (cJSON_GetArraySize(rows) == 0) {
        return 0;
    }

    text = cJSON_PrintUnformatted(rows);
    params[0] = text;
    params[1] = table_id;
    db_exec(conn, "SAVEPOINT page");
    n = upsert_run(conn, sql, params, &res->inserted);
    cJSON_free(text);
    if (n >= 0) {
        res->written += n;
        return db_exec(conn, "RELEASE SAVEPOINT page");
    }
    log_debug("grist", "%s: the page failed, row by row: %s", table_id,
        PQerrorMessage(conn));
    if (db_exec(conn, "ROLLBACK TO SAVEPOINT page") != 0) {
        fail_db(res, conn, table_id);
        return -1;
    }

    cJSON_ArrayForEach(row, rows)
    {
        one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, cJSON_Duplicate(row, 1));
        text = cJSON_PrintUnformatted(one);
        cJSON_Delete(one);
        params[0] = text;
        db_exec(conn, "SAVEPOINT row");
        n = upsert_run(conn, sql, params, &res->inserted);
        cJSON_free(text);
        if (n >= 0) {
            res->written += n;
            db_exec(conn, "RELEASE SAVEPOINT row");
            continue;
        }
        if (bad++ == 0) {
            log_warn("grist", "%s row %ld not written: %s", table_id,
                ferry_json_long(row, "nocode_int_id"), PQerrorMessage(conn));
        }
        res->rejected++;
        if (db_exec(conn, "ROLLBACK TO SAVEPOINT row") != 0) {
            fail_db(res, conn, table_id);
            return -1;
        }
    }
    db_exec(conn, "RELEASE SAVEPOINT page");

    return 0;
}

/* clang-format off */
/* a badge's links to directions, made what directions_ref says (directions
 * PostgreSQL lacks are left out, as the original did) */
#define SQL_BADGE_DIRECTIONS                                                   \
    "WITH x AS (SELECT (e->>'nocode_int_id')::int AS b, "                      \
    "  COALESCE(e->'directions', '[]'::jsonb) AS ds "                          \
    "  FROM jsonb_array_elements($1::jsonb) e), "                              \
    "want AS (SELECT x.b, d.value::int AS d FROM x, "                          \
    "  jsonb_array_elements_text(x.ds) d WHERE EXISTS (SELECT 1 FROM "         \
    "  direction WHERE nocode_int_id = d.value::int)), "                       \
    "del AS (DELETE FROM badge_directions bd USING x WHERE bd.badge_id = x.b " \
    "  AND NOT EXISTS (SELECT 1 FROM want w WHERE w.b = bd.badge_id "          \
    "  AND w.d = bd.direction_id)) "                                           \
    "INSERT INTO badge_directions (badge_id, direction_id) "                   \
    "SELECT DISTINCT b, d FROM want WHERE EXISTS (SELECT 1 FROM badge "        \
    "WHERE nocode_int_id = want.b) ON CONFLICT DO NOTHING"

/* after every page, so that a parent on a later page is found */
#define SQL_BADGE_PARENTS                                                      \
    "UPDATE badge b SET parent_id = p.parent FROM ("                           \
    "  SELECT x.nocode_int_id, CASE WHEN EXISTS (SELECT 1 FROM badge "         \
    "  WHERE nocode_int_id = x.parent) THEN x.parent END AS parent "           \
    "  FROM jsonb_to_recordset($1::jsonb) AS x(nocode_int_id int, "            \
    "  parent int)) p WHERE b.nocode_int_id = p.nocode_int_id "                \
    "AND b.parent_id IS DISTINCT FROM p.parent"
/* clang-format on */

/* ------------------------------------------------------------------ a table */

typedef struct {
    ferryd_t              *ferry;
    PGconn                *conn;
    const grist_entity_t  *e;
    const grist_lookups_t *lk;
    char                   id[64]; /* the Grist table id */
    char                  *upsert;
    cJSON                 *parents; /* badges: [{nocode_int_id, parent}] */
    char                  *ids;     /* "{1,2,...}" of every row, full reads */
    size_t                 ids_len, ids_cap;
    double                 max_seen; /* the largest updated_at, or -1 */
} table_t;

static int
ids_add(table_t *t, long id)
{
    char   buf[24];
    int    n = snprintf(buf, sizeof(buf), "%s%ld", t->ids_len ? "," : "{", id);
    char  *p;
    size_t cap;

    if (t->ids_len + n + 2 > t->ids_cap) {
        cap = t->ids_cap ? t->ids_cap * 2 : 65536;
        p = realloc(t->ids, cap);
        if (p == NULL) {
            return -1;
        }
        t->ids = p;
        t->ids_cap = cap;
    }
    memcpy(t->ids + t->ids_len, buf, n + 1);
    t->ids_len += n;

    return 0;
}

/* Maps one fetched page and writes it. */
static int
sync_page(table_t *t, const cJSON *records, sync_result_t *res)
{
    const cJSON *rec, *f, *v;
    cJSON       *rows, *page, *out, *msg, *links;
    const char  *reason;
    char        *text;
    int          rc, n, valid, td;
    const char  *params[1];

    rows = cJSON_CreateArray();
    page = cJSON_CreateArray();
    links = cJSON_CreateArray();

    cJSON_ArrayForEach(rec, records)
    {
        f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
        res->seen++;
        v = cJSON_GetObjectItemCaseSensitive(f, "updated_at");
        if (cJSON_IsNumber(v) && v->valuedouble > t->max_seen) {
            t->max_seen = v->valuedouble;
        }
        if (t->ids && ids_add(t, ferry_json_long(f, "id")) != 0) {
            snprintf(res->error, sizeof(res->error), "out of memory");
            rc = -1;
            goto done;
        }

        out = cJSON_CreateObject();
        valid = grist_map_row(t->e, f, t->lk, out, &reason) == GRIST_MAP_OK;
        td = grist_truthy(cJSON_GetObjectItemCaseSensitive(f, "to_delete"));
        if (valid) {
            cJSON_AddItemToArray(rows, out);
            if (t->e->directions) {
                cJSON_AddItemToArray(links, cJSON_Duplicate(out, 1));
                msg = cJSON_CreateObject();
                cJSON_AddNumberToObject(msg, "nocode_int_id",
                    ferry_json_long(out, "nocode_int_id"));
                v = cJSON_GetObjectItemCaseSensitive(out, "parent");
                cJSON_AddItemToObject(msg, "parent", cJSON_Duplicate(v, 1));
                cJSON_AddItemToArray(t->parents, msg);
            }
        } else {
            cJSON_Delete(out);
            if (!td) {
                res->rejected++;
                log_debug("grist", "%s row %ld: %s", t->id,
                    ferry_json_long(f, "id"), reason);
            }
        }

        msg = cJSON_CreateObject();
        cJSON_AddNumberToObject(msg, "row_id", ferry_json_long(f, "id"));
        cJSON_AddBoolToObject(msg, "to_delete", td);
        cJSON_AddBoolToObject(msg, "valid", valid);
        cJSON_AddItemToObject(msg, "reason",
            reason && !td ? cJSON_CreateString(reason) : cJSON_CreateNull());
        cJSON_AddItemToArray(page, msg);
    }

    rc = upsert_rows(t->conn, t->upsert, t->id, rows, res);

    if (rc == 0 && t->e->directions && cJSON_GetArraySize(links) > 0) {
        text = cJSON_PrintUnformatted(links);
        params[0] = text;
        if (db_run(t->conn, SQL_BADGE_DIRECTIONS, 1, params) < 0) {
            fail_db(res, t->conn, "badge_directions");
            rc = -1;
        }
        cJSON_free(text);
    }

    if (rc == 0) {
        text = cJSON_PrintUnformatted(page);
        n = grist_queue_page(t->conn, t->id, t->e->pg_table, text);
        cJSON_free(text);
        if (n < 0) {
            fail_db(res, t->conn, "grist_queue");
            rc = -1;
        } else {
            res->queued += n;
        }
    }

done:
    cJSON_Delete(rows);
    cJSON_Delete(page);
    cJSON_Delete(links);
    return rc;
}

/* Reads the table's rows whose updated_at is since or later (all of them
 * when since < 0), page by page. */
static int
fetch_changes(table_t *t, double since, sync_result_t *res)
{
    char         base[2048], sql[2400];
    grist_resp_t resp;
    const cJSON *records, *last;
    cJSON       *args;
    long         cursor = 0;
    int          n, rc = 0;

    snprintf(base, sizeof(base), t->e->select, t->id, t->ferry->cfg.grist_year);

    for (;;) {
        snprintf(sql, sizeof(sql),
            "%s WHERE %s.id > ?%s%s%s ORDER BY %s.id "
            "LIMIT ?",
            base, t->id, since >= 0 ? " AND " : "", since >= 0 ? t->id : "",
            since >= 0 ? ".updated_at >= ?" : "", t->id);
        args = cJSON_CreateArray();
        cJSON_AddItemToArray(args, cJSON_CreateNumber((double) cursor));
        if (since >= 0) {
            cJSON_AddItemToArray(args, cJSON_CreateNumber(since));
        }
        cJSON_AddItemToArray(args, cJSON_CreateNumber(SYNC_PAGE_ROWS));
        rc = grist_sql(t->ferry, sql, args, &resp, &records);
        cJSON_Delete(args);
        if (rc != 0) {
            fail_grist(res, &resp, t->id);
            grist_resp_free(&resp);
            return -1;
        }

        n = cJSON_GetArraySize(records);
        rc = sync_page(t, records, res);
        last = n ? cJSON_GetArrayItem(records, n - 1) : NULL;
        cursor = last ? ferry_json_long(
                     cJSON_GetObjectItemCaseSensitive(last, "fields"), "id")
                      : cursor;
        grist_resp_free(&resp);

        if (rc != 0 || n < SYNC_PAGE_ROWS || t->ferry->stopping) {
            break;
        }
    }

    if (rc == 0 && t->e->directions && cJSON_GetArraySize(t->parents) > 0) {
        char       *text = cJSON_PrintUnformatted(t->parents);
        const char *params[1] = { text };

        if (db_run(t->conn, SQL_BADGE_PARENTS, 1, params) < 0) {
            fail_db(res, t->conn, "badge parents");
            rc = -1;
        }
        cJSON_free(text);
    }

    return t->ferry->stopping ? -1 : rc;
}

/* Every row id the table has, for the comparison that finds rows deleted
 * outright. */
static int
fetch_ids(table_t *t, sync_result_t *res)
{
    char         sql[256];
    grist_resp_t resp;
    const cJSON *records, *rec;
    cJSON       *args;
    long         cursor = 0;
    int          n;

    snprintf(sql, sizeof(sql),
        "SELECT id FROM %s WHERE id > ? ORDER BY id LIMIT ?", t->id);
    do {
        args = cJSON_CreateArray();
        cJSON_AddItemToArray(args, cJSON_CreateNumber((double) cursor));
        cJSON_AddItemToArray(args, cJSON_CreateNumber(SYNC_IDS_PAGE));
        if (grist_sql(t->ferry, sql, args, &resp, &records) != 0) {
            cJSON_Delete(args);
            fail_grist(res, &resp, t->id);
            grist_resp_free(&resp);
            return -1;
        }
        cJSON_Delete(args);
        n = 0;
        cJSON_ArrayForEach(rec, records)
        {
            cursor = ferry_json_long(
                cJSON_GetObjectItemCaseSensitive(rec, "fields"), "id");
            if (ids_add(t, cursor) != 0) {
                grist_resp_free(&resp);
                return -1;
            }
            n++;
        }
        grist_resp_free(&resp);
    } while (n == SYNC_IDS_PAGE);

    return 0;
}

/* clang-format off */
#define SQL_STATE_ROW                                                          \
    "INSERT INTO grist_sync_state (table_id) VALUES ($1) "                     \
    "ON CONFLICT (table_id) DO NOTHING"

#define SQL_STATE_GET                                                          \
    "SELECT last_fetch_at, cycles_since_idset, rows_total "                    \
    "FROM grist_sync_state WHERE table_id = $1 FOR UPDATE"

#define SQL_STATE_DONE                                                         \
    "UPDATE grist_sync_state SET last_updated_at = CASE WHEN $2::float8 "      \
    "IS NULL THEN last_updated_at ELSE GREATEST(COALESCE(last_updated_at, "    \
    "$2::float8), $2::float8) END, last_fetch_at = $9, rows_seen = $3, "       \
    "rows_written = $4, "                                                      \
    "rows_rejected = $5, rows_deleted = $6, rows_total = $7, "                 \
    "cycles_since_idset = $8, last_error = NULL, last_success_at = now(), "    \
    "last_cycle_at = now(), updated_at = now() WHERE table_id = $1"

#define SQL_STATE_FAILED                                                       \
    "INSERT INTO grist_sync_state (table_id, last_error, last_error_at, "      \
    "last_cycle_at) VALUES ($1, $2, now(), now()) ON CONFLICT (table_id) "     \
    "DO UPDATE SET last_error = $2, last_error_at = now(), "                   \
    "last_cycle_at = now(), updated_at = now()"
/* clang-format on */

/* One attempt at a table: everything in one transaction, so a failure or a
 * killed ferryd leaves the state where it was and the next attempt reads
 * the same changes again. */
static int
sync_table_once(table_t *t, sync_result_t *res)
{
    char            max[32], nums[6][24], sql[256], started[32];
    const char     *params[9];
    struct timespec now;
    PGresult       *r;
    double          since = -1, last = -1;
    long            total = -1;
    int             cycles = 0, idset, n;

    memset(res, 0, sizeof(*res));
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(started, sizeof(started), "%.6f", now.tv_sec + now.tv_nsec / 1e9);
    t->max_seen = -1;
    t->ids_len = 0;
    if (t->e->directions) {
        cJSON_Delete(t->parents);
        t->parents = cJSON_CreateArray();
    }

    params[0] = t->id;
    if (db_exec(t->conn, "BEGIN") != 0
        || db_run(t->conn, SQL_STATE_ROW, 1, params) < 0
        || (r = db_query(t->conn, SQL_STATE_GET, 1, params)) == NULL)
    {
        fail_db(res, t->conn, t->id);
        db_exec(t->conn, "ROLLBACK");
        return -1;
    }
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        last = atof(PQgetvalue(r, 0, 0));
        since = last - SYNC_OVERLAP_S;
        if (since < 0) {
            since = 0;
        }
    }
    cycles = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 1)) : 0;
    total = PQntuples(r) == 1 && !PQgetisnull(r, 0, 2)
        ? atol(PQgetvalue(r, 0, 2))
        : -1;
    PQclear(r);

    /* the id sets are compared on a full read (its ids are all there) and
     * every GRIST_HARD_DELETE_EVERY cycles */
    idset = last < 0 || cycles + 1 >= t->ferry->cfg.grist_hard_delete_every;
    if (idset && t->ids == NULL) {
        t->ids = malloc(65536);
        t->ids_cap = t->ids ? 65536 : 0;
    }
    if (!idset) {
        free(t->ids);
        t->ids = NULL;
        t->ids_cap = 0;
    }
    if (idset && t->ids == NULL) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        db_exec(t->conn, "ROLLBACK");
        return -1;
    }

    /* a full read collects the ids as it goes; else they come afterwards */
    if (fetch_changes(t, since, res) != 0) {
        goto failed;
    }
    if (idset && last >= 0) {
        t->ids_len = 0;
        if (fetch_ids(t, res) != 0) {
            goto failed;
        }
    }

    if (idset) {
        if (t->ids_len == 0) {
            ids_add(t, 0);
        }
        t->ids[t->ids_len] = '}';
        t->ids[t->ids_len + 1] = '\0';
        snprintf(sql, sizeof(sql),
            "UPDATE %1$s SET deleted = true FROM (SELECT nocode_int_id FROM "
            "%1$s WHERE NOT deleted EXCEPT SELECT unnest($1::int[])) gone "
            "WHERE %1$s.nocode_int_id = gone.nocode_int_id",
            t->e->pg_table);
        params[0] = t->ids;
        n = db_run(t->conn, sql, 1, params);
        if (n < 0) {
            fail_db(res, t->conn, "rows deleted in Grist");
            goto failed;
        }
        res->deleted = n;
        if (n > 0) {
            log_info("grist", "%s: %d rows deleted in Grist marked deleted",
                t->id, n);
        }
    }

    /* the rows PostgreSQL holds: counted when the id sets are compared
     * (a cost that grows with the table), else the last count and the
     * rows inserted since (rows are never removed, only marked) */
    if (idset || total < 0) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t->e->pg_table);
        r = db_query(t->conn, sql, 0, NULL);
        if (r == NULL) {
            fail_db(res, t->conn, t->id);
            goto failed;
        }
        total = atol(PQgetvalue(r, 0, 0));
        PQclear(r);
    } else {
        total += res->inserted;
    }
    snprintf(nums[4], sizeof(nums[4]), "%ld", total);

    snprintf(max, sizeof(max), "%.6f", t->max_seen);
    snprintf(nums[0], sizeof(nums[0]), "%ld", res->seen);
    snprintf(nums[1], sizeof(nums[1]), "%ld", res->written);
    snprintf(nums[2], sizeof(nums[2]), "%ld", res->rejected);
    snprintf(nums[3], sizeof(nums[3]), "%ld", res->deleted);
    snprintf(nums[5], sizeof(nums[5]), "%d", idset ? 0 : cycles + 1);
    params[0] = t->id;
    params[1] = t->max_seen >= 0 ? max : NULL;
    params[2] = nums[0];
    params[3] = nums[1];
    params[4] = nums[2];
    params[5] = nums[3];
    params[6] = nums[4];
    params[7] = nums[5];
    params[8] = started;
    if (db_run(t->conn, SQL_STATE_DONE, 9, params) < 0) {
        fail_db(res, t->conn, t->id);
        goto failed;
    }
    if (db_exec(t->conn, "COMMIT") != 0) {
        fail_db(res, t->conn, t->id);
        return -1;
    }
    return 0;

failed:
    db_exec(t->conn, "ROLLBACK");
    return -1;
}

typedef int (*sync_try_pt)(void *arg, sync_result_t *res);

/* One step of the cycle (a table, the directions) with its retries; a
 * step that still fails has its error stored in its state. */
static int
with_retries(ferryd_t *ferry, PGconn *conn, const char *id, sync_try_pt fn,
    void *arg, sync_result_t *res)
{
    const char *params[2];
    int         attempt, rc = -1;

    for (attempt = 1; attempt <= SYNC_TABLE_ATTEMPTS; attempt++) {
        rc = fn(arg, res);
        if (rc == 0 || ferry->stopping) {
            break;
        }
        log_debug(
            "grist", "%s: attempt %d failed: %s", id, attempt, res->error);
        if (attempt < SYNC_TABLE_ATTEMPTS
            && grist_pause(ferry,
                   grist_backoff_ms(
                       attempt, SYNC_TABLE_BASE_MS, SYNC_TABLE_CAP_MS))
                != 0)
        {
            break;
        }
    }

    if (rc != 0 && !ferry->stopping) {
        log_warn("grist", "%s not synced this cycle: %s", id, res->error);
        params[0] = id;
        params[1] = res->error;
        db_run(conn, SQL_STATE_FAILED, 2, params);
    }

    return rc;
}

static int
try_table(void *arg, sync_result_t *res)
{
    return sync_table_once(arg, res);
}

/* A table with its retries. */
static int
sync_table(ferryd_t *ferry, PGconn *conn, const grist_entity_t *e,
    const grist_lookups_t *lk, sync_result_t *res)
{
    table_t t;
    int     rc;

    memset(&t, 0, sizeof(t));
    t.ferry = ferry;
    t.conn = conn;
    t.e = e;
    t.lk = lk;
    snprintf(t.id, sizeof(t.id), e->id, ferry->cfg.grist_year);
    t.upsert = build_upsert(e);
    if (t.upsert == NULL) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        return -1;
    }

    rc = with_retries(ferry, conn, t.id, try_table, &t, res);

    free(t.upsert);
    free(t.ids);
    cJSON_Delete(t.parents);

    return rc;
}

typedef struct {
    ferryd_t              *ferry;
    PGconn                *conn;
    const grist_lookups_t *lk;
} directions_t;

static int
try_directions(void *arg, sync_result_t *res)
{
    directions_t *d = arg;

    memset(res, 0, sizeof(*res));
    return grist_directions_sync(d->ferry, d->conn, d->lk, &res->seen,
        &res->created, &res->unavailable, res->error, sizeof(res->error));
}

/* Directions<year>, after the tables: participations for its heads. */
static int
sync_directions(ferryd_t *ferry, PGconn *conn, const grist_lookups_t *lk,
    sync_result_t *res)
{
    directions_t d = { ferry, conn, lk };
    char         id[64];

    grist_directions_table(ferry, id);

    return with_retries(ferry, conn, id, try_directions, &d, res);
}

/* ------------------------------------------------------------------ a cycle */

void
grist_sync_cycle(ferryd_t *ferry)
{
    static int      said;
    PGconn         *conn;
    PGresult       *r;
    grist_lookups_t lk;
    sync_result_t   res, total;
    int             done[16] = { 0 }, attempt, i, failed = 0, locked;
    double          start = now_ms();
    char            errors[1024] = "";

    if (!grist_configured(&ferry->cfg)) {
        if (!said) {
            log_info("grist",
                "GRIST__SERVER, GRIST__DOC_ID or GRIST__API_KEY "
                "is not set: no sync cycle");
            said = 1;
        }
        return;
    }

    conn = db_acquire(ferry->db);
    if (conn == NULL) {
        log_warn("grist",
            "no database connection: the sync cycle waits for "
            "the next one");
        return;
    }

    /* one cycle at a time across every ferryd of the database */
    r = db_query(conn, SYNC_LOCK, 0, NULL);
    locked = r && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!locked) {
        log_debug("grist", "another ferryd runs the sync cycle");
        db_release(ferry->db, conn);
        return;
    }

    memset(&total, 0, sizeof(total));
    for (attempt = 1; attempt <= SYNC_CYCLE_ATTEMPTS; attempt++) {
        failed = 0;
        errors[0] = '\0';
        memset(&lk, 0, sizeof(lk));
        memset(&res, 0, sizeof(res));
        if (load_lookups(ferry, conn, &lk, &res) != 0) {
            failed = 1;
            snprintf(errors, sizeof(errors), "%s", res.error);
        }

        /* the tables, then Directions<year> (i == grist_nentities) */
        for (i = 0; !failed && i <= grist_nentities && !ferry->stopping; i++) {
            if (done[i]) {
                continue;
            }
            if ((i < grist_nentities
                        ? sync_table(ferry, conn, &grist_entities[i], &lk, &res)
                        : sync_directions(ferry, conn, &lk, &res))
                != 0)
            {
                failed++;
                snprintf(errors + strlen(errors),
                    sizeof(errors) - strlen(errors), "%s%s",
                    errors[0] ? "; " : "", res.error);
                /* Grist does not answer: the next tables would not get
                 * an answer either */
                if (res.unavailable) {
                    break;
                }
                continue;
            }
            done[i] = 1;
            total.seen += res.seen;
            total.written += res.written;
            total.rejected += res.rejected;
            total.deleted += res.deleted;
            total.queued += res.queued;
            total.created += res.created;
        }
        free_lookups(&lk);

        if (!failed || ferry->stopping) {
            break;
        }
        if (attempt < SYNC_CYCLE_ATTEMPTS
            && grist_pause(ferry,
                   grist_backoff_ms(
                       attempt, SYNC_CYCLE_BASE_MS, SYNC_CYCLE_CAP_MS))
                != 0)
        {
            break;
        }
    }

    r = db_query(conn, SYNC_UNLOCK, 0, NULL);
    PQclear(r);
    db_release(ferry->db, conn);

    if (failed) {
        log_warn("grist",
            "sync cycle: %ld rows read, %ld written, %ld rejected, %ld "
            "deleted, %ld queued, %ld participations created in %.0f ms; "
            "not synced: %s",
            total.seen, total.written, total.rejected, total.deleted,
            total.queued, total.created, now_ms() - start, errors);
        return;
    }

    log_info("grist",
        "sync cycle: %ld rows read, %ld written, %ld rejected, %ld deleted, "
        "%ld queued, %ld participations created in %.0f ms",
        total.seen, total.written, total.rejected, total.deleted, total.queued,
        total.created, now_ms() - start);
}
