/*
 * The event loop. One thread owns every socket; a connection carries one
 * request at a time (the module never pipelines), and the frames after it
 * wait in the input buffer until its answer is queued, so answers always
 * leave in order.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ferry_frame.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "router.h"
#include "workers.h"

#define SERVER_READ_CHUNK 16384
#define SERVER_DRAIN_SECS 30

typedef struct conn_s conn_t;

struct conn_s {
    int      fd;
    unsigned id;
    char     tag[24];

    unsigned char *in;
    size_t         in_len;
    size_t         in_cap;

    unsigned char *out;
    size_t         out_len;
    size_t         out_off;

    uint32_t events; /* what epoll watches for it */

    unsigned busy : 1;    /* its request is with a worker */
    unsigned closing : 1; /* close once the output is flushed */
    unsigned gone : 1;    /* closed while busy: freed when it returns */

    conn_t *prev;
    conn_t *next;
};

typedef struct {
    work_t          work; /* first: a call is a work_t */
    conn_t         *conn;
    req_t           req;
    resp_t          resp;
    const route_t  *route;
    struct timespec start;
} call_t;

struct server_s {
    ferryd_t  *ferry;
    int        lfd;
    int        epfd;
    int        sigfd;
    int        evfd;
    workers_t *workers;

    conn_t  *conns;
    conn_t  *dead; /* closed, freed after the event batch */
    unsigned next_id;
    int      busy; /* requests at the workers */
    int      draining;
};

/* epoll data for the three fds that are not connections */
static char ev_listen, ev_signal, ev_event;

static void server_close_conn(server_t *srv, conn_t *c);
static void server_process(server_t *srv, conn_t *c);

/* A socket file left by a killed ferryd is removed; a live one is not. */
static int
server_clear_path(const char *path, char *err, size_t errlen)
{
    int                s, rc;
    struct stat        st;
    struct sockaddr_un sa;

    if (lstat(path, &st) != 0) {
        return 0;
    }

    if (!S_ISSOCK(st.st_mode)) {
        snprintf(
            err, errlen, "FERRY_SOCKET %s exists and is not a socket", path);
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }

    rc = connect(s, (struct sockaddr *) &sa, sizeof(sa));
    close(s);

    if (rc == 0) {
        snprintf(err, errlen, "another ferryd is listening on %s", path);
        return -1;
    }

    log_info("server", "removing stale socket %s", path);

    if (unlink(path) != 0) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s", path,
            strerror(errno));
        return -1;
    }

    return 0;
}

static int
server_listen(server_t *srv, char *err, size_t errlen)
{
    config_t          *cfg = &srv->ferry->cfg;
    struct sockaddr_un sa;
    struct group      *gr;

    if (strlen(cfg->ferry_socket) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "FERRY_SOCKET %s is too long for a unix socket",
            cfg->ferry_socket);
        return -1;
    }

    if (server_clear_path(cfg->ferry_socket, err, errlen) != 0) {
        return -1;
    }

    srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->lfd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg->ferry_socket);

    if (bind(srv->lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        snprintf(err, errlen, "cannot bind %s: %s", cfg->ferry_socket,
            strerror(errno));
        return -1;
    }

    if (cfg->socket_group[0]) {
        gr = getgrnam(cfg->socket_group);
        if (gr == NULL || chown(cfg->ferry_socket, (uid_t) -1, gr->gr_gid) != 0)
        {
            snprintf(err, errlen, "cannot give %s to group %s: %s",
                cfg->ferry_socket, cfg->socket_group,
                gr ? strerror(errno) : "no such group");
            return -1;
        }
    }

    if (chmod(cfg->ferry_socket, (mode_t) cfg->socket_mode) != 0) {
        snprintf(err, errlen, "cannot chmod %s: %s", cfg->ferry_socket,
            strerror(errno));
        return -1;
    }

    if (listen(srv->lfd, 512) != 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        return -1;
    }

    return 0;
}

static int
server_watch(server_t *srv, int fd, uint32_t events, void *ptr, int op)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.ptr = ptr;

    return epoll_ctl(srv->epfd, op, fd, &ev);
}

static void
server_run_call(work_t *w, void *data)
{
    call_t *call = (call_t *) w;

    call->route->handler((ferryd_t *) data, &call->req, &call->resp);
}

server_t *
server_create(ferryd_t *ferry, char *err, size_t errlen)
{
    server_t *srv;
    sigset_t  mask;

    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    srv->ferry = ferry;
    srv->lfd = srv->epfd = srv->sigfd = srv->evfd = -1;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    srv->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);

    if (srv->sigfd == -1 || srv->evfd == -1 || srv->epfd == -1) {
        snprintf(
            err, errlen, "cannot set up the event loop: %s", strerror(errno));
        server_destroy(srv);
        return NULL;
    }

    if (server_listen(srv, err, errlen) != 0) {
        server_destroy(srv);
        return NULL;
    }

    srv->workers =
        workers_start(ferry->cfg.workers, server_run_call, ferry, srv->evfd);
    if (srv->workers == NULL) {
        snprintf(
            err, errlen, "cannot start %d worker threads", ferry->cfg.workers);
        server_destroy(srv);
        return NULL;
    }

    if (server_watch(srv, srv->lfd, EPOLLIN, &ev_listen, EPOLL_CTL_ADD) != 0
        || server_watch(srv, srv->sigfd, EPOLLIN, &ev_signal, EPOLL_CTL_ADD)
            != 0
        || server_watch(srv, srv->evfd, EPOLLIN, &ev_event, EPOLL_CTL_ADD) != 0)
    {
        snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
        server_destroy(srv);
        return NULL;
    }

    return srv;
}

static void
server_accept(server_t *srv)
{
    int     s;
    conn_t *c;

    for (;;) {
        s = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (s == -1) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                log_error("server", "accept: %s", strerror(errno));
            }
            return;
        }

        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            log_error("server", "out of memory for a connection");
            close(s);
            continue;
        }

        c->fd = s;
        c->id = ++srv->next_id;
        snprintf(c->tag, sizeof(c->tag), "conn %u", c->id);

        c->events = EPOLLIN | EPOLLRDHUP;

        if (server_watch(srv, s, c->events, c, EPOLL_CTL_ADD) != 0) {
            log_error(c->tag, "epoll_ctl: %s", strerror(errno));
            close(s);
            free(c);
            continue;
        }

        c->next = srv->conns;
        if (srv->conns) {
            srv->conns->prev = c;
        }
        srv->conns = c;

        log_debug(c->tag, "accepted");
    }
}

static void
server_free_conn(conn_t *c)
{
    free(c->in);
    free(c->out);
    free(c);
}

static void
server_close_conn(server_t *srv, conn_t *c)
{
    if (c->fd == -1) {
        return;
    }

    log_debug(c->tag, "closed");

    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;

    if (c->prev) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }

    /* freed only after the current event batch: callers may still look */

    if (c->busy) {
        c->gone = 1;
        return;
    }

    c->next = srv->dead;
    srv->dead = c;
}

static void
server_free_dead(server_t *srv)
{
    conn_t *c;

    while (srv->dead) {
        c = srv->dead;
        srv->dead = c->next;
        server_free_conn(c);
    }
}

/*
 * Input is read only while the connection has no request at a worker and
 * is not closing, so its buffer never holds more than the next frame.
 */
static void
server_arm(server_t *srv, conn_t *c)
{
    uint32_t events = 0;

    if (!c->busy && !c->closing) {
        events |= EPOLLIN | EPOLLRDHUP;
    }

    if (c->out_off < c->out_len) {
        events |= EPOLLOUT;
    }

    if (events != c->events) {
        c->events = events;
        if (server_watch(srv, c->fd, events, c, EPOLL_CTL_MOD) != 0) {
            log_error(c->tag, "epoll_ctl: %s", strerror(errno));
        }
    }
}

/* Writes what it can; returns -1 when the connection had to be closed. */
static int
server_flush(server_t *srv, conn_t *c)
{
    ssize_t n;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            log_debug(c->tag, "write: %s", strerror(errno));
            server_close_conn(srv, c);
            return -1;
        }

        c->out_off += (size_t) n;
    }

    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;

        if (c->closing && !c->busy) {
            server_close_conn(srv, c);
            return -1;
        }
    }

    server_arm(srv, c);

    return 0;
}

static void
server_send(conn_t *c, resp_t *resp)
{
    unsigned char *frame, *out;
    size_t         len;

    if (resp_frame(resp, &frame, &len) != 0) {
        log_error(c->tag, "cannot encode a response");
        c->closing = 1;
        return;
    }

    out = realloc(c->out, c->out_len + len);
    if (out == NULL) {
        free(frame);
        log_error(c->tag, "out of memory for a response");
        c->closing = 1;
        return;
    }

    memcpy(out + c->out_len, frame, len);
    c->out = out;
    c->out_len += len;
    free(frame);

    if (resp->close) {
        c->closing = 1;
    }
}

static double
server_ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);

    return (double) (t.tv_sec - t0->tv_sec) * 1e3
        + (double) (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void
server_finish(conn_t *c, call_t *call)
{
    log_debug(call->req.rid ? call->req.rid : c->tag, "%s %s -> %d (%.2f ms)",
        call->req.method ? call->req.method : "-",
        call->req.path ? call->req.path : "-", call->resp.status,
        server_ms_since(&call->start));

    server_send(c, &call->resp);
    req_free(&call->req);
    resp_free(&call->resp);
    free(call);
}

/* Takes one whole frame off the input and answers it or hands it on. */
static void
server_frame(server_t *srv, conn_t *c, const unsigned char *payload, size_t len)
{
    char       err[256], allow[64];
    call_t    *call;
    req_rc_t   rc;
    route_rc_t rrc;

    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        log_error(c->tag, "out of memory for a request");
        c->closing = 1;
        return;
    }

    call->conn = c;
    clock_gettime(CLOCK_MONOTONIC, &call->start);
    resp_init(&call->resp);

    rc = req_parse(&call->req, (const char *) payload, len, err, sizeof(err));

    if (rc == REQ_BAD_STRING) {
        log_info(
            call->req.rid, "%s %s: %s", call->req.method, call->req.path, err);
        resp_field_error(&call->resp, 422, call->req.field, err);
        server_finish(c, call);
        return;
    }

    if (rc != REQ_OK) {
        log_error(c->tag, "bad request frame: %s", err);
        resp_error(&call->resp, 400, "%s", err);
        server_finish(c, call);
        return;
    }

    rrc = router_match(ferryd_routes, ferryd_nroutes, &call->req, &call->route,
        allow, sizeof(allow));

    if (rrc == ROUTE_NOT_FOUND) {
        log_info(call->req.rid, "%s %s: no such path", call->req.method,
            call->req.path);
        resp_error(&call->resp, 404, "not found");
        server_finish(c, call);
        return;
    }

    if (rrc == ROUTE_NO_MEMORY) {
        log_error(call->req.rid, "out of memory routing %s", call->req.path);
        resp_error(&call->resp, 500, "out of memory");
        server_finish(c, call);
        return;
    }

    if (rrc == ROUTE_BAD_METHOD) {
        log_info(call->req.rid, "%s %s: method not allowed", call->req.method,
            call->req.path);
        resp_error(&call->resp, 405, "method not allowed");
        resp_header(&call->resp, "Allow", allow);
        server_finish(c, call);
        return;
    }

    if (call->route->inline_) {
        call->route->handler(srv->ferry, &call->req, &call->resp);
        server_finish(c, call);
        return;
    }

    c->busy = 1;
    srv->busy++;
    workers_push(srv->workers, &call->work);
}

static void
server_process(server_t *srv, conn_t *c)
{
    size_t           plen, used;
    ferry_frame_rc_t rc;

    while (c->fd != -1 && !c->busy && !c->closing) {
        rc = ferry_frame_check(
            c->in, c->in_len, (size_t) srv->ferry->cfg.max_frame_bytes, &plen);

        if (rc == FERRY_FRAME_AGAIN) {
            break;
        }

        if (rc == FERRY_FRAME_TOO_BIG) {
            resp_t resp;

            log_error(c->tag,
                "frame of %zu bytes is too large (MAX_FRAME_BYTES %ld)", plen,
                srv->ferry->cfg.max_frame_bytes);
            resp_init(&resp);
            resp_error(&resp, 413, "frame too large");
            resp.close = 1;
            server_send(c, &resp);
            resp_free(&resp);
            c->in_len = 0;
            break;
        }

        server_frame(srv, c, c->in + FERRY_FRAME_HEADER_LEN, plen);

        used = FERRY_FRAME_HEADER_LEN + plen;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }

    if (c->fd != -1) {
        server_flush(srv, c);
    }
}

static void
server_read(server_t *srv, conn_t *c)
{
    ssize_t        n;
    size_t         cap;
    unsigned char *in;

    for (;;) {
        if (c->closing) {
            return;
        }

        if (c->in_cap - c->in_len < SERVER_READ_CHUNK) {
            cap = c->in_cap ? c->in_cap * 2 : SERVER_READ_CHUNK;
            while (cap - c->in_len < SERVER_READ_CHUNK) {
                cap *= 2;
            }

            in = realloc(c->in, cap);
            if (in == NULL) {
                log_error(c->tag, "out of memory for input");
                server_close_conn(srv, c);
                return;
            }

            c->in = in;
            c->in_cap = cap;
        }

        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return;
            }
            log_debug(c->tag, "read: %s", strerror(errno));
            server_close_conn(srv, c);
            return;
        }

        if (n == 0) {
            if (c->in_len) {
                log_debug(c->tag,
                    "peer closed with %zu bytes of an unfinished frame",
                    c->in_len);
            }
            server_close_conn(srv, c);
            return;
        }

        c->in_len += (size_t) n;

        /* a frame past the limit is refused before it is read whole */
        server_process(srv, c);

        if (c->fd == -1 || c->busy) {
            return;
        }
    }
}

static void
server_jobs_done(server_t *srv)
{
    uint64_t count;
    work_t  *w, *next;
    call_t  *call;
    conn_t  *c;

    if (read(srv->evfd, &count, sizeof(count)) < 0) {
        /* EAGAIN: another wake-up already took it */
    }

    for (w = workers_done(srv->workers); w; w = next) {
        next = w->next;
        call = (call_t *) w;
        c = call->conn;

        srv->busy--;
        c->busy = 0;

        if (c->gone) {
            req_free(&call->req);
            resp_free(&call->resp);
            free(call);
            c->next = srv->dead;
            srv->dead = c;
            continue;
        }

        server_finish(c, call);
        server_process(srv, c);
    }
}

static void
server_signal(server_t *srv)
{
    struct signalfd_siginfo si;

    while (read(srv->sigfd, &si, sizeof(si)) == sizeof(si)) {

        if (si.ssi_signo == SIGHUP) {
            if (log_reopen() != 0) {
                log_error(
                    "server", "cannot reopen the log: %s", strerror(errno));
            } else {
                log_info("server", "log reopened");
            }
            continue;
        }

        if (!srv->draining) {
            log_info("server", "%s: draining %d request(s) in flight",
                si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", srv->busy);
            srv->draining = 1;

            epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->lfd, NULL);
            close(srv->lfd);
            srv->lfd = -1;
            unlink(srv->ferry->cfg.ferry_socket);
        }
    }
}

/* While draining, a connection with nothing in flight and nothing left to
 * write is closed; ferryd stops when none is left busy. */
static int
server_drained(server_t *srv)
{
    conn_t *c, *next;

    for (c = srv->conns; c; c = next) {
        next = c->next;

        if (!c->busy && c->out_len == 0) {
            server_close_conn(srv, c);
        }
    }

    return srv->busy == 0 && srv->conns == NULL;
}

int
server_run(server_t *srv)
{
    int                i, n;
    conn_t            *c;
    time_t             deadline = 0;
    struct epoll_event evs[64];

    log_info("server", "ferryd listening on %s (%d workers)",
        srv->ferry->cfg.ferry_socket, srv->ferry->cfg.workers);

    for (;;) {
        if (srv->draining) {
            if (deadline == 0) {
                deadline = time(NULL) + SERVER_DRAIN_SECS;
            }

            if (server_drained(srv)) {
                break;
            }

            if (time(NULL) >= deadline) {
                log_warn("server", "giving up on %d request(s) after %d s",
                    srv->busy, SERVER_DRAIN_SECS);
                break;
            }
        }

        n = epoll_wait(srv->epfd, evs, 64, srv->draining ? 100 : -1);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            log_error("server", "epoll_wait: %s", strerror(errno));
            return -1;
        }

        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr == &ev_listen) {
                server_accept(srv);
                continue;
            }

            if (evs[i].data.ptr == &ev_signal) {
                server_signal(srv);
                continue;
            }

            if (evs[i].data.ptr == &ev_event) {
                server_jobs_done(srv);
                continue;
            }

            c = evs[i].data.ptr;

            if (c->fd == -1) {
                continue;
            }

            if (evs[i].events & EPOLLOUT) {
                if (server_flush(srv, c) != 0) {
                    continue;
                }
            }

            if (c->events & EPOLLIN) {
                if (evs[i].events
                    & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    server_read(srv, c);
                }

            } else if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                /* not reading, yet told the peer is gone: nobody is left to
                 * answer */
                log_debug(c->tag, "peer went away");
                server_close_conn(srv, c);
            }
        }

        server_free_dead(srv);
    }

    log_info("server", "ferryd stopped");

    return 0;
}

void
server_destroy(server_t *srv)
{
    conn_t *c;
    work_t *w, *next;
    call_t *call;

    if (srv == NULL) {
        return;
    }

    while (srv->conns) {
        c = srv->conns;
        server_close_conn(srv, c);
    }

    server_free_dead(srv);

    if (srv->workers) {
        for (w = workers_stop(srv->workers); w; w = next) {
            next = w->next;
            call = (call_t *) w;
            req_free(&call->req);
            resp_free(&call->resp);
            if (call->conn->gone) {
                server_free_conn(call->conn);
            }
            free(call);
        }
    }

    if (srv->lfd != -1) {
        close(srv->lfd);
        unlink(srv->ferry->cfg.ferry_socket);
    }

    if (srv->epfd != -1) {
        close(srv->epfd);
    }
    if (srv->sigfd != -1) {
        close(srv->sigfd);
    }
    if (srv->evfd != -1) {
        close(srv->evfd);
    }

    free(srv);
}
