/* Slack's emoji names into Mattermost's (mattermost/mm_emoji). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mattermost/mm_emoji.h"
#include "mattermost/mm_emoji_data.h"

static char out[80];

/* rc and, unless want is NULL, the name written */
static void
expect(const char *slack, int rc, const char *want)
{
    assert_int_equal(mm_emoji_name(slack, out, sizeof(out)), rc);
    if (want) {
        assert_string_equal(out, want);
    }
}

static void
test_emoji_system_name_kept(void **state)
{
    (void) state;
    expect("smile", 1, "smile");
    expect("+1", 1, "+1");
    expect("-1", 1, "-1");
    expect("100", 1, "100");
    expect("mattermost", 1, "mattermost");
}

static void
test_emoji_alias_becomes_primary_name(void **state)
{
    (void) state;
    expect("thumbsup", 1, "+1");
    expect("thumbsdown", 1, "-1");
    expect("satisfied", 1, "laughing");
    expect("raised_hand", 1, "hand");
    expect("poop", 1, "hankey");
}

static void
test_emoji_slack_only_names_mapped(void **state)
{
    (void) state;
    expect("simple_smile", 1, "slightly_smiling_face");
    expect("squirrel", 1, "chipmunk");
    expect(
        "women-with-bunny-ears-partying", 1, "woman-with-bunny-ears-partying");
}

static void
test_emoji_skin_tone_stripped(void **state)
{
    (void) state;
    expect("+1::skin-tone-2", 1, "+1");
    expect("thumbsup::skin-tone-6", 1, "+1");
    expect("wave::skin-tone-4", 1, "wave");
    /* two-person emoji carry a tone for each */
    expect("people_holding_hands::skin-tone-2::skin-tone-5", 1,
        "people_holding_hands");
    /* a custom emoji keeps its name, tone dropped */
    expect("partyparrot::skin-tone-3", 0, "partyparrot");
}

static void
test_emoji_skin_tone_swatch_is_an_emoji(void **state)
{
    (void) state;
    expect("skin-tone-3", 1, "skin-tone-3");
}

static void
test_emoji_bad_suffix_is_invalid(void **state)
{
    (void) state;
    expect("+1::skin-tone-7", -1, "");
    expect("+1::skin-tone-1", -1, "");
    expect("+1::skin-tone-", -1, "");
    expect("+1::skin-tone-22", -1, "");
    expect("+1::wink", -1, "");
    expect("::skin-tone-2", -1, "");
}

static void
test_emoji_custom_name_passes_through(void **state)
{
    (void) state;
    expect("partyparrot", 0, "partyparrot");
    expect("ship-it_2+", 0, "ship-it_2+");
    /* Mattermost's rule takes upper case; its system names are lower */
    expect("Smile", 0, "Smile");
    /* a prefix or an extension of a system name is not one */
    expect("smil", 0, NULL);
    expect("smilex", 0, NULL);
    /* newer Unicode than Mattermost's list */
    expect("melting_face", 0, "melting_face");
}

static void
test_emoji_invalid_characters_refused(void **state)
{
    (void) state;
    expect("", -1, "");
    expect(NULL, -1, "");
    expect(":smile:", -1, "");
    expect("thank you", -1, "");
    expect("a.b", -1, "");
    expect("caf\xc3\xa9", -1, "");
    expect("\xd1\x83\xd0\xbb\xd1\x8b\xd0\xb1", -1, "");
}

static void
test_emoji_length_limit_is_64(void **state)
{
    char name[80];

    (void) state;
    memset(name, 'a', 64);
    name[64] = '\0';
    assert_int_equal(mm_emoji_name(name, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 64);
    name[64] = 'a';
    name[65] = '\0';
    assert_int_equal(mm_emoji_name(name, out, sizeof(out)), -1);
    /* the limit applies once the tone is gone */
    memset(name, 'a', 64);
    strcpy(name + 64, "::skin-tone-2");
    assert_int_equal(mm_emoji_name(name, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 64);
}

static void
test_emoji_short_buffer_refused(void **state)
{
    char small[3];

    (void) state;
    assert_int_equal(mm_emoji_name("+1", small, sizeof(small)), 1);
    assert_string_equal(small, "+1");
    assert_int_equal(mm_emoji_name("thumbsup", small, sizeof(small)), 1);
    assert_string_equal(small, "+1");
    assert_int_equal(mm_emoji_name("smile", small, sizeof(small)), -1);
    assert_string_equal(small, "");
    assert_int_equal(mm_emoji_name("smile", small, 0), -1);
}

/* the binary search needs the generated table in strcmp order */
static void
test_emoji_every_table_name_found(void **state)
{
    size_t i, n = sizeof(mm_emoji_names) / sizeof(mm_emoji_names[0]);

    (void) state;
    assert_true(n > 4000);
    for (i = 0; i < n; i++) {
        if (i > 0) {
            assert_true(strcmp(mm_emoji_names[i - 1], mm_emoji_names[i]) < 0);
        }
        assert_int_equal(mm_emoji_name(mm_emoji_names[i], out, sizeof(out)), 1);
        assert_string_equal(out, mm_emoji_names[mm_emoji_primary[i]]);
        /* a primary name is its own primary */
        assert_int_equal(
            mm_emoji_primary[mm_emoji_primary[i]], mm_emoji_primary[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emoji_system_name_kept),
        cmocka_unit_test(test_emoji_alias_becomes_primary_name),
        cmocka_unit_test(test_emoji_slack_only_names_mapped),
        cmocka_unit_test(test_emoji_skin_tone_stripped),
        cmocka_unit_test(test_emoji_skin_tone_swatch_is_an_emoji),
        cmocka_unit_test(test_emoji_bad_suffix_is_invalid),
        cmocka_unit_test(test_emoji_custom_name_passes_through),
        cmocka_unit_test(test_emoji_invalid_characters_refused),
        cmocka_unit_test(test_emoji_length_limit_is_64),
        cmocka_unit_test(test_emoji_short_buffer_refused),
        cmocka_unit_test(test_emoji_every_table_name_found),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
