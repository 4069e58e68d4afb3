/*
 * A top-level JSON array read element by element from a stream: the bytes
 * are fed in chunks of any size, and each whole element is handed over as
 * its text, so that a 100 MB users.json needs memory for one user only.
 */
#ifndef FERRY_SLACK_JSON_H
#define FERRY_SLACK_JSON_H

#include <stddef.h>

/* one element's text; return 0 to go on, anything else stops the feed */
typedef int (*slack_json_element_pt)(void *data, const char *s, size_t n);

typedef struct {
    slack_json_element_pt on_element;
    void                 *data;
    size_t                max_element; /* a longer element is an error */

    char  *buf; /* the element being read */
    size_t len;
    size_t cap;

    int         state;
    int         depth; /* inside the element */
    int         in_string;
    int         escape;
    long        elements;
    const char *err;
} slack_json_t;

void slack_json_init(slack_json_t *j, size_t max_element,
    slack_json_element_pt on_element, void *data);
void slack_json_free(slack_json_t *j);

/* 0; a callback's non-zero result; or -1 with j->err set */
int slack_json_feed(slack_json_t *j, const char *p, size_t n);

/* The stream ended: 0 when the array was closed, else -1 with j->err. */
int slack_json_finish(slack_json_t *j);

#endif
