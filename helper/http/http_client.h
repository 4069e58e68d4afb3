/*
 * ferryd's one outbound HTTP client (S3, Mattermost, Grist, Slack): keep-alive
 * connections, retries with backoff, 429 waits,
 * bodies from memory or a file, answers kept in memory or written to a file.
 */
#ifndef FERRY_HTTP_CLIENT_H
#define FERRY_HTTP_CLIENT_H

#include <stddef.h>

/*
 * Threads: over HTTP/1.1 a call runs in its caller's thread, on that
 * thread's own easy handle kept between its calls (its keep-alive
 * connections, up to libcurl's 5 idle, stay open for its next call; libcurl
 * 7.88 does not support sharing connections between threads), and at most
 * min(max_total_connections, max_host_connections) calls run at once in the
 * whole process, the rest waiting for a slot: no hand-over to another
 * thread and back per call. With http2 each client runs one event thread
 * that drives one libcurl multi handle, which multiplexes the calls on a
 * connection; a caller hands it an easy handle through a queue and sleeps
 * on a condition variable until the transfer is done. Backoff waits happen
 * in the caller's thread, outside any slot, so a request waiting to retry
 * holds up no one else.
 */
typedef struct http_client_s http_client_t;

/* Zero means "the default" for every field. */
typedef struct {
    int max_total_connections;        /* at once, all hosts (16) */
    int max_host_connections;         /* to one host (4): concurrency cap,
                                         more requests queue for a slot
                                         (HTTP/1.1: the smaller of the two
                                         caps all calls at once) */
    int         max_idle_connections; /* kept for reuse (16; http2) */
    long        connect_timeout_ms;   /* per attempt (10 s) */
    long        timeout_ms;           /* whole attempt (300 s) */
    int         max_attempts;         /* including the first (4) */
    long        backoff_base_ms;      /* first retry waits about this (200) */
    long        backoff_cap_ms;       /* never longer than this (10 s) */
    long        max_wait_ms;          /* longest 429 wait honoured (60 s) */
    int         http2;                /* offer HTTP/2 over TLS (ALPN) */
    const char *user_agent;           /* "ferryd"; must outlive the client */
} http_client_opts_t;

#define HTTP_CLIENT_WANT_MAX 8

typedef struct {
    const char        *method;  /* "GET", "PUT", "POST", ... */
    const char        *url;     /* http:// or https:// only */
    const char *const *headers; /* "Name: value" lines, NULL-ended */

    /* the body: body_len bytes at body, or the file body_path (its size
       is taken when the call starts; re-read from the start each attempt) */
    const void *body;
    size_t      body_len;
    const char *body_path;

    /* a 2xx answer's body goes to resp_path (truncated before each
       attempt), else into resp->body, at most max_body bytes (8 MiB) */
    const char *resp_path;
    size_t      max_body;

    const char *const *want; /* answer headers to keep, NULL-ended,
                                at most HTTP_CLIENT_WANT_MAX */

    /* POST and PATCH are sent once unless the caller knows that sending
       them twice does no harm (an idempotency key, an upsert) */
    int         repeatable;
    long        timeout_ms; /* this request's (0: the client's) */
    const char *tag;        /* log tag ("http") */
} http_req_t;

typedef struct {
    long  status; /* the last answer's; 0: none came */
    char *body;   /* NUL-terminated, NULL when empty; with
                     resp_path only a non-2xx answer's body
                     (its first 16 KiB) */
    size_t body_len;
    char  *headers[HTTP_CLIENT_WANT_MAX]; /* want[i]'s value or NULL */
    int    attempts;
    long   retry_after_ms; /* a 429 given back: the wait it asked for */
} http_resp_t;

/* What http_client_request returns. */
#define HTTP_CLIENT_OK 0 /* a 2xx answer */
#define HTTP_CLIENT_ESTATUS                                                    \
    -1 /* another status, in resp->status: 4xx                                 \
          at once, 5xx and 429 once retries                                    \
          are spent, 3xx (never followed) */
#define HTTP_CLIENT_ETRANSPORT                                                 \
    -2 /* no answer (resp->status 0): refused,                                 \
          timed out, TLS, connection dropped */
#define HTTP_CLIENT_ELOCAL                                                     \
    -3 /* not sent or not kept: a bad request,                                 \
          a file error, an answer over                                         \
          max_body */

/* A client (opts may be NULL); with http2 it starts its event thread.
 * After curl_global_init(). */
http_client_t *http_client_create(
    const http_client_opts_t *opts, char *err, size_t errlen);

/* Stops it and frees every thread's handle: no request may still be in
 * flight, and every other thread that made calls must have been joined or
 * stay idle. */
void http_client_destroy(http_client_t *c);

/*
 * Sends req and waits for the answer, retrying as follows. Connection
 * errors and 5xx (not 501, 505) are retried with capped exponential backoff
 * and jitter, for GET, HEAD, PUT, DELETE, OPTIONS and repeatable requests;
 * a POST whose connection was refused or whose host did not resolve is
 * retried too (nothing was sent). A 429 is retried for every method (the
 * server did not act on it) after Retry-After or X-RateLimit-Reset, or
 * else the backoff; a wait over max_wait_ms is given back at once with
 * resp->retry_after_ms. Other statuses are never retried. Each attempt is
 * one DEBUG line; failures are the caller's to log. Returns HTTP_CLIENT_*;
 * when not OK, err says what happened. resp is always to be freed.
 */
int http_client_request(http_client_t *c, const http_req_t *req,
    http_resp_t *resp, char *err, size_t errlen);

void http_client_resp_free(http_resp_t *resp);

#endif
