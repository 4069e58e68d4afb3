
/*
 * ferry_auth jwt: verifies an HS256 bearer token in the access phase, in
 * front of any location (ferry_pass, proxy_pass, static files), and keeps
 * its subject for $ferry_user and the frame sent to ferryd.
 */


#include "ngx_http_ferry_module.h"

#include "ferry_jwt.h"
#include "ferry_link.h"


/*
 * Clients send the same token with every request until it expires, so each
 * worker remembers the tokens it verified: a hit costs a hash and a memcmp
 * instead of two base64 decodes, two JSON parses and an HMAC. Entries are
 * keyed by the exact token bytes and the location's settings (key, leeway,
 * issuer, audience), and exp/nbf are checked again on every hit.
 */

#define NGX_HTTP_FERRY_JWT_CACHE_SIZE  512
#define NGX_HTTP_FERRY_JWT_CACHE_TOKEN 512

typedef struct {
    void  *conf;
    time_t exp;
    time_t nbf;
    size_t len;
    size_t sub_len;
    u_char token[NGX_HTTP_FERRY_JWT_CACHE_TOKEN];
    u_char sub[FERRY_JWT_SUB_MAX];
} ngx_http_ferry_jwt_cached_t;


static ngx_int_t ngx_http_ferry_auth_reject(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx, const char *reason);
static ngx_http_ferry_jwt_cached_t *ngx_http_ferry_jwt_cache_slot(
    ngx_http_ferry_loc_conf_t *flcf, u_char *token, size_t len);


/* one per worker process, made on first use */
static ngx_http_ferry_jwt_cached_t *ngx_http_ferry_jwt_cache;


ngx_int_t
ngx_http_ferry_auth_handler(ngx_http_request_t *r)
{
    u_char                      *p, *last;
    ferry_jwt_rc_t               rc;
    ferry_jwt_check_t            chk;
    ferry_jwt_claims_t           claims;
    ngx_http_ferry_ctx_t        *ctx;
    ngx_http_ferry_auth_ctx_t   *auth;
    ngx_http_ferry_loc_conf_t   *flcf;
    ngx_http_ferry_jwt_cached_t *slot;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    if (flcf->auth != NGX_HTTP_FERRY_AUTH_JWT) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ferry_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->auth == NULL) {
        ctx->auth = ngx_pcalloc(r->pool, sizeof(ngx_http_ferry_auth_ctx_t));
        if (ctx->auth == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    auth = ctx->auth;

    if (auth->user.len) {
        return NGX_OK;
    }

    if (r->headers_in.authorization == NULL) {
        return ngx_http_ferry_auth_reject(r, ctx, NULL);
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < (ssize_t) sizeof("Bearer ") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer ", sizeof("Bearer ") - 1) != 0)
    {
        return ngx_http_ferry_auth_reject(r, ctx, NULL);
    }

    p += sizeof("Bearer ") - 1;

    while (p < last && *p == ' ') {
        p++;
    }

    slot = ngx_http_ferry_jwt_cache_slot(flcf, p, last - p);

    if (slot && slot->conf == flcf && slot->len == (size_t) (last - p)
        && ngx_memcmp(slot->token, p, slot->len) == 0)
    {
        if (ngx_time() < slot->exp + flcf->jwt_leeway
            && ngx_time() + flcf->jwt_leeway >= slot->nbf)
        {
            auth->user.len = slot->sub_len;
            auth->user.data = ngx_pnalloc(r->pool, slot->sub_len);
            if (auth->user.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(auth->user.data, slot->sub, slot->sub_len);

            return NGX_OK;
        }

        /* expired since: verify in full, which says why */
        slot->conf = NULL;
    }

    chk.now = ngx_time();
    chk.leeway = (long) flcf->jwt_leeway;
    chk.iss = flcf->jwt_issuer.len ? (char *) flcf->jwt_issuer.data : NULL;
    chk.aud = flcf->jwt_audience.len ? (char *) flcf->jwt_audience.data : NULL;

    rc = ferry_jwt_verify((char *) p, last - p, flcf->jwt_secret.data,
        flcf->jwt_secret.len, &chk, &claims);

    if (rc != FERRY_JWT_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: bearer token rejected: %s", ferry_jwt_strerror(rc));
        return ngx_http_ferry_auth_reject(r, ctx, ferry_jwt_strerror(rc));
    }

    auth->user.len = ngx_strlen(claims.sub);
    auth->user.data = ngx_pnalloc(r->pool, auth->user.len);
    if (auth->user.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(auth->user.data, claims.sub, auth->user.len);

    if (slot && auth->user.len <= FERRY_JWT_SUB_MAX) {
        slot->conf = flcf;
        slot->exp = (time_t) claims.exp;
        slot->nbf = (time_t) claims.nbf;
        slot->len = last - p;
        slot->sub_len = auth->user.len;
        ngx_memcpy(slot->token, p, slot->len);
        ngx_memcpy(slot->sub, claims.sub, auth->user.len);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "ferry auth: user \"%V\"", &auth->user);

    return NGX_OK;
}


/* The cache slot for a token, or NULL when it is too long to cache. */

static ngx_http_ferry_jwt_cached_t *
ngx_http_ferry_jwt_cache_slot(
    ngx_http_ferry_loc_conf_t *flcf, u_char *token, size_t len)
{
    uint32_t hash;

    if (len > NGX_HTTP_FERRY_JWT_CACHE_TOKEN) {
        return NULL;
    }

    if (ngx_http_ferry_jwt_cache == NULL) {
        ngx_http_ferry_jwt_cache = ngx_calloc(
            NGX_HTTP_FERRY_JWT_CACHE_SIZE * sizeof(ngx_http_ferry_jwt_cached_t),
            ngx_cycle->log);
        if (ngx_http_ferry_jwt_cache == NULL) {
            return NULL;
        }
    }

    hash = ngx_murmur_hash2(token, len) ^ (uint32_t) (uintptr_t) flcf;

    return &ngx_http_ferry_jwt_cache[hash % NGX_HTTP_FERRY_JWT_CACHE_SIZE];
}


/*
 * RFC 6750 section 3: no credentials (reason NULL) get a bare challenge, a
 * bad token gets error="invalid_token" with the reason. The body is JSON,
 * made by the module's error filter from ctx->error.
 */

static ngx_int_t
ngx_http_ferry_auth_reject(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx, const char *reason)
{
    size_t           len;
    u_char          *p;
    ngx_table_elt_t *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    r->headers_out.www_authenticate = h;

    if (reason == NULL) {
        ngx_str_set(&h->value, "Bearer");
        ctx->error = "bearer token required";

    } else {
        len = sizeof("Bearer error=\"invalid_token\", error_description=\"\"")
            - 1 + ngx_strlen(reason);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.data = p;
        h->value.len = ngx_sprintf(p,
                           "Bearer error=\"invalid_token\", "
                           "error_description=\"%s\"",
                           reason)
            - p;

        ctx->error = "invalid token";
    }

    ngx_http_ferry_own_errors(r, ctx);

    return NGX_HTTP_UNAUTHORIZED;
}


ngx_int_t
ngx_http_ferry_user_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ferry_ctx_t *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ferry_module);

    if (ctx == NULL || ctx->auth == NULL || ctx->auth->user.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->auth->user.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ctx->auth->user.data;

    return NGX_OK;
}


/*
 * ferry_signed_download: the location serves a file only with
 * ?expires=<unix time>&sig=<hex HMAC-SHA256 of "<path>\n<expires>"> made by
 * ferryd under the same secret; anything else is 403.
 */

ngx_int_t
ngx_http_ferry_signed_handler(ngx_http_request_t *r)
{
    time_t                     expires;
    ngx_str_t                  e, sig;
    ngx_http_ferry_ctx_t      *ctx;
    ngx_http_ferry_loc_conf_t *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    if (!flcf->signed_download) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ferry_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_ferry_own_errors(r, ctx);

    if (ngx_http_arg(r, (u_char *) "expires", 7, &e) != NGX_OK
        || ngx_http_arg(r, (u_char *) "sig", 3, &sig) != NGX_OK
        || (expires = ngx_atotm(e.data, e.len)) == NGX_ERROR)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: download link without expires and sig");
        ctx->error = "this download needs a signed link";
        return NGX_HTTP_FORBIDDEN;
    }

    if (!ferry_link_check(flcf->jwt_secret.data, flcf->jwt_secret.len,
            (char *) r->uri.data, r->uri.len, (long long) expires,
            (char *) sig.data, sig.len))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: download link with a bad signature");
        ctx->error = "invalid link signature";
        return NGX_HTTP_FORBIDDEN;
    }

    if (expires < ngx_time()) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: expired download link");
        ctx->error = "link expired";
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}
