/*
 * The splitter only follows strings and nesting to find where an element
 * ends; each element is then parsed whole by cJSON, which checks it.
 */
#include "slack_json.h"

#include <stdlib.h>
#include <string.h>

enum {
    SLACK_JSON_START = 0, /* before '[' */
    SLACK_JSON_VALUE,     /* before an element or ']' */
    SLACK_JSON_ELEMENT,   /* inside an element */
    SLACK_JSON_COMMA,     /* after an element: ',' or ']' */
    SLACK_JSON_END        /* after ']' */
};

void
slack_json_init(slack_json_t *j, size_t max_element,
    slack_json_element_pt on_element, void *data)
{
    memset(j, 0, sizeof(*j));
    j->max_element = max_element;
    j->on_element = on_element;
    j->data = data;
}

void
slack_json_free(slack_json_t *j)
{
    free(j->buf);
    j->buf = NULL;
}

static int
slack_json_fail(slack_json_t *j, const char *err)
{
    j->err = err;
    return -1;
}

static int
slack_json_keep(slack_json_t *j, const char *p, size_t n)
{
    char  *b;
    size_t cap;

    if (n == 0) {
        return 0;
    }

    if (j->len + n > j->max_element) {
        return slack_json_fail(j, "an element is too large");
    }

    if (j->len + n > j->cap) {
        for (cap = j->cap ? j->cap : 4096; cap < j->len + n; cap *= 2) {
            /* void */
        }
        b = realloc(j->buf, cap);
        if (b == NULL) {
            return slack_json_fail(j, "out of memory");
        }
        j->buf = b;
        j->cap = cap;
    }

    memcpy(j->buf + j->len, p, n);
    j->len += n;

    return 0;
}

/* The element in buf is whole: hand it over. */
static int
slack_json_element(slack_json_t *j)
{
    int rc;

    /* a scalar element ends at the delimiter: trailing blanks go */
    while (j->len && strchr(" \t\r\n", j->buf[j->len - 1])) {
        j->len--;
    }

    j->elements++;
    rc = j->on_element(j->data, j->buf, j->len);
    j->len = 0;
    j->state = SLACK_JSON_COMMA;

    return rc;
}

int
slack_json_feed(slack_json_t *j, const char *p, size_t n)
{
    const char *end = p + n, *start;
    char        c;
    int         rc;

    while (p < end) {
        switch (j->state) {

        case SLACK_JSON_START:
        case SLACK_JSON_VALUE:
        case SLACK_JSON_COMMA:
        case SLACK_JSON_END:
            c = *p++;

            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                continue;
            }

            if (j->state == SLACK_JSON_START) {
                if (c != '[') {
                    return slack_json_fail(j, "not a JSON array");
                }
                j->state = SLACK_JSON_VALUE;
                continue;
            }

            if (j->state == SLACK_JSON_END) {
                return slack_json_fail(j, "text after the array");
            }

            if (c == ']' && (j->state == SLACK_JSON_COMMA || j->elements == 0))
            {
                j->state = SLACK_JSON_END;
                continue;
            }

            if (j->state == SLACK_JSON_COMMA) {
                if (c != ',') {
                    return slack_json_fail(j, "expected , or ] in the array");
                }
                j->state = SLACK_JSON_VALUE;
                continue;
            }

            if (c == ',' || c == ']') {
                return slack_json_fail(j, "an empty element in the array");
            }

            /* the first byte of an element */
            p--;
            j->state = SLACK_JSON_ELEMENT;
            j->depth = 0;
            j->in_string = 0;
            j->escape = 0;
            continue;

        default: /* SLACK_JSON_ELEMENT */
            break;
        }

        start = p;

        while (p < end) {
            c = *p;

            if (j->in_string) {
                if (j->escape) {
                    j->escape = 0;
                } else if (c == '\\') {
                    j->escape = 1;
                } else if (c == '"') {
                    j->in_string = 0;
                }
                p++;
                continue;
            }

            if (c == '"') {
                j->in_string = 1;
            } else if (c == '{' || c == '[') {
                j->depth++;
            } else if (c == '}' || c == ']') {
                if (j->depth == 0) {
                    if (c == '}') {
                        return slack_json_fail(
                            j, "an unbalanced } in the array");
                    }
                    /* the array's own ']' after a scalar element */
                    break;
                }
                j->depth--;
                if (j->depth == 0) {
                    p++;
                    break;
                }
            } else if (c == ',' && j->depth == 0) {
                break;
            }

            p++;
        }

        if (slack_json_keep(j, start, (size_t) (p - start)) != 0) {
            return -1;
        }

        /* a container closed, or a scalar reached its delimiter */
        if (p < end && !j->in_string && j->depth == 0) {
            rc = slack_json_element(j);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}

int
slack_json_finish(slack_json_t *j)
{
    if (j->state != SLACK_JSON_END) {
        return slack_json_fail(j, "the array is not closed");
    }

    return 0;
}
