/*
 * The outbound HTTP client. Over HTTP/1.1 a call runs in its caller's
 * thread (libcurl's easy interface) on that thread's own easy handle, kept
 * between its calls so that its keep-alive connections stay open for the
 * next one (libcurl 7.88 does not support sharing connections between
 * threads); at most min(max_total, max_host) calls run at once. No
 * hand-over to another thread and back for each call. With HTTP/2 one
 * event thread per client runs the libcurl multi handle, which multiplexes
 * the calls on a connection, and a call gets an easy handle of its own.
 * Everything else (retries, waits, files) happens in the calling thread.
 */
#include "http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "core/log.h"
#include "core/thread.h"

/* a non-2xx answer's body is only its message: this much is plenty */
#define HTTP_ERROR_BODY_MAX (16 * 1024)

/* A thread's own easy handle (HTTP/1.1), kept between its calls. */
typedef struct http_easy_s http_easy_t;

struct http_easy_s {
    http_client_t *c;
    CURL          *easy;
    http_easy_t   *prev;
    http_easy_t   *next;
};

/* One transfer handed to the event thread; lives on the caller's stack. */
typedef struct http_xfer_s http_xfer_t;

struct http_xfer_s {
    CURL          *easy;
    CURLcode       result;
    int            done;
    pthread_cond_t cond;
    http_xfer_t   *next;
};

struct http_client_s {
    http_client_opts_t o;
    CURLM             *multi;
    pthread_t          thread;
    pthread_mutex_t    lock;
    http_xfer_t       *head; /* handed in, not yet in the multi */
    http_xfer_t       *tail;
    int                stop;
    int                thread_started;

    /* HTTP/1.1: calls run in their callers' threads, each thread on its
     * own easy handle (key), all of them listed (easies) */
    int            direct;
    pthread_key_t  key;
    http_easy_t   *easies;
    pthread_cond_t slot; /* a call ended: one more may start */
    int            active;
    int            most;
};

/* Where one request's body comes from and where its answer goes. */
typedef struct {
    CURL       *easy;
    const char *body;
    size_t      body_len;
    size_t      off;
    FILE       *in;
    FILE       *out;
    const char *out_path;
    int         chosen; /* the answer's sink is picked this attempt */
    int         to_file;
    int         ok; /* the answer is a 2xx */
    size_t      max;
    size_t      max_body;
    char       *buf;
    size_t      len;
    size_t      cap;
    char        err[256]; /* a failure of ours inside a callback */
    char        curl_err[CURL_ERROR_SIZE];
} http_io_t;

static void
http_client_defaults(http_client_opts_t *o)
{
    o->max_total_connections = o->max_total_connections ?: 16;
    o->max_host_connections = o->max_host_connections ?: 4;
    o->max_idle_connections = o->max_idle_connections ?: 16;
    o->connect_timeout_ms = o->connect_timeout_ms ?: 10000;
    o->timeout_ms = o->timeout_ms ?: 300000;
    o->max_attempts = o->max_attempts ?: 4;
    o->backoff_base_ms = o->backoff_base_ms ?: 200;
    o->backoff_cap_ms = o->backoff_cap_ms ?: 10000;
    o->max_wait_ms = o->max_wait_ms ?: 60000;
    o->user_agent = o->user_agent ?: "ferryd";
}

/* Off the client's list and freed, with its connections: the thread
 * that had it ended (the key's destructor), or the client goes. */
static void
http_client_easy_free(void *arg)
{
    http_easy_t   *e = arg;
    http_client_t *c = e->c;

    pthread_mutex_lock(&c->lock);
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        c->easies = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    }
    pthread_mutex_unlock(&c->lock);

    curl_easy_cleanup(e->easy);
    free(e);
}

/* This thread's easy handle, made on its first call; NULL out of memory. */
static CURL *
http_client_easy(http_client_t *c)
{
    http_easy_t *e = pthread_getspecific(c->key);

    if (e != NULL) {
        return e->easy;
    }

    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->easy = curl_easy_init()) == NULL) {
        free(e);
        return NULL;
    }
    e->c = c;
    if (pthread_setspecific(c->key, e) != 0) {
        curl_easy_cleanup(e->easy);
        free(e);
        return NULL;
    }

    pthread_mutex_lock(&c->lock);
    e->next = c->easies;
    if (c->easies != NULL) {
        c->easies->prev = e;
    }
    c->easies = e;
    pthread_mutex_unlock(&c->lock);

    return e->easy;
}

static void
http_client_finish(http_client_t *c, http_xfer_t *x, CURLcode result)
{
    pthread_mutex_lock(&c->lock);
    x->result = result;
    x->done = 1;
    pthread_cond_signal(&x->cond);
    pthread_mutex_unlock(&c->lock);
}

static void *
http_client_loop(void *arg)
{
    http_client_t *c = arg;
    http_xfer_t   *x, *next;
    CURLMsg       *m;
    CURL          *easy;
    CURLcode       result;
    char          *priv;
    int            running, left, stop;

    for (;;) {
        pthread_mutex_lock(&c->lock);
        x = c->head;
        c->head = c->tail = NULL;
        stop = c->stop;
        pthread_mutex_unlock(&c->lock);

        for (/* void */; x != NULL; x = next) {
            next = x->next;
            curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
            if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
                http_client_finish(c, x, CURLE_OUT_OF_MEMORY);
            }
        }

        if (stop) {
            return NULL;
        }

        curl_multi_perform(c->multi, &running);

        while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            /* m is gone once its handle leaves the multi */
            easy = m->easy_handle;
            result = m->data.result;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
            curl_multi_remove_handle(c->multi, easy);
            http_client_finish(c, (http_xfer_t *) priv, result);
        }

        /* woken early by curl_multi_wakeup when a request is handed in */
        curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
    }
}

http_client_t *
http_client_create(const http_client_opts_t *opts, char *err, size_t errlen)
{
    http_client_t *c;
    int            rc;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (opts != NULL) {
        c->o = *opts;
    }
    http_client_defaults(&c->o);

    pthread_mutex_init(&c->lock, NULL);

    if (!c->o.http2) {
        rc = pthread_key_create(&c->key, http_client_easy_free);
        if (rc != 0) {
            snprintf(err, errlen, "cannot make a thread key: %s", strerror(rc));
            http_client_destroy(c);
            return NULL;
        }
        pthread_cond_init(&c->slot, NULL);
        c->most = c->o.max_total_connections < c->o.max_host_connections
            ? c->o.max_total_connections
            : c->o.max_host_connections;
        c->most = c->most > 0 ? c->most : 1;
        c->direct = 1;
        return c;
    }

    /* HTTP/2: one multi handle, driven by the event thread */
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        snprintf(err, errlen, "out of memory");
        http_client_destroy(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
        (long) c->o.max_total_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
        (long) c->o.max_host_connections);
    curl_multi_setopt(
        c->multi, CURLMOPT_MAXCONNECTS, (long) c->o.max_idle_connections);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);

    /* ferryd takes SIGTERM/SIGHUP on a signalfd: this thread must not */
    rc = thread_start(&c->thread, http_client_loop, c);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the HTTP thread: %s", strerror(rc));
        http_client_destroy(c);
        return NULL;
    }
    c->thread_started = 1;

    return c;
}

void
http_client_destroy(http_client_t *c)
{
    http_easy_t *e;

    if (c == NULL) {
        return;
    }

    if (c->direct) {
        /* no destructor runs once the key is gone: the handles of the
           threads still alive are freed here */
        pthread_key_delete(c->key);
        for (;;) {
            pthread_mutex_lock(&c->lock);
            e = c->easies;
            pthread_mutex_unlock(&c->lock);
            if (e == NULL) {
                break;
            }
            http_client_easy_free(e);
        }
        pthread_cond_destroy(&c->slot);
    } else if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = 1;
        pthread_mutex_unlock(&c->lock);
        curl_multi_wakeup(c->multi);
        pthread_join(c->thread, NULL);
    }

    if (c->multi != NULL) {
        curl_multi_cleanup(c->multi);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Runs one transfer and waits for its end: in this thread once fewer
 * than the most calls run (HTTP/1.1), or on the event thread. */
static CURLcode
http_client_perform(http_client_t *c, CURL *easy)
{
    http_xfer_t x;
    CURLcode    cc;

    if (c->direct) {
        pthread_mutex_lock(&c->lock);
        while (c->active >= c->most) {
            pthread_cond_wait(&c->slot, &c->lock);
        }
        c->active++;
        pthread_mutex_unlock(&c->lock);

        cc = curl_easy_perform(easy);

        pthread_mutex_lock(&c->lock);
        c->active--;
        pthread_cond_signal(&c->slot);
        pthread_mutex_unlock(&c->lock);
        return cc;
    }

    memset(&x, 0, sizeof(x));
    x.easy = easy;
    pthread_cond_init(&x.cond, NULL);

    pthread_mutex_lock(&c->lock);
    if (c->tail != NULL) {
        c->tail->next = &x;
    } else {
        c->head = &x;
    }
    c->tail = &x;
    pthread_mutex_unlock(&c->lock);

    curl_multi_wakeup(c->multi);

    pthread_mutex_lock(&c->lock);
    while (!x.done) {
        pthread_cond_wait(&x.cond, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);

    pthread_cond_destroy(&x.cond);

    return x.result;
}

static int
http_client_keep(http_io_t *io, const char *p, size_t len)
{
    size_t cap;
    char  *b;

    if (io->len + len + 1 > io->cap) {
        cap = io->cap ? io->cap : 4096;
        while (cap < io->len + len + 1) {
            cap *= 2;
        }
        b = realloc(io->buf, cap);
        if (b == NULL) {
            snprintf(io->err, sizeof(io->err), "out of memory");
            return -1;
        }
        io->buf = b;
        io->cap = cap;
    }

    memcpy(io->buf + io->len, p, len);
    io->len += len;
    io->buf[io->len] = '\0';

    return 0;
}

static size_t
http_client_write(char *p, size_t size, size_t n, void *arg)
{
    http_io_t *io = arg;
    size_t     len = size * n, take;
    long       status = 0;

    if (!io->chosen) {
        /* a 4xx/5xx body is a message for the caller, not the download */
        curl_easy_getinfo(io->easy, CURLINFO_RESPONSE_CODE, &status);
        io->ok = status / 100 == 2;
        io->to_file = io->out != NULL && io->ok;
        io->max = io->out != NULL ? HTTP_ERROR_BODY_MAX : io->max_body;
        io->chosen = 1;
    }

    if (io->to_file) {
        if (fwrite(p, 1, len, io->out) != len) {
            snprintf(io->err, sizeof(io->err), "cannot write %s: %s",
                io->out_path, strerror(errno));
            return 0;
        }
        return len;
    }

    take = len;
    if (io->len + len > io->max) {
        if (io->ok) {
            snprintf(
                io->err, sizeof(io->err), "answer over %zu bytes", io->max);
            return 0;
        }
        /* the start of an error message says enough */
        take = io->max - io->len;
    }

    return http_client_keep(io, p, take) == 0 ? len : 0;
}

static size_t
http_client_read(char *p, size_t size, size_t n, void *arg)
{
    http_io_t *io = arg;
    size_t     k;

    if (io->in != NULL) {
        k = fread(p, 1, size * n, io->in);
        if (k == 0) {
            /* libcurl asks only for bytes it was promised */
            snprintf(io->err, sizeof(io->err), "%s",
                ferror(io->in) ? strerror(errno)
                               : "body file shrank while being sent");
            return CURL_READFUNC_ABORT;
        }
        return k;
    }

    k = io->body_len - io->off < size * n ? io->body_len - io->off : size * n;
    if (k > 0) {
        memcpy(p, io->body + io->off, k);
        io->off += k;
    }

    return k;
}

/* libcurl rewinds itself when a kept-alive connection died under it. */
static int
http_client_seek(void *arg, curl_off_t off, int origin)
{
    http_io_t *io = arg;

    if (origin != SEEK_SET || off < 0 || (size_t) off > io->body_len) {
        return CURL_SEEKFUNC_CANTSEEK;
    }

    if (io->in != NULL && fseeko(io->in, (off_t) off, SEEK_SET) != 0) {
        snprintf(io->err, sizeof(io->err), "cannot rewind the body file: %s",
            strerror(errno));
        return CURL_SEEKFUNC_FAIL;
    }

    io->off = (size_t) off;

    return CURL_SEEKFUNC_OK;
}

/* Makes the next attempt start from scratch: body, answer, messages. */
static int
http_client_rewind(http_io_t *io)
{
    io->chosen = 0;
    io->len = 0;
    if (io->buf != NULL) {
        io->buf[0] = '\0';
    }
    io->err[0] = '\0';
    io->curl_err[0] = '\0';

    if (http_client_seek(io, 0, SEEK_SET) != CURL_SEEKFUNC_OK) {
        return -1;
    }

    if (io->out != NULL
        && (fflush(io->out) != 0 || ftruncate(fileno(io->out), 0) != 0))
    {
        snprintf(io->err, sizeof(io->err), "cannot truncate %s: %s",
            io->out_path, strerror(errno));
        return -1;
    }

    if (io->out != NULL) {
        rewind(io->out);
    }

    return 0;
}

/* "host:port/path" for logs and messages: no user, password or query (a
   presigned URL's query is its credentials). */
static int
http_client_where(const char *url, char *out, size_t outlen)
{
    CURLU *u;
    char  *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int    rc = -1;

    u = curl_url();
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK)
    {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        snprintf(out, outlen, "%s%s%s%s", host, port ? ":" : "",
            port ? port : "", path);
        rc = 0;
    }

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);

    return rc;
}

static int
http_client_open(const http_req_t *req, const char *where, http_io_t *io,
    char *err, size_t errlen)
{
    struct stat st;
    size_t      n = 0;

    while (req->want != NULL && req->want[n] != NULL) {
        n++;
    }

    if (req->method == NULL || (req->body != NULL && req->body_path != NULL)
        || n > HTTP_CLIENT_WANT_MAX)
    {
        snprintf(err, errlen, "%s: bad request (method, body or want)", where);
        return -1;
    }

    io->body = req->body;
    io->body_len = req->body_len;
    io->max_body = req->max_body ? req->max_body : 8 * 1024 * 1024;
    io->out_path = req->resp_path;

    if (req->body_path != NULL) {
        io->in = fopen(req->body_path, "rb");
        if (io->in == NULL || fstat(fileno(io->in), &st) != 0) {
            snprintf(err, errlen, "cannot read %s: %s", req->body_path,
                strerror(errno));
            return -1;
        }
        io->body_len = (size_t) st.st_size;
    }

    if (req->resp_path != NULL) {
        io->out = fopen(req->resp_path, "wb");
        if (io->out == NULL) {
            snprintf(err, errlen, "cannot write %s: %s", req->resp_path,
                strerror(errno));
            return -1;
        }
    }

    return 0;
}

static int
http_client_setup(http_client_t *c, CURL *e, const http_req_t *req,
    http_io_t *io, struct curl_slist **hdrs)
{
    const char *const *h;
    const char        *m = req->method;
    struct curl_slist *l;
    int                typed = 0;

    /* libcurl would wait 1 s for a "100 Continue" before sending a PUT's
       body, and many servers never send one; nor is its form type wanted
       on a body that says nothing of its type */
    *hdrs = curl_slist_append(NULL, "Expect:");
    for (h = req->headers; *hdrs != NULL && h != NULL && *h != NULL; h++) {
        l = curl_slist_append(*hdrs, *h);
        if (l == NULL) {
            return -1;
        }
        *hdrs = l;
        typed |= strncasecmp(*h, "Content-Type:", 13) == 0;
    }
    if (*hdrs != NULL && !typed) {
        l = curl_slist_append(*hdrs, "Content-Type:");
        if (l == NULL) {
            return -1;
        }
        *hdrs = l;
    }
    if (*hdrs == NULL) {
        return -1;
    }

    io->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->o.user_agent);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
        req->timeout_ms ? req->timeout_ms : c->o.timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, io->curl_err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_client_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, io);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
        c->o.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    if (c->o.http2) {
        /* a stream on an open connection rather than a new connection */
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    }

    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);

    } else if (io->in == NULL
        && (io->body != NULL || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0
            || strcmp(m, "PATCH") == 0))
    {
        /* a body in memory goes with the headers, in one write when it is
           small (a read callback sends it apart, and needs a 64 KB upload
           buffer each time); libcurl resends it itself on a retry */
        curl_easy_setopt(
            e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) io->body_len);
        curl_easy_setopt(
            e, CURLOPT_POSTFIELDS, io->body != NULL ? io->body : "");
        if (strcmp(m, "POST") != 0) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
        }

    } else if (io->in != NULL) {
        /* a file's body goes through the read callback, sized up front, so
           a retry can rewind it whatever the method */
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(
            e, CURLOPT_INFILESIZE_LARGE, (curl_off_t) io->body_len);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, http_client_read);
        curl_easy_setopt(e, CURLOPT_READDATA, io);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, http_client_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, io);
        if (strcmp(m, "PUT") != 0) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
        }

    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }

    return 0;
}

static int
http_client_idempotent(const http_req_t *req)
{
    static const char *const safe[] = { "GET", "HEAD", "PUT", "DELETE",
        "OPTIONS", NULL };
    const char *const       *m;

    for (m = safe; *m != NULL; m++) {
        if (strcmp(req->method, *m) == 0) {
            return 1;
        }
    }

    return req->repeatable;
}

/* Failures that may well not happen again. */
static int
http_client_transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Capped exponential backoff with "equal jitter": at least half the step,
   so retries spread out and still never come back sooner than that. */
static long
http_client_backoff(const http_client_opts_t *o, int attempt, unsigned *seed)
{
    long d = o->backoff_base_ms;
    int  i;

    for (i = 1; i < attempt && d < o->backoff_cap_ms; i++) {
        d *= 2;
    }
    d = d < o->backoff_cap_ms ? d : o->backoff_cap_ms;

    return d / 2 + (long) ((unsigned long) rand_r(seed) % (d / 2 + 1));
}

static int
http_client_digits(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return n > 0 && n < 12 && s[n + strspn(s + n, " \t")] == '\0';
}

/* The wait a 429 asks for, in ms; -1 when it does not say. */
static long
http_client_asked_wait(CURL *easy)
{
    struct curl_header *h;
    time_t              now = time(NULL), t;
    long long           v;

    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h)
        == CURLHE_OK) {
        if (http_client_digits(h->value)) {
            return (long) (strtoll(h->value, NULL, 10) * 1000);
        }
        t = curl_getdate(h->value, NULL);
        if (t != -1) {
            return t > now ? (long) (t - now) * 1000 : 0;
        }
    }

    /*
     * Mattermost's API reference calls X-Ratelimit-Reset "the remaining UTC
     * epoch seconds before the rate limit resets" and shows both 1441983590
     * and 1; its server (the throttled library) sends seconds until the
     * reset, GitHub and most others an epoch. Values from 10^9 on (2001)
     * are read as an epoch, smaller ones as seconds to wait.
     */
    if (curl_easy_header(easy, "X-RateLimit-Reset", 0, CURLH_HEADER, -1, &h)
            == CURLHE_OK
        && http_client_digits(h->value))
    {
        v = strtoll(h->value, NULL, 10);
        if (v >= 1000000000LL) {
            v = v > (long long) now ? v - (long long) now : 0;
        }
        return (long) (v * 1000);
    }

    return -1;
}

/*
 * What one attempt's outcome means: the HTTP_CLIENT_* result so far, and
 * in *wait the ms to sleep before trying again, or -1: that is the result.
 */
static int
http_client_judge(http_client_t *c, const http_req_t *req, CURLcode cc,
    http_io_t *io, http_resp_t *resp, unsigned *seed, long *wait)
{
    int  more = resp->attempts < c->o.max_attempts;
    long s = resp->status, asked;

    *wait = -1;
    resp->retry_after_ms = 0;

    if (io->err[0] != '\0' || cc == CURLE_OUT_OF_MEMORY) {
        return HTTP_CLIENT_ELOCAL;
    }

    if (cc != CURLE_OK) {
        resp->status = 0;
        /* a refused connection or an unknown host carried nothing */
        if (more && http_client_transient(cc)
            && (http_client_idempotent(req) || cc == CURLE_COULDNT_CONNECT
                || cc == CURLE_COULDNT_RESOLVE_HOST))
        {
            *wait = http_client_backoff(&c->o, resp->attempts, seed);
        }
        return HTTP_CLIENT_ETRANSPORT;
    }

    if (s / 100 == 2) {
        return HTTP_CLIENT_OK;
    }

    if (s == 429) {
        /* a rate limiter refuses before the request is acted on, so even a
           POST is safe to send again */
        asked = http_client_asked_wait(io->easy);
        resp->retry_after_ms = asked > 0 ? asked : 0;
        if (more && asked <= c->o.max_wait_ms) {
            *wait = asked >= 0
                ? asked
                : http_client_backoff(&c->o, resp->attempts, seed);
        }
        return HTTP_CLIENT_ESTATUS;
    }

    /* 501 and 505 say the server cannot do it at all */
    if (s >= 500 && s != 501 && s != 505 && more && http_client_idempotent(req))
    {
        *wait = http_client_backoff(&c->o, resp->attempts, seed);
    }

    return HTTP_CLIENT_ESTATUS;
}

static long
http_client_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
http_client_sleep(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* the rest of it */
    }
}

static void
http_client_keep_headers(const http_req_t *req, CURL *easy, http_resp_t *resp)
{
    struct curl_header *h;
    int                 i;

    for (i = 0; req->want != NULL && req->want[i] != NULL; i++) {
        if (curl_easy_header(easy, req->want[i], 0, CURLH_HEADER, -1, &h)
            == CURLHE_OK) {
            resp->headers[i] = strdup(h->value);
        }
    }
}

int
http_client_request(http_client_t *c, const http_req_t *req, http_resp_t *resp,
    char *err, size_t errlen)
{
    char               where[320];
    const char        *tag = req->tag ? req->tag : "http";
    const char        *why;
    CURL              *easy = NULL;
    CURLcode           cc = CURLE_OK;
    struct curl_slist *hdrs = NULL;
    http_io_t          io;
    long               t0, wait;
    unsigned           seed;
    int                rc;

    memset(resp, 0, sizeof(*resp));
    memset(&io, 0, sizeof(io));

    if (req->url == NULL
        || http_client_where(req->url, where, sizeof(where)) != 0) {
        snprintf(err, errlen, "%.*s: not an http(s) URL",
            req->url ? (int) strcspn(req->url, "?") : 6,
            req->url ? req->url : "(null)");
        return HTTP_CLIENT_ELOCAL;
    }

    rc = HTTP_CLIENT_ELOCAL;

    if (http_client_open(req, where, &io, err, errlen) != 0) {
        goto done;
    }

    easy = c->direct ? http_client_easy(c) : curl_easy_init();
    if (easy == NULL || http_client_setup(c, easy, req, &io, &hdrs) != 0) {
        snprintf(err, errlen, "%s %s: out of memory", req->method, where);
        goto done;
    }

    seed = (unsigned) http_client_now_ms() ^ (unsigned) (uintptr_t) &io;

    for (resp->attempts = 1; /* void */; resp->attempts++) {
        if (http_client_rewind(&io) != 0) {
            rc = HTTP_CLIENT_ELOCAL;
            break;
        }

        t0 = http_client_now_ms();
        cc = http_client_perform(c, easy);
        resp->status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);

        if (cc == CURLE_OK) {
            log_debug(tag, "%s %s: %ld in %ld ms, attempt %d", req->method,
                where, resp->status, http_client_now_ms() - t0, resp->attempts);
        } else {
            why = io.err[0]      ? io.err
                : io.curl_err[0] ? io.curl_err
                                 : curl_easy_strerror(cc);
            log_debug(tag, "%s %s: %s in %ld ms, attempt %d", req->method,
                where, why, http_client_now_ms() - t0, resp->attempts);
        }

        rc = http_client_judge(c, req, cc, &io, resp, &seed, &wait);
        if (wait < 0) {
            break;
        }
        http_client_sleep(wait);
    }

    if (resp->status != 0) {
        http_client_keep_headers(req, easy, resp);
    }

    switch (rc) {
    case HTTP_CLIENT_OK:
        if (io.out != NULL && fflush(io.out) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", req->resp_path,
                strerror(errno));
            rc = HTTP_CLIENT_ELOCAL;
        }
        break;
    case HTTP_CLIENT_ESTATUS:
        snprintf(err, errlen, "%s %s: HTTP %ld (%d attempt%s)", req->method,
            where, resp->status, resp->attempts, resp->attempts > 1 ? "s" : "");
        break;
    case HTTP_CLIENT_ETRANSPORT:
        why = io.curl_err[0] ? io.curl_err : curl_easy_strerror(cc);
        snprintf(err, errlen, "%s %s: %s (%d attempt%s)", req->method, where,
            why, resp->attempts, resp->attempts > 1 ? "s" : "");
        break;
    default:
        snprintf(err, errlen, "%s %s: %s", req->method, where,
            io.err[0] ? io.err : curl_easy_strerror(cc));
    }

done:
    resp->body = io.buf;
    resp->body_len = io.len;
    if (io.in != NULL) {
        fclose(io.in);
    }
    if (io.out != NULL && fclose(io.out) != 0 && rc == HTTP_CLIENT_OK) {
        snprintf(err, errlen, "cannot write %s: %s", req->resp_path,
            strerror(errno));
        rc = HTTP_CLIENT_ELOCAL;
    }
    /* a thread's own handle is kept, its connections open, and nothing
       of this call's (the headers, io on this stack) left set on it */
    if (c->direct && easy != NULL) {
        curl_easy_reset(easy);
    } else {
        curl_easy_cleanup(easy);
    }
    curl_slist_free_all(hdrs);

    return rc;
}

void
http_client_resp_free(http_resp_t *resp)
{
    int i;

    free(resp->body);
    resp->body = NULL;
    for (i = 0; i < HTTP_CLIENT_WANT_MAX; i++) {
        free(resp->headers[i]);
        resp->headers[i] = NULL;
    }
}
