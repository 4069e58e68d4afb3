
/*
 * JSON error answers: when a ferry location fails before ferryd answered
 * (ferryd down, garbage, a timeout, a refused request), nginx's own HTML
 * error page is replaced by {"error":"..."}, or by the health shape in a
 * ferry_health location. ferryd's own answers pass untouched.
 */


#include "ngx_http_ferry_module.h"


#define NGX_HTTP_FERRY_HEALTH_DOWN                                             \
    "{\"status\":\"error\",\"helper\":\"down\",\"database\":\"unknown\"}"


static ngx_int_t ngx_http_ferry_error_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ferry_error_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_buf_t *ngx_http_ferry_error_json(
    ngx_http_request_t *r, const char *msg, const char *field);
static const char *ngx_http_ferry_error_message(ngx_uint_t status);


static ngx_http_output_header_filter_pt ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt   ngx_http_next_body_filter;


static ngx_int_t
ngx_http_ferry_error_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                 status;
    const char                *msg;
    ngx_http_ferry_ctx_t      *ctx;
    ngx_http_ferry_loc_conf_t *flcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (r->headers_out.status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    if (ctx == NULL || !ctx->json_errors) {

        /*
         * a ferry_pass location refused before its handler ran (e.g. by
         * client_max_body_size); other locations keep their own pages
         */

        if (flcf->upstream.upstream == NULL) {
            return ngx_http_next_header_filter(r);
        }

        ctx = ngx_http_ferry_get_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ctx->json_errors = 1;
    }

    if (ctx->head_ok || ctx->rewrite) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    if (flcf->health && ctx->error == NULL) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        msg = NULL;

    } else if (status == NGX_HTTP_BAD_GATEWAY && !ctx->invalid) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        msg = "ferryd unavailable";

    } else if (ctx->error) {
        msg = ctx->error;

    } else {
        msg = ngx_http_ferry_error_message(status);
    }

    ctx->error_json =
        ngx_http_ferry_error_json(r, msg, ctx->error ? ctx->error_field : NULL);
    if (ctx->error_json == NULL) {
        return NGX_ERROR;
    }

    ctx->rewrite = 1;

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;

    if (status == NGX_HTTP_UNPROCESSABLE_ENTITY) {
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
    }

    if (r->err_status) {
        r->err_status = status;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = ngx_buf_size(ctx->error_json);

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ferry_error_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t            last;
    ngx_chain_t          *cl, out;
    ngx_http_ferry_ctx_t *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx == NULL || !ctx->rewrite) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's error page is dropped; the JSON goes out with its last buf */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            last = 1;
        }

        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (!last || ctx->rewrite_done) {
        return NGX_OK;
    }

    ctx->rewrite_done = 1;

    ctx->error_json->last_buf = (r == r->main) ? 1 : 0;
    ctx->error_json->last_in_chain = 1;

    out.buf = ctx->error_json;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_buf_t *
ngx_http_ferry_error_json(
    ngx_http_request_t *r, const char *msg, const char *field)
{
    size_t     len, flen;
    ngx_buf_t *b;

    if (msg == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NULL;
        }

        b->pos = (u_char *) NGX_HTTP_FERRY_HEALTH_DOWN;
        b->last = b->pos + sizeof(NGX_HTTP_FERRY_HEALTH_DOWN) - 1;
        b->memory = 1;

        return b;
    }

    len = ngx_strlen(msg);
    flen = field ? ngx_strlen(field) : 0;

    b = ngx_create_temp_buf(r->pool,
        sizeof("{\"error\":\"\",\"field\":\"\"}") - 1 + len
            + ngx_escape_json(NULL, (u_char *) msg, len) + flen
            + ngx_escape_json(NULL, (u_char *) field, flen));
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_cpymem(b->last, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, (u_char *) msg, len);

    if (field) {
        b->last = ngx_cpymem(
            b->last, "\",\"field\":\"", sizeof("\",\"field\":\"") - 1);
        b->last = (u_char *) ngx_escape_json(b->last, (u_char *) field, flen);
    }

    b->last = ngx_cpymem(b->last, "\"}", sizeof("\"}") - 1);

    return b;
}


static const char *
ngx_http_ferry_error_message(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        return "bad request";

    case NGX_HTTP_UNAUTHORIZED:
        return "unauthorized";

    case NGX_HTTP_FORBIDDEN:
        return "forbidden";

    case NGX_HTTP_NOT_FOUND:
        return "not found";

    case NGX_HTTP_NOT_ALLOWED:
        return "method not allowed";

    case NGX_HTTP_REQUEST_TIME_OUT:
        return "request timed out";

    case NGX_HTTP_LENGTH_REQUIRED:
        return "length required";

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "request body too large";

    case NGX_HTTP_BAD_GATEWAY:
        return "invalid response from ferryd";

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "ferryd unavailable";

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "ferryd timed out";

    default:
        return status < NGX_HTTP_INTERNAL_SERVER_ERROR ? "bad request"
                                                       : "internal error";
    }
}


ngx_int_t
ngx_http_ferry_error_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ferry_error_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ferry_error_body_filter;

    return NGX_OK;
}
