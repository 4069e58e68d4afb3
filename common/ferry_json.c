/*
 * A scan of a JSON text that only follows its nesting (objects, arrays,
 * member names) and reads its strings byte by byte; numbers and literals
 * are skipped.
 */
#include "ferry_json.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ferry_utf8.h"

#define FERRY_JSON_DEPTH 32

typedef struct {
    int         object; /* 1 object, 0 array */
    const char *key;    /* the current member's name, as written */
    size_t      key_len;
    long        index; /* the current element of an array */
} ferry_json_frame_t;

static void
ferry_json_path(
    const ferry_json_frame_t *st, int depth, char *path, size_t pathlen)
{
    size_t n = 0;
    int    i, k;

    path[0] = '\0';

    for (i = 0; i < depth && i < FERRY_JSON_DEPTH && n < pathlen; i++) {
        if (st[i].object) {
            k = snprintf(path + n, pathlen - n, "%s%.*s", n ? "." : "",
                (int) st[i].key_len, st[i].key ? st[i].key : "");
        } else {
            k = snprintf(path + n, pathlen - n, "[%ld]", st[i].index);
        }

        if (k < 0) {
            break;
        }

        n += (size_t) k;
    }
}

static int
ferry_json_hex4(const char *p, const char *end, unsigned *v)
{
    int i;

    if (end - p < 4) {
        return -1;
    }

    *v = 0;

    for (i = 0; i < 4; i++) {
        char c = p[i];

        *v <<= 4;

        if (c >= '0' && c <= '9') {
            *v |= (unsigned) (c - '0');
        } else if (c >= 'a' && c <= 'f') {
            *v |= (unsigned) (c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            *v |= (unsigned) (c - 'A' + 10);
        } else {
            return -1;
        }
    }

    return 0;
}

/* Reads the string whose opening quote is at *pp; leaves *pp past its
 * closing quote. NULL when it is acceptable, else what is wrong. */
static const char *
ferry_json_string(const char **pp, const char *end)
{
    const unsigned char *p = (const unsigned char *) *pp + 1;
    const unsigned char *e = (const unsigned char *) end;
    const char          *bad = NULL;
    unsigned             u, lo;
    size_t               k;

    while (p < e && *p != '"') {
        if (*p == '\\') {
            if (p + 1 < e && p[1] == 'u') {
                if (ferry_json_hex4((const char *) p + 2, end, &u) != 0) {
                    return "a malformed \\u escape";
                }

                p += 6;

                if (u == 0 && bad == NULL) {
                    bad = "a NUL character (\\u0000)";
                } else if (u >= 0xd800 && u <= 0xdbff) {
                    if (e - p < 6 || p[0] != '\\' || p[1] != 'u'
                        || ferry_json_hex4((const char *) p + 2, end, &lo) != 0
                        || lo < 0xdc00 || lo > 0xdfff)
                    {
                        bad = bad ? bad : "an unpaired surrogate escape";
                    } else {
                        p += 6;
                    }
                } else if (u >= 0xdc00 && u <= 0xdfff && bad == NULL) {
                    bad = "an unpaired surrogate escape";
                }

                continue;
            }

            p += 2;
            continue;
        }

        /* RFC 8259 wants these escaped; cJSON takes them raw, a NUL too */
        if (*p < 0x20) {
            bad = bad ? bad : "an unescaped control character";
            p++;
            continue;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        k = ferry_utf8_char_len(p, (size_t) (e - p));
        if (k == 0) {
            bad = bad ? bad : "bytes that are not UTF-8";
            p++;
        } else {
            p += k;
        }
    }

    *pp = (const char *) (p < e ? p + 1 : p);

    return bad;
}

int
ferry_json_check_strings(
    const char *s, size_t n, char *path, size_t pathlen, const char **why)
{
    ferry_json_frame_t st[FERRY_JSON_DEPTH];
    const char        *p = s, *end = s + n, *start, *bad;
    int                depth = 0, want_key = 0;

    while (p < end) {
        switch (*p) {

        case '{':
        case '[':
            if (depth < FERRY_JSON_DEPTH) {
                st[depth].object = *p == '{';
                st[depth].key = NULL;
                st[depth].key_len = 0;
                st[depth].index = 0;
            }
            depth++;
            want_key = *p == '{';
            p++;
            break;

        case '}':
        case ']':
            depth = depth ? depth - 1 : 0;
            want_key = 0;
            p++;
            break;

        case ':':
            want_key = 0;
            p++;
            break;

        case ',':
            if (depth && depth <= FERRY_JSON_DEPTH) {
                if (st[depth - 1].object) {
                    want_key = 1;
                } else {
                    st[depth - 1].index++;
                }
            }
            p++;
            break;

        case '"':
            start = p;
            bad = ferry_json_string(&p, end);

            if (want_key && depth && depth <= FERRY_JSON_DEPTH) {
                st[depth - 1].key = start + 1;
                st[depth - 1].key_len =
                    p - start >= 2 ? (size_t) (p - start - 2) : 0;
            }

            if (bad) {
                ferry_json_path(st, depth, path, pathlen);
                *why = bad;
                return -1;
            }
            break;

        default:
            p++;
        }
    }

    return 0;
}

int
ferry_json_unique(const cJSON *item)
{
    const cJSON *a, *b;

    for (a = item ? item->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(item)) {
            for (b = a->next; b; b = b->next) {
                if (strcmp(a->string, b->string) == 0) {
                    return 0;
                }
            }
        }

        if (!ferry_json_unique(a)) {
            return 0;
        }
    }

    return 1;
}

const char *
ferry_json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

long
ferry_json_long(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    double       d = cJSON_IsNumber(v) ? v->valuedouble : 0;

    /* a cast of a double out of long's range is undefined: clamp */
    if (!(d > (double) LONG_MIN)) {
        return d < 0 ? LONG_MIN : 0;
    }
    if (d >= (double) LONG_MAX) {
        return LONG_MAX;
    }

    return (long) d;
}
