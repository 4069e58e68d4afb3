/*
 * The outbound HTTP client against a scripted peer on 127.0.0.1: a small
 * thread-per-connection HTTP/1.1 server that answers request n with step n
 * of its script (the last step repeats), can drop a connection or send half
 * a body, and counts connections, requests and requests in progress.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "core/log.h"
#include "http/http_client.h"

#define PEER_KEEP  16 /* request lines and bodies remembered */
#define PEER_CONNS 64

typedef struct {
    int         status;  /* 0: drop the connection without an answer */
    const char *headers; /* extra lines, each ending in "\r\n" */
    const char *body;
    size_t      body_len; /* 0: strlen(body) */
    int         partial;  /* send half the body, then drop */
    int         delay_ms;
} step_t;

typedef struct {
    int             fd;
    int             port;
    pthread_t       acceptor;
    pthread_mutex_t lock;
    const step_t   *script;
    int             nsteps;

    int    accepted;
    int    requests;
    int    active;
    int    max_active;
    char   line[PEER_KEEP][256];
    char  *body[PEER_KEEP];
    size_t body_len[PEER_KEEP];

    int       conn[PEER_CONNS];
    pthread_t thread[PEER_CONNS];
} peer_t;

typedef struct {
    peer_t *p;
    int     fd;
} conn_arg_t;

static const http_client_opts_t FAST = {
    .max_host_connections = 2,
    .connect_timeout_ms = 2000,
    .timeout_ms = 5000,
    .max_attempts = 3,
    .backoff_base_ms = 10,
    .backoff_cap_ms = 40,
    .max_wait_ms = 5000,
};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void
send_all(int fd, const char *p, size_t n)
{
    ssize_t k;

    while (n > 0 && (k = send(fd, p, n, MSG_NOSIGNAL)) > 0) {
        p += k;
        n -= (size_t) k;
    }
}

/* Reads one request into buf; its length, or 0 at EOF. */
static size_t
peer_read_request(int fd, char *buf, size_t size, char **body, size_t *body_len)
{
    size_t  have = 0, want;
    ssize_t k;
    char   *end, *cl;

    while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
        k = recv(fd, buf + have, size - have - 1, 0);
        if (k <= 0) {
            return 0;
        }
        have += (size_t) k;
    }
    buf[have] = '\0';

    *end = '\0';
    cl = strcasestr(buf, "\r\nContent-Length:");
    want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    *body = malloc(want + 1);
    *body_len = have - (size_t) (end + 4 - buf);
    memcpy(*body, end + 4, *body_len);

    while (*body_len < want
        && (k = recv(fd, *body + *body_len, want - *body_len, 0)) > 0)
    {
        *body_len += (size_t) k;
    }

    return have;
}

static void *
peer_conn(void *arg)
{
    conn_arg_t    a = *(conn_arg_t *) arg;
    peer_t       *p = a.p;
    const step_t *s;
    char          buf[16384], head[1024], *body;
    size_t        body_len, len;
    int           n;

    free(arg);

    while (peer_read_request(a.fd, buf, sizeof(buf), &body, &body_len)) {
        pthread_mutex_lock(&p->lock);
        n = p->requests++;
        s = &p->script[n < p->nsteps ? n : p->nsteps - 1];
        if (n < PEER_KEEP) {
            snprintf(p->line[n], sizeof(p->line[n]), "%.*s",
                (int) strcspn(buf, "\r"), buf);
            p->body[n] = body;
            p->body_len[n] = body_len;
        } else {
            free(body);
        }
        if (++p->active > p->max_active) {
            p->max_active = p->active;
        }
        pthread_mutex_unlock(&p->lock);

        sleep_ms(s->delay_ms);

        pthread_mutex_lock(&p->lock);
        p->active--;
        pthread_mutex_unlock(&p->lock);

        if (s->status == 0) {
            break;
        }

        len = s->body ? (s->body_len ? s->body_len : strlen(s->body)) : 0;
        snprintf(head, sizeof(head),
            "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n%s\r\n", s->status,
            len, s->headers ? s->headers : "");
        send_all(a.fd, head, strlen(head));
        send_all(a.fd, s->body, s->partial ? len / 2 : len);
        if (s->partial) {
            break;
        }
    }

    /* closed by peer_stop, so a slot is never reused while still listed */
    shutdown(a.fd, SHUT_RDWR);
    return NULL;
}

static void *
peer_accept(void *arg)
{
    peer_t     *p = arg;
    conn_arg_t *a;
    int         fd;

    while ((fd = accept(p->fd, NULL, NULL)) >= 0) {
        pthread_mutex_lock(&p->lock);
        if (p->accepted == PEER_CONNS) {
            pthread_mutex_unlock(&p->lock);
            close(fd);
            continue;
        }
        a = malloc(sizeof(*a));
        a->p = p;
        a->fd = fd;
        p->conn[p->accepted] = fd;
        pthread_create(&p->thread[p->accepted], NULL, peer_conn, a);
        p->accepted++;
        pthread_mutex_unlock(&p->lock);
    }

    return NULL;
}

/* A listening socket on 127.0.0.1 and a free port; its fd. */
static int
listen_any(int backlog, int *port)
{
    struct sockaddr_in sa;
    socklen_t          len = sizeof(sa);
    int                fd, on = 1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    getsockname(fd, (struct sockaddr *) &sa, &len);
    *port = ntohs(sa.sin_port);

    return fd;
}

static void
peer_start(peer_t *p, const step_t *script, int nsteps)
{
    memset(p, 0, sizeof(*p));
    p->script = script;
    p->nsteps = nsteps;
    pthread_mutex_init(&p->lock, NULL);
    p->fd = listen_any(64, &p->port);
    pthread_create(&p->acceptor, NULL, peer_accept, p);
}

static void
peer_stop(peer_t *p)
{
    int i;

    shutdown(p->fd, SHUT_RDWR);
    pthread_join(p->acceptor, NULL);
    close(p->fd);

    for (i = 0; i < p->accepted; i++) {
        shutdown(p->conn[i], SHUT_RDWR);
        pthread_join(p->thread[i], NULL);
        close(p->conn[i]);
    }
    for (i = 0; i < PEER_KEEP; i++) {
        free(p->body[i]);
    }
    pthread_mutex_destroy(&p->lock);
}

static const char *
peer_url(const peer_t *p, const char *path)
{
    static char url[256];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", p->port, path);
    return url;
}

static http_client_t *
client(const http_client_opts_t *o)
{
    char           err[256];
    http_client_t *c = http_client_create(o, err, sizeof(err));

    assert_non_null(c);
    return c;
}

/* One request with the given method and URL, the rest from req (or none). */
static int
call(http_client_t *c, const char *method, const char *url, http_req_t *req,
    http_resp_t *resp, char *err)
{
    http_req_t r;

    memset(&r, 0, sizeof(r));
    if (req != NULL) {
        r = *req;
    }
    r.method = method;
    r.url = url;

    return http_client_request(c, &r, resp, err, 256);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long  n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    b = malloc((size_t) n + 1);
    *len = fread(b, 1, (size_t) n, f);
    fclose(f);

    return b;
}

static char *
pattern(size_t n)
{
    char  *b = malloc(n);
    size_t i;

    for (i = 0; i < n; i++) {
        b[i] = (char) ((i * 7919) >> 3);
    }
    return b;
}

static void
test_http_get_200_with_body_and_wanted_header(void **state)
{
    static const step_t s[] = {
        { 200, "X-Thing: yes\r\nX-Other: no\r\n", "hello", 0, 0, 0 },
    };
    static const char *const want[] = { "x-thing", "Retry-After", NULL };
    http_req_t               req = { .want = want };
    http_resp_t              resp;
    http_client_t           *c;
    peer_t                   p;
    char                     err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/hello"), &req, &resp, err),
        HTTP_CLIENT_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 5);
    assert_string_equal(resp.body, "hello");
    assert_int_equal(resp.attempts, 1);
    assert_string_equal(resp.headers[0], "yes");
    assert_null(resp.headers[1]);
    assert_string_equal(p.line[0], "GET /hello HTTP/1.1");

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_keepalive_two_requests_one_connection(void **state)
{
    static const step_t s[] = { { 200, NULL, "ok", 0, 0, 0 } };
    http_resp_t         resp;
    http_client_t      *c;
    peer_t              p;
    char                err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(
        call(c, "GET", peer_url(&p, "/a"), NULL, &resp, err), HTTP_CLIENT_OK);
    http_client_resp_free(&resp);
    assert_int_equal(
        call(c, "GET", peer_url(&p, "/b"), NULL, &resp, err), HTTP_CLIENT_OK);
    http_client_resp_free(&resp);

    assert_int_equal(p.requests, 2);
    assert_int_equal(p.accepted, 1);

    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_503_then_200_is_retried_and_logged_per_attempt(void **state)
{
    static const step_t s[] = {
        { 503, NULL, "busy", 0, 0, 0 },
        { 200, NULL, "ok", 0, 0, 0 },
    };
    char           log[] = "/tmp/test_http_client_log.XXXXXX", want[128];
    char          *text, err[256];
    size_t         len;
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    int            fd;

    (void) state;
    peer_start(&p, s, 2);
    c = client(&FAST);
    fd = mkstemp(log);
    close(fd);
    assert_int_equal(log_open(log), 0);
    log_level = log_level_parse("debug");

    assert_int_equal(
        call(c, "GET", peer_url(&p, "/retry?token=secret"), NULL, &resp, err),
        HTTP_CLIENT_OK);

    log_level = log_level_parse("info");
    log_close();

    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(p.requests, 2);
    assert_string_equal(resp.body, "ok");

    text = slurp(log, &len);
    text[len] = '\0';
    snprintf(
        want, sizeof(want), "[http] GET 127.0.0.1:%d/retry: 503 in ", p.port);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(strstr(text, want), " ms, attempt 1\n"));
    snprintf(
        want, sizeof(want), "[http] GET 127.0.0.1:%d/retry: 200 in ", p.port);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(strstr(text, want), " ms, attempt 2\n"));
    assert_non_null(strstr(text, "DEBUG"));
    assert_null(strstr(text, "secret"));
    free(text);
    unlink(log);

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_5xx_forever_gives_up_with_the_status(void **state)
{
    static const step_t s[] = { { 500, NULL, "broken", 0, 0, 0 } };
    http_resp_t         resp;
    http_client_t      *c;
    peer_t              p;
    char                err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/x"), NULL, &resp, err),
        HTTP_CLIENT_ESTATUS);
    assert_int_equal(resp.status, 500);
    assert_int_equal(resp.attempts, FAST.max_attempts);
    assert_int_equal(p.requests, FAST.max_attempts);
    assert_non_null(strstr(err, "HTTP 500 (3 attempts)"));
    assert_string_equal(resp.body, "broken");

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

/* A 429 with header h, then 200: the call takes at least min_ms from t0. */
static void
expect_429_wait(const char *h, double t0, double min_ms)
{
    step_t s[] = {
        { 429, h, "slow down", 0, 0, 0 },
        { 200, NULL, "ok", 0, 0, 0 },
    };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    char           err[256];

    peer_start(&p, s, 2);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/limited"), NULL, &resp, err),
        HTTP_CLIENT_OK);
    assert_true(now_ms() - t0 >= min_ms);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(p.requests, 2);

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_429_retry_after_seconds_is_waited(void **state)
{
    (void) state;
    expect_429_wait("Retry-After: 1\r\n", now_ms(), 1000);
}

/* The date is taken (whole seconds) after t0, two seconds ahead: whatever
   the rounding, honouring it ends more than a second after t0. */
static void
test_http_429_retry_after_http_date_is_waited(void **state)
{
    char      h[128];
    double    t0 = now_ms();
    time_t    t = time(NULL) + 2;
    struct tm tm;

    (void) state;
    gmtime_r(&t, &tm);
    strftime(h, sizeof(h), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    expect_429_wait(h, t0, 1000);
}

static void
test_http_429_x_ratelimit_reset_seconds_as_mattermost_sends(void **state)
{
    (void) state;
    expect_429_wait("X-RateLimit-Reset: 1\r\n", now_ms(), 1000);
}

static void
test_http_429_x_ratelimit_reset_epoch(void **state)
{
    char   h[128];
    double t0 = now_ms();

    (void) state;
    snprintf(h, sizeof(h), "X-RateLimit-Reset: %lld\r\n",
        (long long) time(NULL) + 2);
    expect_429_wait(h, t0, 1000);
}

static void
test_http_429_longer_than_max_wait_is_given_back(void **state)
{
    static const step_t s[] = {
        { 429, "Retry-After: 3600\r\n", "later", 0, 0, 0 },
    };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    char           err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/x"), NULL, &resp, err),
        HTTP_CLIENT_ESTATUS);
    assert_int_equal(resp.status, 429);
    assert_int_equal(resp.attempts, 1);
    assert_int_equal(resp.retry_after_ms, 3600 * 1000L);
    assert_int_equal(p.requests, 1);

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_404_is_not_retried(void **state)
{
    static const step_t s[] = { { 404, NULL, "no such thing", 0, 0, 0 } };
    http_resp_t         resp;
    http_client_t      *c;
    peer_t              p;
    char                err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/x"), NULL, &resp, err),
        HTTP_CLIENT_ESTATUS);
    assert_int_equal(resp.status, 404);
    assert_int_equal(resp.attempts, 1);
    assert_int_equal(p.requests, 1);
    assert_string_equal(resp.body, "no such thing");

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_dropped_connection_is_retried(void **state)
{
    static const step_t s[] = {
        { 0, NULL, NULL, 0, 0, 0 },
        { 200, NULL, "ok", 0, 0, 0 },
    };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    char           err[256];

    (void) state;
    peer_start(&p, s, 2);
    c = client(&FAST);

    assert_int_equal(
        call(c, "GET", peer_url(&p, "/x"), NULL, &resp, err), HTTP_CLIENT_OK);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(p.requests, 2);
    assert_int_equal(p.accepted, 2);

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_post_is_retried_only_when_repeatable(void **state)
{
    static const step_t s[] = { { 503, NULL, "busy", 0, 0, 0 } };
    http_req_t          req = { .body = "{}", .body_len = 2 };
    http_resp_t         resp;
    http_client_t      *c;
    peer_t              p;
    char                err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "POST", peer_url(&p, "/posts"), &req, &resp, err),
        HTTP_CLIENT_ESTATUS);
    assert_int_equal(resp.attempts, 1);
    assert_int_equal(p.requests, 1);
    assert_string_equal(p.line[0], "POST /posts HTTP/1.1");
    http_client_resp_free(&resp);

    req.repeatable = 1;
    assert_int_equal(call(c, "POST", peer_url(&p, "/posts"), &req, &resp, err),
        HTTP_CLIENT_ESTATUS);
    assert_int_equal(resp.attempts, FAST.max_attempts);
    assert_int_equal(p.requests, 1 + FAST.max_attempts);
    http_client_resp_free(&resp);

    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_post_429_is_retried(void **state)
{
    static const step_t s[] = {
        { 429, "Retry-After: 0\r\n", NULL, 0, 0, 0 },
        { 201, NULL, "made", 0, 0, 0 },
    };
    http_req_t     req = { .body = "{}", .body_len = 2 };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    char           err[256];

    (void) state;
    peer_start(&p, s, 2);
    c = client(&FAST);

    assert_int_equal(call(c, "POST", peer_url(&p, "/posts"), &req, &resp, err),
        HTTP_CLIENT_OK);
    assert_int_equal(resp.status, 201);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(p.requests, 2);

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

static void
test_http_body_from_file_arrives_intact_and_again_on_retry(void **state)
{
    static const step_t s[] = {
        { 503, NULL, NULL, 0, 0, 0 },
        { 201, NULL, NULL, 0, 0, 0 },
    };
    char           path[] = "/tmp/test_http_client_body.XXXXXX", err[256];
    size_t         n = 300 * 1000 + 7;
    char          *data = pattern(n);
    http_req_t     req = { .body_path = path };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    int            fd, i;

    (void) state;
    fd = mkstemp(path);
    assert_int_equal(write(fd, data, n), (ssize_t) n);
    close(fd);
    peer_start(&p, s, 2);
    c = client(&FAST);

    assert_int_equal(
        call(c, "PUT", peer_url(&p, "/bucket/key"), &req, &resp, err),
        HTTP_CLIENT_OK);
    assert_int_equal(resp.status, 201);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(p.requests, 2);
    for (i = 0; i < 2; i++) {
        assert_string_equal(p.line[i], "PUT /bucket/key HTTP/1.1");
        assert_int_equal(p.body_len[i], n);
        assert_memory_equal(p.body[i], data, n);
    }

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
    unlink(path);
    free(data);
}

/* The first answer breaks off after more bytes than the whole second one
   has, so only a truncated file ends up the right size. */
static void
test_http_answer_to_file_truncated_on_retry(void **state)
{
    size_t n = 200 * 1000 + 3, len;
    char  *data = pattern(3 * n), *got;
    step_t s[] = {
        { 200, NULL, data + n, 2 * n + 2, 1, 0 },
        { 200, NULL, data, n, 0, 0 },
    };
    char           path[] = "/tmp/test_http_client_out.XXXXXX", err[256];
    http_req_t     req = { .resp_path = path };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;

    (void) state;
    close(mkstemp(path));
    peer_start(&p, s, 2);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/file"), &req, &resp, err),
        HTTP_CLIENT_OK);
    assert_int_equal(resp.attempts, 2);
    assert_null(resp.body);
    got = slurp(path, &len);
    assert_int_equal(len, n);
    assert_memory_equal(got, data, n);

    free(got);
    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
    unlink(path);
    free(data);
}

static void
test_http_error_answer_kept_in_memory_not_in_file(void **state)
{
    static const step_t s[] = { { 403, NULL, "denied", 0, 0, 0 } };
    char                path[] = "/tmp/test_http_client_out.XXXXXX", err[256];
    char               *got;
    size_t              len;
    http_req_t          req = { .resp_path = path };
    http_resp_t         resp;
    http_client_t      *c;
    peer_t              p;

    (void) state;
    close(mkstemp(path));
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/file"), &req, &resp, err),
        HTTP_CLIENT_ESTATUS);
    assert_int_equal(resp.status, 403);
    assert_string_equal(resp.body, "denied");
    got = slurp(path, &len);
    assert_int_equal(len, 0);

    free(got);
    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
    unlink(path);
}

static void
test_http_answer_over_max_body_is_a_local_error(void **state)
{
    static const step_t s[] = {
        { 200, NULL, "0123456789abcdef", 0, 0, 0 },
    };
    http_req_t     req = { .max_body = 10 };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    char           err[256];

    (void) state;
    peer_start(&p, s, 1);
    c = client(&FAST);

    assert_int_equal(call(c, "GET", peer_url(&p, "/big"), &req, &resp, err),
        HTTP_CLIENT_ELOCAL);
    assert_int_equal(resp.attempts, 1);
    assert_non_null(strstr(err, "over 10 bytes"));

    http_client_resp_free(&resp);
    http_client_destroy(c);
    peer_stop(&p);
}

/* One thread's calls on its one handle, each as if on a fresh one: an
 * upload from a file, then a GET (no body sent, its answer whole); an
 * answer over max_body (its connection dropped), then a GET (a new
 * connection, its answer whole). */
static void
test_http_calls_on_one_threads_handle_leave_nothing_behind(void **state)
{
    static const step_t s[] = {
        { 201, NULL, "", 0, 0, 0 },
        { 200, NULL, "abc", 0, 0, 0 },
        { 200, NULL, "0123456789abcdef", 0, 0, 0 },
        { 200, NULL, "ok", 0, 0, 0 },
    };
    char           path[] = "/tmp/ferry-http-XXXXXX", err[256];
    http_req_t     put = { .body_path = path }, big = { .max_body = 10 };
    http_resp_t    resp;
    http_client_t *c;
    peer_t         p;
    int            fd;

    (void) state;
    fd = mkstemp(path);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);
    peer_start(&p, s, 4);
    c = client(&FAST);

    assert_int_equal(
        call(c, "PUT", peer_url(&p, "/k"), &put, &resp, err), HTTP_CLIENT_OK);
    http_client_resp_free(&resp);
    assert_int_equal(
        call(c, "GET", peer_url(&p, "/a"), NULL, &resp, err), HTTP_CLIENT_OK);
    assert_int_equal(resp.body_len, 3);
    assert_memory_equal(resp.body, "abc", 3);
    http_client_resp_free(&resp);
    assert_int_equal(call(c, "GET", peer_url(&p, "/big"), &big, &resp, err),
        HTTP_CLIENT_ELOCAL);
    http_client_resp_free(&resp);
    assert_int_equal(
        call(c, "GET", peer_url(&p, "/b"), NULL, &resp, err), HTTP_CLIENT_OK);
    assert_int_equal(resp.body_len, 2);
    assert_memory_equal(resp.body, "ok", 2);
    http_client_resp_free(&resp);

    assert_int_equal(p.requests, 4);
    assert_string_equal(p.line[0], "PUT /k HTTP/1.1");
    assert_int_equal(p.body_len[0], 10);
    assert_string_equal(p.line[1], "GET /a HTTP/1.1");
    assert_int_equal(p.body_len[1], 0);
    assert_string_equal(p.line[3], "GET /b HTTP/1.1");
    /* the PUT's connection kept for the GET; the aborted one not reused */
    assert_int_equal(p.accepted, 2);

    http_client_destroy(c);
    peer_stop(&p);
    unlink(path);
}

static void
test_http_closed_port_is_a_transport_error(void **state)
{
    http_resp_t    resp;
    http_client_t *c;
    char           url[64], err[256];
    int            port;

    (void) state;
    close(listen_any(1, &port));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    c = client(&FAST);

    assert_int_equal(
        call(c, "GET", url, NULL, &resp, err), HTTP_CLIENT_ETRANSPORT);
    assert_int_equal(resp.status, 0);
    assert_int_equal(resp.attempts, FAST.max_attempts);
    assert_non_null(strstr(err, "onnect"));

    http_client_resp_free(&resp);
    http_client_destroy(c);
}

/* A listener whose accept queue is full drops SYNs: connect hangs. */
static void
test_http_connect_timeout_is_a_transport_error(void **state)
{
    http_client_opts_t o = FAST;
    struct sockaddr_in sa;
    http_resp_t        resp;
    http_client_t     *c;
    char               url[64], err[256];
    double             t0;
    int                lfd, port, fill[2], i;

    (void) state;
    lfd = listen_any(0, &port);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    for (i = 0; i < 2; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *) &sa, sizeof(sa));
    }
    sleep_ms(50);

    o.connect_timeout_ms = 300;
    o.max_attempts = 1;
    c = client(&o);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);

    t0 = now_ms();
    assert_int_equal(
        call(c, "GET", url, NULL, &resp, err), HTTP_CLIENT_ETRANSPORT);
    /* libcurl counts whole milliseconds: its timer may fire one early */
    assert_true(now_ms() - t0 >= 290);
    assert_int_equal(resp.status, 0);
    /* libcurl words it "Connection timeout after 300 ms" when its own
     * connect timer fires, "... Timeout was reached" when the socket's
     * wait does: both are the connect timeout */
    assert_true(strstr(err, "Timeout") != NULL
        || strstr(err, "Connection timeout") != NULL);

    http_client_resp_free(&resp);
    http_client_destroy(c);
    for (i = 0; i < 2; i++) {
        close(fill[i]);
    }
    close(lfd);
}

typedef struct {
    http_client_t *c;
    const char    *url;
    int            ok;
} worker_t;

static void *
worker(void *arg)
{
    worker_t   *w = arg;
    http_resp_t resp;
    char        err[256];
    int         i;

    for (i = 0; i < 3; i++) {
        if (call(w->c, "GET", w->url, NULL, &resp, err) == HTTP_CLIENT_OK
            && resp.status == 200 && strcmp(resp.body, "ok") == 0)
        {
            w->ok++;
        }
        http_client_resp_free(&resp);
    }

    return NULL;
}

/* Four threads, three calls each, two at a time at most: at most conns
 * connections opened for the twelve. */
static void
four_threads(const http_client_opts_t *o, int conns)
{
    static const step_t s[] = { { 200, NULL, "ok", 0, 0, 100 } };
    char                url[256];
    pthread_t           t[4];
    worker_t            w[4];
    http_client_t      *c;
    peer_t              p;
    int                 i;

    peer_start(&p, s, 1);
    c = client(o);
    snprintf(url, sizeof(url), "%s", peer_url(&p, "/slow"));

    for (i = 0; i < 4; i++) {
        w[i].c = c;
        w[i].url = url;
        w[i].ok = 0;
        pthread_create(&t[i], NULL, worker, &w[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 3);
    }

    assert_int_equal(p.requests, 12);
    assert_int_equal(p.max_active, o->max_host_connections);
    assert_true(p.accepted <= conns);

    http_client_destroy(c);
    peer_stop(&p);
}

/* HTTP/1.1: each thread keeps its own connection for its next call */
static void
test_http_four_threads_keep_their_connections_within_the_limit(void **state)
{
    (void) state;
    four_threads(&FAST, 4);
}

/* the event thread (http2; cleartext falls back to HTTP/1.1): one pool */
static void
test_http_four_threads_share_the_event_threads_pool(void **state)
{
    http_client_opts_t o = FAST;

    (void) state;
    o.http2 = 1;
    four_threads(&o, o.max_host_connections);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_get_200_with_body_and_wanted_header),
        cmocka_unit_test(test_http_keepalive_two_requests_one_connection),
        cmocka_unit_test(
            test_http_503_then_200_is_retried_and_logged_per_attempt),
        cmocka_unit_test(test_http_5xx_forever_gives_up_with_the_status),
        cmocka_unit_test(test_http_429_retry_after_seconds_is_waited),
        cmocka_unit_test(test_http_429_retry_after_http_date_is_waited),
        cmocka_unit_test(
            test_http_429_x_ratelimit_reset_seconds_as_mattermost_sends),
        cmocka_unit_test(test_http_429_x_ratelimit_reset_epoch),
        cmocka_unit_test(test_http_429_longer_than_max_wait_is_given_back),
        cmocka_unit_test(test_http_404_is_not_retried),
        cmocka_unit_test(test_http_dropped_connection_is_retried),
        cmocka_unit_test(test_http_post_is_retried_only_when_repeatable),
        cmocka_unit_test(test_http_post_429_is_retried),
        cmocka_unit_test(
            test_http_body_from_file_arrives_intact_and_again_on_retry),
        cmocka_unit_test(test_http_answer_to_file_truncated_on_retry),
        cmocka_unit_test(test_http_error_answer_kept_in_memory_not_in_file),
        cmocka_unit_test(test_http_answer_over_max_body_is_a_local_error),
        cmocka_unit_test(
            test_http_calls_on_one_threads_handle_leave_nothing_behind),
        cmocka_unit_test(test_http_closed_port_is_a_transport_error),
        cmocka_unit_test(test_http_connect_timeout_is_a_transport_error),
        cmocka_unit_test(
            test_http_four_threads_keep_their_connections_within_the_limit),
        cmocka_unit_test(test_http_four_threads_share_the_event_threads_pool),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();

    return rc;
}
