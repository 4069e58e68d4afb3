/*
 * A response to one request frame: status, headers, body, and its encoding
 * into a response frame (JSON head + raw body).
 */
#ifndef FERRY_RESPONSE_H
#define FERRY_RESPONSE_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define RESP_MAX_HEADERS 8

typedef struct {
    int    status;
    char  *names[RESP_MAX_HEADERS];
    char  *values[RESP_MAX_HEADERS];
    int    nheaders;
    char  *body;
    size_t body_len;
    int    close; /* close the connection once this is sent */
} resp_t;

void resp_init(resp_t *r);
void resp_free(resp_t *r);

int resp_header(resp_t *r, const char *name, const char *value);

/* Sets status and the JSON body; takes ownership of json. */
void resp_json(resp_t *r, int status, cJSON *json);

/* {"error": message} */
void resp_error(resp_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 500 {"error": "internal error"}, once what went wrong is logged at ERROR
 * under tag: the client learns nothing of ferryd's insides. */
void resp_internal_error(resp_t *r, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* {"error": message, "field": field}: a request field is wrong or missing */
void resp_field_error(
    resp_t *r, int status, const char *field, const char *msg);

/* The whole frame, malloc'ed: length prefix, head, body. 0 or -1. */
int resp_frame(const resp_t *r, unsigned char **out, size_t *outlen);

#endif
