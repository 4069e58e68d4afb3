/*
 * Checks on JSON texts that cJSON lets through: strings that are not
 * UTF-8 or hold U+0000 (cJSON would cut the string there, so "secret\u0000x"
 * reads as "secret"), and objects that repeat a member (cJSON returns the
 * first, another parser the last). Pure C, used by ferryd's request frames
 * and by the JWT reader on both sides.
 */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define FERRY_JSON_PATH_MAX 128

/*
 * Looks at every string of the JSON text at s (member names and values):
 * each must be well-formed UTF-8, hold no \u0000, no unescaped control
 * character (a raw NUL among them) and no unpaired surrogate escape. 0 when
 * they do; -1 when one does not, with its place written to path
 * ("body.password", "items[2]") and what is wrong in *why. The text is not
 * otherwise validated: parse it as well.
 */
int ferry_json_check_strings(
    const char *s, size_t n, char *path, size_t pathlen, const char **why);

/* 1 when no object in the tree repeats a member name, else 0. */
int ferry_json_unique(const cJSON *item);

/* Member name of o (which may be NULL) when it is a non-empty string, else
 * NULL. */
const char *ferry_json_str(const cJSON *o, const char *name);

/* Member name of o (which may be NULL) when it is a number, truncated to a
 * long (clamped to long's range), else 0. */
long ferry_json_long(const cJSON *o, const char *name);

#endif
