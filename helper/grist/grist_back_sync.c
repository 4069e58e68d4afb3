/*
 * Every item is checked, and every reference it makes looked up, before
 * anything is written: a request refused with 422 has changed nothing.
 * Rows are matched on the original's key, the UUID column (32 hex digits,
 * or dashed), and failing that on the row PostgreSQL knows the uuid by (a
 * row whose UUID was empty, which the sync gave a stable id: the UUID is
 * then written, so the next match is by key). Unlike the original (one
 * call per item, a POST then a PATCH for a new row, the first error
 * ending the request), the writes go in batches of at most Grist's 1 MB,
 * one batch per set of columns (Grist wants the same fields in every
 * record of a PATCH), and each item's outcome is in the answer.
 * A request is safe to send again: a row created by a lost answer is
 * found by its UUID the second time.
 */
#include "grist_back_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/caller.h"
#include "core/db.h"
#include "core/idempotency.h"
#include "core/log.h"
#include "ferry_json.h"
#include "grist_back_items.h"
#include "grist_client.h"
#include "grist_map.h"

/* Grist's request body limit */
#define BACK_MAX_BODY (1024 * 1024)
/* {"records":[ and ]} around a batch's records */
#define BACK_ENVELOPE 14
/* uuids in one /sql IN (...), two arguments each */
#define BACK_MATCH_CHUNK 400
/* a badge this request creates, until Grist gives its row id */
#define BACK_NEW_ROW -1

typedef struct {
    ferryd_t          *ferry;
    PGconn            *conn;
    const char        *rid;
    char               table[2][64]; /* Badges_<year>, Arrivals_<year> */
    grist_back_item_t *items;        /* badges, then arrivals */
    int                n[2];
    cJSON             *roles, *statuses, *transports, *persons, *directions;
    cJSON *badge_rows; /* {uuid: Grist row id} the arrivals may name */
    int    failed;     /* items Grist did not take */
    char   error[512]; /* the first thing Grist said */
} back_t;

static const char *const pg_tables[2] = { "badge", "arrival" };

static double
now_epoch(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);

    return tv.tv_sec + tv.tv_usec / 1e6;
}

static grist_back_item_t *
items_of(back_t *b, int kind)
{
    return b->items + (kind == GRIST_BACK_BADGE ? 0 : b->n[0]);
}

static void
grist_failed(back_t *b, const grist_resp_t *resp, const char *what)
{
    if (b->error[0] == '\0') {
        snprintf(b->error, sizeof(b->error), "%s: %.400s", what,
            resp->message[0] ? resp->message : "no answer");
    }
}

/* ------------------------------------------------------------- lookups */

/* A Grist lookup table as {code: row id} (and {name: row id}). */
static cJSON *
lookup_table(
    back_t *b, const char *table, const char *code_col, const char *name_col)
{
    char         path[128];
    grist_resp_t resp;
    const cJSON *rec, *f;
    const char  *v;
    cJSON       *map;
    int          pass;

    snprintf(path, sizeof(path), "/tables/%s/records", table);
    if (grist_call(b->ferry, "GET", path, NULL, 0, &resp) != 0) {
        grist_failed(b, &resp, table);
        grist_resp_free(&resp);
        return NULL;
    }
    map = cJSON_CreateObject();
    /* codes first: a name never hides a code */
    for (pass = 0; pass < (name_col ? 2 : 1); pass++) {
        cJSON_ArrayForEach(
            rec, cJSON_GetObjectItemCaseSensitive(resp.json, "records"))
        {
            f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
            v = ferry_json_str(f, pass == 0 ? code_col : name_col);
            if (v && cJSON_GetObjectItemCaseSensitive(map, v) == NULL) {
                cJSON_AddNumberToObject(
                    map, v, (double) ferry_json_long(rec, "id"));
            }
        }
    }
    grist_resp_free(&resp);

    return map;
}

/* The keys of a set, as a PostgreSQL array literal (uuids need no
 * quoting). */
static char *
pg_array(const cJSON *set)
{
    const cJSON *e;
    size_t       n = 3, len = 0;
    char        *s;

    cJSON_ArrayForEach(e, set)
    {
        n += strlen(e->string) + 1;
    }
    s = malloc(n);
    if (s == NULL) {
        return NULL;
    }
    s[len++] = '{';
    cJSON_ArrayForEach(e, set)
    {
        len += (size_t) sprintf(s + len, "%s%s", len > 1 ? "," : "", e->string);
    }
    s[len++] = '}';
    s[len] = '\0';

    return s;
}

/* {uuid: nocode_int_id} of the rows of pg_table among the set's uuids;
 * NULL on a database error. */
static cJSON *
pg_rows(back_t *b, const char *pg_table, const cJSON *set)
{
    char        sql[256], *arr;
    const char *params[1];
    PGresult   *r;
    cJSON      *map;

    if (cJSON_GetArraySize(set) == 0) {
        return cJSON_CreateObject();
    }
    arr = pg_array(set);
    if (arr == NULL) {
        return NULL;
    }
    snprintf(sql, sizeof(sql),
        "SELECT coalesce(json_object_agg(id, nocode_int_id), '{}')::text "
        "FROM %s WHERE id = ANY($1::uuid[])",
        pg_table);
    params[0] = arr;
    r = db_query(b->conn, sql, 1, params);
    free(arr);
    if (r == NULL) {
        return NULL;
    }
    map = cJSON_Parse(PQgetvalue(r, 0, 0));
    PQclear(r);

    return map;
}

/* -------------------------------------------------------------- matching */

/*
 * Asks Grist for the rows of table whose col is one of keys (strings or
 * numbers): {"records": [{"fields": {id, UUID}}]} in resp. 0, or -1.
 */
static int
match_query(back_t *b, const char *table, const char *col, cJSON *args,
    grist_resp_t *resp, const cJSON **records)
{
    char  *sql;
    size_t n = 128 + strlen(table) + 3 * (size_t) cJSON_GetArraySize(args);
    int    i, len, rc;

    sql = malloc(n);
    if (sql == NULL) {
        cJSON_Delete(args);
        snprintf(b->error, sizeof(b->error), "out of memory");
        return -1;
    }
    len = snprintf(sql, n, "SELECT id, UUID FROM %s WHERE %s IN (", table, col);
    for (i = 0; i < cJSON_GetArraySize(args); i++) {
        len += snprintf(sql + len, n - (size_t) len, "%s?", i ? ", " : "");
    }
    snprintf(sql + len, n - (size_t) len, ") ORDER BY id");

    rc = grist_sql(b->ferry, sql, args, resp, records);
    free(sql);
    cJSON_Delete(args);
    if (rc != 0) {
        grist_failed(b, resp, table);
    }

    return rc;
}

/* The uuids of want that Grist has in its UUID column, into rows
 * ({uuid: row id}, the lowest row id when two rows share one). */
static int
match_by_uuid(back_t *b, const char *table, const cJSON *want, cJSON *rows)
{
    const cJSON *e, *rec, *f, *records;
    cJSON       *args;
    grist_resp_t resp;
    char         id[37], hex[33];
    const char  *u;
    int          i, j, k;

    e = want->child;
    while (e) {
        args = cJSON_CreateArray();
        for (k = 0; e && k < BACK_MATCH_CHUNK; e = e->next, k++) {
            for (i = 0, j = 0; e->string[i]; i++) {
                if (e->string[i] != '-') {
                    hex[j++] = e->string[i];
                }
            }
            hex[j] = '\0';
            cJSON_AddItemToArray(args, cJSON_CreateString(hex));
            cJSON_AddItemToArray(args, cJSON_CreateString(e->string));
        }
        if (match_query(b, table, "UUID", args, &resp, &records) != 0) {
            grist_resp_free(&resp);
            return -1;
        }
        cJSON_ArrayForEach(rec, records)
        {
            f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
            u = ferry_json_str(f, "UUID");
            if (u && grist_uuid_norm(u, id) == 0
                && cJSON_GetObjectItemCaseSensitive(rows, id) == NULL)
            {
                cJSON_AddNumberToObject(
                    rows, id, (double) ferry_json_long(f, "id"));
            }
        }
        grist_resp_free(&resp);
    }

    return 0;
}

/*
 * The uuids of want still unmatched that PostgreSQL knows (the sync's
 * stable id of a row whose UUID is empty) and whose Grist row is there
 * with an empty UUID, into rows and into keyless ({uuid: true}: the
 * UUID is written with the item).
 */
static int
match_by_row(
    back_t *b, int kind, const cJSON *want, cJSON *rows, cJSON *keyless)
{
    const cJSON *e, *rec, *f, *records;
    cJSON       *rest, *known, *args, *byrow;
    grist_resp_t resp;
    char         key[24];
    const char  *u;
    int          rc = 0;

    rest = cJSON_CreateObject();
    cJSON_ArrayForEach(e, want)
    {
        if (cJSON_GetObjectItemCaseSensitive(rows, e->string) == NULL) {
            cJSON_AddTrueToObject(rest, e->string);
        }
    }
    known = pg_rows(b, pg_tables[kind], rest);
    cJSON_Delete(rest);
    if (known == NULL) {
        snprintf(b->error, sizeof(b->error), "PostgreSQL: %s",
            PQerrorMessage(b->conn));
        return -1;
    }
    if (cJSON_GetArraySize(known) == 0) {
        cJSON_Delete(known);
        return 0;
    }

    /* {row id: uuid} to read Grist's answer back */
    byrow = cJSON_CreateObject();
    args = cJSON_CreateArray();
    cJSON_ArrayForEach(e, known)
    {
        snprintf(key, sizeof(key), "%ld", (long) e->valuedouble);
        cJSON_AddStringToObject(byrow, key, e->string);
        cJSON_AddItemToArray(args, cJSON_CreateNumber(e->valuedouble));
    }
    if (match_query(b, b->table[kind], "id", args, &resp, &records) != 0) {
        rc = -1;
    }
    cJSON_ArrayForEach(rec, (rc == 0 ? records : NULL))
    {
        f = cJSON_GetObjectItemCaseSensitive(rec, "fields");
        u = ferry_json_str(f, "UUID");
        snprintf(key, sizeof(key), "%ld", ferry_json_long(f, "id"));
        e = cJSON_GetObjectItemCaseSensitive(byrow, key);
        if (e && (u == NULL || u[0] == '\0')) {
            cJSON_AddNumberToObject(
                rows, e->valuestring, (double) ferry_json_long(f, "id"));
            cJSON_AddTrueToObject(keyless, e->valuestring);
        }
    }
    grist_resp_free(&resp);
    cJSON_Delete(byrow);
    cJSON_Delete(known);

    return rc;
}

/* The Grist rows of kind's table for want's uuids. NULL when Grist or
 * PostgreSQL failed. */
static cJSON *
match_rows(back_t *b, int kind, const cJSON *want, cJSON *keyless)
{
    cJSON *rows = cJSON_CreateObject();

    if (match_by_uuid(b, b->table[kind], want, rows) != 0
        || match_by_row(b, kind, want, rows, keyless) != 0)
    {
        cJSON_Delete(rows);
        return NULL;
    }
    return rows;
}

/* --------------------------------------------------------------- writing */

typedef struct {
    int    item;
    char  *key; /* the method and the sorted column names */
    size_t len; /* the record's JSON */
} back_op_t;

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int
cmp_op(const void *a, const void *b)
{
    const back_op_t *x = a, *y = b;
    int              c = strcmp(x->key, y->key);

    return c ? c : x->item - y->item;
}

/* "POST name,phone,…": the batch an item's record goes in. */
static char *
op_key(const grist_back_item_t *it)
{
    const cJSON *e;
    const char  *names[64];
    size_t       n = 0, len = 8, i;
    char        *key;

    cJSON_ArrayForEach(e, it->fields)
    {
        if (n < sizeof(names) / sizeof(names[0])) {
            names[n++] = e->string;
        }
        len += strlen(e->string) + 1;
    }
    qsort(names, n, sizeof(names[0]), cmp_str);
    key = malloc(len);
    if (key == NULL) {
        return NULL;
    }
    snprintf(key, len, "%s", it->row_id ? "PATCH" : "POST");
    for (i = 0; i < n; i++) {
        strcat(key, i ? "," : " ");
        strcat(key, names[i]);
    }
    return key;
}

static cJSON *
op_record(const grist_back_item_t *it)
{
    cJSON *rec = cJSON_CreateObject();

    if (it->row_id) {
        cJSON_AddNumberToObject(rec, "id", (double) it->row_id);
    }
    cJSON_AddItemReferenceToObject(rec, "fields", it->fields);

    return rec;
}

/* Sends one batch; its items learn their outcome. */
static void
send_batch(back_t *b, int kind, grist_back_item_t *items, const back_op_t *ops,
    int n, cJSON *records)
{
    char         path[128];
    grist_resp_t resp;
    cJSON       *body;
    const cJSON *ids;
    int          post = items[ops[0].item].row_id == 0, i, rc;

    body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "records", records);
    snprintf(
        path, sizeof(path), "/tables/%s/records?noparse=true", b->table[kind]);
    /* a PATCH sent twice sets the same values; a POST would add rows twice
     * (the feeder's retry finds them by UUID instead) */
    rc =
        grist_call(b->ferry, post ? "POST" : "PATCH", path, body, !post, &resp);
    cJSON_Delete(body);

    ids = post ? cJSON_GetObjectItemCaseSensitive(resp.json, "records") : NULL;
    if (rc == 0 && post && cJSON_GetArraySize(ids) != n) {
        snprintf(resp.message, sizeof(resp.message),
            "Grist answered %d row ids for %d records", cJSON_GetArraySize(ids),
            n);
        rc = -1;
    }
    if (rc != 0) {
        grist_failed(b, &resp, b->table[kind]);
    }
    for (i = 0; i < n; i++) {
        grist_back_item_t *it = &items[ops[i].item];

        if (rc != 0) {
            snprintf(it->error, sizeof(it->error), "%.250s", resp.message);
            b->failed++;
        } else if (post) {
            it->row_id = ferry_json_long(cJSON_GetArrayItem(ids, i), "id");
            it->created = 1;
        }
    }
    grist_resp_free(&resp);
}

/* Writes kind's items that can be: batches of one set of columns, each at
 * most BACK_MAX_BODY. */
static void
write_items(back_t *b, int kind)
{
    grist_back_item_t *items = items_of(b, kind), *it;
    back_op_t         *ops;
    cJSON             *records = NULL, *rec;
    char              *text;
    size_t             size = 0;
    int                n = 0, i, first = 0;

    ops = calloc((size_t) b->n[kind] + 1, sizeof(*ops));
    if (ops == NULL) {
        return;
    }
    for (i = 0; i < b->n[kind]; i++) {
        it = &items[i];
        if (it->error[0]) {
            continue;
        }
        if (it->row_id == 0) {
            cJSON_AddStringToObject(it->fields, "UUID", it->hex);
        }
        rec = op_record(it);
        text = cJSON_PrintUnformatted(rec);
        cJSON_Delete(rec);
        ops[n].len = text ? strlen(text) : 0;
        cJSON_free(text);
        ops[n].key = op_key(it);
        if (ops[n].key == NULL || ops[n].len == 0) {
            snprintf(it->error, sizeof(it->error), "out of memory");
        } else if (ops[n].len + BACK_ENVELOPE > BACK_MAX_BODY) {
            snprintf(it->error, sizeof(it->error),
                "the record is larger than a Grist request may be (1 MB)");
        }
        if (it->error[0]) {
            free(ops[n].key);
            b->failed++;
            continue;
        }
        ops[n++].item = i;
    }
    qsort(ops, (size_t) n, sizeof(*ops), cmp_op);

    for (i = 0; i < n; i++) {
        /* a new batch for another set of columns, or when this record
         * would take the batch over the limit */
        if (records
            && (strcmp(ops[i].key, ops[first].key) != 0
                || size + 1 + ops[i].len + BACK_ENVELOPE > BACK_MAX_BODY))
        {
            send_batch(b, kind, items, ops + first, i - first, records);
            records = NULL;
        }
        if (records == NULL) {
            records = cJSON_CreateArray();
            size = 0;
            first = i;
        }
        size += (size ? 1 : 0) + ops[i].len;
        cJSON_AddItemToArray(records, op_record(&items[ops[i].item]));
    }
    if (records) {
        send_batch(b, kind, items, ops + first, n - first, records);
    }

    for (i = 0; i < n; i++) {
        free(ops[i].key);
    }
    free(ops);
}

/* ------------------------------------------------------------- the route */

/* The items of body[name] checked into b->items from *at. 0, or -1
 * answered 422. */
static int
check_list(
    back_t *b, const cJSON *body, int kind, double now, int *at, resp_t *resp)
{
    const char  *name = kind == GRIST_BACK_BADGE ? "badges" : "arrivals";
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, name), *item;
    cJSON       *seen;
    char         field[128], msg[512];
    int          i = 0, j;

    if (list && !cJSON_IsArray(list) && !cJSON_IsNull(list)) {
        snprintf(msg, sizeof(msg), "%s must be a list or null", name);
        resp_field_error(resp, 422, name, msg);
        return -1;
    }
    seen = cJSON_CreateObject();
    cJSON_ArrayForEach(item, (cJSON_IsArray(list) ? list : NULL))
    {
        if (grist_back_check(item, kind, i, now, &b->items[*at], field,
                sizeof(field), msg, sizeof(msg))
            != 0)
        {
            resp_field_error(resp, 422, field, msg);
            cJSON_Delete(seen);
            return -1;
        }
        /* two items for one row would create it twice */
        if (cJSON_GetObjectItemCaseSensitive(seen, b->items[*at].id)) {
            j = (int) cJSON_GetObjectItemCaseSensitive(seen, b->items[*at].id)
                    ->valuedouble;
            snprintf(field, sizeof(field), "%s[%d].data.id", name, i);
            snprintf(
                msg, sizeof(msg), "%s: the same id as %s[%d]", field, name, j);
            grist_back_item_free(&b->items[*at]);
            resp_field_error(resp, 422, field, msg);
            cJSON_Delete(seen);
            return -1;
        }
        cJSON_AddNumberToObject(seen, b->items[*at].id, i);
        (*at)++;
        b->n[kind]++;
        i++;
    }
    cJSON_Delete(seen);

    return 0;
}

/* Whether any item of kind writes column with a code to look up. */
static int
names_code(back_t *b, int kind, const char *column)
{
    grist_back_item_t *items = items_of(b, kind);
    int                i;

    for (i = 0; i < b->n[kind]; i++) {
        if (cJSON_IsString(
                cJSON_GetObjectItemCaseSensitive(items[i].fields, column))) {
            return 1;
        }
    }
    return 0;
}

/* Looks every reference up. 0; -1 answered (422, 500, 502). */
static int
look_up(back_t *b, const req_t *req, resp_t *resp)
{
    grist_back_item_t *items;
    grist_back_refs_t  refs;
    cJSON             *persons, *directions, *want, *keyless;
    char               field[128], msg[512];
    int                kind, i, rc = 0;

    if ((names_code(b, GRIST_BACK_BADGE, "role")
            && (b->roles = lookup_table(b, "Roles", "Code", NULL)) == NULL)
        || ((names_code(b, GRIST_BACK_ARRIVAL, "status"))
            && (b->statuses =
                       lookup_table(b, "Participation_statuses", "code", "A"))
                == NULL)
        || ((names_code(b, GRIST_BACK_ARRIVAL, "arrival_transport")
                || names_code(b, GRIST_BACK_ARRIVAL, "departure_transport"))
            && (b->transports = lookup_table(b, "Arrival_type", "code", NULL))
                == NULL))
    {
        resp_error(resp, 502, "Grist: %s", b->error);
        return -1;
    }

    persons = cJSON_CreateObject();
    directions = cJSON_CreateObject();
    want = cJSON_CreateObject();
    for (i = 0; i < b->n[0] + b->n[1]; i++) {
        grist_back_wants(&b->items[i], persons, directions, want);
    }
    b->persons = pg_rows(b, "person", persons);
    b->directions = pg_rows(b, "direction", directions);
    cJSON_Delete(persons);
    cJSON_Delete(directions);
    if (b->persons == NULL || b->directions == NULL) {
        cJSON_Delete(want);
        resp_internal_error(
            resp, req->rid, "back-sync: %s", PQerrorMessage(b->conn));
        return -1;
    }

    /* the rows the items are; the badges the arrivals name too */
    for (kind = 0; kind < 2 && rc == 0; kind++) {
        items = items_of(b, kind);
        if (kind == GRIST_BACK_ARRIVAL) {
            cJSON_Delete(want);
            want = cJSON_CreateObject();
        }
        for (i = 0; i < b->n[kind]; i++) {
            if (cJSON_GetObjectItemCaseSensitive(want, items[i].id) == NULL) {
                cJSON_AddTrueToObject(want, items[i].id);
            }
        }
        keyless = cJSON_CreateObject();
        {
            cJSON *rows = cJSON_GetArraySize(want)
                ? match_rows(b, kind, want, keyless)
                : cJSON_CreateObject();

            if (rows == NULL) {
                rc = -1;
            }
            for (i = 0; rows && i < b->n[kind]; i++) {
                const cJSON *r =
                    cJSON_GetObjectItemCaseSensitive(rows, items[i].id);

                items[i].row_id = r ? (long) r->valuedouble : 0;
                if (cJSON_GetObjectItemCaseSensitive(keyless, items[i].id)) {
                    cJSON_AddStringToObject(
                        items[i].fields, "UUID", items[i].hex);
                }
            }
            if (kind == GRIST_BACK_BADGE && rows) {
                /* badges this request creates: named before they exist */
                for (i = 0; i < b->n[kind]; i++) {
                    if (items[i].row_id == 0) {
                        cJSON_AddNumberToObject(
                            rows, items[i].id, BACK_NEW_ROW);
                    }
                }
                b->badge_rows = rows;
            } else {
                cJSON_Delete(rows);
            }
        }
        cJSON_Delete(keyless);
    }
    cJSON_Delete(want);
    if (rc != 0) {
        resp_error(resp, 502, "%s", b->error);
        return -1;
    }

    memset(&refs, 0, sizeof(refs));
    refs.persons = b->persons;
    refs.directions = b->directions;
    refs.badges = b->badge_rows;
    refs.roles = b->roles;
    refs.statuses = b->statuses;
    refs.transports = b->transports;
    for (i = 0; i < b->n[0] + b->n[1]; i++) {
        if (grist_back_resolve(
                &b->items[i], &refs, field, sizeof(field), msg, sizeof(msg))
            != 0)
        {
            resp_field_error(resp, 422, field, msg);
            return -1;
        }
    }

    return 0;
}

/* Arrivals naming a badge this request created: its row id now. */
static void
link_new_badges(back_t *b)
{
    grist_back_item_t *badges = items_of(b, GRIST_BACK_BADGE);
    grist_back_item_t *arrivals = items_of(b, GRIST_BACK_ARRIVAL);
    const cJSON       *v;
    int                i, j;

    for (i = 0; i < b->n[1]; i++) {
        v = cJSON_GetObjectItemCaseSensitive(arrivals[i].fields, "badge");
        if (!cJSON_IsNumber(v) || v->valuedouble != BACK_NEW_ROW) {
            continue;
        }
        for (j = 0; j < b->n[0]; j++) {
            if (strcmp(badges[j].id, arrivals[i].badge) == 0) {
                break;
            }
        }
        if (j == b->n[0] || badges[j].row_id <= 0) {
            snprintf(arrivals[i].error, sizeof(arrivals[i].error),
                "its badge %s was not created", arrivals[i].badge);
            b->failed++;
            continue;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(arrivals[i].fields, "badge",
            cJSON_CreateNumber((double) badges[j].row_id));
    }
}

static cJSON *
results(const back_t *b, int kind, long *created, long *updated)
{
    const grist_back_item_t *items =
        b->items + (kind == GRIST_BACK_BADGE ? 0 : b->n[0]);
    cJSON *list = cJSON_CreateArray(), *r;
    int    i;

    for (i = 0; i < b->n[kind]; i++) {
        r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", items[i].id);
        if (items[i].error[0]) {
            cJSON_AddStringToObject(r, "result", "failed");
            cJSON_AddStringToObject(r, "error", items[i].error);
        } else {
            cJSON_AddStringToObject(
                r, "result", items[i].created ? "created" : "updated");
            cJSON_AddNumberToObject(r, "row_id", (double) items[i].row_id);
            *(items[i].created ? created : updated) += 1;
        }
        cJSON_AddItemToArray(list, r);
    }
    return list;
}

static void
back_free(back_t *b)
{
    int i;

    for (i = 0; b->items && i < b->n[0] + b->n[1]; i++) {
        grist_back_item_free(&b->items[i]);
    }
    free(b->items);
    cJSON_Delete(b->roles);
    cJSON_Delete(b->statuses);
    cJSON_Delete(b->transports);
    cJSON_Delete(b->persons);
    cJSON_Delete(b->directions);
    cJSON_Delete(b->badge_rows);
}

void
grist_back_sync(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    back_t b;
    cJSON *answer;
    long   counts[2][2] = { { 0, 0 }, { 0, 0 } };
    double now = now_epoch();
    int    at = 0, total;

    if (!grist_configured(&ferry->cfg)) {
        resp_error(resp, 503,
            "GRIST__SERVER, GRIST__DOC_ID or GRIST__API_KEY is not set: "
            "ferryd cannot write to Grist");
        return;
    }
    if (!cJSON_IsObject(req->body)) {
        resp_error(resp, 422,
            "the body must be an object: {\"badges\": [...], "
            "\"arrivals\": [...]}");
        return;
    }

    memset(&b, 0, sizeof(b));
    b.ferry = ferry;
    b.rid = req->rid;
    snprintf(
        b.table[0], sizeof(b.table[0]), "Badges_%d", ferry->cfg.grist_year);
    snprintf(
        b.table[1], sizeof(b.table[1]), "Arrivals_%d", ferry->cfg.grist_year);
    total = cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(req->body, "badges"))
        + cJSON_GetArraySize(
            cJSON_GetObjectItemCaseSensitive(req->body, "arrivals"));
    b.items = calloc((size_t) total + 1, sizeof(*b.items));
    if (b.items == NULL) {
        resp_error(resp, 500, "out of memory");
        return;
    }
    /* badges first: an arrival may name a badge this request creates */
    if (check_list(&b, req->body, GRIST_BACK_BADGE, now, &at, resp) != 0
        || check_list(&b, req->body, GRIST_BACK_ARRIVAL, now, &at, resp) != 0)
    {
        back_free(&b);
        return;
    }

    b.conn = caller_db(ferry, resp);
    if (b.conn == NULL) {
        back_free(&b);
        return;
    }
    if (db_exec(b.conn, "BEGIN") != 0) {
        resp_internal_error(
            resp, req->rid, "back-sync: %s", PQerrorMessage(b.conn));
        goto done;
    }
    /* a duplicate waits here for this transaction, then replays */
    if (req->idem && idem_claim(b.conn, req, resp) != IDEM_NEW) {
        (void) db_exec(b.conn, resp->status < 300 ? "COMMIT" : "ROLLBACK");
        goto done;
    }

    if (look_up(&b, req, resp) != 0) {
        (void) db_exec(b.conn, "ROLLBACK");
        goto done;
    }
    write_items(&b, GRIST_BACK_BADGE);
    link_new_badges(&b);
    write_items(&b, GRIST_BACK_ARRIVAL);

    answer = cJSON_CreateObject();
    if (b.failed) {
        cJSON_AddStringToObject(answer, "error", "");
    } else {
        cJSON_AddStringToObject(answer, "message", "OK");
    }
    cJSON_AddItemToObject(answer, "badges",
        results(&b, GRIST_BACK_BADGE, &counts[0][0], &counts[0][1]));
    cJSON_AddItemToObject(answer, "arrivals",
        results(&b, GRIST_BACK_ARRIVAL, &counts[1][0], &counts[1][1]));
    if (b.failed) {
        char msg[700];

        snprintf(msg, sizeof(msg), "Grist did not take %d of %d items: %s",
            b.failed, total, b.error);
        cJSON_ReplaceItemInObjectCaseSensitive(
            answer, "error", cJSON_CreateString(msg));
    }
    resp_json(resp, b.failed ? 502 : 200, answer);

    /* only a request carried out is remembered: one Grist failed may be
     * sent again with its key */
    if (b.failed == 0 && req->idem && idem_store(b.conn, req, resp) != 0) {
        resp_internal_error(
            resp, req->rid, "back-sync: %s", PQerrorMessage(b.conn));
        (void) db_exec(b.conn, "ROLLBACK");
        goto done;
    }
    (void) db_exec(b.conn, b.failed ? "ROLLBACK" : "COMMIT");

    if (b.failed) {
        log_warn(req->rid, "back-sync: %d of %d items not written to Grist: %s",
            b.failed, total, b.error);
    }
    log_info(req->rid,
        "back-sync: badges %ld created, %ld updated; arrivals %ld created, "
        "%ld updated",
        counts[0][0], counts[0][1], counts[1][0], counts[1][1]);

done:
    db_release(ferry->db, b.conn);
    back_free(&b);
}
