/*
 * ferryd's pure parts: request frames, routing (captures, 404, 405 with
 * Allow), response frames read back by the module's own head parser, and
 * settings (file syntax, environment over file, bad values).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"
#include "ferry_frame.h"
#include "core/request.h"
#include "core/response.h"
#include "core/router.h"

static req_rc_t
parse(req_t *req, const char *json, char *err)
{
    return req_parse(req, json, strlen(json), err, 256);
}

static void
test_request_parses_every_field(void **state)
{
    req_t req;
    char  err[256];

    (void) state;
    assert_int_equal(
        parse(&req,
            "{\"v\":1,\"rid\":\"r1\",\"method\":\"POST\",\"path\":\"/imports\","
            "\"query\":{\"mode\":\"upsert\"},\"user\":\"u7\",\"body\":{\"a\":"
            "1}}",
            err),
        REQ_OK);
    assert_string_equal(req.rid, "r1");
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/imports");
    assert_string_equal(req.user, "u7");
    assert_string_equal(req_query(&req, "mode"), "upsert");
    assert_null(req_query(&req, "nope"));
    assert_true(cJSON_IsObject(req.body));
    req_free(&req);
}

static void
test_request_null_user_and_body(void **state)
{
    req_t req;
    char  err[256];

    (void) state;
    assert_int_equal(
        parse(&req,
            "{\"v\":1,\"method\":\"GET\",\"path\":\"/ping\",\"user\":null,"
            "\"body\":null}",
            err),
        REQ_OK);
    assert_null(req.user);
    assert_null(req.body);
    assert_string_equal(req.rid, "-");
    req_free(&req);
}

static void
test_request_rejects_bad_frames(void **state)
{
    req_t req;
    char  err[256];

    (void) state;
    assert_int_equal(parse(&req, "{\"v\":1, \"method\": ", err), REQ_BAD_JSON);
    assert_non_null(strstr(err, "JSON"));
    req_free(&req);

    assert_int_equal(parse(&req, "[1,2]", err), REQ_BAD_JSON);
    req_free(&req);

    assert_int_equal(
        parse(&req, "{\"v\":2,\"method\":\"GET\",\"path\":\"/\"}", err),
        REQ_BAD_VERSION);
    assert_non_null(strstr(err, "version 2"));
    req_free(&req);

    assert_int_equal(parse(&req, "{\"method\":\"GET\",\"path\":\"/\"}", err),
        REQ_BAD_VERSION);
    req_free(&req);

    assert_int_equal(
        parse(&req, "{\"v\":1,\"path\":\"/\"}", err), REQ_BAD_FIELDS);
    req_free(&req);

    assert_int_equal(
        parse(&req, "{\"v\":1,\"method\":\"GET\",\"path\":\"relative\"}", err),
        REQ_BAD_FIELDS);
    req_free(&req);

    assert_int_equal(
        parse(&req, "{\"v\":1,\"method\":\"GET\",\"path\":\"/\",\"query\":[1]}",
            err),
        REQ_BAD_FIELDS);
    req_free(&req);
}

static void
h_a(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    (void) ferry;
    (void) req;
    resp->status = 1;
}
static void
h_b(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    (void) ferry;
    (void) req;
    resp->status = 2;
}

static const route_t routes[] = {
    { "GET", "/imports", h_a, 0 },
    { "POST", "/imports", h_b, 0 },
    { "GET", "/imports/{id}", h_a, 0 },
    { "DELETE", "/imports/{id}", h_b, 0 },
    { "GET", "/imports/{id}/errors", h_b, 0 },
};

static route_rc_t
route(req_t *req, const char *method, const char *path, const route_t **found,
    char *allow)
{
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->path = path;
    return router_match(routes, 5, req, found, allow, 64);
}

static void
test_router_matches_and_captures(void **state)
{
    req_t          req;
    const route_t *r;
    char           allow[64];

    (void) state;
    assert_int_equal(route(&req, "POST", "/imports", &r, allow), ROUTE_FOUND);
    assert_ptr_equal(r, &routes[1]);
    assert_int_equal(req.nparams, 0);

    assert_int_equal(
        route(&req, "GET", "/imports/abc-1", &r, allow), ROUTE_FOUND);
    assert_ptr_equal(r, &routes[2]);
    assert_int_equal(req.nparams, 1);
    assert_string_equal(req.params[0], "abc-1");
    free(req.params[0]);

    assert_int_equal(
        route(&req, "GET", "/imports/x/errors", &r, allow), ROUTE_FOUND);
    assert_ptr_equal(r, &routes[4]);
    assert_string_equal(req.params[0], "x");
    free(req.params[0]);
}

static void
test_router_404_and_405(void **state)
{
    req_t          req;
    const route_t *r;
    char           allow[64];

    (void) state;
    assert_int_equal(route(&req, "GET", "/nope", &r, allow), ROUTE_NOT_FOUND);
    assert_int_equal(
        route(&req, "GET", "/imports/", &r, allow), ROUTE_NOT_FOUND);
    assert_int_equal(
        route(&req, "GET", "/imports/a/b", &r, allow), ROUTE_NOT_FOUND);
    assert_int_equal(
        route(&req, "GET", "/importsx", &r, allow), ROUTE_NOT_FOUND);

    assert_int_equal(
        route(&req, "PUT", "/imports/7", &r, allow), ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(
        route(&req, "PATCH", "/imports", &r, allow), ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET, POST");
}

static void
test_response_frame_reads_back(void **state)
{
    resp_t            r;
    unsigned char    *frame;
    size_t            len, plen;
    ferry_resp_head_t h;
    char              err[128];

    (void) state;
    resp_init(&r);
    resp_error(&r, 404, "no job %s", "x\"y");
    assert_int_equal(resp_header(&r, "Retry-After", "7"), 0);
    assert_int_equal(resp_header(&r, "retry-after", "8"), 0); /* replaces */

    assert_int_equal(resp_frame(&r, &frame, &len), 0);
    assert_int_equal(
        ferry_frame_check(frame, len, 1 << 20, &plen), FERRY_FRAME_OK);
    assert_int_equal(
        ferry_resp_head_parse((char *) frame + 4, plen, &h, err, sizeof(err)),
        0);
    assert_int_equal(h.status, 404);
    assert_int_equal(h.length, r.body_len);
    assert_int_equal(h.nheaders, 2);
    assert_string_equal(h.headers[0].name, "Retry-After");
    assert_string_equal(h.headers[0].value, "8");
    assert_string_equal(h.headers[1].name, "Content-Type");
    assert_memory_equal(
        frame + 4 + plen, "{\"error\":\"no job x\\\"y\"}", r.body_len);
    assert_int_equal(len, 4 + plen + r.body_len);

    ferry_resp_head_free(&h);
    free(frame);
    resp_free(&r);
}

static void
test_config_file_and_environment(void **state)
{
    config_t    cfg;
    char        err[256], path[] = "/tmp/ferry-test-config-XXXXXX";
    int         fd;
    const char *text = "# comment\n\n  WORKERS = 8  "
                       "\nDATABASE_URL=\"postgresql:///x\"\nLOG_LEVEL=loud\n"
                       "SOCKET_MODE=0600\n";

    (void) state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);

    unsetenv("LOG_LEVEL");
    unsetenv("WORKERS");
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "LOG_LEVEL"));
    config_free(&cfg);

    setenv("LOG_LEVEL", "warn", 1);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.workers, 8);
    assert_int_equal(cfg.socket_mode, 0600);
    assert_int_equal(cfg.db_pool_size, 5);
    assert_string_equal(cfg.database_url, "postgresql:///x");
    config_free(&cfg);

    setenv("WORKERS", "0", 1);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "WORKERS"));
    config_free(&cfg);

    unsetenv("WORKERS");
    unsetenv("LOG_LEVEL");
    unlink(path);
}

static void
test_config_rejects_unknown_key_and_bad_url(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "NOPE", "1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NOPE"));
    assert_int_equal(
        config_set(&cfg, "MAX_FRAME_BYTES", "12x", err, sizeof(err)), -1);
    assert_int_equal(
        config_set(&cfg, "SOCKET_MODE", "0999", err, sizeof(err)), -1);
    config_free(&cfg);

    setenv("DATABASE_URL", "postgresql://[bad", 1);
    assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "DATABASE_URL"));
    config_free(&cfg);
    unsetenv("DATABASE_URL");

    assert_int_equal(
        config_load(&cfg, "/nonexistent/ferryd.conf", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/ferryd.conf"));
    config_free(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_parses_every_field),
        cmocka_unit_test(test_request_null_user_and_body),
        cmocka_unit_test(test_request_rejects_bad_frames),
        cmocka_unit_test(test_router_matches_and_captures),
        cmocka_unit_test(test_router_404_and_405),
        cmocka_unit_test(test_response_frame_reads_back),
        cmocka_unit_test(test_config_file_and_environment),
        cmocka_unit_test(test_config_rejects_unknown_key_and_bad_url),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
