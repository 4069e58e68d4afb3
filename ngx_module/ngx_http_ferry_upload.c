
/*
 * ferry_upload: a request body filter that streams an upload into the spool
 * directory as it arrives. A multipart/form-data body is parsed on the fly
 * and only the named field's bytes are written; any other body is taken
 * whole. Size and SHA-256 are computed on the way. Nothing of the body is
 * kept in memory, so the worker stays flat whatever the upload size. Unless
 * ferryd takes the file over, it is removed before the answer goes out.
 * With thread_pool=, the SHA-256 of one buffer runs in a thread of that pool
 * while the worker reads, parses and writes the next one.
 */


#include "ngx_http_ferry_module.h"

#include "ferry_utf8.h"


static ngx_int_t ngx_http_ferry_upload_open(ngx_http_request_t *r,
    ngx_http_ferry_upload_ctx_t *up, ngx_http_ferry_loc_conf_t *flcf);
static void      ngx_http_ferry_upload_cleanup(void *data);
static void      ngx_http_ferry_upload_discard(ngx_http_ferry_upload_ctx_t *up);
static ngx_int_t ngx_http_ferry_upload_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_ferry_upload_take(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
static ngx_int_t ngx_http_ferry_upload_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_upload_write(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n);
static size_t    ngx_http_ferry_upload_room(ngx_http_ferry_upload_ctx_t *up);
static ngx_int_t ngx_http_ferry_upload_seal(ngx_http_ferry_upload_ctx_t *up);
static ngx_int_t ngx_http_ferry_upload_flush(ngx_http_ferry_upload_ctx_t *up);
static ngx_int_t ngx_http_ferry_upload_store(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n);
static ngx_int_t ngx_http_ferry_upload_write_fd(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n);
static const char *ngx_http_ferry_upload_field(ngx_http_request_t *r);
static ngx_int_t   ngx_http_ferry_upload_failed(ngx_http_ferry_ctx_t *ctx);
static ngx_int_t   ngx_http_ferry_upload_magic(
      ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n);
static int ngx_http_ferry_upload_on_part(
    void *data, const ferry_mp_part_t *part);
static int ngx_http_ferry_upload_on_data(
    void *data, const unsigned char *p, size_t n);
static int       ngx_http_ferry_upload_on_part_end(void *data);
static ngx_int_t ngx_http_ferry_upload_set_str(
    ngx_http_request_t *r, ngx_str_t *dst, const char *src);

#if (NGX_THREADS)

static void ngx_http_ferry_upload_post(ngx_http_ferry_upload_ctx_t *up);
static void ngx_http_ferry_upload_hash_thread(void *data, ngx_log_t *log);
static void ngx_http_ferry_upload_hashed(ngx_event_t *ev);

#endif


/* a run of the body at least this long is written without a copy */
#define NGX_HTTP_FERRY_UPLOAD_DIRECT 65536


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;
static ngx_http_output_header_filter_pt ngx_http_next_header_filter;


static const ferry_mp_callbacks_t ngx_http_ferry_upload_callbacks = {
    ngx_http_ferry_upload_on_part, ngx_http_ferry_upload_on_data,
    ngx_http_ferry_upload_on_part_end
};


/*
 * Called by the content handler before the body is read: checks the
 * Content-Type, creates the spool file and arms the body filter.
 */

ngx_int_t
ngx_http_ferry_upload_start(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    int                 blen;
    char                boundary[FERRY_MP_BOUNDARY_MAX + 1];
    ngx_str_t          *ct;
    ngx_pool_cleanup_t *cln;
#if (NGX_THREADS)
    ngx_uint_t         i;
    ngx_thread_task_t *task;
#endif
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_ferry_loc_conf_t   *flcf;
    ngx_http_ferry_upload_ctx_t *up;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    up = ngx_pcalloc(r->pool, sizeof(ngx_http_ferry_upload_ctx_t));
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->request = r;
    up->fd = NGX_INVALID_FILE;

    /* only type=zip looks at the first bytes: the others start as seen */
    if (!flcf->upload_zip) {
        up->magic_len = sizeof(up->magic);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* a piece is written once it holds psize bytes; a multipart feed
     * may hand over up to FERRY_MP_HELD_MAX bytes more than it is given */
    up->psize = ngx_max(clcf->client_body_buffer_size, 65536);
    up->piece[0] = ngx_palloc(r->pool, up->psize + FERRY_MP_HELD_MAX);
    if (up->piece[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value : NULL;

    if (ct && ct->len >= sizeof("multipart/") - 1
        && ngx_strncasecmp(
               ct->data, (u_char *) "multipart/", sizeof("multipart/") - 1)
            == 0)
    {
        blen = ferry_mp_boundary((char *) ct->data, ct->len, boundary);

        if (blen < 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                "ferry: upload with Content-Type \"%V\" has no "
                "usable boundary",
                ct);
            ctx->error = "multipart/form-data body without a valid boundary";
            return NGX_HTTP_BAD_REQUEST;
        }

        up->mp = ngx_palloc(r->pool, sizeof(ferry_mp_t));
        if (up->mp == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ferry_mp_init(
            up->mp, boundary, blen, &ngx_http_ferry_upload_callbacks, up);

    } else {
        /* a raw body is the file itself */

        up->found = 1;
        up->in_field = 1;

        if (ct) {
            up->type = *ct;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_ferry_upload_cleanup;
    cln->data = up;

    if (flcf->upload_sha256) {
        up->sha = EVP_MD_CTX_new();

        if (up->sha == NULL
            || EVP_DigestInit_ex(up->sha, ngx_http_ferry_sha256(), NULL) != 1)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

#if (NGX_THREADS)
        if (flcf->upload_pool) {
            up->piece[1] = ngx_palloc(r->pool, up->psize + FERRY_MP_HELD_MAX);
            if (up->piece[1] == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            for (i = 0; i < NGX_HTTP_FERRY_UPLOAD_TASKS; i++) {
                task = ngx_thread_task_alloc(
                    r->pool, sizeof(ngx_http_ferry_upload_hash_t));
                if (task == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                task->handler = ngx_http_ferry_upload_hash_thread;
                task->event.data = up;
                task->event.handler = ngx_http_ferry_upload_hashed;

                up->task[i] = task;
            }
        }
#endif
    }

    if (ngx_http_ferry_upload_open(r, up, flcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upload = up;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_upload_open(ngx_http_request_t *r,
    ngx_http_ferry_upload_ctx_t *up, ngx_http_ferry_loc_conf_t *flcf)
{
    u_char                    *p;
    size_t                     len;
    ngx_http_variable_value_t *rid;

    rid = ngx_http_get_indexed_variable(r, flcf->request_id_index);

    if (rid == NULL || rid->not_found || rid->len == 0) {
        return NGX_ERROR;
    }

    len = flcf->spool_path.len + sizeof("/upload-.part") - 1 + rid->len;

    p = ngx_pnalloc(r->pool, 2 * (len + 1));
    if (p == NULL) {
        return NGX_ERROR;
    }

    up->part.data = p;
    up->part.len = ngx_sprintf(p, "%V/upload-%*s.part%Z", &flcf->spool_path,
                       rid->len, rid->data)
        - p - 1;

    up->path.data = p + len + 1;
    up->path.len = up->part.len - (sizeof(".part") - 1);
    ngx_memcpy(up->path.data, up->part.data, up->path.len);
    up->path.data[up->path.len] = '\0';

    up->fd = ngx_open_file(
        up->part.data, NGX_FILE_WRONLY, NGX_FILE_CREATE_OR_OPEN | O_EXCL, 0640);

    if (up->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
            "ferry: " ngx_open_file_n " \"%V\" failed", &up->part);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "ferry upload: spooling to \"%V\"", &up->part);

    return NGX_OK;
}


/*
 * Runs when the request ends, however it ends: an upload that never
 * completed, or that ferryd did not take over, leaves no file behind.
 */

static void
ngx_http_ferry_upload_cleanup(void *data)
{
    ngx_http_ferry_upload_ctx_t *up = data;

    if (!up->taken) {
        ngx_http_ferry_upload_discard(up);
    }

    if (up->fd != NGX_INVALID_FILE) {
        ngx_close_file(up->fd);
        up->fd = NGX_INVALID_FILE;
    }

    if (up->sha) {
        EVP_MD_CTX_free(up->sha);
        up->sha = NULL;
    }
}


/*
 * Removes the file at once. The header filter calls this as soon as the
 * answer is known not to be "taken", so that the file is gone before the
 * client sees the answer, even when nginx then lingers on the connection.
 */

static void
ngx_http_ferry_upload_discard(ngx_http_ferry_upload_ctx_t *up)
{
    ngx_str_t *name;

    if (up->discarded || up->part.len == 0) {
        return;
    }

    up->discarded = 1;

    if (up->fd != NGX_INVALID_FILE) {
        ngx_close_file(up->fd);
        up->fd = NGX_INVALID_FILE;
    }

    name = up->complete ? &up->path : &up->part;

    if (ngx_delete_file(name->data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_CRIT, up->request->connection->log, ngx_errno,
            "ferry: " ngx_delete_file_n " \"%V\" failed", name);
    }
}


/*
 * Takes the body's bytes as nginx reads them. While a thread hashes one
 * buffer and the other waits for its turn, the rest of the body stays in
 * nginx's buffers, kept busy: nginx stops reading until the thread is done.
 * The end of the body goes on only when every byte is written and hashed.
 */

static ngx_int_t
ngx_http_ferry_upload_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl, *tl, **ll, out;
    ngx_http_ferry_ctx_t        *ctx;
    ngx_http_ferry_upload_ctx_t *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx == NULL || ctx->upload == NULL || r != r->main) {
        return ngx_http_next_request_body_filter(r, in);
    }

    up = ctx->upload;

#if (NGX_THREADS)
    if (up->task[0]) {
        r->request_body->filter_need_buffering = 1;
    }
#endif

    for (ll = &up->in; *ll; ll = &(*ll)->next) { /* void */
    }

    for (cl = in; cl; cl = cl->next) {
        tl = ngx_alloc_chain_link(r->pool);
        if (tl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        tl->buf = cl->buf;
        *ll = tl;
        ll = &tl->next;
    }

    *ll = NULL;

    if (up->rc == NGX_OK) {
        rc = ngx_http_ferry_upload_take(r, ctx);

        if (rc != NGX_OK) {
#if (NGX_THREADS)
            /* a thread may still read a piece of this request: the answer
             * waits for it */
            if (up->active) {
                up->rc = rc;
                return ngx_http_next_request_body_filter(r, NULL);
            }
#endif
            return rc;
        }
    }

#if (NGX_THREADS)
    if (up->active) {
        return ngx_http_next_request_body_filter(r, NULL);
    }
#endif

    if (up->rc != NGX_OK) {
        return up->rc;
    }

    if (up->waiting || up->in || !up->end) {
        return ngx_http_next_request_body_filter(r, NULL);
    }

    /* only the end of the body goes on: nginx keeps none of it */

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = 1;
    up->end = 0;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_request_body_filter(r, &out);
}


/*
 * The body's bytes, in order, into the file's buffer: no more than it has
 * room for, so that none need to be kept anywhere else.
 */

static ngx_int_t
ngx_http_ferry_upload_take(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    size_t                       n;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ferry_mp_rc_t                rc;
    ngx_http_ferry_upload_ctx_t *up;

    up = ctx->upload;

    while (up->in) {
        b = up->in->buf;

        while (b->pos < b->last) {

            n = ngx_http_ferry_upload_room(up);
            if (n == 0) {
                return NGX_OK;
            }

            n = ngx_min((size_t) (b->last - b->pos), n);

            if (up->mp) {
                rc = ferry_mp_feed(up->mp, b->pos, n);

                if (rc == FERRY_MP_ERROR) {
                    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                        "ferry: malformed multipart upload: %s", up->mp->err);
                    ctx->error = "malformed multipart/form-data body";
                    return NGX_HTTP_BAD_REQUEST;
                }

                if (rc == FERRY_MP_STOPPED && up->duplicate) {
                    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                        "ferry: multipart upload has more than one file "
                        "field");
                    ctx->error = "multipart/form-data body has more than one "
                                 "file field";
                    ctx->error_field = ngx_http_ferry_upload_field(r);
                    return NGX_HTTP_UNPROCESSABLE_ENTITY;
                }

                if (rc != FERRY_MP_OK) {
                    return ngx_http_ferry_upload_failed(ctx);
                }

            } else if (ngx_http_ferry_upload_write(up, b->pos, n) != NGX_OK) {
                return ngx_http_ferry_upload_failed(ctx);
            }

            b->pos += n;

            if (up->len[up->fill] >= up->psize
                && ngx_http_ferry_upload_seal(up) != NGX_OK) {
                return ngx_http_ferry_upload_failed(ctx);
            }
        }

        if (b->last_buf) {
            up->end = 1;
        }

        cl = up->in;
        up->in = cl->next;
        ngx_free_chain(r->pool, cl);
    }

    return NGX_OK;
}


/*
 * type=zip: a local file header ("PK\3\4") or an empty archive's end of
 * central directory ("PK\5\6") opens every zip; anything else is refused
 * from its first bytes, before the rest is read.
 */
static ngx_int_t
ngx_http_ferry_upload_magic(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n)
{
    size_t k;

    k = ngx_min(n, sizeof(up->magic) - up->magic_len);
    ngx_memcpy(up->magic + up->magic_len, p, k);
    up->magic_len += k;

    if (up->magic_len < sizeof(up->magic)) {
        return NGX_OK;
    }

    if (ngx_memcmp(up->magic, "PK\3\4", 4) == 0
        || ngx_memcmp(up->magic, "PK\5\6", 4) == 0)
    {
        return NGX_OK;
    }

    up->not_zip = 1;
    ngx_log_error(NGX_LOG_INFO, up->request->connection->log, 0,
        "ferry: the upload is not a zip archive");

    return NGX_ERROR;
}


/* Writing the upload failed: 415 when it is no zip (type=zip), 507 when
 * the spool is full, else 500. */
static ngx_int_t
ngx_http_ferry_upload_failed(ngx_http_ferry_ctx_t *ctx)
{
    if (ctx->upload->not_zip) {
        ctx->error = "the upload is not a zip archive";
        ctx->error_field = ngx_http_ferry_upload_field(ctx->request);
        return NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }

    if (ctx->upload->full) {
        ctx->error = "the upload spool is full (no space left on the "
                     "server's disk): try again later";
        return NGX_HTTP_INSUFFICIENT_STORAGE;
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * Whatever the answer (ferryd's, a replay, an error of the module's own),
 * a file that ferryd did not take over goes before the answer does.
 */

static ngx_int_t
ngx_http_ferry_upload_header_filter(ngx_http_request_t *r)
{
    ngx_http_ferry_ctx_t *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx && ctx->upload && !ctx->upload->taken) {
        ngx_http_ferry_upload_discard(ctx->upload);
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ferry_upload_write(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n)
{
    if (up->magic_len < sizeof(up->magic)
        && ngx_http_ferry_upload_magic(up, p, n) != NGX_OK)
    {
        return NGX_ERROR;
    }

    up->size += n;

    /* a large run of nginx's buffer is hashed and written from there (a
     * copy costs more than the extra write), unless a thread is to hash
     * it: then it must be in the module's own piece */
    if (up->len[up->fill] == 0 && n >= NGX_HTTP_FERRY_UPLOAD_DIRECT
        && up->piece[1] == NULL)
    {
        return ngx_http_ferry_upload_store(up, p, n);
    }

    ngx_memcpy(up->piece[up->fill] + up->len[up->fill], p, n);
    up->len[up->fill] += n;

    return NGX_OK;
}


/*
 * Room left in the piece being filled. With a thread: none while the piece
 * written before waits for its hash, or while this one is still hashed.
 */

static size_t
ngx_http_ferry_upload_room(ngx_http_ferry_upload_ctx_t *up)
{
#if (NGX_THREADS)
    ngx_http_ferry_upload_hash_t *h;

    if (up->waiting) {
        ngx_http_ferry_upload_post(up);

        if (up->waiting || up->rc != NGX_OK) {
            return 0;
        }
    }

    h = up->hash[up->fill];

    if (h) {
        if (!h->done) {
            return 0;
        }

        /* the thread's reads of the piece came before its flag */
        ngx_memory_barrier();

        up->hash[up->fill] = NULL;
        up->len[up->fill] = 0;
    }
#endif

    return up->psize - up->len[up->fill];
}


/*
 * The piece is full: it is written, and hashed here, or by a thread once
 * the thread is done with the piece before it.
 */

static ngx_int_t
ngx_http_ferry_upload_seal(ngx_http_ferry_upload_ctx_t *up)
{
    ngx_int_t rc;

#if (NGX_THREADS)
    if (up->piece[1]) {
        if (ngx_http_ferry_upload_write_fd(
                up, up->piece[up->fill], up->len[up->fill])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        up->waiting = 1;
        up->fill ^= 1;

        ngx_http_ferry_upload_post(up);

        return NGX_OK;
    }
#endif

    rc =
        ngx_http_ferry_upload_store(up, up->piece[up->fill], up->len[up->fill]);
    up->len[up->fill] = 0;

    return rc;
}


/* The body is read: what is left in the piece is written and hashed here
 * (no thread holds a piece any more). */
static ngx_int_t
ngx_http_ferry_upload_flush(ngx_http_ferry_upload_ctx_t *up)
{
    size_t  n;
    u_char *p;

    p = up->piece[up->fill];
    n = up->len[up->fill];
    up->len[up->fill] = 0;

    return n ? ngx_http_ferry_upload_store(up, p, n) : NGX_OK;
}


#if (NGX_THREADS)

/*
 * Hands the written piece that waits to a thread, once the thread is done
 * with the one before: the flag it sets says so before its completion
 * event, which waits while the worker reads on. Each posted task keeps the
 * request (blocked, and counted) until its completion has run, whatever
 * happens to the request meanwhile.
 */

static void
ngx_http_ferry_upload_post(ngx_http_ferry_upload_ctx_t *up)
{
    ngx_uint_t                    i, k;
    ngx_thread_task_t            *task;
    ngx_http_request_t           *r;
    ngx_http_ferry_loc_conf_t    *flcf;
    ngx_http_ferry_upload_hash_t *h;

    if (up->last) {
        if (!up->last->done) {
            return;
        }

        ngx_memory_barrier();
    }

    task = NULL;

    for (i = 0; i < NGX_HTTP_FERRY_UPLOAD_TASKS; i++) {
        if (!up->task[i]->event.active) {
            task = up->task[i];
            break;
        }
    }

    if (task == NULL) {
        return;
    }

    r = up->request;
    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    h = task->ctx;

    /* the task's last piece was hashed: it is free */
    for (k = 0; k < 2; k++) {
        if (up->hash[k] == h) {
            up->hash[k] = NULL;
            up->len[k] = 0;
        }
    }

    k = up->fill ^ 1;

    h->sha = up->sha;
    h->p = up->piece[k];
    h->n = up->len[k];
    h->failed = 0;
    h->done = 0;

    up->waiting = 0;

    if (ngx_thread_task_post(flcf->upload_pool, task) == NGX_OK) {
        up->hash[k] = h;
        up->last = h;
        up->active++;
        r->main->blocked++;
        r->main->count++;
        return;
    }

    /* the pool's queue is full (logged by nginx): hashed here */

    up->last = NULL;
    up->len[k] = 0;

    if (EVP_DigestUpdate(up->sha, h->p, h->n) != 1) {
        up->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static void
ngx_http_ferry_upload_hash_thread(void *data, ngx_log_t *log)
{
    ngx_http_ferry_upload_hash_t *h = data;

    h->failed = EVP_DigestUpdate(h->sha, h->p, h->n) != 1;

    /* the worker may reuse the piece once it sees the flag */
    ngx_memory_barrier();

    h->done = 1;
}


/*
 * Back in the worker after a task: the piece that waited goes to a thread,
 * and the body is read on. A request that ended meanwhile (the client gone,
 * a timeout) is closed once no thread reads its memory.
 */

static void
ngx_http_ferry_upload_hashed(ngx_event_t *ev)
{
    ngx_uint_t                    i;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_ferry_upload_ctx_t  *up;
    ngx_http_ferry_upload_hash_t *h;

    up = ev->data;
    r = up->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    up->active--;

    for (i = 0; &up->task[i]->event != ev; i++) { /* void */
    }

    h = up->task[i]->ctx;

    if (h->failed && up->rc == NGX_OK) {
        up->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
        "ferry upload: a piece hashed, %ui tasks left", up->active);

    /* nginx's termination of the request waited for the threads */
    if (c->error) {
        r->main->count--;
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    /* answered meanwhile (nginx refused the rest of the body): nothing
     * more is read or hashed */
    if (!r->done && !r->header_sent) {

        if (up->waiting && up->rc == NGX_OK) {
            ngx_http_ferry_upload_post(up);
        }

        r->read_event_handler(r);
    }

    ngx_http_finalize_request(r, NGX_DONE);
    ngx_http_run_posted_requests(c);
}

#endif


/* Bytes hashed here (no thread) and written. */
static ngx_int_t
ngx_http_ferry_upload_store(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n)
{
    if (up->sha && EVP_DigestUpdate(up->sha, p, n) != 1) {
        return NGX_ERROR;
    }

    return ngx_http_ferry_upload_write_fd(up, p, n);
}


static ngx_int_t
ngx_http_ferry_upload_write_fd(
    ngx_http_ferry_upload_ctx_t *up, const u_char *p, size_t n)
{
    ssize_t w;

    while (n) {
        w = write(up->fd, p, n);

        if (w == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            /* a full spool is the operator's to fix, and the client's to
             * hear about: 507, and the partial file goes */
            if (ngx_errno == NGX_ENOSPC || ngx_errno == EDQUOT) {
                up->full = 1;
                ngx_log_error(NGX_LOG_ERR, up->request->connection->log,
                    ngx_errno,
                    "ferry: the upload spool is full: write to "
                    "\"%V\" failed",
                    &up->part);
                return NGX_ERROR;
            }

            ngx_log_error(NGX_LOG_CRIT, up->request->connection->log, ngx_errno,
                "ferry: write to \"%V\" failed", &up->part);
            return NGX_ERROR;
        }

        p += w;
        n -= w;
    }

    return NGX_OK;
}


static int
ngx_http_ferry_upload_on_part(void *data, const ferry_mp_part_t *part)
{
    ngx_http_ferry_upload_ctx_t *up = data;

    const char                *name, *s;
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(up->request, ngx_http_ferry_module);

    if (ngx_strlen(part->name) != flcf->upload_field.len
        || ngx_strncmp(
               part->name, flcf->upload_field.data, flcf->upload_field.len)
            != 0)
    {
        return 0;
    }

    /* which of two files would the client expect to be taken? neither */
    if (up->found) {
        up->duplicate = 1;
        return -1;
    }

    if (part->filename_cut) {
        ngx_log_error(NGX_LOG_INFO, up->request->connection->log, 0,
            "ferry: upload file name over %d bytes, shortened",
            FERRY_MP_VALUE_MAX);
    }

    up->found = 1;
    up->in_field = 1;

    /* a browser may send a whole path: only its last component is a name */

    name = part->filename;

    for (s = part->filename; *s; s++) {
        if (*s == '/' || *s == '\\') {
            name = s + 1;
        }
    }

    if (!ferry_utf8_valid((u_char *) name, ngx_strlen(name))) {
        name = "";
    }

    if (ngx_http_ferry_upload_set_str(up->request, &up->name, name) != NGX_OK
        || ngx_http_ferry_upload_set_str(
               up->request, &up->type, part->content_type)
            != NGX_OK)
    {
        return -1;
    }

    return 1;
}


static int
ngx_http_ferry_upload_on_data(void *data, const unsigned char *p, size_t n)
{
    ngx_http_ferry_upload_ctx_t *up = data;

    return ngx_http_ferry_upload_write(up, p, n) == NGX_OK ? 0 : -1;
}


static int
ngx_http_ferry_upload_on_part_end(void *data)
{
    ngx_http_ferry_upload_ctx_t *up = data;

    up->in_field = 0;

    return 0;
}


/* The field's name, for a JSON error (directive arguments end in a NUL). */
static const char *
ngx_http_ferry_upload_field(ngx_http_request_t *r)
{
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    return (const char *) flcf->upload_field.data;
}


static ngx_int_t
ngx_http_ferry_upload_set_str(
    ngx_http_request_t *r, ngx_str_t *dst, const char *src)
{
    dst->len = ngx_strlen(src);

    if (dst->len == 0) {
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(r->pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len);

    return NGX_OK;
}


/*
 * The whole body was read: the file is complete when the multipart body
 * was well-formed and held the field. It is then renamed into place.
 */

ngx_int_t
ngx_http_ferry_upload_finish(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    u_char                       md[EVP_MAX_MD_SIZE];
    unsigned int                 mdlen;
    ngx_http_ferry_loc_conf_t   *flcf;
    ngx_http_ferry_upload_ctx_t *up;

    up = ctx->upload;

    if (up->mp && ferry_mp_finish(up->mp) != FERRY_MP_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: malformed multipart upload: %s", up->mp->err);
        ctx->error = "malformed multipart/form-data body";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (!up->found) {
        flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: multipart upload has no \"%V\" field", &flcf->upload_field);

        ctx->error = "multipart/form-data body has no file field";
        ctx->error_field = ngx_http_ferry_upload_field(r);
        return NGX_HTTP_UNPROCESSABLE_ENTITY;
    }

    /* a whole body taken as the file: none at all is no upload (an empty
     * part of a form is an empty file, and stays one) */
    if (up->mp == NULL && up->size == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: upload without a body");
        ctx->error = "no file uploaded: send it as multipart/form-data or "
                     "as the request body";
        ctx->error_field = ngx_http_ferry_upload_field(r);
        return NGX_HTTP_UNPROCESSABLE_ENTITY;
    }

    if (ngx_http_ferry_upload_flush(up) != NGX_OK) {
        return ngx_http_ferry_upload_failed(ctx);
    }

    /* a file shorter than any zip's first bytes (type=zip only: the
     * others start with magic_len full) */
    if (up->magic_len < sizeof(up->magic)) {
        up->not_zip = 1;
        return ngx_http_ferry_upload_failed(ctx);
    }

    if (up->sha) {
        if (EVP_DigestFinal_ex(up->sha, md, &mdlen) != 1) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->sha256.data = ngx_pnalloc(r->pool, 2 * mdlen);
        if (up->sha256.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->sha256.len =
            ngx_hex_dump(up->sha256.data, md, mdlen) - up->sha256.data;
        up->identity = up->sha256;

    } else {
        up->identity.data =
            ngx_pnalloc(r->pool, sizeof("size:") - 1 + NGX_OFF_T_LEN);
        if (up->identity.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->identity.len = ngx_sprintf(up->identity.data, "size:%O", up->size)
            - up->identity.data;
    }

    if (ngx_close_file(up->fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
            "ferry: " ngx_close_file_n " \"%V\" failed", &up->part);
        up->fd = NGX_INVALID_FILE;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->fd = NGX_INVALID_FILE;

    if (ngx_rename_file(up->part.data, up->path.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
            "ferry: " ngx_rename_file_n " \"%V\" to \"%V\" failed", &up->part,
            &up->path);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->complete = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
        "ferry: upload of %O bytes spooled to \"%V\"", up->size, &up->path);

    return NGX_OK;
}


char *
ngx_http_ferry_upload(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    ngx_str_t *value;
    ngx_uint_t i;
#if (NGX_THREADS)
    ngx_str_t name;
#endif

    if (flcf->upload != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    flcf->upload = 1;
    flcf->upload_sha256 = 1;
    ngx_str_set(&flcf->upload_field, "file");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "field=", 6) == 0 && value[i].len > 6) {
            flcf->upload_field.data = value[i].data + 6;
            flcf->upload_field.len = value[i].len - 6;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sha256=on") == 0) {
            flcf->upload_sha256 = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sha256=off") == 0) {
            flcf->upload_sha256 = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "type=zip") == 0) {
            flcf->upload_zip = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "thread_pool=", 12) == 0
            && value[i].len > 12) {
#if (NGX_THREADS)
            name.data = value[i].data + 12;
            name.len = value[i].len - 12;

            flcf->upload_pool = ngx_thread_pool_add(cf, &name);
            if (flcf->upload_pool == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
#else
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                "\"thread_pool=\" needs nginx built with threads");
            return NGX_CONF_ERROR;
#endif
        }

        ngx_conf_log_error(
            NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_ferry_upload_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_ferry_upload_body_filter;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ferry_upload_header_filter;

    return NGX_OK;
}
