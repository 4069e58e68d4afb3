/*
 * The streaming array splitter of Slack's JSON files: the same array fed in
 * every split gives the same elements; what is not one array is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "slack/slack_json.h"

typedef struct {
    char out[4096];
    int  n;
} sink_t;

static int
on_element(void *data, const char *s, size_t n)
{
    sink_t *k = data;
    size_t  len = strlen(k->out);

    snprintf(k->out + len, sizeof(k->out) - len, "<%.*s>", (int) n, s);
    k->n++;
    return 0;
}

/* Feeds text cut at a and b (0 for no cut); 0 or the failing result. */
static int
run(const char *text, size_t a, size_t b, sink_t *k)
{
    slack_json_t j;
    size_t       len = strlen(text), cuts[3] = { a, b, len }, prev = 0, i;
    int          rc = 0;

    memset(k, 0, sizeof(*k));
    slack_json_init(&j, 1024, on_element, k);

    for (i = 0; i < 3 && rc == 0; i++) {
        if (cuts[i] < prev || cuts[i] > len) {
            continue;
        }
        rc = slack_json_feed(&j, text + prev, cuts[i] - prev);
        prev = cuts[i];
    }

    if (rc == 0) {
        rc = slack_json_finish(&j);
    }

    slack_json_free(&j);

    return rc;
}

static void
test_slack_json_elements_in_every_split(void **state)
{
    const char *text = " [ {\"a\":\"x],}\\\"{\",\"b\":[1,{\"c\":2}]} ,\n"
                       "\"str,]\", 12 ,true,null,[[]],{} ]\n";
    const char *want =
        "<{\"a\":\"x],}\\\"{\",\"b\":[1,{\"c\":2}]}><\"str,]\"><12><true>"
        "<null><[[]]><{}>";
    size_t len = strlen(text), a, b;
    sink_t k;

    (void) state;
    for (a = 0; a <= len; a++) {
        for (b = a; b <= len; b++) {
            assert_int_equal(run(text, a, b, &k), 0);
            assert_string_equal(k.out, want);
            assert_int_equal(k.n, 7);
        }
    }
}

static void
test_slack_json_empty_array(void **state)
{
    sink_t k;

    (void) state;
    assert_int_equal(run("[]", 0, 0, &k), 0);
    assert_int_equal(k.n, 0);
    assert_int_equal(run(" [ \n ] ", 3, 0, &k), 0);
}

static void
test_slack_json_refuses_what_is_not_one_array(void **state)
{
    /* (an element's own syntax, "[1 2]", is cJSON's to judge) */
    static const char *const bad[] = { "", "{}", "[1,2", "[1,,2]", "[,1]",
        "[1,]", "[1] x", "[{\"a\":1]", "[\"open]", "[}", "[1,}]" };
    sink_t                   k;
    size_t                   i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(run(bad[i], 0, 0, &k), -1);
    }
}

static void
test_slack_json_element_size_limit(void **state)
{
    char   text[3000];
    sink_t k;

    (void) state;
    memset(text, 0, sizeof(text));
    strcpy(text, "[\"");
    memset(text + 2, 'x', 2000);
    strcpy(text + 2002, "\"]");
    assert_int_equal(run(text, 0, 0, &k), -1);
}

static int
stop(void *data, const char *s, size_t n)
{
    (void) data;
    (void) s;
    (void) n;
    return 7;
}

static void
test_slack_json_callback_stops_the_feed(void **state)
{
    slack_json_t j;

    (void) state;
    slack_json_init(&j, 64, stop, NULL);
    assert_int_equal(slack_json_feed(&j, "[1,2,3]", 7), 7);
    slack_json_free(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_json_elements_in_every_split),
        cmocka_unit_test(test_slack_json_empty_array),
        cmocka_unit_test(test_slack_json_refuses_what_is_not_one_array),
        cmocka_unit_test(test_slack_json_element_size_limit),
        cmocka_unit_test(test_slack_json_callback_stops_the_feed),
    };

    return cmocka_run_group_tests_name("slack_json", tests, NULL, NULL);
}
