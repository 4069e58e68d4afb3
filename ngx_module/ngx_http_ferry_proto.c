
/*
 * The Ferry protocol over ngx_http_upstream, in the way
 * ngx_http_memcached_module speaks its own: the content handler reads and
 * checks the request, create_request writes it as one JSON frame,
 * process_header reads the head frame of ferryd's answer and the input
 * filter passes its body on (see README.md, "The Ferry protocol").
 */


#include "ngx_http_ferry_module.h"

#include <cjson/cJSON.h>

#include "ferry_frame.h"
#include "ferry_utf8.h"


static void ngx_http_ferry_upstream_init(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
static void      ngx_http_ferry_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_read_body(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
static ngx_int_t ngx_http_ferry_gather_body(ngx_http_request_t *r,
    ngx_http_ferry_ctx_t *ctx, size_t max, const char *directive);
static ngx_int_t ngx_http_ferry_parse_uri(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
static ngx_int_t ngx_http_ferry_query(
    ngx_http_request_t *r, ngx_array_t *q, size_t *len);

static ngx_int_t  ngx_http_ferry_create_request(ngx_http_request_t *r);
static ngx_str_t *ngx_http_ferry_user(ngx_http_ferry_ctx_t *ctx);
static size_t     ngx_http_ferry_json_str_len(ngx_str_t *s);
static u_char    *ngx_http_ferry_json_str(u_char *p, ngx_str_t *s);
static size_t  ngx_http_ferry_frame_file_len(ngx_http_ferry_upload_ctx_t *up);
static u_char *ngx_http_ferry_frame_file(
    u_char *p, ngx_http_ferry_upload_ctx_t *up);
static size_t  ngx_http_ferry_frame_idem_len(ngx_http_ferry_idem_ctx_t *idem);
static u_char *ngx_http_ferry_frame_idem(
    u_char *p, ngx_http_ferry_idem_ctx_t *idem, time_t ttl);
static size_t  ngx_http_ferry_frame_slack_len(ngx_http_ferry_webhook_ctx_t *wh);
static u_char *ngx_http_ferry_frame_slack(
    u_char *p, ngx_http_ferry_webhook_ctx_t *wh);

static ngx_int_t ngx_http_ferry_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_add_header(
    ngx_http_request_t *r, char *name, char *value);
static ngx_int_t ngx_http_ferry_filter_init(void *data);
static ngx_int_t ngx_http_ferry_filter(void *data, ssize_t bytes);
static void      ngx_http_ferry_abort_request(ngx_http_request_t *r);
static void      ngx_http_ferry_finalize_request(
         ngx_http_request_t *r, ngx_int_t rc);


static ngx_str_t ngx_http_ferry_no_user = ngx_null_string;


ngx_int_t
ngx_http_ferry_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_uint_t                 writes;
    ngx_http_ferry_ctx_t      *ctx;
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    ctx = ngx_http_ferry_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_ferry_own_errors(r, ctx);

    if (flcf->health) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;

        ngx_http_ferry_upstream_init(r, ctx);

        return NGX_DONE;
    }

    rc = ngx_http_ferry_parse_uri(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    /* a request that is not Slack's is refused before anything else */
    if (flcf->webhook) {
        rc = ngx_http_ferry_webhook_start(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* keys and uploads concern the methods that change things and carry a
     * body; GET /imports in the same location just lists */
    writes = r->method & (NGX_HTTP_POST | NGX_HTTP_PUT | NGX_HTTP_PATCH);

    if (flcf->idempotency && writes) {
        rc = ngx_http_ferry_idem_begin(r, ctx, ngx_http_ferry_user(ctx));

        if (rc != NGX_OK && rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (flcf->upload && writes) {
        rc = ngx_http_ferry_upload_start(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }

    } else if (!flcf->webhook
        && r->headers_in.content_length_n > (off_t) flcf->max_body)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: request body of %O bytes is over "
            "ferry_max_body %uz",
            r->headers_in.content_length_n, flcf->max_body);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_ferry_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The upstream is made only when ferryd is really asked: a refusal or a
 * replay from the zone never pays for it.
 */

static void
ngx_http_ferry_upstream_init(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_http_upstream_t       *u;
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    if (ngx_http_upstream_create(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u = r->upstream;

    ngx_str_set(&u->schema, "ferry://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_ferry_module;

    u->conf = &flcf->upstream;

    u->create_request = ngx_http_ferry_create_request;
    u->reinit_request = ngx_http_ferry_reinit_request;
    u->process_header = ngx_http_ferry_process_header;
    u->abort_request = ngx_http_ferry_abort_request;
    u->finalize_request = ngx_http_ferry_finalize_request;

    u->input_filter_init = ngx_http_ferry_filter_init;
    u->input_filter = ngx_http_ferry_filter;
    u->input_filter_ctx = ctx;

    ngx_http_upstream_init(r);
}


static void
ngx_http_ferry_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                 *file;
    ngx_http_ferry_ctx_t      *ctx;
    ngx_http_ferry_loc_conf_t *flcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx->upload) {
        rc = ngx_http_ferry_upload_finish(r, ctx);

    } else if (ctx->webhook) {
        flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

        /* the signature is over the raw bytes: they are checked as they
         * are, and go to ferryd as they are */
        rc = ngx_http_ferry_gather_body(
            r, ctx, flcf->webhook_max_body, "ferry_webhook_max_body");

        if (rc == NGX_OK) {
            rc = ngx_http_ferry_webhook_check(r, ctx);
        }

    } else {
        rc = ngx_http_ferry_read_body(r, ctx);
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->webhook && ctx->webhook->challenge.len) {
        ngx_http_finalize_request(r, ngx_http_ferry_webhook_answer(r, ctx));
        return;
    }

    if (ctx->idem) {
        file = ctx->upload ? &ctx->upload->identity : NULL;

        if (ngx_http_ferry_idem_fingerprint(r, ctx->idem, &ctx->body, file)
            != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ctx->idem->cached) {
            ngx_http_finalize_request(r, ngx_http_ferry_idem_replay(r, ctx));
            return;
        }
    }

    ngx_http_ferry_upstream_init(r, ctx);
}


/*
 * The request body (at most ferry_max_body bytes), which must be one JSON
 * value.
 */

static ngx_int_t
ngx_http_ferry_read_body(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    u_char                    *last;
    cJSON                     *json;
    ngx_int_t                  rc;
    const char                *end;
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    rc = ngx_http_ferry_gather_body(r, ctx, flcf->max_body, "ferry_max_body");

    if (rc != NGX_OK || ctx->body.len == 0) {
        return rc;
    }

    last = ctx->body.data + ctx->body.len;

    json = cJSON_ParseWithLengthOpts(
        (const char *) ctx->body.data, ctx->body.len, &end, 0);
    if (json != NULL) {
        cJSON_Delete(json);

        while (end < (const char *) last
            && (*end == ' ' || *end == '\t' || *end == CR || *end == LF))
        {
            end++;
        }

        if (end == (const char *) last) {
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
        "ferry: request body is not valid JSON");

    ctx->error = "request body is not valid JSON";

    /* 422, as the FastAPI services Ferry replaces answered */
    return NGX_HTTP_UNPROCESSABLE_ENTITY;
}


/*
 * Gathers the request body into ctx->body, byte for byte: memory buffers,
 * or nginx's temporary file when it outgrew client_body_buffer_size; either
 * way at most max bytes, else 413.
 */

static ngx_int_t
ngx_http_ferry_gather_body(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx,
    size_t max, const char *directive)
{
    off_t        size;
    u_char      *p;
    ssize_t      n;
    ngx_buf_t   *b;
    ngx_chain_t *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        return NGX_OK;
    }

    if (size > (off_t) max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: request body of %O bytes is over %s %uz", size, directive,
            max);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    p = ngx_pnalloc(r->pool, (size_t) size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->body.data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(
                b->file, p, (size_t) (b->file_last - b->file_pos), b->file_pos);

            if (n != b->file_last - b->file_pos) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    ctx->body.len = p - ctx->body.data;

    return NGX_OK;
}


/*
 * The path and the decoded query string travel as JSON strings: both must
 * be UTF-8.
 */

static ngx_int_t
ngx_http_ferry_parse_uri(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_int_t rc;

    if (!ferry_utf8_valid(r->uri.data, r->uri.len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: request path is not valid UTF-8");
        ctx->error = "request path is not valid UTF-8";
        return NGX_HTTP_BAD_REQUEST;
    }

    ctx->query = ngx_array_create(r->pool, 8, sizeof(ngx_str_t));
    if (ctx->query == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_ferry_query(r, ctx->query, &ctx->query_len);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: query string is not valid UTF-8");
        ctx->error = "query string is not valid UTF-8";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * Decodes the query string into name, value pairs (form encoding: "+" is a
 * space) and adds up the room they take in the frame: quotes, colon, comma
 * and JSON escapes included. NGX_DECLINED for bytes that are not UTF-8.
 */

static ngx_int_t
ngx_http_ferry_query(ngx_http_request_t *r, ngx_array_t *q, size_t *len)
{
    u_char    *p, *last, *start, *eq, *end, *src, *dst;
    ngx_str_t *s;
    ngx_uint_t k;

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        start = p;

        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        p = end + 1;

        if (end == start) {
            continue;
        }

        eq = ngx_strlchr(start, end, '=');

        s = ngx_array_push_n(q, 2);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s[0].data = start;
        s[0].len = (eq ? eq : end) - start;
        s[1].data = eq ? eq + 1 : end;
        s[1].len = eq ? end - eq - 1 : 0;

        for (k = 0; k < 2; k++) {
            dst = ngx_pnalloc(r->pool, s[k].len + 1);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            end = dst;

            for (src = s[k].data; src < s[k].data + s[k].len; src++) {
                *end++ = (*src == '+') ? ' ' : *src;
            }

            src = dst;
            end = dst;
            ngx_unescape_uri(&end, &src, s[k].len, 0);

            s[k].data = dst;
            s[k].len = end - dst;

            if (!ferry_utf8_valid(s[k].data, s[k].len)) {
                return NGX_DECLINED;
            }

            *len += s[k].len + ngx_escape_json(NULL, s[k].data, s[k].len)
                + sizeof("\"\"") - 1;
        }

        *len += sizeof(":,") - 1;
    }

    return NGX_OK;
}


/*
 * The request frame:
 * {"v":1,"rid":"..","method":"..","path":"..","query":{..},"user":null,
 *  "file":{..},"idem":{..},"slack":{..},"body":<the JSON body or null>},
 * "file" with ferry_upload, "idem" with an Idempotency-Key and "slack"
 * with ferry_webhook slack only.
 */

static ngx_int_t
ngx_http_ferry_create_request(ngx_http_request_t *r)
{
    size_t                     len, qlen;
    ngx_buf_t                 *b;
    ngx_str_t                  method, path, rid, *q;
    ngx_uint_t                 i, nq;
    ngx_chain_t               *cl;
    ngx_http_ferry_ctx_t      *ctx;
    ngx_http_variable_value_t *vv;
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    ngx_str_null(&rid);

    vv = ngx_http_get_indexed_variable(r, flcf->request_id_index);

    if (vv != NULL && !vv->not_found) {
        rid.data = vv->data;
        rid.len = vv->len;
    }

    if (flcf->health) {
        ngx_str_set(&method, "GET");
        ngx_str_set(&path, "/health");

    } else {
        method = r->method_name;
        path = r->uri;
    }

    qlen = 0;
    q = NULL;
    nq = 0;

    if (!flcf->health && ctx->query) {
        q = ctx->query->elts;
        nq = ctx->query->nelts;
        qlen = ctx->query_len;
    }

    len = FERRY_FRAME_HEADER_LEN
        + sizeof("{\"v\":1,\"rid\":\"\",\"method\":\"\",\"path\":\"\","
                 "\"query\":{},\"user\":,\"body\":}")
        - 1 + ngx_http_ferry_json_str_len(ngx_http_ferry_user(ctx)) + rid.len
        + ngx_escape_json(NULL, rid.data, rid.len) + method.len
        + ngx_escape_json(NULL, method.data, method.len) + path.len
        + ngx_escape_json(NULL, path.data, path.len) + qlen
        + (ctx->body.len ? ctx->body.len : sizeof("null") - 1)
        + (ctx->upload ? ngx_http_ferry_frame_file_len(ctx->upload) : 0)
        + (ctx->idem ? ngx_http_ferry_frame_idem_len(ctx->idem) : 0)
        + (ctx->webhook ? ngx_http_ferry_frame_slack_len(ctx->webhook) : 0);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->upstream->request_bufs = cl;

    /* the length is filled in at the end: len is an upper bound */
    b->last += FERRY_FRAME_HEADER_LEN;

    b->last = ngx_cpymem(
        b->last, "{\"v\":1,\"rid\":\"", sizeof("{\"v\":1,\"rid\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, rid.data, rid.len);

    b->last =
        ngx_cpymem(b->last, "\",\"method\":\"", sizeof("\",\"method\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, method.data, method.len);

    b->last =
        ngx_cpymem(b->last, "\",\"path\":\"", sizeof("\",\"path\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, path.data, path.len);

    b->last =
        ngx_cpymem(b->last, "\",\"query\":{", sizeof("\",\"query\":{") - 1);

    for (i = 0; i < nq; i += 2) {
        if (i) {
            *b->last++ = ',';
        }

        *b->last++ = '"';
        b->last = (u_char *) ngx_escape_json(b->last, q[i].data, q[i].len);
        *b->last++ = '"';
        *b->last++ = ':';
        *b->last++ = '"';
        b->last =
            (u_char *) ngx_escape_json(b->last, q[i + 1].data, q[i + 1].len);
        *b->last++ = '"';
    }

    b->last = ngx_cpymem(b->last, "},\"user\":", sizeof("},\"user\":") - 1);
    b->last = ngx_http_ferry_json_str(b->last, ngx_http_ferry_user(ctx));

    if (ctx->upload) {
        b->last = ngx_http_ferry_frame_file(b->last, ctx->upload);
    }

    if (ctx->idem) {
        b->last = ngx_http_ferry_frame_idem(b->last, ctx->idem, flcf->idem_ttl);
    }

    if (ctx->webhook) {
        b->last = ngx_http_ferry_frame_slack(b->last, ctx->webhook);
    }

    b->last = ngx_cpymem(b->last, ",\"body\":", sizeof(",\"body\":") - 1);

    if (ctx->body.len) {
        b->last = ngx_cpymem(b->last, ctx->body.data, ctx->body.len);

    } else {
        b->last = ngx_cpymem(b->last, "null", sizeof("null") - 1);
    }

    *b->last++ = '}';

    ferry_frame_put_len(
        b->pos, (uint32_t) (b->last - b->pos - FERRY_FRAME_HEADER_LEN));

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "ferry request: %V %V, frame of %uz bytes", &method, &path,
        (size_t) (b->last - b->pos));

    return NGX_OK;
}


/* The subject of the request's bearer token, empty without ferry_auth. */

static ngx_str_t *
ngx_http_ferry_user(ngx_http_ferry_ctx_t *ctx)
{
    return ctx->auth ? &ctx->auth->user : &ngx_http_ferry_no_user;
}


/* A JSON string, or null for an empty one: the frame's optional values. */

static size_t
ngx_http_ferry_json_str_len(ngx_str_t *s)
{
    if (s->len == 0) {
        return sizeof("null") - 1;
    }

    return s->len + 2 + ngx_escape_json(NULL, s->data, s->len);
}


static u_char *
ngx_http_ferry_json_str(u_char *p, ngx_str_t *s)
{
    if (s->len == 0) {
        return ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


/* ,"file":{"path":..,"size":N,"sha256":..,"name":..,"type":..} */

static size_t
ngx_http_ferry_frame_file_len(ngx_http_ferry_upload_ctx_t *up)
{
    return sizeof(",\"file\":{\"path\":,\"size\":,\"sha256\":,"
                  "\"name\":,\"type\":}")
        - 1 + ngx_http_ferry_json_str_len(&up->path) + NGX_OFF_T_LEN
        + ngx_http_ferry_json_str_len(&up->sha256)
        + ngx_http_ferry_json_str_len(&up->name)
        + ngx_http_ferry_json_str_len(&up->type);
}


static u_char *
ngx_http_ferry_frame_file(u_char *p, ngx_http_ferry_upload_ctx_t *up)
{
    p = ngx_cpymem(
        p, ",\"file\":{\"path\":", sizeof(",\"file\":{\"path\":") - 1);
    p = ngx_http_ferry_json_str(p, &up->path);
    p = ngx_sprintf(p, ",\"size\":%O,\"sha256\":", up->size);
    p = ngx_http_ferry_json_str(p, &up->sha256);
    p = ngx_cpymem(p, ",\"name\":", sizeof(",\"name\":") - 1);
    p = ngx_http_ferry_json_str(p, &up->name);
    p = ngx_cpymem(p, ",\"type\":", sizeof(",\"type\":") - 1);
    p = ngx_http_ferry_json_str(p, &up->type);
    *p++ = '}';

    return p;
}


/* ,"idem":{"key":"..","fp":"..","ttl":N} */

static size_t
ngx_http_ferry_frame_idem_len(ngx_http_ferry_idem_ctx_t *idem)
{
    return sizeof(",\"idem\":{\"key\":\"\",\"fp\":\"\",\"ttl\":}") - 1
        + idem->key.len + ngx_escape_json(NULL, idem->key.data, idem->key.len)
        + sizeof(idem->fp_hex) + NGX_TIME_T_LEN;
}


static u_char *
ngx_http_ferry_frame_idem(
    u_char *p, ngx_http_ferry_idem_ctx_t *idem, time_t ttl)
{
    p = ngx_cpymem(
        p, ",\"idem\":{\"key\":\"", sizeof(",\"idem\":{\"key\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, idem->key.data, idem->key.len);
    p = ngx_cpymem(p, "\",\"fp\":\"", sizeof("\",\"fp\":\"") - 1);
    p = ngx_cpymem(p, idem->fp_hex, sizeof(idem->fp_hex));
    p = ngx_sprintf(p, "\",\"ttl\":%T}", ttl);

    return p;
}


/*
 * ,"slack":{"retry_num":N,"retry_reason":".."|null}: a request whose Slack
 * signature the module verified; retry_num 0 on a first delivery.
 */

static size_t
ngx_http_ferry_frame_slack_len(ngx_http_ferry_webhook_ctx_t *wh)
{
    return sizeof(",\"slack\":{\"retry_num\":,\"retry_reason\":}") - 1
        + NGX_INT_T_LEN + ngx_http_ferry_json_str_len(&wh->retry_reason);
}


static u_char *
ngx_http_ferry_frame_slack(u_char *p, ngx_http_ferry_webhook_ctx_t *wh)
{
    p = ngx_sprintf(
        p, ",\"slack\":{\"retry_num\":%ui,\"retry_reason\":", wh->retry_num);
    p = ngx_http_ferry_json_str(p, &wh->retry_reason);
    *p++ = '}';

    return p;
}


static ngx_int_t
ngx_http_ferry_reinit_request(ngx_http_request_t *r)
{
    ngx_http_ferry_ctx_t *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    ctx->head_ok = 0;

    return NGX_OK;
}


/*
 * The response head: a frame holding
 * {"v":1,"status":N,"headers":{..},"length":N}, then "length" body bytes.
 * The head must fit in ferry_buffer_size.
 */

static ngx_int_t
ngx_http_ferry_process_header(ngx_http_request_t *r)
{
    size_t                len;
    u_char                err[128];
    ngx_uint_t            i;
    ngx_buf_t            *b;
    ferry_frame_rc_t      rc;
    ferry_resp_head_t     head;
    ngx_http_upstream_t  *u;
    ngx_http_ferry_ctx_t *ctx;

    u = r->upstream;
    b = &u->buffer;
    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    rc = ferry_frame_check(b->pos, b->last - b->pos,
        b->end - b->start - FERRY_FRAME_HEADER_LEN, &len);

    if (rc == FERRY_FRAME_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == FERRY_FRAME_TOO_BIG) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
            "ferry: ferryd sent a response head of %uz bytes, "
            "more than ferry_buffer_size allows",
            len);
        ctx->invalid = 1;
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (ferry_resp_head_parse((char *) b->pos + FERRY_FRAME_HEADER_LEN, len,
            &head, (char *) err, sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
            "ferry: ferryd sent an invalid response head: %s", err);
        ctx->invalid = 1;
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "ferry response: status %d, %uz headers, length %uz", head.status,
        head.nheaders, head.length);

    for (i = 0; i < head.nheaders; i++) {

        /* ferryd took over the uploaded file: it must outlive the request */

        if (ngx_strcasecmp(
                (u_char *) head.headers[i].name, (u_char *) FERRY_HDR_FILE)
            == 0)
        {
            if (ctx->upload) {
                ctx->upload->taken =
                    ngx_strcmp(head.headers[i].value, FERRY_FILE_TAKEN) == 0;
            }

            continue;
        }

        if (ngx_http_ferry_add_header(
                r, head.headers[i].name, head.headers[i].value)
            != NGX_OK)
        {
            ferry_resp_head_free(&head);
            return NGX_ERROR;
        }
    }

    u->headers_in.status_n = head.status;
    u->state->status = head.status;
    ctx->status = head.status;
    u->headers_in.content_length_n = head.length;

    switch (head.status) {

    case 422:
        ngx_str_set(&u->headers_in.status_line, "422 Unprocessable Entity");
        break;

    case 429:
        ngx_str_set(&u->headers_in.status_line, "429 Too Many Requests");
        break;
    }

    ferry_resp_head_free(&head);

    b->pos += FERRY_FRAME_HEADER_LEN + len;
    ctx->head_ok = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_add_header(ngx_http_request_t *r, char *name, char *value)
{
    size_t                         klen, vlen;
    ngx_table_elt_t               *h;
    ngx_http_upstream_header_t    *hh;
    ngx_http_upstream_main_conf_t *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);

    h = ngx_list_push(&r->upstream->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    klen = ngx_strlen(name);
    vlen = ngx_strlen(value);

    h->key.len = klen;
    h->value.len = vlen;

    h->key.data = ngx_pnalloc(r->pool, klen + 1 + vlen + 1 + klen);
    if (h->key.data == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    h->value.data = h->key.data + klen + 1;
    h->lowcase_key = h->key.data + klen + 1 + vlen + 1;

    ngx_memcpy(h->key.data, name, klen + 1);
    ngx_memcpy(h->value.data, value, vlen + 1);

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, klen);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    hh = ngx_hash_find(&umcf->headers_in_hash, h->hash, h->lowcase_key, klen);

    if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_filter_init(void *data)
{
    ngx_http_ferry_ctx_t *ctx = data;

    ngx_http_upstream_t *u;

    u = ctx->request->upstream;

    u->length = u->headers_in.content_length_n;

    if (u->length == 0) {
        u->keepalive = 1;

        if (ctx->idem) {
            ngx_http_ferry_idem_complete(ctx->request, ctx->idem, ctx->status);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_filter(void *data, ssize_t bytes)
{
    ngx_http_ferry_ctx_t *ctx = data;

    ngx_buf_t           *b;
    ngx_chain_t         *cl, **ll;
    ngx_http_upstream_t *u;

    u = ctx->request->upstream;
    b = &u->buffer;

    if (bytes > u->length) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
            "ferry: ferryd sent %z bytes more than the announced "
            "length",
            bytes - u->length);
        bytes = u->length;
        u->length = -2;
    }

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    cl = ngx_chain_get_free_buf(ctx->request->pool, &u->free_bufs);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    *ll = cl;

    cl->buf->flush = 1;
    cl->buf->memory = 1;
    cl->buf->tag = u->output.tag;

    cl->buf->pos = b->last;
    b->last += bytes;
    cl->buf->last = b->last;

    if (ctx->idem) {
        ngx_http_ferry_idem_capture(ctx->idem, cl->buf->pos, bytes);
    }

    if (u->length == -2) {
        /* the connection is out of step: close it, never reuse it */
        u->length = 0;
        return NGX_OK;
    }

    u->length -= bytes;

    if (u->length == 0) {
        u->keepalive = 1;

        if (ctx->idem) {
            ngx_http_ferry_idem_complete(ctx->request, ctx->idem, ctx->status);
        }
    }

    return NGX_OK;
}


static void
ngx_http_ferry_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(
        NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "abort http ferry request");
    return;
}


static void
ngx_http_ferry_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "finalize http ferry request");
    return;
}


/*
 * The number of headers named name, the first of them in *found (NULL for
 * none).
 */

ngx_int_t
ngx_http_ferry_find_header(
    ngx_http_request_t *r, ngx_str_t *name, ngx_table_elt_t **found)
{
    ngx_int_t        n;
    ngx_uint_t       i;
    ngx_list_part_t *part;
    ngx_table_elt_t *h;

    *found = NULL;
    n = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (n++ == 0) {
            *found = &h[i];
        }
    }

    return n;
}


/*
 * An answer nginx makes itself (a replay, Slack's challenge): status, the
 * JSON in b, then the body; headers the caller added go out with it.
 */

ngx_int_t
ngx_http_ferry_send_json(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx,
    ngx_uint_t status, ngx_buf_t *b)
{
    ngx_int_t   rc;
    ngx_chain_t out;

    b->memory = (b->last > b->pos) ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    ctx->head_ok = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
