/* The UTF-8 and e-mail checks shared by the module, accounts and imports. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ferry_email.h"
#include "ferry_utf8.h"

#define U(s) (const unsigned char *) (s), sizeof(s) - 1

static void
test_utf8_accepts_ascii_and_every_length(void **state)
{
    (void) state;
    assert_true(ferry_utf8_valid(U("")));
    assert_true(ferry_utf8_valid(U("plain ascii")));
    assert_true(ferry_utf8_valid(U("\xc3\xa9t\xc3\xa9"))); /* été */
    assert_true(ferry_utf8_valid(U("\xe2\x82\xac")));      /* € */
    assert_true(ferry_utf8_valid(U("\xf0\x9f\x98\x80")));  /* 😀 */
    assert_true(ferry_utf8_valid(U("\xf4\x8f\xbf\xbf")));  /* U+10FFFF */
    assert_true(ferry_utf8_valid(U("\xed\x9f\xbf")));      /* U+D7FF */
}

static void
test_utf8_rejects_overlongs_surrogates_and_beyond(void **state)
{
    (void) state;
    assert_false(ferry_utf8_valid(U("\xc0\xaf")));
    assert_false(ferry_utf8_valid(U("\xc1\xbf")));
    assert_false(ferry_utf8_valid(U("\xe0\x80\xaf")));
    assert_false(ferry_utf8_valid(U("\xf0\x80\x80\xaf")));
    assert_false(ferry_utf8_valid(U("\xed\xa0\x80")));     /* D800 */
    assert_false(ferry_utf8_valid(U("\xf4\x90\x80\x80"))); /* 110000 */
    assert_false(ferry_utf8_valid(U("\xf5\x80\x80\x80")));
    assert_false(ferry_utf8_valid(U("\xff")));
}

static void
test_utf8_rejects_truncated_and_stray_continuation(void **state)
{
    (void) state;
    assert_false(ferry_utf8_valid(U("abc\xc3")));
    assert_false(ferry_utf8_valid(U("\xe2\x82")));
    assert_false(ferry_utf8_valid(U("\xf0\x9f\x98")));
    assert_false(ferry_utf8_valid(U("\x80")));
    assert_false(ferry_utf8_valid(U("\xe2\x28\xa1")));
}

static void
test_utf8_char_len_finds_each_character(void **state)
{
    (void) state;
    assert_int_equal(ferry_utf8_char_len(U("a")), 1);
    assert_int_equal(ferry_utf8_char_len(U("\xc3\xa9x")), 2);
    assert_int_equal(ferry_utf8_char_len(U("\xe2\x82\xac")), 3);
    assert_int_equal(ferry_utf8_char_len(U("\xf0\x9f\x98\x80")), 4);
    assert_int_equal(ferry_utf8_char_len(U("\xf0\x9f\x98")), 0);
    assert_int_equal(ferry_utf8_char_len(U("\xa9")), 0);
    assert_int_equal(ferry_utf8_char_len((const unsigned char *) "a", 0), 0);
}

static void
test_utf8_cut_counts_characters_and_never_splits_one(void **state)
{
    char out[16];

    (void) state;
    /* "жук" is 6 bytes, 3 characters. */
    assert_string_equal(
        ferry_utf8_cut("\xd0\xb6\xd1\x83\xd0\xba", 2, out, sizeof(out)),
        "\xd0\xb6\xd1\x83");
    assert_string_equal(ferry_utf8_cut("abc", 5, out, sizeof(out)), "abc");
    assert_string_equal(ferry_utf8_cut("abc", 0, out, sizeof(out)), "");
    assert_string_equal(ferry_utf8_cut(NULL, 3, out, sizeof(out)), "");
    /* A short buffer ends before a character it cannot hold whole. */
    assert_string_equal(
        ferry_utf8_cut("aaaaaaaaaa\xf0\x9f\x98\x80", 20, out, 14),
        "aaaaaaaaaa");
    assert_string_equal(
        ferry_utf8_cut("aaaaaaaaa\xf0\x9f\x98\x80", 20, out, 12), "aaaaaaaaa");
    assert_string_equal(
        ferry_utf8_cut("aaaaaaaaa\xf0\x9f\x98\x80", 20, out, 14),
        "aaaaaaaaa\xf0\x9f\x98\x80");
}

static void
test_email_is_trimmed_and_domain_lower_cased(void **state)
{
    char out[FERRY_EMAIL_MAX + 1];

    (void) state;
    assert_int_equal(ferry_email_normalize("  Ann.Lee@Example.ORG \t", out), 0);
    assert_string_equal(out, "Ann.Lee@example.org");
}

static void
test_email_normalizes_in_place(void **state)
{
    char buf[] = "Bob@Mail.Example.com";

    (void) state;
    assert_int_equal(ferry_email_normalize(buf, buf), 0);
    assert_string_equal(buf, "Bob@mail.example.com");
}

static void
test_email_rejects_what_is_not_an_address(void **state)
{
    static const char *bad[] = {
        "",
        "   ",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.cd",
        "a@b@c.de",
        "a b@c.de",
        "a@.cd",
        "a@b.",
        "a@b..cd",
        "\"a\"@b.cd",
        "a,b@c.de",
        "a<b@c.de",
    };
    char   out[FERRY_EMAIL_MAX + 1];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ferry_email_normalize(bad[i], out), -1);
    }
}

static void
test_email_length_limit(void **state)
{
    char in[FERRY_EMAIL_MAX + 2], out[FERRY_EMAIL_MAX + 2];

    (void) state;
    memset(in, 'a', sizeof(in));
    memcpy(in + FERRY_EMAIL_MAX - 6, "@b.cde", 7); /* exactly the max */
    assert_int_equal(ferry_email_normalize(in, out), 0);
    assert_int_equal(strlen(out), FERRY_EMAIL_MAX);

    memset(in, 'a', sizeof(in));
    memcpy(in + FERRY_EMAIL_MAX - 5, "@b.cde", 7); /* one over */
    assert_int_equal(ferry_email_normalize(in, out), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_ascii_and_every_length),
        cmocka_unit_test(test_utf8_rejects_overlongs_surrogates_and_beyond),
        cmocka_unit_test(test_utf8_rejects_truncated_and_stray_continuation),
        cmocka_unit_test(test_utf8_char_len_finds_each_character),
        cmocka_unit_test(test_utf8_cut_counts_characters_and_never_splits_one),
        cmocka_unit_test(test_email_is_trimmed_and_domain_lower_cased),
        cmocka_unit_test(test_email_normalizes_in_place),
        cmocka_unit_test(test_email_rejects_what_is_not_an_address),
        cmocka_unit_test(test_email_length_limit),
    };

    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
