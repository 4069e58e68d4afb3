
/*
 * ngx_http_ferry_module: nginx's side of Ferry. The module's definition,
 * its directives and the merge of their configuration; the requests
 * themselves are passed to ferryd by ngx_http_ferry_proto.c.
 */


#include "ngx_http_ferry_module.h"

#include "ferry_jwt.h"


static void *ngx_http_ferry_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ferry_merge_loc_conf(
    ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_http_ferry_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ferry_init(ngx_conf_t *cf);

static char *ngx_http_ferry_jwt_secret_file(
    ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_ferry_slack_secret_file(
    ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_ferry_conf_secret(
    ngx_conf_t *cf, ngx_str_t *secret, size_t min);
static char *ngx_http_ferry_pass(
    ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_ferry_health(
    ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


/* clang-format off */
static ngx_conf_bitmask_t  ngx_http_ferry_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_response"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("http_503"), NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};
/* clang-format on */


/* clang-format off */
static ngx_conf_enum_t  ngx_http_ferry_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_FERRY_AUTH_OFF },
    { ngx_string("jwt"), NGX_HTTP_FERRY_AUTH_JWT },
    { ngx_null_string, 0 }
};
/* clang-format on */


/* clang-format off */
static ngx_conf_enum_t  ngx_http_ferry_idem_modes[] = {
    { ngx_string("off"), NGX_HTTP_FERRY_IDEM_OFF },
    { ngx_string("on"), NGX_HTTP_FERRY_IDEM_ON },
    { ngx_string("required"), NGX_HTTP_FERRY_IDEM_REQUIRED },
    { ngx_null_string, 0 }
};
/* clang-format on */


/* clang-format off */
static ngx_conf_enum_t  ngx_http_ferry_webhook_kinds[] = {
    { ngx_string("off"), NGX_HTTP_FERRY_WEBHOOK_OFF },
    { ngx_string("slack"), NGX_HTTP_FERRY_WEBHOOK_SLACK },
    { ngx_null_string, 0 }
};
/* clang-format on */


/* hop-by-hop headers and the ones nginx sets itself */
/* clang-format off */
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
/* clang-format on */


/* clang-format off */
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

    { ngx_string("ferry_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, webhook),
      &ngx_http_ferry_webhook_kinds },

    { ngx_string("ferry_slack_signing_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ferry_slack_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ferry_webhook_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ferry_loc_conf_t, webhook_max_body),
      NULL },

      ngx_null_command
};
/* clang-format on */


/* clang-format off */
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
/* clang-format on */


/* clang-format off */
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
/* clang-format on */


static ngx_str_t ngx_http_ferry_request_id = ngx_string("request_id");


/* clang-format off */
static ngx_http_variable_t  ngx_http_ferry_vars[] = {

    { ngx_string("ferry_user"), NULL, ngx_http_ferry_user_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};
/* clang-format on */


static void *
ngx_http_ferry_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ferry_loc_conf_t *conf;

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
    conf->webhook = NGX_CONF_UNSET_UINT;
    conf->webhook_max_body = NGX_CONF_UNSET_SIZE;
    conf->request_id_index = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_ferry_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ferry_loc_conf_t *prev = parent;
    ngx_http_ferry_loc_conf_t *conf = child;

    ngx_hash_init_t hash;

    ngx_conf_merge_ptr_value(conf->upstream.local, prev->upstream.local, NULL);

    ngx_conf_merge_value(
        conf->upstream.socket_keepalive, prev->upstream.socket_keepalive, 0);

    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
        prev->upstream.next_upstream_tries, 0);

    ngx_conf_merge_msec_value(
        conf->upstream.connect_timeout, prev->upstream.connect_timeout, 5000);

    ngx_conf_merge_msec_value(
        conf->upstream.send_timeout, prev->upstream.send_timeout, 60000);

    ngx_conf_merge_msec_value(
        conf->upstream.read_timeout, prev->upstream.read_timeout, 60000);

    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
        prev->upstream.next_upstream_timeout, 0);

    ngx_conf_merge_size_value(conf->upstream.buffer_size,
        prev->upstream.buffer_size, (size_t) ngx_pagesize);

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
        prev->upstream.next_upstream,
        (NGX_CONF_BITMASK_SET | NGX_HTTP_UPSTREAM_FT_ERROR
            | NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream =
            NGX_CONF_BITMASK_SET | NGX_HTTP_UPSTREAM_FT_OFF;
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
            "\"ferry_signed_download\" needs "
            "\"ferry_jwt_secret_file\"");
        return NGX_CONF_ERROR;
    }

    if (conf->auth == NGX_HTTP_FERRY_AUTH_JWT && conf->jwt_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
            "\"ferry_auth jwt\" needs "
            "\"ferry_jwt_secret_file\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(
        conf->idempotency, prev->idempotency, NGX_HTTP_FERRY_IDEM_OFF);
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

    ngx_conf_merge_uint_value(
        conf->webhook, prev->webhook, NGX_HTTP_FERRY_WEBHOOK_OFF);
    ngx_conf_merge_str_value(conf->slack_secret, prev->slack_secret, "");

    /* with the frame around it, the largest body still fits in ferryd's
     * MAX_FRAME_BYTES (1 MiB by default) */
    ngx_conf_merge_size_value(
        conf->webhook_max_body, prev->webhook_max_body, 512 * 1024);

    if (conf->webhook == NGX_HTTP_FERRY_WEBHOOK_SLACK) {

        if (conf->slack_secret.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                "\"ferry_webhook slack\" needs "
                "\"ferry_slack_signing_secret_file\"");
            return NGX_CONF_ERROR;
        }

        /* without ferry_pass nothing would check the signature */
        if (conf->upstream.upstream == NULL) {
            ngx_conf_log_error(
                NGX_LOG_EMERG, cf, 0, "\"ferry_webhook\" needs \"ferry_pass\"");
            return NGX_CONF_ERROR;
        }

        if (conf->upload || conf->health) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                "\"ferry_webhook\" cannot share a location with "
                "\"ferry_upload\" or \"ferry_health\"");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->request_id_index == NGX_CONF_UNSET) {
        conf->request_id_index = prev->request_id_index;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ferry_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t *var, *v;

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
    ngx_http_handler_pt       *h;
    ngx_http_core_main_conf_t *cmcf;

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

    if (ngx_http_ferry_error_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ferry_upload_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static char *
ngx_http_ferry_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    ngx_str_t                *value;
    ngx_url_t                 u;
    ngx_http_core_loc_conf_t *clcf;

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

    flcf->request_id_index =
        ngx_http_get_variable_index(cf, &ngx_http_ferry_request_id);

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


/*
 * A secret read when the configuration is: a regular file of at most 4096
 * bytes, less trailing whitespace, at least min bytes. For the JWT and
 * signed-link secret (ferry_jwt_secret_file) and the Slack app's signing
 * secret (ferry_slack_signing_secret_file).
 */

static char *
ngx_http_ferry_conf_secret(ngx_conf_t *cf, ngx_str_t *secret, size_t min)
{
    u_char         *p;
    ssize_t         n;
    ngx_str_t      *value, name;
    ngx_file_t      file;
    ngx_file_info_t fi;

    if (secret->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
            ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
            "\"%V\" is not a regular file of at most 4096 bytes", &name);
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
    if (p == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, p, ngx_file_size(&fi), 0);

    ngx_close_file(file.fd);

    if (n != ngx_file_size(&fi)) {
        return NGX_CONF_ERROR;
    }

    /* the same trimming as ferryd's, so both read the same secret */
    n = (ssize_t) ferry_jwt_key_len(p, (size_t) n);

    if (n == 0) {
        ngx_conf_log_error(
            NGX_LOG_EMERG, cf, 0, "the secret in \"%V\" is empty", &name);
        return NGX_CONF_ERROR;
    }

    if ((size_t) n < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
            "the secret in \"%V\" is shorter than %uz bytes", &name, min);
        return NGX_CONF_ERROR;
    }

    secret->data = p;
    secret->len = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_ferry_jwt_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    return ngx_http_ferry_conf_secret(cf, &flcf->jwt_secret, FERRY_JWT_KEY_MIN);
}


static char *
ngx_http_ferry_slack_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    return ngx_http_ferry_conf_secret(cf, &flcf->slack_secret, 1);
}
