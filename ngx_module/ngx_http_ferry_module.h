
/*
 * ngx_http_ferry_module: nginx's side of Ferry. Shared declarations of the
 * module's files: location configuration and the per-request context.
 */


#ifndef _NGX_HTTP_FERRY_MODULE_H_INCLUDED_
#define _NGX_HTTP_FERRY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_http_upstream_conf_t   upstream;

    size_t                     max_body;
    ngx_flag_t                 health;

    ngx_int_t                  request_id_index;
} ngx_http_ferry_loc_conf_t;


typedef struct {
    ngx_http_request_t        *request;

    /* the decoded query string: name, value, name, value, ... */
    ngx_array_t               *query;
    size_t                     query_len;

    /* the validated JSON request body, inlined into the frame */
    ngx_str_t                  body;

    /* message of an error answered by the module itself */
    const char                *error;

    /* the JSON that replaces nginx's own error page */
    ngx_buf_t                 *error_json;

    unsigned                   head_ok:1;
    unsigned                   invalid:1;
    unsigned                   rewrite:1;
    unsigned                   rewrite_done:1;
} ngx_http_ferry_ctx_t;


extern ngx_module_t  ngx_http_ferry_module;


#endif /* _NGX_HTTP_FERRY_MODULE_H_INCLUDED_ */
