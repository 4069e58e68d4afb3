/*
 * One mapping table per synced Grist table: the /sql query with the
 * original's joins, and for each column the rule that maps and validates
 * it into its PostgreSQL column, in the order the original checks them,
 * with the original's delete reasons verbatim.
 */
#ifndef FERRY_GRIST_MAP_H
#define FERRY_GRIST_MAP_H

#include <cjson/cJSON.h>

/* What the lookup tables say, loaded at the start of each cycle. */
typedef struct {
    cJSON *roles;           /* {"<Roles row id>": "<Code>"} */
    cJSON *statuses;        /* {"<Participation_statuses row id>": "<code>"} */
    cJSON *transports;      /* {"<Arrival_type row id>": "<code>"}, codes
                               transport_type knows */
    cJSON *dir_types;       /* {"<direction_type.name>": true} */
    char   photo_url[1024]; /* "<server>/api/docs/<doc>/attachments/" */
} grist_lookups_t;

typedef struct grist_rule_s grist_rule_t;

typedef int (*grist_rule_pt)(const grist_rule_t *rule, const cJSON *value,
    const grist_lookups_t *lk, cJSON *out);

/* A rule's outcome. */
#define GRIST_MAP_OK  0
#define GRIST_MAP_DEL 1 /* the row is invalid: rule->reason */

struct grist_rule_s {
    const char   *grist; /* the /sql answer's column */
    const char   *pg;    /* the value's name in out; NULL: checked only */
    grist_rule_pt map;
    const char   *reason; /* the delete reason, verbatim */
};

typedef struct {
    const char *id;       /* "Teams", "Badges_%d" (with GRIST_YEAR) */
    const char *pg_table; /* "direction" */
    const char *select;   /* the query, %1$s the table id, %2$d
                             the year */
    const grist_rule_t *rules;
    int                 nrules;
    const char         *columns; /* jsonb_to_recordset's column list */
    int                 has_delete_reason; /* Teams has none */
    int                 directions;        /* Badges: directions_ref and
                                              parent follow the rows */
} grist_entity_t;

/* The synced tables in dependency order. */
extern const grist_entity_t grist_entities[];
extern const int            grist_nentities;

/*
 * Maps one /sql record's fields into out (PostgreSQL column -> JSON value,
 * with nocode_int_id, and for badges "directions" and "parent"). Returns
 * GRIST_MAP_OK, or GRIST_MAP_DEL with *reason set to the first failed
 * rule's.
 */
int grist_map_row(const grist_entity_t *e, const cJSON *fields,
    const grist_lookups_t *lk, cJSON *out, const char **reason);

/* A Grist cell as the original tests it: NULL, false, 0 and "" are not
 * set. */
int grist_truthy(const cJSON *v);

/* A Grist UUID (32 hex digits, or dashed) as a dashed lowercase uuid in
 * out[37]; 0, or -1 when it is not one. */
int grist_uuid_norm(const char *s, char out[37]);

#endif
