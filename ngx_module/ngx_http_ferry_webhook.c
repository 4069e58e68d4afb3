
/*
 * ferry_webhook slack: the edge of Slack's Events API. Every request is
 * checked against the app's signing secret (common/ferry_slack_sig.c)
 * before anything else sees it; Slack's url_verification is answered here,
 * and the events themselves go to ferryd in the usual frame, with the
 * retry Slack says it makes.
 *
 * Slack's rules (api.slack.com/authentication/verifying-requests-from-slack,
 * api.slack.com/events/url_verification, api.slack.com/apis/events-api):
 * the signature is over the raw body, so the bytes are kept exactly as
 * they came; a request more than five minutes off the clock is a replay;
 * the Request URL answers url_verification with its challenge; each event
 * wants a 2xx within 3 seconds, else Slack retries it (up to three times,
 * X-Slack-Retry-Num 1-3 with X-Slack-Retry-Reason), which ferryd drops by
 * event_id.
 */


#include "ngx_http_ferry_module.h"

#include <cjson/cJSON.h>

#include "ferry_slack_sig.h"
#include "ferry_utf8.h"


#define NGX_HTTP_FERRY_RETRY_NUM_MAX_DIGITS 9


static void ngx_http_ferry_webhook_retry(
    ngx_http_request_t *r, ngx_http_ferry_webhook_ctx_t *wh);
static ngx_int_t ngx_http_ferry_webhook_refuse(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx, ferry_slack_rc_t rc);
static ngx_int_t ngx_http_ferry_webhook_not_allowed(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx);


static ngx_str_t ngx_http_ferry_slack_timestamp =
    ngx_string("X-Slack-Request-Timestamp");
static ngx_str_t ngx_http_ferry_slack_signature =
    ngx_string("X-Slack-Signature");
static ngx_str_t ngx_http_ferry_slack_retry_num =
    ngx_string("X-Slack-Retry-Num");
static ngx_str_t ngx_http_ferry_slack_retry_reason =
    ngx_string("X-Slack-Retry-Reason");


/*
 * Before the body is read: Slack only POSTs, the body must fit in
 * ferry_webhook_max_body, and the timestamp and the signature's shape are
 * checked at once, so that a request that cannot pass costs no body.
 */

ngx_int_t
ngx_http_ferry_webhook_start(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_int_t                     n;
    ngx_table_elt_t              *ts, *sig;
    ferry_slack_rc_t              rc;
    ngx_http_ferry_webhook_ctx_t *wh;
    ngx_http_ferry_loc_conf_t    *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_ferry_webhook_not_allowed(r, ctx);
    }

    wh = ngx_pcalloc(r->pool, sizeof(ngx_http_ferry_webhook_ctx_t));
    if (wh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->webhook = wh;

    if (r->headers_in.content_length_n > (off_t) flcf->webhook_max_body) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: Slack request body of %O bytes is over "
            "ferry_webhook_max_body %uz",
            r->headers_in.content_length_n, flcf->webhook_max_body);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    /* two of either header: which one would Slack have meant? */

    n = ngx_http_ferry_find_header(r, &ngx_http_ferry_slack_timestamp, &ts);

    if (n > 1) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
            "ferry: Slack request refused: %ui %V headers", n,
            &ngx_http_ferry_slack_timestamp);
        ctx->error = "more than one X-Slack-Request-Timestamp";
        return NGX_HTTP_UNAUTHORIZED;
    }

    n = ngx_http_ferry_find_header(r, &ngx_http_ferry_slack_signature, &sig);

    if (n > 1) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
            "ferry: Slack request refused: %ui %V headers", n,
            &ngx_http_ferry_slack_signature);
        ctx->error = "more than one X-Slack-Signature";
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ts) {
        wh->timestamp = ts->value;
    }

    if (sig) {
        wh->signature = sig->value;
    }

    rc = ferry_slack_check_headers(ts ? (char *) ts->value.data : NULL,
        wh->timestamp.len, sig ? (char *) sig->value.data : NULL,
        wh->signature.len, (long long) ngx_time());

    if (rc != FERRY_SLACK_OK) {
        return ngx_http_ferry_webhook_refuse(r, ctx, rc);
    }

    ngx_http_ferry_webhook_retry(r, wh);

    return NGX_OK;
}


/*
 * Slack's retry headers are not signed: they are passed on as information
 * (ferryd drops a repeat by its event_id whatever they say), and a value
 * that is no number or no text is left out rather than refused.
 */

static void
ngx_http_ferry_webhook_retry(
    ngx_http_request_t *r, ngx_http_ferry_webhook_ctx_t *wh)
{
    ngx_int_t        n;
    ngx_table_elt_t *h;

    (void) ngx_http_ferry_find_header(r, &ngx_http_ferry_slack_retry_num, &h);

    if (h) {
        n = NGX_ERROR;

        if (h->value.len <= NGX_HTTP_FERRY_RETRY_NUM_MAX_DIGITS) {
            n = ngx_atoi(h->value.data, h->value.len);
        }

        if (n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                "ferry: ignoring %V \"%V\"", &ngx_http_ferry_slack_retry_num,
                &h->value);

        } else {
            wh->retry_num = (ngx_uint_t) n;
        }
    }

    (void) ngx_http_ferry_find_header(
        r, &ngx_http_ferry_slack_retry_reason, &h);

    if (h) {
        if (ferry_utf8_valid(h->value.data, h->value.len)) {
            wh->retry_reason = h->value;

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                "ferry: ignoring %V that is not UTF-8",
                &ngx_http_ferry_slack_retry_reason);
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "ferry webhook: timestamp %V, retry %ui \"%V\"", &wh->timestamp,
        wh->retry_num, &wh->retry_reason);
}


/*
 * Once the whole body is in ctx->body, exactly as it came: the signature
 * over it, then what it is. A url_verification keeps its challenge for
 * ngx_http_ferry_webhook_answer(); anything else goes on to ferryd.
 */

ngx_int_t
ngx_http_ferry_webhook_check(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    size_t                        len;
    cJSON                        *json, *type, *challenge;
    ngx_int_t                     status;
    const char                   *end, *last;
    ferry_slack_rc_t              rc;
    ngx_http_ferry_webhook_ctx_t *wh;
    ngx_http_ferry_loc_conf_t    *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);
    wh = ctx->webhook;

    rc = ferry_slack_verify(flcf->slack_secret.data, flcf->slack_secret.len,
        (char *) wh->timestamp.data, wh->timestamp.len,
        (char *) wh->signature.data, wh->signature.len, ctx->body.data,
        ctx->body.len, (long long) ngx_time());

    if (rc != FERRY_SLACK_OK) {
        return ngx_http_ferry_webhook_refuse(r, ctx, rc);
    }

    json = NULL;

    if (ctx->body.len) {
        json = cJSON_ParseWithLengthOpts(
            (const char *) ctx->body.data, ctx->body.len, &end, 0);
    }

    if (json != NULL) {
        last = (const char *) ctx->body.data + ctx->body.len;

        while (end < last
            && (*end == ' ' || *end == '\t' || *end == CR || *end == LF)) {
            end++;
        }

        if (end != last) {
            cJSON_Delete(json);
            json = NULL;
        }
    }

    if (json == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: signed Slack request body is not valid JSON");
        ctx->error = "request body is not valid JSON";
        return NGX_HTTP_BAD_REQUEST;
    }

    status = NGX_OK;
    type = NULL;

    if (cJSON_IsObject(json)) {
        type = cJSON_GetObjectItemCaseSensitive(json, "type");

    } else {
        ctx->error = "request body is not a JSON object";
        status = NGX_HTTP_BAD_REQUEST;
    }

    if (cJSON_IsString(type)
        && ngx_strcmp(type->valuestring, "url_verification") == 0)
    {
        challenge = cJSON_GetObjectItemCaseSensitive(json, "challenge");

        len =
            cJSON_IsString(challenge) ? ngx_strlen(challenge->valuestring) : 0;

        if (len == 0
            || !ferry_utf8_valid((u_char *) challenge->valuestring, len)) {
            ctx->error = "url_verification without a challenge";
            status = NGX_HTTP_BAD_REQUEST;

        } else {
            wh->challenge.data = ngx_pnalloc(r->pool, len);

            if (wh->challenge.data == NULL) {
                status = NGX_HTTP_INTERNAL_SERVER_ERROR;

            } else {
                ngx_memcpy(wh->challenge.data, challenge->valuestring, len);
                wh->challenge.len = len;
            }
        }
    }

    cJSON_Delete(json);

    if (status == NGX_HTTP_BAD_REQUEST) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: signed Slack request refused: %s", ctx->error);
    }

    return status;
}


/* url_verification: 200 {"challenge":"..."}, ferryd is not asked. */

ngx_int_t
ngx_http_ferry_webhook_answer(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    size_t                        len;
    ngx_buf_t                    *b;
    ngx_http_ferry_webhook_ctx_t *wh;

    wh = ctx->webhook;

    len = sizeof("{\"challenge\":\"\"}") - 1 + wh->challenge.len
        + ngx_escape_json(NULL, wh->challenge.data, wh->challenge.len);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(
        b->last, "{\"challenge\":\"", sizeof("{\"challenge\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(
        b->last, wh->challenge.data, wh->challenge.len);
    b->last = ngx_cpymem(b->last, "\"}", sizeof("\"}") - 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
        "ferry: answered Slack's url_verification");

    return ngx_http_ferry_send_json(r, ctx, NGX_HTTP_OK, b);
}


/*
 * A request that is not Slack's, or not as Slack signed it: 401, logged at
 * warn (someone else knocks at the Request URL, or the secret is wrong).
 */

static ngx_int_t
ngx_http_ferry_webhook_refuse(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx, ferry_slack_rc_t rc)
{
    ngx_http_ferry_webhook_ctx_t *wh;

    wh = ctx->webhook;

    if (rc == FERRY_SLACK_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
            "ferry: Slack signature: %s", ferry_slack_strerror(rc));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == FERRY_SLACK_STALE) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
            "ferry: Slack request refused: %s (timestamp %V, now %T)",
            ferry_slack_strerror(rc), &wh->timestamp, ngx_time());

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
            "ferry: Slack request refused: %s", ferry_slack_strerror(rc));
    }

    ctx->error = ferry_slack_strerror(rc);

    return NGX_HTTP_UNAUTHORIZED;
}


static ngx_int_t
ngx_http_ferry_webhook_not_allowed(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_table_elt_t *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "POST");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
        "ferry: Slack request with method %V", &r->method_name);

    ctx->error = "Slack events are POSTed";

    return NGX_HTTP_NOT_ALLOWED;
}
