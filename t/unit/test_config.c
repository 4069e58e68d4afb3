/*
 * ferryd's settings file beyond the basics of test_ferryd.c: what a bad
 * file says (the key, the line, the path), and the environment rescuing a
 * bad value of the file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"

static char path[64];

static const char *
write_conf(const char *text)
{
    int fd;

    snprintf(path, sizeof(path), "/tmp/ferry-test-config-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);

    return path;
}

static void
test_config_unknown_key_in_file_names_key_and_line(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    write_conf("# ferryd\n\nWORKERS=2\nWORKRES=3\n");
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "WORKRES"));
    assert_non_null(strstr(err, ":4:"));
    config_free(&cfg);
    unlink(path);
}

static void
test_config_line_without_equals_is_an_error(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    write_conf("WORKERS 2\n");
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "KEY=VALUE"));
    config_free(&cfg);
    unlink(path);
}

static void
test_config_bad_value_in_file_rescued_by_environment(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    write_conf("WORKERS=many\nSOCKET_MODE=0640\n");

    unsetenv("WORKERS");
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "WORKERS"));
    config_free(&cfg);

    setenv("WORKERS", "3", 1);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.workers, 3);
    assert_int_equal(cfg.socket_mode, 0640);
    config_free(&cfg);

    unsetenv("WORKERS");
    unlink(path);
}

static void
test_config_directory_as_file_is_an_error(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    assert_int_equal(config_load(&cfg, "/tmp", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/tmp"));
    config_free(&cfg);
}

static void
test_config_overlong_line_is_an_error(void **state)
{
    config_t cfg;
    char     err[256], *text;

    (void) state;
    text = malloc(10000);
    assert_non_null(text);
    memcpy(text, "SPOOL_DIR=", 10);
    memset(text + 10, 'x', 9988);
    memcpy(text + 9998, "\n", 2);
    write_conf(text);
    free(text);

    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":1:"));
    config_free(&cfg);
    unlink(path);
}

static void
test_config_secret_file_must_be_a_regular_file(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    setenv("JWT_SECRET_FILE", "/tmp", 1);
    assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "JWT_SECRET_FILE /tmp"));
    config_free(&cfg);
    unsetenv("JWT_SECRET_FILE");
}

static void
test_config_unknown_socket_group_is_an_error(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    setenv("SOCKET_GROUP", "no-such-group-ferry", 1);
    assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SOCKET_GROUP"));
    config_free(&cfg);
    unsetenv("SOCKET_GROUP");
}

static void
test_config_grist_single_underscore_spelling_is_accepted(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    setenv("GRIST_SERVER", "http://grist.test", 1);
    assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
    assert_string_equal(cfg.grist_server, "http://grist.test");
    assert_int_equal(cfg.grist_sync_interval, 30);
    assert_int_equal(cfg.grist_year, 2026);
    assert_int_equal(cfg.grist_hard_delete_every, 10);
    config_free(&cfg);
    unsetenv("GRIST_SERVER");
}

static void
test_config_grist_both_spellings_different_is_an_error(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    setenv("GRIST__DOC_ID", "doc1", 1);
    setenv("GRIST_DOC_ID", "doc2", 1);
    assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "GRIST__DOC_ID"));
    assert_non_null(strstr(err, "GRIST_DOC_ID"));
    config_free(&cfg);

    setenv("GRIST_DOC_ID", "doc1", 1);
    assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
    assert_string_equal(cfg.grist_doc_id, "doc1");
    config_free(&cfg);
    unsetenv("GRIST__DOC_ID");
    unsetenv("GRIST_DOC_ID");
}

static void
test_config_grist_environment_alias_beats_file(void **state)
{
    config_t cfg;
    char     err[256];

    (void) state;
    write_conf("GRIST__API_KEY=from-file\nGRIST_DOC_ID=file-doc\n");
    setenv("GRIST_API_KEY", "from-env", 1);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.grist_api_key, "from-env");
    assert_string_equal(cfg.grist_doc_id, "file-doc");
    config_free(&cfg);
    unsetenv("GRIST_API_KEY");
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_unknown_key_in_file_names_key_and_line),
        cmocka_unit_test(test_config_line_without_equals_is_an_error),
        cmocka_unit_test(test_config_bad_value_in_file_rescued_by_environment),
        cmocka_unit_test(test_config_directory_as_file_is_an_error),
        cmocka_unit_test(test_config_overlong_line_is_an_error),
        cmocka_unit_test(test_config_secret_file_must_be_a_regular_file),
        cmocka_unit_test(test_config_unknown_socket_group_is_an_error),
        cmocka_unit_test(
            test_config_grist_single_underscore_spelling_is_accepted),
        cmocka_unit_test(
            test_config_grist_both_spellings_different_is_an_error),
        cmocka_unit_test(test_config_grist_environment_alias_beats_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
