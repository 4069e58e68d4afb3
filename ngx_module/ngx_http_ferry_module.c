
/*
 * ngx_http_ferry_module: passes requests to ferryd over the Ferry protocol
 * (length-prefixed JSON frames, see README.md), in the way
 * ngx_http_memcached_module speaks its protocol over ngx_http_upstream, and
 * answers in JSON when ferryd cannot.
 */


#include "ngx_http_ferry_module.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "ferry_frame.h"
#include "ferry_utf8.h"


static ngx_int_t ngx_http_ferry_handler(ngx_http_request_t *r);
static void ngx_http_ferry_upstream_init(ngx_http_request_t *r,
    ngx_http_ferry_ctx_t *ctx);
static void ngx_http_ferry_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_read_body(ngx_http_request_t *r,
    ngx_http_ferry_ctx_t *ctx);
static ngx_int_t ngx_http_ferry_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_parse_uri(ngx_http_request_t *r,
    ngx_http_ferry_ctx_t *ctx);
static ngx_int_t ngx_http_ferry_query(ngx_http_request_t *r, ngx_array_t *q,
    size_t *len);
static ngx_int_t ngx_http_ferry_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_add_header(ngx_http_request_t *r,
    char *name, char *value);
static ngx_int_t ngx_http_ferry_filter_init(void *data);
static ngx_int_t ngx_http_ferry_filter(void *data, ssize_t bytes);
static void ngx_http_ferry_abort_request(ngx_http_request_t *r);
static void ngx_http_ferry_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);

static void *ngx_http_ferry_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ferry_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_ferry_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ferry_init(ngx_conf_t *cf);

static char *ngx_http_ferry_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ferry_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_bitmask_t  ngx_http_ferry_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_response"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("http_503"), NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_ferry_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_FERRY_AUTH_OFF },
    { ngx_string("jwt"), NGX_HTTP_FERRY_AUTH_JWT },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_ferry_idem_modes[] = {
    { ngx_string("off"), NGX_HTTP_FERRY_IDEM_OFF },
    { ngx_string("on"), NGX_HTTP_FERRY_IDEM_ON },
    { ngx_string("required"), NGX_HTTP_FERRY_IDEM_REQUIRED },
    { ngx_null_string, 0 }
};


/* hop-by-hop headers and the ones nginx sets itself */
static ngx_str_t  ngx_http_ferry_hide_headers[] = {
    ngx_string("Status"),
    ngx_string("Content-Length"),
    ngx_string("Transfer-Encoding"),
    ngx_string("Connection"),
    ngx_string("Keep-Alive"),
    ngx_string("Date"),
    ngx_string("Server"),
    ngx_null_string
};


static ngx_command_t  ngx_http_ferry_commands[] = {

    { ngx_string("ferry_pass"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_TAKE1,
      ngx_http_ferry_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ferry_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ferry_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ferry_upload"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_ferry_upload,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ferry_spool_path"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, spool_path),
      NULL },

    { ngx_string("ferry_idempotency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, idempotency),
      &ngx_http_ferry_idem_modes },

    { ngx_string("ferry_zone"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ferry_zone,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ferry_idempotency_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, idem_ttl),
      NULL },

    { ngx_string("ferry_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, max_body),
      NULL },

    { ngx_string("ferry_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("ferry_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, upstream.send_timeout),
      NULL },

    { ngx_string("ferry_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("ferry_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, upstream.buffer_size),
      NULL },

    { ngx_string("ferry_next_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, upstream.next_upstream),
      &ngx_http_ferry_next_upstream_masks },

    { ngx_string("ferry_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    { ngx_string("ferry_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, auth),
      &ngx_http_ferry_auth_modes },

    { ngx_string("ferry_signed_download"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, signed_download),
      NULL },

    { ngx_string("ferry_jwt_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ferry_jwt_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ferry_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("ferry_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, jwt_issuer),
      NULL },

    { ngx_string("ferry_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, jwt_audience),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ferry_module_ctx = {
    ngx_http_ferry_add_variables,          /* preconfiguration */
    ngx_http_ferry_init,                   /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ferry_create_loc_conf,        /* create location configuration */
    ngx_http_ferry_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_ferry_module = {
    NGX_MODULE_V1,
    &ngx_http_ferry_module_ctx,            /* module context */
    ngx_http_ferry_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_ferry_request_id = ngx_string("request_id");


static ngx_http_variable_t  ngx_http_ferry_vars[] = {

    { ngx_string("ferry_user"), NULL, ngx_http_ferry_user_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_ferry_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_uint_t                  writes;
    ngx_http_ferry_ctx_t       *ctx;
    ngx_http_ferry_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    ctx = ngx_http_ferry_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->json_errors = 1;

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

    /* keys and uploads concern the methods that change things and carry a
     * body; GET /imports in the same location just lists */
    writes = r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH);

    if (flcf->idempotency && writes) {
        rc = ngx_http_ferry_idem_begin(r, ctx);

        if (rc != NGX_OK && rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (flcf->upload && writes) {
        rc = ngx_http_ferry_upload_start(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }

    } else if (r->headers_in.content_length_n > (off_t) flcf->max_body) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ferry: request body of %O bytes is over "
                      "ferry_max_body %uz", r->headers_in.content_length_n,
                      flcf->max_body);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_ferry_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * SHA-256 fetched once per process: OpenSSL 3 looks an algorithm up anew
 * on every EVP_sha256() init otherwise, which shows on short messages.
 */

const void *
ngx_http_ferry_sha256(void)
{
    static EVP_MD  *md;

    if (md == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    return md ? (const void *) md : (const void *) EVP_sha256();
}


ngx_http_ferry_ctx_t *
ngx_http_ferry_get_ctx(ngx_http_request_t *r)
{
    ngx_http_ferry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ferry_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->request = r;

        ngx_http_set_ctx(r, ctx, ngx_http_ferry_module);
    }

    return ctx;
}


/*
 * The upstream is made only when ferryd is really asked: a refusal or a
 * replay from the zone never pays for it.
 */

static void
ngx_http_ferry_upstream_init(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_http_upstream_t        *u;
    ngx_http_ferry_loc_conf_t  *flcf;

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
    ngx_int_t              rc;
    ngx_http_ferry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx->upload) {
        rc = ngx_http_ferry_upload_finish(r, ctx);

    } else {
        rc = ngx_http_ferry_read_body(r, ctx);
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->idem_key.len) {
        if (ngx_http_ferry_idem_fingerprint(r, ctx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ctx->idem_cached) {
            ngx_http_finalize_request(r, ngx_http_ferry_idem_replay(r, ctx));
            return;
        }
    }

    ngx_http_ferry_upstream_init(r, ctx);
}


/*
 * Gathers the request body (memory buffers, or nginx's temporary file when
 * it outgrew client_body_buffer_size; either way at most ferry_max_body
 * bytes) and checks that it is one JSON value.
 */

static ngx_int_t
ngx_http_ferry_read_body(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    off_t                       size;
    u_char                     *p;
    cJSON                      *json;
    ssize_t                     n;
    ngx_buf_t                  *b;
    const char                 *end;
    ngx_chain_t                *cl;
    ngx_http_ferry_loc_conf_t  *flcf;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        return NGX_OK;
    }

    if (size > (off_t) flcf->max_body) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ferry: request body of %O bytes is over "
                      "ferry_max_body %uz", size, flcf->max_body);
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
            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    ctx->body.len = p - ctx->body.data;

    json = cJSON_ParseWithLengthOpts((const char *) ctx->body.data,
                                     ctx->body.len, &end, 0);
    if (json != NULL) {
        cJSON_Delete(json);

        while (end < (const char *) p
               && (*end == ' ' || *end == '\t' || *end == CR || *end == LF))
        {
            end++;
        }

        if (end == (const char *) p) {
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
 * The request frame:
 * {"v":1,"rid":"..","method":"..","path":"..","query":{..},"user":null,
 *  "body":<the JSON body or null>}
 */

static ngx_int_t
ngx_http_ferry_create_request(ngx_http_request_t *r)
{
    size_t                      len, qlen;
    ngx_buf_t                  *b;
    ngx_str_t                   method, path, rid, *q;
    ngx_uint_t                  i, nq;
    ngx_chain_t                *cl;
    ngx_http_ferry_ctx_t       *ctx;
    ngx_http_variable_value_t  *vv;
    ngx_http_ferry_loc_conf_t  *flcf;

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
                   "\"query\":{},\"user\":,\"body\":}") - 1
          + ngx_http_ferry_json_str_len(&ctx->user)
          + rid.len + ngx_escape_json(NULL, rid.data, rid.len)
          + method.len + ngx_escape_json(NULL, method.data, method.len)
          + path.len + ngx_escape_json(NULL, path.data, path.len)
          + qlen
          + (ctx->body.len ? ctx->body.len : sizeof("null") - 1)
          + (ctx->upload ? ngx_http_ferry_upload_json_len(ctx) : 0)
          + (ctx->idem_key.len ? ngx_http_ferry_idem_json_len(ctx) : 0);

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

    b->last = ngx_cpymem(b->last, "{\"v\":1,\"rid\":\"",
                         sizeof("{\"v\":1,\"rid\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, rid.data, rid.len);

    b->last = ngx_cpymem(b->last, "\",\"method\":\"",
                         sizeof("\",\"method\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, method.data, method.len);

    b->last = ngx_cpymem(b->last, "\",\"path\":\"",
                         sizeof("\",\"path\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, path.data, path.len);

    b->last = ngx_cpymem(b->last, "\",\"query\":{",
                         sizeof("\",\"query\":{") - 1);

    for (i = 0; i < nq; i += 2) {
        if (i) {
            *b->last++ = ',';
        }

        *b->last++ = '"';
        b->last = (u_char *) ngx_escape_json(b->last, q[i].data, q[i].len);
        *b->last++ = '"'; *b->last++ = ':'; *b->last++ = '"';
        b->last = (u_char *) ngx_escape_json(b->last, q[i + 1].data,
                                             q[i + 1].len);
        *b->last++ = '"';
    }

    b->last = ngx_cpymem(b->last, "},\"user\":", sizeof("},\"user\":") - 1);
    b->last = ngx_http_ferry_json_str(b->last, &ctx->user);

    if (ctx->upload) {
        b->last = ngx_http_ferry_upload_json(b->last, ctx);
    }

    if (ctx->idem_key.len) {
        b->last = ngx_http_ferry_idem_json(b->last, r, ctx);
    }

    b->last = ngx_cpymem(b->last, ",\"body\":", sizeof(",\"body\":") - 1);

    if (ctx->body.len) {
        b->last = ngx_cpymem(b->last, ctx->body.data, ctx->body.len);

    } else {
        b->last = ngx_cpymem(b->last, "null", sizeof("null") - 1);
    }

    *b->last++ = '}';

    ferry_frame_put_len(b->pos,
                        (uint32_t) (b->last - b->pos - FERRY_FRAME_HEADER_LEN));

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ferry request: %V %V, frame of %uz bytes",
                   &method, &path, (size_t) (b->last - b->pos));

    return NGX_OK;
}


/*
 * The path and the decoded query string travel as JSON strings: both must
 * be UTF-8.
 */

static ngx_int_t
ngx_http_ferry_parse_uri(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_int_t  rc;

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


/* A JSON string, or null for an empty one: the frame's optional values. */

size_t
ngx_http_ferry_json_str_len(ngx_str_t *s)
{
    if (s->len == 0) {
        return sizeof("null") - 1;
    }

    return s->len + 2 + ngx_escape_json(NULL, s->data, s->len);
}


u_char *
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


/*
 * Decodes the query string into name, value pairs (form encoding: "+" is a
 * space) and adds up the room they take in the frame: quotes, colon, comma
 * and JSON escapes included. NGX_DECLINED for bytes that are not UTF-8.
 */

static ngx_int_t
ngx_http_ferry_query(ngx_http_request_t *r, ngx_array_t *q, size_t *len)
{
    u_char     *p, *last, *start, *eq, *end, *src, *dst;
    ngx_str_t  *s;
    ngx_uint_t  k;

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

            for (src = s[k].data, end = dst; src < s[k].data + s[k].len; src++) {
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


static ngx_int_t
ngx_http_ferry_reinit_request(ngx_http_request_t *r)
{
    ngx_http_ferry_ctx_t  *ctx;

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
    size_t                 len;
    u_char                 err[128];
    ngx_uint_t             i;
    ngx_buf_t             *b;
    ferry_frame_rc_t       rc;
    ferry_resp_head_t      head;
    ngx_http_upstream_t   *u;
    ngx_http_ferry_ctx_t  *ctx;

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
                      "more than ferry_buffer_size allows", len);
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
                   "ferry response: status %d, %uz headers, length %uz",
                   head.status, head.nheaders, head.length);

    for (i = 0; i < head.nheaders; i++) {

        /* ferryd took over the uploaded file: it must outlive the request */

        if (ngx_strcasecmp((u_char *) head.headers[i].name,
                           (u_char *) FERRY_HDR_FILE) == 0)
        {
            ctx->file_taken = ngx_strcmp(head.headers[i].value,
                                         FERRY_FILE_TAKEN) == 0;
            continue;
        }

        if (ngx_http_ferry_add_header(r, head.headers[i].name,
                                      head.headers[i].value)
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
    size_t                          klen, vlen;
    ngx_table_elt_t                *h;
    ngx_http_upstream_header_t     *hh;
    ngx_http_upstream_main_conf_t  *umcf;

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
    ngx_http_ferry_ctx_t  *ctx = data;

    ngx_http_upstream_t  *u;

    u = ctx->request->upstream;

    u->length = u->headers_in.content_length_n;

    if (u->length == 0) {
        u->keepalive = 1;
        ngx_http_ferry_idem_complete(ctx->request, ctx, ctx->status);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_filter(void *data, ssize_t bytes)
{
    ngx_http_ferry_ctx_t  *ctx = data;

    ngx_buf_t            *b;
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;

    u = ctx->request->upstream;
    b = &u->buffer;

    if (bytes > u->length) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "ferry: ferryd sent %z bytes more than the announced "
                      "length", bytes - u->length);
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

    ngx_http_ferry_idem_capture(ctx, cl->buf->pos, bytes);

    if (u->length == -2) {
        /* the connection is out of step: close it, never reuse it */
        u->length = 0;
        return NGX_OK;
    }

    u->length -= bytes;

    if (u->length == 0) {
        u->keepalive = 1;
        ngx_http_ferry_idem_complete(ctx->request, ctx, ctx->status);
    }

    return NGX_OK;
}


static void
ngx_http_ferry_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort http ferry request");
    return;
}


static void
ngx_http_ferry_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize http ferry request");
    return;
}


static void *
ngx_http_ferry_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ferry_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ferry_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.bufs.num = 0;
     *     conf->upstream.next_upstream = 0;
     *     conf->upstream.temp_path = NULL;
     */

    conf->upstream.local = NGX_CONF_UNSET_PTR;
    conf->upstream.socket_keepalive = NGX_CONF_UNSET;
    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;

    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;

    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

    /* the hardcoded values */
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.send_lowat = 0;
    conf->upstream.bufs.num = 0;
    conf->upstream.busy_buffers_size = 0;
    conf->upstream.max_temp_file_size = 0;
    conf->upstream.temp_file_write_size = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.intercept_404 = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;
    conf->upstream.force_ranges = 0;

    conf->upload = NGX_CONF_UNSET;
    conf->upload_sha256 = NGX_CONF_UNSET;
    conf->idempotency = NGX_CONF_UNSET_UINT;
    conf->idem_zone = NGX_CONF_UNSET_PTR;
    conf->idem_ttl = NGX_CONF_UNSET;
    conf->auth = NGX_CONF_UNSET_UINT;
    conf->signed_download = NGX_CONF_UNSET;
    conf->jwt_leeway = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->health = NGX_CONF_UNSET;
    conf->request_id_index = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_ferry_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ferry_loc_conf_t *prev = parent;
    ngx_http_ferry_loc_conf_t *conf = child;

    ngx_hash_init_t  hash;

    ngx_conf_merge_ptr_value(conf->upstream.local,
                              prev->upstream.local, NULL);

    ngx_conf_merge_value(conf->upstream.socket_keepalive,
                              prev->upstream.socket_keepalive, 0);

    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 0);

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 5000);

    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 60000);

    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 60000);

    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                              prev->upstream.next_upstream_timeout, 0);

    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size,
                              (size_t) ngx_pagesize);

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                              prev->upstream.next_upstream,
                              (NGX_CONF_BITMASK_SET
                               |NGX_HTTP_UPSTREAM_FT_ERROR
                               |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    if (conf->upstream.upstream == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
    }

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "ferry_hide_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
            &prev->upstream, ngx_http_ferry_hide_headers, &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->auth, prev->auth, NGX_HTTP_FERRY_AUTH_OFF);
    ngx_conf_merge_str_value(conf->jwt_secret, prev->jwt_secret, "");
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 30);
    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer, "");
    ngx_conf_merge_str_value(conf->jwt_audience, prev->jwt_audience, "");

    ngx_conf_merge_value(conf->signed_download, prev->signed_download, 0);

    if (conf->signed_download && conf->jwt_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ferry_signed_download\" needs \"ferry_jwt_secret_file\"");
        return NGX_CONF_ERROR;
    }

    if (conf->auth == NGX_HTTP_FERRY_AUTH_JWT && conf->jwt_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ferry_auth jwt\" needs \"ferry_jwt_secret_file\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->idempotency, prev->idempotency,
                              NGX_HTTP_FERRY_IDEM_OFF);
    ngx_conf_merge_ptr_value(conf->idem_zone, prev->idem_zone, NULL);
    ngx_conf_merge_sec_value(conf->idem_ttl, prev->idem_ttl, 86400);

    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 64 * 1024);

    ngx_conf_merge_str_value(conf->spool_path, prev->spool_path, "");

    if (conf->upload == NGX_CONF_UNSET) {
        conf->upload = 0;
        conf->upload_sha256 = 0;

    } else if (conf->spool_path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ferry_upload\" needs \"ferry_spool_path\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->health, prev->health, 0);

    if (conf->request_id_index == NGX_CONF_UNSET) {
        conf->request_id_index = prev->request_id_index;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ferry_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ferry_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ferry_auth_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ferry_signed_handler;

    if (ngx_http_ferry_upload_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ferry_error_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static char *
ngx_http_ferry_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    ngx_str_t                 *value;
    ngx_url_t                  u;
    ngx_http_core_loc_conf_t  *clcf;

    if (flcf->upstream.upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    flcf->upstream.upstream = ngx_http_upstream_add(cf, &u, 0);
    if (flcf->upstream.upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_ferry_handler;

    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
        clcf->auto_redirect = 1;
    }

    flcf->request_id_index = ngx_http_get_variable_index(cf,
                                                 &ngx_http_ferry_request_id);

    if (flcf->request_id_index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ferry_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    if (flcf->health != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    flcf->health = 1;

    return NGX_CONF_OK;
}
