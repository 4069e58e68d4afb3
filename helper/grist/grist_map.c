/*
 * The rules of the original updater's transformations (grist_updater.py
 * TABLES_CONFIG), one function per kind of rule. Where the original let a
 * bad value block a whole table (a type_of_team or transport PostgreSQL
 * does not know) the value becomes NULL instead; where it made a random
 * id for an empty UUID, the SQL derives a stable one.
 */
#include "grist_map.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int
grist_truthy(const cJSON *v)
{
    if (v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v)) {
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        return v->valuedouble != 0;
    }
    if (cJSON_IsString(v)) {
        return v->valuestring[0] != '\0';
    }
    return 1;
}

int
grist_uuid_norm(const char *s, char out[37])
{
    char hex[33];
    int  n = 0, i;

    for (i = 0; s[i]; i++) {
        if (s[i] == '-') {
            continue;
        }
        if (!isxdigit((unsigned char) s[i]) || n == 32) {
            return -1;
        }
        hex[n++] = (char) tolower((unsigned char) s[i]);
    }
    if (n != 32) {
        return -1;
    }
    hex[32] = '\0';
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
        hex + 16, hex + 20);

    return 0;
}

static int
is_int(const cJSON *v)
{
    return cJSON_IsNumber(v)
        && v->valuedouble == (double) (long) v->valuedouble;
}

static void
put(const grist_rule_t *r, cJSON *out, cJSON *item)
{
    if (r->pg) {
        cJSON_AddItemToObject(out, r->pg, item ? item : cJSON_CreateNull());
    } else {
        cJSON_Delete(item);
    }
}

static const char *
code_of(const cJSON *map, const cJSON *v)
{
    char         key[32];
    const cJSON *c;

    if (!is_int(v) || v->valuedouble == 0) {
        return NULL;
    }
    snprintf(key, sizeof(key), "%ld", (long) v->valuedouble);
    c = cJSON_GetObjectItemCaseSensitive(map, key);

    return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* Text as is; anything else NULL. */
static int
m_text(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) lk;
    put(r, out, cJSON_IsString(v) ? cJSON_CreateString(v->valuestring) : NULL);
    return GRIST_MAP_OK;
}

/* Non-empty text, else the row is deleted. */
static int
m_required(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        return GRIST_MAP_DEL;
    }
    return m_text(r, v, lk, out);
}

/* The UUID column: an id, or NULL for the SQL's stable one. */
static int
m_uuid(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    char id[37];

    (void) lk;
    put(r, out,
        cJSON_IsString(v) && grist_uuid_norm(v->valuestring, id) == 0
            ? cJSON_CreateString(id)
            : NULL);
    return GRIST_MAP_OK;
}

static int
m_int(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) lk;
    put(r, out, is_int(v) ? cJSON_CreateNumber(v->valuedouble) : NULL);
    return GRIST_MAP_OK;
}

/* An int other than 0, else the row is deleted. */
static int
m_int_required(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    if (!is_int(v) || v->valuedouble == 0) {
        return GRIST_MAP_DEL;
    }
    return m_int(r, v, lk, out);
}

/* A Ref whose 0 is "none". */
static int
m_ref(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) lk;
    put(r, out,
        is_int(v) && v->valuedouble != 0 ? cJSON_CreateNumber(v->valuedouble)
                                         : NULL);
    return GRIST_MAP_OK;
}

/* type_of_team: required; a name direction_type lacks is NULL. */
static int
m_team_type(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        return GRIST_MAP_DEL;
    }
    put(r, out,
        cJSON_GetObjectItemCaseSensitive(lk->dir_types, v->valuestring)
            ? cJSON_CreateString(v->valuestring)
            : NULL);
    return GRIST_MAP_OK;
}

/* A row of a lookup table that must be there: its code. */
static int
m_code_in(const cJSON *map, const grist_rule_t *r, const cJSON *v, cJSON *out)
{
    const char *code = code_of(map, v);

    if (code == NULL) {
        return GRIST_MAP_DEL;
    }
    put(r, out, cJSON_CreateString(code));
    return GRIST_MAP_OK;
}

static int
m_role(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    return m_code_in(lk->roles, r, v, out);
}

static int
m_status(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    return m_code_in(lk->statuses, r, v, out);
}

/* A transport: its code, else the code of Arrival_type's row 1. */
static int
m_transport(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    const char  *code = code_of(lk->transports, v);
    const cJSON *first;

    if (code == NULL) {
        first = cJSON_GetObjectItemCaseSensitive(lk->transports, "1");
        code = cJSON_IsString(first) ? first->valuestring : NULL;
    }
    put(r, out, code ? cJSON_CreateString(code) : NULL);
    return GRIST_MAP_OK;
}

/* A joined cell that must be set (the joined row exists and is valid). */
static int
m_joined(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) r;
    (void) lk;
    (void) out;
    return grist_truthy(v) ? GRIST_MAP_OK : GRIST_MAP_DEL;
}

/* A joined to_delete: set means the row goes too. */
static int
m_joined_deleted(const grist_rule_t *r, const cJSON *v,
    const grist_lookups_t *lk, cJSON *out)
{
    (void) r;
    (void) lk;
    (void) out;
    return grist_truthy(v) ? GRIST_MAP_DEL : GRIST_MAP_OK;
}

/* A joined delete_reason that the feeder wrote. */
static int
m_feeder_deleted(const grist_rule_t *r, const cJSON *v,
    const grist_lookups_t *lk, cJSON *out)
{
    (void) r;
    (void) lk;
    (void) out;
    return cJSON_IsString(v) && strstr(v->valuestring, "FEEDER") ? GRIST_MAP_DEL
                                                                 : GRIST_MAP_OK;
}

static int
m_gender(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    static const char *const ok[] = { "М", "Ж", "др.", NULL };
    int                      i;

    (void) lk;
    for (i = 0; ok[i]; i++) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, ok[i]) == 0) {
            put(r, out, cJSON_CreateString(ok[i]));
            return GRIST_MAP_OK;
        }
    }
    put(r, out, NULL);
    return GRIST_MAP_OK;
}

static int
m_feed(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    /* the original's FeedType values */
    static const char *const ok[] = {
        "Бесплатно",
        "Платно",
        "Без питания",
        "Ребенок",
        NULL,
    };
    int i;

    (void) lk;
    for (i = 0; ok[i]; i++) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, ok[i]) == 0) {
            put(r, out, cJSON_CreateString(ok[i]));
            return GRIST_MAP_OK;
        }
    }
    return GRIST_MAP_DEL;
}

/* true, else NULL (the original's "bool(x) if x else None"). */
static int
m_true_or_null(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) lk;
    put(r, out, grist_truthy(v) ? cJSON_CreateTrue() : NULL);
    return GRIST_MAP_OK;
}

/* isInBL: NULL or "Нет" is not banned, anything else is. */
static int
m_banned(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) lk;
    put(r, out,
        cJSON_CreateBool(!(v == NULL || cJSON_IsNull(v)
            || (cJSON_IsString(v) && strcmp(v->valuestring, "Нет") == 0))));
    return GRIST_MAP_OK;
}

/* A Date cell (epoch seconds) as the date it is in UTC, or NULL. */
static cJSON *
date_of(const cJSON *v)
{
    char      buf[16];
    time_t    t;
    struct tm tm;

    if (!cJSON_IsNumber(v) || v->valuedouble == 0) {
        return NULL;
    }
    t = (time_t) v->valuedouble;
    if (gmtime_r(&t, &tm) == NULL
        || strftime(buf, sizeof(buf), "%Y-%m-%d", &tm) == 0)
    {
        return NULL;
    }
    return cJSON_CreateString(buf);
}

static int
m_date(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    (void) lk;
    put(r, out, date_of(v));
    return GRIST_MAP_OK;
}

static int
m_date_required(const grist_rule_t *r, const cJSON *v,
    const grist_lookups_t *lk, cJSON *out)
{
    cJSON *d = date_of(v);

    (void) lk;
    if (d == NULL) {
        return GRIST_MAP_DEL;
    }
    put(r, out, d);
    return GRIST_MAP_OK;
}

/* other_names: the comma-separated names as an array, NULL when the text
 * holds { } or " (the original's rule, which built an array literal). */
static int
m_other_names(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    cJSON      *arr;
    const char *p, *e;
    char        buf[1024];
    size_t      n;

    (void) lk;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0'
        || strpbrk(v->valuestring, "{}\""))
    {
        put(r, out, NULL);
        return GRIST_MAP_OK;
    }
    arr = cJSON_CreateArray();
    for (p = v->valuestring; arr; p = e + 1) {
        e = strchr(p, ',');
        if (e == NULL) {
            e = p + strlen(p);
        }
        while (p < e && isspace((unsigned char) *p)) {
            p++;
        }
        n = (size_t) (e - p);
        while (n > 0 && isspace((unsigned char) p[n - 1])) {
            n--;
        }
        if (n >= sizeof(buf)) {
            n = sizeof(buf) - 1;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
        if (*e == '\0') {
            break;
        }
    }
    put(r, out, arr);
    return GRIST_MAP_OK;
}

static int
m_photo(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    char url[1200];

    if (!is_int(v) || v->valuedouble == 0) {
        put(r, out, NULL);
        return GRIST_MAP_OK;
    }
    snprintf(url, sizeof(url), "%s%ld/download", lk->photo_url,
        (long) v->valuedouble);
    put(r, out, cJSON_CreateString(url));
    return GRIST_MAP_OK;
}

/* directions_ref as /sql gives it, "[1,2]": a part that is not an integer
 * (alt text) deletes the row; the ids go to out["directions"]. */
static int
m_directions(const grist_rule_t *r, const cJSON *v, const grist_lookups_t *lk,
    cJSON *out)
{
    cJSON      *arr;
    const char *p;
    char       *end;
    long        id;

    (void) lk;
    arr = cJSON_CreateArray();
    if (cJSON_IsString(v)) {
        p = v->valuestring;
        while (*p == '[' || isspace((unsigned char) *p)) {
            p++;
        }
        while (*p && *p != ']') {
            id = strtol(p, &end, 10);
            if (end == p) {
                cJSON_Delete(arr);
                return GRIST_MAP_DEL;
            }
            cJSON_AddItemToArray(arr, cJSON_CreateNumber((double) id));
            p = end;
            while (isspace((unsigned char) *p)) {
                p++;
            }
            if (*p == ',') {
                p++;
            } else if (*p && *p != ']') {
                cJSON_Delete(arr);
                return GRIST_MAP_DEL;
            }
            while (isspace((unsigned char) *p)) {
                p++;
            }
        }
    } else if (cJSON_IsArray(v)) {
        cJSON_Delete(arr);
        arr = cJSON_Duplicate(v, 1);
    }
    put(r, out, arr);
    return GRIST_MAP_OK;
}

/* ------------------------------------------------------------------ tables */

static const grist_rule_t teams[] = {
    { "UUID", "id", m_uuid, NULL },
    { "last_year", "last_year", m_int, NULL },
    { "team_name", "name", m_required, "Empty team_name" },
    { "type_of_team", "type", m_team_type, "Empty type" },
    { "year_of_establishment_", "first_year", m_int, NULL },
};

static const grist_rule_t people[] = {
    { "name", "name", m_required, "Empty name" },
    { "ntn_id", "id", m_uuid, NULL },
    { "birth_date", "birth_date", m_date, NULL },
    { "other_names", "other_names", m_other_names, NULL },
    { "isInBL", "banned", m_banned, NULL },
    { "gender", "gender", m_gender, NULL },
    { "last_name", "last_name", m_text, NULL },
    { "first_name", "first_name", m_text, NULL },
    { "nickname", "nickname", m_text, NULL },
    { "telegram", "telegram", m_text, NULL },
    { "phone", "phone", m_text, NULL },
    { "email", "email", m_text, NULL },
    { "city", "city", m_text, NULL },
    { "comment", "comment", m_text, NULL },
};

static const grist_rule_t participations[] = {
    { "UUID", "id", m_uuid, NULL },
    { "year", "year", m_int_required, "Invalid or empty year" },
    { "status", "status_code", m_status, "Invalid status mapping" },
    { "role", "role_code", m_role, "Invalid role mapping" },
    { "person", "person_id", m_int_required, "Invalid person ID" },
    { "team", "direction_id", m_int_required, "Invalid team ID" },
    { "people_table_name", NULL, m_joined,
        "Person is Invalid and marked for delete" },
    { "team_table_name", NULL, m_joined,
        "Team is Invalid and marked for delete" },
    { "team_type", NULL, m_joined,
        "Team has invalid type and is not in database" },
};

static const grist_rule_t badges[] = {
    { "person_to_delete", NULL, m_joined_deleted, "Person is deleted" },
    { "directions_ref", "directions", m_directions,
        "Broken directions_ref (AltText or invalid reference)" },
    { "name", "name", m_required, "Empty name" },
    { "diet", "diet", m_required, "Empty diet" },
    { "feed_type", "feed", m_feed, "Empty or invalid feed type" },
    { "role", "role_code", m_role, "Invalid role" },
    { "first_name", "first_name", m_text, NULL },
    { "last_name", "last_name", m_text, NULL },
    { "batch", "batch", m_int, NULL },
    { "person", "person_id", m_ref, NULL },
    { "photo_attach_id", "photo", m_photo, NULL },
    { "infant", "child", m_true_or_null, NULL },
    { "ticket", "ticket", m_true_or_null, NULL },
    { "gender", "gender", m_gender, NULL },
    { "position", "occupation", m_text, NULL },
    { "number", "number", m_text, NULL },
    { "phone", "phone", m_text, NULL },
    { "comment", "comment", m_text, NULL },
    { "UUID", "id", m_uuid, NULL },
    { "parent", "parent", m_ref, NULL },
};

static const grist_rule_t arrivals[] = {
    { "badge_delete_reson", NULL, m_feeder_deleted, "Badge marked for delete" },
    { "badge_to_delete", NULL, m_joined_deleted, "Badge is deleted" },
    { "person_to_delete", NULL, m_joined_deleted,
        "Person linked to badge is deleted" },
    { "badge", "badge_id", m_int_required, "Empty or invalid Badge" },
    { "badge_name", NULL, m_joined, "Badge marked for delete" },
    { "badge_diet", NULL, m_joined, "Badge marked for delete" },
    { "badge_feed_type", NULL, m_feed, "Badge marked for delete" },
    { "badge_role", NULL, m_role, "Badge marked for delete" },
    { "UUID", "id", m_uuid, NULL },
    { "arrival_date", "arrival_date", m_date_required, "Invalid arrival date" },
    { "departure_date", "departure_date", m_date_required,
        "Invalid departure date" },
    { "status", "status", m_status, "Invalid status" },
    { "arrival_transport", "arrival_transport", m_transport, NULL },
    { "departure_transport", "departure_transport", m_transport, NULL },
};

#define N(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* clang-format off */
const grist_entity_t grist_entities[] = {
    { "Teams", "direction",
      "SELECT * FROM Teams",
      teams, N(teams),
      "id uuid, name varchar, type varchar, first_year int, last_year int, "
      "nocode_int_id int",
      0, 0 },
    { "People", "person",
      "SELECT * FROM People",
      people, N(people),
      "id uuid, name varchar, last_name varchar, first_name varchar, "
      "nickname varchar, other_names varchar[], telegram varchar, "
      "phone varchar, email varchar, gender varchar, birth_date date, "
      "city varchar, comment varchar, banned boolean, nocode_int_id int",
      1, 0 },
    { "Participations", "participation",
      "SELECT Participations.*, People.name AS people_table_name, "
      "Teams.team_name AS team_table_name, Teams.type_of_team AS team_type "
      "FROM Participations "
      "LEFT JOIN People ON Participations.person = People.id "
      "LEFT JOIN Teams ON Participations.team = Teams.id",
      participations, N(participations),
      "id uuid, year int, role_code varchar, status_code varchar, "
      "person_id int, direction_id int, nocode_int_id int",
      1, 0 },
    { "Badges_%d", "badge",
      "SELECT %1$s.*, People.to_delete AS person_to_delete FROM %1$s "
      "LEFT JOIN People ON %1$s.person = People.id",
      badges, N(badges),
      "id uuid, name varchar, last_name varchar, first_name varchar, "
      "gender varchar, phone varchar, diet varchar, feed varchar, "
      "batch int, role_code varchar, comment varchar, occupation varchar, "
      "person_id int, photo varchar, child boolean, number varchar, "
      "ticket boolean, nocode_int_id int",
      1, 1 },
    { "Arrivals_%d", "arrival",
      "SELECT %1$s.*, Badges_%2$d.name AS badge_name, "
      "Badges_%2$d.role AS badge_role, Badges_%2$d.diet AS badge_diet, "
      "Badges_%2$d.feed_type AS badge_feed_type, "
      "Badges_%2$d.delete_reason AS badge_delete_reson, "
      "Badges_%2$d.to_delete AS badge_to_delete, "
      "People.to_delete AS person_to_delete FROM %1$s "
      "LEFT JOIN Badges_%2$d ON %1$s.badge = Badges_%2$d.id "
      "LEFT JOIN People ON Badges_%2$d.person = People.id",
      arrivals, N(arrivals),
      "id uuid, arrival_date date, departure_date date, "
      "arrival_transport varchar, departure_transport varchar, "
      "status varchar, badge_id int, nocode_int_id int",
      1, 0 },
};
/* clang-format on */

const int grist_nentities = N(grist_entities);

int
grist_map_row(const grist_entity_t *e, const cJSON *fields,
    const grist_lookups_t *lk, cJSON *out, const char **reason)
{
    const grist_rule_t *r;
    const cJSON        *v;
    int                 i;

    *reason = NULL;
    for (i = 0; i < e->nrules; i++) {
        r = &e->rules[i];
        v = cJSON_GetObjectItemCaseSensitive(fields, r->grist);
        if (r->map(r, v, lk, out) == GRIST_MAP_DEL) {
            *reason = r->reason;
            return GRIST_MAP_DEL;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(fields, "id");
    cJSON_AddNumberToObject(out, "nocode_int_id", v ? v->valuedouble : 0);

    return GRIST_MAP_OK;
}
