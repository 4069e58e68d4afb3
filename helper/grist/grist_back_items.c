/*
 * The original wrote only the keys an item's data carries (pydantic's
 * fields_set), Russian values for the feeder's codes, and references by
 * the referenced row's display value, which Grist parsed back into a row
 * id. Here references go as row ids (the Grist lookup tables' and
 * PostgreSQL's nocode_int_id), so a renamed role or a display column that
 * is not unique cannot point a badge at the wrong row. Keys the original
 * accepted without writing (number, batch, photo, nickname, notion_id) and
 * keys it did not know are ignored, as pydantic ignored them.
 */
#include "grist_back_items.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grist_map.h"

typedef enum {
    B_TEXT,
    B_GENDER,
    B_BOOL,
    B_VEGAN,
    B_FEED,
    B_DELETED,
    B_DATE,
    B_REF,     /* a uuid or a code, looked up in refs */
    B_REF_LIST /* a list of uuids */
} back_rule_kind_t;

typedef enum {
    R_NONE,
    R_PERSON,
    R_DIRECTION,
    R_BADGE,
    R_ROLE,
    R_STATUS,
    R_TRANSPORT
} back_ref_t;

typedef struct {
    const char      *key;    /* in the item's data */
    const char      *column; /* in Grist */
    back_rule_kind_t kind;
    back_ref_t       ref;
} back_rule_t;

static const back_rule_t badge_rules[] = {
    { "name", "name", B_TEXT, R_NONE },
    { "first_name", "first_name", B_TEXT, R_NONE },
    { "last_name", "last_name", B_TEXT, R_NONE },
    { "gender", "gender", B_GENDER, R_NONE },
    { "phone", "phone", B_TEXT, R_NONE },
    { "infant", "infant", B_BOOL, R_NONE },
    { "vegan", "diet", B_VEGAN, R_NONE },
    { "feed", "feed_type", B_FEED, R_NONE },
    { "role", "role", B_REF, R_ROLE },
    { "position", "position", B_TEXT, R_NONE },
    { "comment", "comment", B_TEXT, R_NONE },
    { "person", "person", B_REF, R_PERSON },
    { "directions", "directions_ref", B_REF_LIST, R_DIRECTION },
    { "deleted", "to_delete", B_DELETED, R_NONE },
    { NULL, NULL, 0, 0 },
};

static const back_rule_t arrival_rules[] = {
    { "badge", "badge", B_REF, R_BADGE },
    { "status", "status", B_REF, R_STATUS },
    { "arrival_date", "arrival_date", B_DATE, R_NONE },
    { "departure_date", "departure_date", B_DATE, R_NONE },
    { "arrival_transport", "arrival_transport", B_REF, R_TRANSPORT },
    { "departure_transport", "departure_transport", B_REF, R_TRANSPORT },
    { "deleted", "to_delete", B_DELETED, R_NONE },
    { NULL, NULL, 0, 0 },
};

/* the feeder's codes and the Grist choices they stand for */
static const char *const genders[][2] = {
    { "MALE", "М" },
    { "FEMALE", "Ж" },
    { "OTHER", "др." },
    { "М", "М" },
    { "Ж", "Ж" },
    { "др.", "др." },
};

static const char *const feeds[][2] = {
    { "FREE", "Бесплатно" },
    { "PAID", "Платно" },
    { "NO", "Без питания" },
    { "CHILD", "Ребенок" },
};

#define DIET_VEGAN     "Веган"
#define DIET_ANY       "Без особенностей"
#define FEEDER_DELETED "FEEDER: deleted"

#define N(a) (sizeof(a) / sizeof((a)[0]))

int
grist_back_date(const char *s, double *epoch)
{
    struct tm tm;
    int       y, m, d, n = 0;
    time_t    t;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10
        || s[n] != '\0') {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    t = timegm(&tm);
    /* timegm normalises 2026-02-30 into March: not a date */
    if (tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d) {
        return -1;
    }
    *epoch = (double) t;

    return 0;
}

static const char *
choice(const char *const (*table)[2], size_t n, const char *v)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(table[i][0], v) == 0) {
            return table[i][1];
        }
    }
    return NULL;
}

/* One data key into fields; NULL, or what is wrong with v. */
static const char *
check_rule(const back_rule_t *r, const cJSON *v, double now, cJSON *fields)
{
    const cJSON *e;
    const char  *c;
    char         id[37];
    double       epoch;
    cJSON       *arr;

    switch (r->kind) {

    case B_TEXT:
        if (!cJSON_IsString(v) && !cJSON_IsNull(v)) {
            return "must be a string or null";
        }
        cJSON_AddItemToObject(fields, r->column, cJSON_Duplicate(v, 0));
        return NULL;

    case B_GENDER:
        if (cJSON_IsNull(v)) {
            cJSON_AddNullToObject(fields, r->column);
            return NULL;
        }
        c = cJSON_IsString(v) ? choice(genders, N(genders), v->valuestring)
                              : NULL;
        if (c == NULL) {
            return "must be MALE, FEMALE, OTHER or null";
        }
        cJSON_AddStringToObject(fields, r->column, c);
        return NULL;

    case B_BOOL:
        if (!cJSON_IsBool(v) && !cJSON_IsNull(v)) {
            return "must be true, false or null";
        }
        cJSON_AddBoolToObject(fields, r->column, cJSON_IsTrue(v));
        return NULL;

    case B_VEGAN:
        if (!cJSON_IsBool(v) && !cJSON_IsNull(v)) {
            return "must be true, false or null";
        }
        cJSON_AddStringToObject(
            fields, r->column, cJSON_IsTrue(v) ? DIET_VEGAN : DIET_ANY);
        return NULL;

    case B_FEED:
        /* empty is NO, as the original's FeedType default */
        if (cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == 0)) {
            c = choice(feeds, N(feeds), "NO");
        } else {
            c = cJSON_IsString(v) ? choice(feeds, N(feeds), v->valuestring)
                                  : NULL;
        }
        if (c == NULL) {
            return "must be FREE, PAID, NO, CHILD or null";
        }
        cJSON_AddStringToObject(fields, r->column, c);
        return NULL;

    case B_DELETED:
        if (cJSON_IsNull(v)) {
            return NULL;
        }
        if (!cJSON_IsBool(v)) {
            return "must be true, false or null";
        }
        if (cJSON_IsTrue(v)) {
            cJSON_AddNumberToObject(fields, "to_delete", now);
            cJSON_AddStringToObject(fields, "delete_reason", FEEDER_DELETED);
        } else {
            cJSON_AddNullToObject(fields, "to_delete");
            cJSON_AddNullToObject(fields, "delete_reason");
        }
        return NULL;

    case B_DATE:
        if (cJSON_IsNull(v)) {
            cJSON_AddNullToObject(fields, r->column);
            return NULL;
        }
        if (!cJSON_IsString(v) || grist_back_date(v->valuestring, &epoch) != 0)
        {
            return "must be a date, YYYY-MM-DD";
        }
        cJSON_AddNumberToObject(fields, r->column, epoch);
        return NULL;

    case B_REF:
        if (cJSON_IsNull(v)) {
            cJSON_AddNullToObject(fields, r->column);
            return NULL;
        }
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
            return "must be a string or null";
        }
        if (r->ref == R_PERSON || r->ref == R_BADGE) {
            if (grist_uuid_norm(v->valuestring, id) != 0) {
                return "must be a uuid";
            }
            cJSON_AddStringToObject(fields, r->column, id);
            return NULL;
        }
        cJSON_AddStringToObject(fields, r->column, v->valuestring);
        return NULL;

    case B_REF_LIST:
        if (cJSON_IsNull(v)) {
            cJSON_AddNullToObject(fields, r->column);
            return NULL;
        }
        if (!cJSON_IsArray(v)) {
            return "must be a list of uuids or null";
        }
        arr = cJSON_AddArrayToObject(fields, r->column);
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsString(e) || grist_uuid_norm(e->valuestring, id) != 0)
            {
                return "must be a list of uuids or null";
            }
            cJSON_AddItemToArray(arr, cJSON_CreateString(id));
        }
        return NULL;
    }

    return "is not understood";
}

int
grist_back_check(const cJSON *item, grist_back_kind_t kind, int index,
    double now, grist_back_item_t *out, char *field, size_t field_len,
    char *msg, size_t msg_len)
{
    const char        *list = kind == GRIST_BACK_BADGE ? "badges" : "arrivals";
    const back_rule_t *r;
    const cJSON       *data, *v;
    const char        *bad;
    int                i, j;

    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->index = index;

    if (!cJSON_IsObject(item)) {
        snprintf(field, field_len, "%s[%d]", list, index);
        snprintf(msg, msg_len, "%s must be an object", field);
        return -1;
    }
    data = cJSON_GetObjectItemCaseSensitive(item, "data");
    if (!cJSON_IsObject(data)) {
        snprintf(field, field_len, "%s[%d].data", list, index);
        snprintf(msg, msg_len, "%s must be an object", field);
        return -1;
    }

    v = cJSON_GetObjectItemCaseSensitive(data, "id");
    if (!cJSON_IsString(v) || grist_uuid_norm(v->valuestring, out->id) != 0) {
        snprintf(field, field_len, "%s[%d].data.id", list, index);
        snprintf(msg, msg_len, "%s must be a uuid", field);
        return -1;
    }
    for (i = 0, j = 0; out->id[i]; i++) {
        if (out->id[i] != '-') {
            out->hex[j++] = out->id[i];
        }
    }
    out->hex[j] = '\0';

    out->fields = cJSON_CreateObject();
    for (r = kind == GRIST_BACK_BADGE ? badge_rules : arrival_rules; r->key;
         r++) {
        v = cJSON_GetObjectItemCaseSensitive(data, r->key);
        if (v == NULL) {
            continue;
        }
        bad = check_rule(r, v, now, out->fields);
        if (bad) {
            snprintf(field, field_len, "%s[%d].data.%s", list, index, r->key);
            snprintf(msg, msg_len, "%s %s", field, bad);
            grist_back_item_free(out);
            return -1;
        }
    }

    v = cJSON_GetObjectItemCaseSensitive(out->fields, "badge");
    if (kind == GRIST_BACK_ARRIVAL && cJSON_IsString(v)) {
        snprintf(out->badge, sizeof(out->badge), "%s", v->valuestring);
    }

    /* when the feeder last wrote the badge, as the original marked it */
    if (kind == GRIST_BACK_BADGE) {
        cJSON_AddNumberToObject(
            out->fields, "feeder_update", (double) (long) now);
    }

    return 0;
}

/* cJSON_HasObjectItem ignores case */
static void
set_add(cJSON *set, const char *key)
{
    if (cJSON_GetObjectItemCaseSensitive(set, key) == NULL) {
        cJSON_AddTrueToObject(set, key);
    }
}

static const cJSON *
ref_map(const grist_back_refs_t *refs, back_ref_t ref)
{
    switch (ref) {
    case R_PERSON:
        return refs->persons;
    case R_DIRECTION:
        return refs->directions;
    case R_BADGE:
        return refs->badges;
    case R_ROLE:
        return refs->roles;
    case R_STATUS:
        return refs->statuses;
    case R_TRANSPORT:
        return refs->transports;
    case R_NONE:
        break;
    }
    return NULL;
}

static const char *
ref_name(back_ref_t ref)
{
    static const char *const names[] = { "", "person", "direction", "badge",
        "role", "status", "transport" };

    return names[ref];
}

static const cJSON *
lookup(const cJSON *map, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, key);

    return cJSON_IsNumber(v) ? v : NULL;
}

int
grist_back_resolve(grist_back_item_t *it, const grist_back_refs_t *refs,
    char *field, size_t field_len, char *msg, size_t msg_len)
{
    const char *list = it->kind == GRIST_BACK_BADGE ? "badges" : "arrivals";
    const back_rule_t *r;
    const cJSON       *map, *e, *id;
    cJSON             *v, *ids;

    for (r = it->kind == GRIST_BACK_BADGE ? badge_rules : arrival_rules; r->key;
         r++)
    {
        if (r->ref == R_NONE) {
            continue;
        }
        v = cJSON_GetObjectItemCaseSensitive(it->fields, r->column);
        map = ref_map(refs, r->ref);
        if (cJSON_IsNull(v) && r->kind == B_REF) {
            /* an empty Ref is 0 */
            cJSON_ReplaceItemInObjectCaseSensitive(
                it->fields, r->column, cJSON_CreateNumber(0));
            continue;
        }
        if (cJSON_IsString(v)) {
            id = lookup(map, v->valuestring);
            if (id == NULL) {
                snprintf(field, field_len, "%s[%d].data.%s", list, it->index,
                    r->key);
                snprintf(msg, msg_len, "%s: no %s %s", field, ref_name(r->ref),
                    v->valuestring);
                return -1;
            }
            cJSON_ReplaceItemInObjectCaseSensitive(
                it->fields, r->column, cJSON_CreateNumber(id->valuedouble));
            continue;
        }
        if (!cJSON_IsArray(v)) {
            continue;
        }
        /* a RefList as Grist's API writes it; none is null */
        ids = cJSON_CreateArray();
        cJSON_AddItemToArray(ids, cJSON_CreateString("L"));
        cJSON_ArrayForEach(e, v)
        {
            id = lookup(map, e->valuestring);
            if (id == NULL) {
                snprintf(field, field_len, "%s[%d].data.%s", list, it->index,
                    r->key);
                snprintf(msg, msg_len, "%s: no %s %s", field, ref_name(r->ref),
                    e->valuestring);
                cJSON_Delete(ids);
                return -1;
            }
            cJSON_AddItemToArray(ids, cJSON_CreateNumber(id->valuedouble));
        }
        if (cJSON_GetArraySize(ids) == 1) {
            cJSON_Delete(ids);
            ids = cJSON_CreateNull();
        }
        cJSON_ReplaceItemInObjectCaseSensitive(it->fields, r->column, ids);
    }

    return 0;
}

void
grist_back_wants(const grist_back_item_t *it, cJSON *persons, cJSON *directions,
    cJSON *badges)
{
    const cJSON *v, *e;

    v = cJSON_GetObjectItemCaseSensitive(it->fields, "person");
    if (persons && it->kind == GRIST_BACK_BADGE && cJSON_IsString(v)) {
        set_add(persons, v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(it->fields, "directions_ref");
    if (directions && cJSON_IsArray(v)) {
        cJSON_ArrayForEach(e, v)
        {
            set_add(directions, e->valuestring);
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(it->fields, "badge");
    if (badges && it->kind == GRIST_BACK_ARRIVAL && cJSON_IsString(v)) {
        set_add(badges, v->valuestring);
    }
}

void
grist_back_item_free(grist_back_item_t *it)
{
    cJSON_Delete(it->fields);
    it->fields = NULL;
}
