/*
 * The original published one create_participations message per changed
 * Directions2026 row and its consumer asked Grist, head by head, whether
 * a participation (person, year, team) existed, POSTing one record when
 * not. Here the check is one /sql query per 200 heads and the creations
 * one POST per 1,000, in the cycle itself. The cursor is the original's:
 * the largest last_updated_at<yy> seen (Grist's clock, stored at full
 * precision: rounded up, it would skip the rows stamped with it), and the
 * next read asks for later ones (">"). A row read twice creates nothing
 * twice, since what exists is checked first.
 * Where the original wrote role 1 (its organizer row) and no status, the
 * participation gets the Roles row whose Code is ORGANIZER (row 1 when
 * there is none) and the PLANNED status row: without a status the sync
 * would reject the row it just created ('Invalid status mapping').
 * A direction without a team (direction_location 0) creates nothing: a
 * participation without a team is rejected too ('Invalid team ID').
 */
#include "grist_directions.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "ferry_json.h"
#include "grist_client.h"

#define DIR_PAGE_ROWS   5000
#define DIR_CHECK_PAIRS 200
#define DIR_POST_ROWS   1000

/* clang-format off */
#define SQL_DIR_STATE_GET                                                      \
    "SELECT last_updated_at FROM grist_sync_state WHERE table_id = $1"

#define SQL_DIR_STATE_DONE                                                     \
    "INSERT INTO grist_sync_state (table_id, last_updated_at, rows_seen, "     \
    "rows_written, rows_rejected, rows_deleted, rows_total, last_success_at, " \
    "last_cycle_at) VALUES ($1, $2, $3, $4, 0, 0, 0, now(), now()) "           \
    "ON CONFLICT (table_id) DO UPDATE SET last_updated_at = "                  \
    "coalesce($2, grist_sync_state.last_updated_at), rows_seen = $3, "         \
    "rows_written = $4, last_error = NULL, last_success_at = now(), "          \
    "last_cycle_at = now(), updated_at = now()"
/* clang-format on */

void
grist_directions_table(const ferryd_t *ferry, char *out)
{
    snprintf(out, 64, "Directions%d", ferry->cfg.grist_year);
}

/* The row id whose value in map (row id -> code) is code, or dflt. */
static long
row_of(const cJSON *map, const char *code, long dflt)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, map)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, code) == 0) {
            return atol(e->string);
        }
    }
    return dflt;
}

static void
add_pair(cJSON *pairs, long person, long team)
{
    char   key[48];
    cJSON *pair;

    snprintf(key, sizeof(key), "%ld:%ld", person, team);
    if (person > 0 && !cJSON_GetObjectItemCaseSensitive(pairs, key)) {
        pair = cJSON_AddArrayToObject(pairs, key);
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double) person));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double) team));
    }
}

/* head<yy> as /sql gives a RefList ("[1,2]"), or as a list. */
static void
heads_of(const cJSON *v, long team, cJSON *pairs)
{
    const char  *p;
    char        *end;
    const cJSON *e;

    if (team <= 0) {
        return;
    }
    if (cJSON_IsString(v)) {
        for (p = v->valuestring; *p;) {
            if (!isdigit((unsigned char) *p)) {
                p++;
                continue;
            }
            add_pair(pairs, strtol(p, &end, 10), team);
            p = end;
        }
        return;
    }
    cJSON_ArrayForEach(e, (cJSON_IsArray(v) ? v : NULL))
    {
        if (cJSON_IsNumber(e)) {
            add_pair(pairs, (long) e->valuedouble, team);
        }
    }
}

typedef struct {
    ferryd_t *ferry;
    char      table[64];
    char      yy[4];
    int       unavailable;
    char     *err;
    size_t    errlen;
} dir_t;

static void
dir_failed(dir_t *d, const grist_resp_t *resp, const char *what)
{
    snprintf(d->err, d->errlen, "%s: %.400s", what, resp->message);
    d->unavailable = grist_unavailable(resp);
}

/* Every (head, team) of the rows changed since cursor (all rows when it is
 * NULL) into pairs; the largest stamp seen into *max. */
static int
read_changes(
    dir_t *d, const char *cursor, cJSON *pairs, double *max, long *seen)
{
    char         sql[512];
    grist_resp_t resp;
    const cJSON *records, *rec, *f, *v;
    cJSON       *args;
    long         after = 0;
    int          n;
    char         col[32], cond[64];

    cond[0] = '\0';
    if (cursor) {
        snprintf(cond, sizeof(cond), " AND last_updated_at%s > ?", d->yy);
    }
    snprintf(sql, sizeof(sql),
        "SELECT id, last_updated_at%1$s, direction_location%1$s, head%1$s "
        "FROM %2$s WHERE id > ?%3$s ORDER BY id LIMIT ?",
        d->yy, d->table, cond);
    do {
        args = cJSON_CreateArray();
        cJSON_AddItemToArray(args, cJSON_CreateNumber((double) after));
        if (cursor) {
            cJSON_AddItemToArray(args, cJSON_CreateNumber(atof(cursor)));
        }
        cJSON_AddItemToArray(args, cJSON_CreateNumber(DIR_PAGE_ROWS));
        if (grist_sql(d->ferry, sql, args, &resp, &records) != 0) {
            cJSON_Delete(args);
            dir_failed(d, &resp, d->table);
            grist_resp_free(&resp);
            return -1;
        }
        cJSON_Delete(args);
        n = 0;
        cJSON_ArrayForEach(rec, records)
        {
            f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
            after = ferry_json_long(f, "id");
            snprintf(col, sizeof(col), "last_updated_at%s", d->yy);
            v = cJSON_GetObjectItemCaseSensitive(f, col);
            if (cJSON_IsNumber(v) && v->valuedouble > *max) {
                *max = v->valuedouble;
            }
            snprintf(col, sizeof(col), "direction_location%s", d->yy);
            v = cJSON_GetObjectItemCaseSensitive(f, col);
            snprintf(col, sizeof(col), "head%s", d->yy);
            heads_of(cJSON_GetObjectItemCaseSensitive(f, col),
                cJSON_IsNumber(v) ? (long) v->valuedouble : 0, pairs);
            n++;
            (*seen)++;
        }
        grist_resp_free(&resp);
    } while (n == DIR_PAGE_ROWS);

    return 0;
}

/* Drops from pairs the (person, team) that have a participation this
 * season, checked DIR_CHECK_PAIRS at a time. */
static int
drop_existing(dir_t *d, cJSON *pairs)
{
    char         sql[8192], key[48];
    grist_resp_t resp;
    const cJSON *records, *rec, *f, *e;
    cJSON       *args, *persons, *teams;
    int          k, len;

    e = pairs->child;
    while (e) {
        persons = cJSON_CreateArray();
        teams = cJSON_CreateArray();
        for (k = 0; e && k < DIR_CHECK_PAIRS; e = e->next, k++) {
            cJSON_AddItemToArray(
                persons, cJSON_Duplicate(cJSON_GetArrayItem(e, 0), 0));
            cJSON_AddItemToArray(
                teams, cJSON_Duplicate(cJSON_GetArrayItem(e, 1), 0));
        }
        args = cJSON_CreateArray();
        cJSON_AddItemToArray(
            args, cJSON_CreateNumber((double) d->ferry->cfg.grist_year));
        len = snprintf(sql, sizeof(sql),
            "SELECT person, team FROM Participations WHERE year = ? "
            "AND person IN (");
        for (k = 0; k < cJSON_GetArraySize(persons); k++) {
            len += snprintf(sql + len, sizeof(sql) - len, "%s?", k ? ", " : "");
        }
        len += snprintf(sql + len, sizeof(sql) - len, ") AND team IN (");
        for (k = 0; k < cJSON_GetArraySize(teams); k++) {
            len += snprintf(sql + len, sizeof(sql) - len, "%s?", k ? ", " : "");
        }
        snprintf(sql + len, sizeof(sql) - len, ")");
        cJSON_ArrayForEach(f, persons)
        {
            cJSON_AddItemToArray(args, cJSON_Duplicate(f, 0));
        }
        cJSON_ArrayForEach(f, teams)
        {
            cJSON_AddItemToArray(args, cJSON_Duplicate(f, 0));
        }
        cJSON_Delete(persons);
        cJSON_Delete(teams);

        if (grist_sql(d->ferry, sql, args, &resp, &records) != 0) {
            cJSON_Delete(args);
            dir_failed(d, &resp, "Participations");
            grist_resp_free(&resp);
            return -1;
        }
        cJSON_Delete(args);
        cJSON_ArrayForEach(rec, records)
        {
            f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
            snprintf(key, sizeof(key), "%ld:%ld", ferry_json_long(f, "person"),
                ferry_json_long(f, "team"));
            /* the next chunk's first pair may be one of these */
            if (e && strcmp(e->string, key) == 0) {
                e = e->next;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(pairs, key);
        }
        grist_resp_free(&resp);
    }

    return 0;
}

/* POSTs the participations of pairs, DIR_POST_ROWS a request. */
static int
create(dir_t *d, const cJSON *pairs, long role, long status, long *created)
{
    const cJSON *e;
    cJSON       *body, *records, *fields;
    grist_resp_t resp;
    int          k, rc;

    e = pairs->child;
    while (e) {
        body = cJSON_CreateObject();
        records = cJSON_AddArrayToObject(body, "records");
        for (k = 0; e && k < DIR_POST_ROWS; e = e->next, k++) {
            fields = cJSON_CreateObject();
            cJSON_AddNumberToObject(
                fields, "year", (double) d->ferry->cfg.grist_year);
            cJSON_AddItemToObject(
                fields, "person", cJSON_Duplicate(cJSON_GetArrayItem(e, 0), 0));
            cJSON_AddNumberToObject(fields, "role", (double) role);
            cJSON_AddItemToObject(
                fields, "team", cJSON_Duplicate(cJSON_GetArrayItem(e, 1), 0));
            if (status > 0) {
                cJSON_AddNumberToObject(fields, "status", (double) status);
            }
            cJSON_AddItemToArray(records, cJSON_CreateObject());
            cJSON_AddItemToObject(
                cJSON_GetArrayItem(records, k), "fields", fields);
        }
        /* not repeatable: a lost answer is found out by the next check */
        rc = grist_call(d->ferry, "POST",
            "/tables/Participations/records?noparse=true", body, 0, &resp);
        cJSON_Delete(body);
        if (rc != 0) {
            dir_failed(d, &resp, "Participations");
            grist_resp_free(&resp);
            return -1;
        }
        *created += cJSON_GetArraySize(
            cJSON_GetObjectItemCaseSensitive(resp.json, "records"));
        grist_resp_free(&resp);
    }

    return 0;
}

int
grist_directions_sync(ferryd_t *ferry, PGconn *conn, const grist_lookups_t *lk,
    long *seen, long *created, int *unavailable, char *err, size_t errlen)
{
    dir_t       d;
    PGresult   *r;
    char        cursor[32], max_s[32], nums[2][24];
    const char *params[4];
    double      max = -1;
    cJSON      *pairs;
    int         has_cursor, rc;

    memset(&d, 0, sizeof(d));
    d.ferry = ferry;
    d.err = err;
    d.errlen = errlen;
    grist_directions_table(ferry, d.table);
    snprintf(d.yy, sizeof(d.yy), "%02d", ferry->cfg.grist_year % 100);
    *seen = 0;
    *created = 0;
    *unavailable = 0;

    params[0] = d.table;
    r = db_query(conn, SQL_DIR_STATE_GET, 1, params);
    if (r == NULL) {
        snprintf(err, errlen, "%s: %s", d.table, PQerrorMessage(conn));
        return -1;
    }
    has_cursor = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
    snprintf(
        cursor, sizeof(cursor), "%s", has_cursor ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);

    pairs = cJSON_CreateObject();
    rc = read_changes(&d, has_cursor ? cursor : NULL, pairs, &max, seen);
    if (rc == 0 && cJSON_GetArraySize(pairs) > 0) {
        rc = drop_existing(&d, pairs);
    }
    if (rc == 0 && cJSON_GetArraySize(pairs) > 0) {
        rc = create(&d, pairs, row_of(lk->roles, "ORGANIZER", 1),
            row_of(lk->statuses, "PLANNED", 0), created);
    }
    cJSON_Delete(pairs);
    *unavailable = d.unavailable;
    if (rc != 0) {
        return -1;
    }

    /* a first read that found no stamp still ends the full reads */
    if (!has_cursor && max < 0) {
        max = 0;
    }
    snprintf(max_s, sizeof(max_s), "%.17g", max);
    snprintf(nums[0], sizeof(nums[0]), "%ld", *seen);
    snprintf(nums[1], sizeof(nums[1]), "%ld", *created);
    params[1] = max >= 0 ? max_s : NULL;
    params[2] = nums[0];
    params[3] = nums[1];
    if (db_run(conn, SQL_DIR_STATE_DONE, 4, params) < 0) {
        snprintf(err, errlen, "%s: %s", d.table, PQerrorMessage(conn));
        return -1;
    }

    return 0;
}
