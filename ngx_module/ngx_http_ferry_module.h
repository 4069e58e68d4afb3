
/*
 * ngx_http_ferry_module: nginx's side of Ferry. The one header of the
 * module's files: location configuration, the request context with each
 * feature's own context hung off it, and what each file offers the ones
 * above it.
 *
 * Calls go one way only, down this list (the files without their
 * ngx_http_ferry_ prefix):
 *
 *   module.c                          module, directives, configuration
 *   proto.c                           frames <-> upstream callbacks
 *   auth.c, upload.c, idempotency.c,  the features, side by side
 *   webhook.c
 *   error.c                           JSON error answers
 *   module.h                          types, the request context
 *
 * The features never call each other: proto.c hands one what another
 * found (the user to idempotency, the uploaded file's identity to the
 * request's fingerprint).
 */


#ifndef _NGX_HTTP_FERRY_MODULE_H_INCLUDED_
#define _NGX_HTTP_FERRY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ferry_multipart.h"


#ifndef NGX_HTTP_UNPROCESSABLE_ENTITY
#define NGX_HTTP_UNPROCESSABLE_ENTITY 422
#endif


#define NGX_HTTP_FERRY_IDEM_OFF      0
#define NGX_HTTP_FERRY_IDEM_ON       1
#define NGX_HTTP_FERRY_IDEM_REQUIRED 2

#define NGX_HTTP_FERRY_AUTH_OFF 0
#define NGX_HTTP_FERRY_AUTH_JWT 1

#define NGX_HTTP_FERRY_WEBHOOK_OFF   0
#define NGX_HTTP_FERRY_WEBHOOK_SLACK 1


typedef struct {
    ngx_http_upstream_conf_t upstream;

    ngx_uint_t auth;
    ngx_flag_t signed_download;
    ngx_str_t  jwt_secret;
    time_t     jwt_leeway;
    ngx_str_t  jwt_issuer;   /* NUL-terminated */
    ngx_str_t  jwt_audience; /* NUL-terminated */

    ngx_flag_t upload;
    ngx_flag_t upload_sha256;
    ngx_flag_t upload_zip;
    ngx_str_t  upload_field;
    ngx_str_t  spool_path;
#if (NGX_THREADS)
    ngx_thread_pool_t *upload_pool; /* thread_pool=: SHA-256 off the worker */
#endif

    ngx_uint_t      idempotency;
    ngx_shm_zone_t *idem_zone;
    time_t          idem_ttl;

    size_t     max_body;
    ngx_flag_t health;

    ngx_uint_t webhook;
    ngx_str_t  slack_secret;
    size_t     webhook_max_body;

    ngx_int_t request_id_index;
} ngx_http_ferry_loc_conf_t;


/* ferry_auth jwt */

typedef struct {
    /* the subject of the verified bearer token */
    ngx_str_t user;
} ngx_http_ferry_auth_ctx_t;


/* ferry_upload: the file streamed into the spool */

/* tasks an upload may have posted whose completion has not run yet */
#define NGX_HTTP_FERRY_UPLOAD_TASKS 4

/* one piece's SHA-256 update, run in a thread of the pool; done is set by
 * the thread, so that the worker may go on before the completion event */
typedef struct {
    EVP_MD_CTX   *sha;
    const u_char *p;
    size_t        n;
    ngx_uint_t    failed;
    ngx_atomic_t  done;
} ngx_http_ferry_upload_hash_t;


typedef struct {
    ngx_http_request_t *request;

    /* the file as the frame tells ferryd of it, once complete */
    ngx_str_t path;
    off_t     size;
    ngx_str_t sha256; /* hex; empty: sha256=off */
    ngx_str_t name;
    ngx_str_t type;

    /* what a request's fingerprint takes from the file: its SHA-256, or
     * "size:N" with sha256=off */
    ngx_str_t identity;

    /* the file while it is written */
    ngx_fd_t  fd;
    ngx_str_t part;

    /* the file's bytes go out in client_body_buffer_size pieces, as
     * nginx's own: one piece, written and hashed when full; with
     * thread_pool=, two, one filled while a thread hashes the other */
    u_char    *piece[2];
    size_t     len[2];
    size_t     psize;
    ngx_uint_t fill;

    EVP_MD_CTX *sha;
    ferry_mp_t *mp;

    /* body buffers not taken yet: their bytes wait for a buffer to go to */
    ngx_chain_t *in;

    /* an error met while a hash ran in a thread, answered once it is done */
    ngx_int_t rc;

#if (NGX_THREADS)
    ngx_thread_task_t *task[NGX_HTTP_FERRY_UPLOAD_TASKS];
    ngx_uint_t         active; /* posted, completion not run yet */

    /* each piece's hash while a thread has it, and the latest one: the
     * next may go only once it is done */
    ngx_http_ferry_upload_hash_t *hash[2];
    ngx_http_ferry_upload_hash_t *last;
#endif

    unsigned waiting : 1; /* piece[fill ^ 1] is written, its hash waits */
    unsigned end : 1;     /* the body's end came, not passed on yet */

    /* set by proto.c: ferryd took the file over, it must stay */
    unsigned taken : 1;
    unsigned found : 1;
    unsigned in_field : 1;
    unsigned duplicate : 1; /* a second part of the field: refused */
    unsigned full : 1;      /* the spool's disk is full */
    unsigned not_zip : 1;   /* type=zip, and the first bytes say otherwise */

    /* type=zip: the file's first bytes, for the check */
    u_char   magic[4];
    size_t   magic_len;
    unsigned complete : 1;
    unsigned discarded : 1;
} ngx_http_ferry_upload_ctx_t;


/* ferry_idempotency: a request with an Idempotency-Key */

typedef struct {
    ngx_http_request_t *request;

    /* the header, and the zone's key: user, NUL, key */
    ngx_str_t key;
    ngx_str_t zkey;
    uint32_t  hash;

    /* the request's fingerprint */
    u_char fp[32];
    u_char fp_hex[64];

    /* a finished duplicate's stored answer */
    u_char     cached_fp[32];
    ngx_uint_t cached_status;
    ngx_str_t  cached_body;

    /* ferryd's answer to a first request, to be stored */
    ngx_str_t capture;

    unsigned cached : 1;
    unsigned owner : 1;
    unsigned skip : 1;
} ngx_http_ferry_idem_ctx_t;


/* ferry_webhook slack: a request from Slack's Events API */

typedef struct {
    /* the headers Slack signs with, checked before the body is read */
    ngx_str_t timestamp;
    ngx_str_t signature;

    /* a delivery Slack retries: its attempt number (0 on the first) and
     * Slack's reason (empty on the first) */
    ngx_uint_t retry_num;
    ngx_str_t  retry_reason;

    /* the challenge of a url_verification request, answered here */
    ngx_str_t challenge;
} ngx_http_ferry_webhook_ctx_t;


/* the request context; each feature's own hangs off it when it is on */

typedef struct {
    ngx_http_request_t *request;

    ngx_http_ferry_auth_ctx_t    *auth;
    ngx_http_ferry_upload_ctx_t  *upload;
    ngx_http_ferry_idem_ctx_t    *idem;
    ngx_http_ferry_webhook_ctx_t *webhook;

    /* the decoded query string: name, value, name, value, ... */
    ngx_array_t *query;
    size_t       query_len;

    /* the validated JSON request body, inlined into the frame (with
     * ferry_webhook, the raw body the signature was computed over) */
    ngx_str_t body;

    /* ferryd's status in its response head */
    ngx_uint_t status;

    /* message of an error answered by the module itself, and the request
     * field it concerns (NULL for none) */
    const char *error;
    const char *error_field;

    /* the JSON that replaces nginx's own error page */
    ngx_buf_t *error_json;

    unsigned json_errors : 1;
    unsigned head_ok : 1;
    unsigned invalid : 1;
    unsigned rewrite : 1;
    unsigned rewrite_done : 1;
} ngx_http_ferry_ctx_t;


extern ngx_module_t ngx_http_ferry_module;


/* ngx_http_ferry_proto.c */

ngx_int_t ngx_http_ferry_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ferry_find_header(
    ngx_http_request_t *r, ngx_str_t *name, ngx_table_elt_t **found);
ngx_int_t ngx_http_ferry_send_json(ngx_http_request_t *r,
    ngx_http_ferry_ctx_t *ctx, ngx_uint_t status, ngx_buf_t *b);


/* ngx_http_ferry_auth.c */

ngx_int_t ngx_http_ferry_auth_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ferry_signed_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ferry_user_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);


/* ngx_http_ferry_upload.c */

ngx_int_t ngx_http_ferry_upload_start(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
ngx_int_t ngx_http_ferry_upload_finish(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
char     *ngx_http_ferry_upload(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_ferry_upload_init(ngx_conf_t *cf);


/* ngx_http_ferry_idempotency.c */

ngx_int_t ngx_http_ferry_idem_begin(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx, ngx_str_t *user);
ngx_int_t ngx_http_ferry_idem_fingerprint(ngx_http_request_t *r,
    ngx_http_ferry_idem_ctx_t *idem, ngx_str_t *body, ngx_str_t *file);
ngx_int_t ngx_http_ferry_idem_replay(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
void ngx_http_ferry_idem_capture(
    ngx_http_ferry_idem_ctx_t *idem, u_char *p, size_t n);
void ngx_http_ferry_idem_complete(
    ngx_http_request_t *r, ngx_http_ferry_idem_ctx_t *idem, ngx_uint_t status);
char *ngx_http_ferry_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


/* ngx_http_ferry_webhook.c */

ngx_int_t ngx_http_ferry_webhook_start(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
ngx_int_t ngx_http_ferry_webhook_check(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);
ngx_int_t ngx_http_ferry_webhook_answer(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);


/* ngx_http_ferry_error.c */

ngx_int_t ngx_http_ferry_error_init(ngx_conf_t *cf);


/*
 * The request context, made by whichever of the module's handlers or
 * filters needs it first.
 */

static ngx_inline ngx_http_ferry_ctx_t *
ngx_http_ferry_get_ctx(ngx_http_request_t *r)
{
    ngx_http_ferry_ctx_t *ctx;

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
 * The module answers this request's errors as JSON by itself: an
 * error_page inherited from the server level (conf/ferry-errors.conf, for
 * errors before a location is chosen) must not replace its messages.
 */
static ngx_inline void
ngx_http_ferry_own_errors(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ctx->json_errors = 1;
    r->error_page = 1;
}


/*
 * SHA-256 fetched once per process, in each file that hashes: OpenSSL 3
 * looks an algorithm up anew on every EVP_sha256() init otherwise, which
 * shows on short messages.
 */

static ngx_inline const EVP_MD *
ngx_http_ferry_sha256(void)
{
    static EVP_MD *md;

    if (md == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    return md ? md : EVP_sha256();
}


#endif /* _NGX_HTTP_FERRY_MODULE_H_INCLUDED_ */
