/* Slack's message markup into Mattermost's Markdown (mattermost/mm_markup).
 * Each case is a Slack message object as JSON and the Markdown expected. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mattermost/mm_markup.h"

/* the names the export knows: two users, one channel */
static const char *
lookup(void *ctx, char kind, const char *id)
{
    int *calls = ctx;

    (*calls)++;
    if (kind == '@' && strcmp(id, "U1") == 0) {
        return "alice";
    }
    if (kind == '@' && strcmp(id, "U2") == 0) {
        return "\xd0\xb1\xd0\xbe\xd1\x80\xd0\xb8\xd1\x81"; /* борис */
    }
    if (kind == '#' && strcmp(id, "C1") == 0) {
        return "town-square";
    }
    return NULL;
}

static char *
convert(const char *json)
{
    cJSON *msg = cJSON_Parse(json);
    char  *md;
    int    calls = 0;

    assert_non_null(msg);
    md = mm_markup_message(msg, lookup, &calls);
    cJSON_Delete(msg);
    assert_non_null(md);

    return md;
}

static void
expect(const char *json, const char *want)
{
    char *md = convert(json);

    assert_string_equal(md, want);
    free(md);
}

/* a message of one rich_text block holding one section of these
 * elements */
#define RICH(elements)                                                         \
    "{\"blocks\":[{\"type\":\"rich_text\",\"elements\":[{\"type\":"            \
    "\"rich_text_section\",\"elements\":[" elements "]}]}]}"

/* ---------------------------------------------------------------- text */

static void
test_markup_user_mention_becomes_username(void **state)
{
    (void) state;
    expect("{\"text\":\"hi <@U1>!\"}", "hi @alice!");
    expect("{\"text\":\"<@U1|old-label> and <@U2>\"}",
        "@alice and @\xd0\xb1\xd0\xbe\xd1\x80\xd0\xb8\xd1\x81");
}

static void
test_markup_unknown_user_keeps_label_or_id(void **state)
{
    (void) state;
    expect("{\"text\":\"<@U9|carol> <@U8>\"}", "@carol @U8");
    expect("{\"text\":\"<@W9|@dave>\"}", "@dave");
}

static void
test_markup_channel_link_becomes_tilde_name(void **state)
{
    (void) state;
    expect("{\"text\":\"see <#C1|general>\"}", "see ~town-square");
    expect("{\"text\":\"see <#C1>\"}", "see ~town-square");
    expect("{\"text\":\"<#C9|\xd0\xbd\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82"
           "\xd0\xb8> <#C8>\"}",
        "~\xd0\xbd\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82\xd0\xb8 ~C8");
}

static void
test_markup_links_with_and_without_label(void **state)
{
    (void) state;
    expect("{\"text\":\"<https://example.com/a?b=1&amp;c=2>\"}",
        "https://example.com/a?b=1&c=2");
    expect("{\"text\":\"<https://example.com|the site>\"}",
        "[the site](https://example.com)");
    expect("{\"text\":\"<https://example.com|https://example.com>\"}",
        "https://example.com");
    /* what would end the Markdown early is escaped */
    expect("{\"text\":\"<https://x.org/a_(b)|see [1]>\"}",
        "[see \\[1\\]](https://x.org/a_%28b%29)");
}

static void
test_markup_mailto_link(void **state)
{
    (void) state;
    expect("{\"text\":\"<mailto:bob@example.com|bob@example.com>\"}",
        "bob@example.com");
    expect("{\"text\":\"<mailto:bob@example.com>\"}", "bob@example.com");
    expect("{\"text\":\"<mailto:bob@example.com|Bob>\"}",
        "[Bob](mailto:bob@example.com)");
}

static void
test_markup_specials(void **state)
{
    (void) state;
    expect(
        "{\"text\":\"<!here> <!channel> <!everyone>\"}", "@here @channel @all");
    expect("{\"text\":\"<!here|@here> <!channel|here>\"}", "@here @channel");
    expect("{\"text\":\"<!subteam^S1|@devs> <!subteam^S2>\"}", "@devs @S2");
    expect("{\"text\":\"<!date^1392734382^{date_short}|Feb 18, 2014>\"}",
        "Feb 18, 2014");
    expect("{\"text\":\"<!date^1392734382^{date_short}>\"}",
        "2014-02-18 14:39 UTC");
}

static void
test_markup_entities_decoded(void **state)
{
    (void) state;
    expect("{\"text\":\"a &lt; b &amp;&amp; c &gt; d &amp;lt; &nbsp; &\"}",
        "a < b && c > d &lt; &nbsp; &");
    /* Slack's quote */
    expect("{\"text\":\"&gt; quoted\\nnot\"}", "> quoted\nnot");
}

static void
test_markup_text_emphasis_becomes_markdown(void **state)
{
    (void) state;
    expect("{\"text\":\"*bold* _it_ ~gone~\"}", "**bold** _it_ ~~gone~~");
    expect("{\"text\":\"a *bold <@U1> word*.\"}", "a **bold @alice word**.");
    /* not emphasis: inside words, around spaces, across lines */
    expect("{\"text\":\"2*3*4 a * b * c *x\\ny* **already**\"}",
        "2*3*4 a * b * c *x\ny* **already**");
    expect("{\"text\":\"`*not bold*` *\xd0\xb4\xd0\xb0*\"}",
        "`*not bold*` **\xd0\xb4\xd0\xb0**");
}

static void
test_markup_text_code_block_on_its_own_lines(void **state)
{
    (void) state;
    expect("{\"text\":\"run ```make *all*``` now\"}",
        "run\n```\nmake *all*\n```\nnow");
    expect("{\"text\":\"```\\npython\\nx &lt; 1\\n```\"}",
        "```\npython\nx < 1\n```");
    /* unterminated: closed at the end */
    expect("{\"text\":\"```open\"}", "```\nopen\n```");
}

static void
test_markup_text_skin_tone_dropped(void **state)
{
    (void) state;
    expect("{\"text\":\"hi :wave::skin-tone-3: :+1:\"}", "hi :wave: :+1:");
}

static void
test_markup_join_message_names_user(void **state)
{
    (void) state;
    expect("{\"subtype\":\"channel_join\",\"user\":\"U1\","
           "\"text\":\"<@U1> has joined the channel\"}",
        "@alice has joined the channel");
}

static void
test_markup_non_latin_text_unchanged(void **state)
{
    (void) state;
    /* Привет, 世界 😀 */
    expect("{\"text\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
           "\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\"}",
        "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
        "\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80");
    expect("{\"text\":\"<https://example.com/\xd0\xb0|\xd1\x81\xd1\x81\xd1"
           "\x8b\xd0\xbb\xd0\xba\xd0\xb0>\"}",
        "[\xd1\x81\xd1\x81\xd1\x8b\xd0\xbb\xd0\xba\xd0\xb0]"
        "(https://example.com/\xd0\xb0)");
}

/* ----------------------------------------------------------- rich text */

static void
test_markup_rich_text_mentions_and_links(void **state)
{
    (void) state;
    expect(RICH("{\"type\":\"text\",\"text\":\"hi \"},"
                "{\"type\":\"user\",\"user_id\":\"U1\"},"
                "{\"type\":\"text\",\"text\":\" in \"},"
                "{\"type\":\"channel\",\"channel_id\":\"C1\"},"
                "{\"type\":\"text\",\"text\":\" \"},"
                "{\"type\":\"link\",\"url\":\"https://a.io\",\"text\":\"A\"},"
                "{\"type\":\"text\",\"text\":\" \"},"
                "{\"type\":\"link\",\"url\":\"https://b.io\"}"),
        "hi @alice in ~town-square [A](https://a.io) https://b.io");
}

static void
test_markup_rich_text_specials_and_emoji(void **state)
{
    (void) state;
    expect(RICH("{\"type\":\"broadcast\",\"range\":\"here\"},"
                "{\"type\":\"text\",\"text\":\" \"},"
                "{\"type\":\"broadcast\",\"range\":\"everyone\"},"
                "{\"type\":\"text\",\"text\":\" \"},"
                "{\"type\":\"emoji\",\"name\":\"thumbsup\"},"
                "{\"type\":\"emoji\",\"name\":\"wave::skin-tone-2\"},"
                "{\"type\":\"emoji\",\"name\":\"partyparrot\"},"
                "{\"type\":\"text\",\"text\":\" \"},"
                "{\"type\":\"date\",\"timestamp\":1392734382,"
                "\"format\":\"{date}\",\"fallback\":\"Feb 18\"}"),
        "@here @all :+1::wave::partyparrot: Feb 18");
}

static void
test_markup_rich_text_usergroup_takes_handle_from_text(void **state)
{
    (void) state;
    expect("{\"text\":\"<!subteam^S1|@devs> ping\",\"blocks\":[{\"type\":"
           "\"rich_text\",\"elements\":[{\"type\":\"rich_text_section\","
           "\"elements\":[{\"type\":\"usergroup\",\"usergroup_id\":\"S1\"},"
           "{\"type\":\"text\",\"text\":\" ping\"}]}]}]}",
        "@devs ping");
    expect(RICH("{\"type\":\"usergroup\",\"usergroup_id\":\"S7\"}"), "@S7");
    /* an unknown user's label, from the text as well */
    expect("{\"text\":\"<@U9|carol>\",\"blocks\":[{\"type\":\"rich_text\","
           "\"elements\":[{\"type\":\"rich_text_section\",\"elements\":["
           "{\"type\":\"user\",\"user_id\":\"U9\"}]}]}]}",
        "@carol");
}

static void
test_markup_rich_text_styles(void **state)
{
    (void) state;
    expect(
        RICH("{\"type\":\"text\",\"text\":\"a \"},"
             "{\"type\":\"text\",\"text\":\"b\",\"style\":{\"bold\":true}},"
             "{\"type\":\"text\",\"text\":\" \"},"
             "{\"type\":\"text\",\"text\":\"i\",\"style\":{\"italic\":true}},"
             "{\"type\":\"text\",\"text\":\" \"},"
             "{\"type\":\"text\",\"text\":\"s\",\"style\":{\"strike\":true}},"
             "{\"type\":\"text\",\"text\":\" \"},"
             "{\"type\":\"text\",\"text\":\"c\",\"style\":{\"code\":true}}"),
        "a **b** _i_ ~~s~~ `c`");
}

static void
test_markup_rich_text_nested_styles(void **state)
{
    (void) state;
    /* spaces stay outside the markers, which nest and continue across
     * neighbouring pieces */
    expect(RICH("{\"type\":\"text\",\"text\":\"x \"},"
                "{\"type\":\"text\",\"text\":\"bold \",\"style\":{\"bold\":"
                "true}},"
                "{\"type\":\"text\",\"text\":\"both\",\"style\":{\"bold\":"
                "true,\"italic\":true}},"
                "{\"type\":\"link\",\"url\":\"https://a.io\",\"text\":\"L\","
                "\"style\":{\"bold\":true}},"
                "{\"type\":\"text\",\"text\":\" end\"}"),
        "x **bold _both_[L](https://a.io)** end");
    /* code pieces side by side make one span; a backtick inside widens it */
    expect(
        RICH("{\"type\":\"text\",\"text\":\"a\",\"style\":{\"code\":true}},"
             "{\"type\":\"text\",\"text\":\"`b\",\"style\":{\"code\":true}}"),
        "``a`b``");
    expect(
        RICH("{\"type\":\"text\",\"text\":\"`x\",\"style\":{\"code\":true}}"),
        "`` `x ``");
    /* a line break closes the markers and opens them again */
    expect(RICH("{\"type\":\"text\",\"text\":\"one\\n\\ntwo\",\"style\":"
                "{\"bold\":true}}"),
        "**one**\n\n**two**");
}

static void
test_markup_rich_text_lists(void **state)
{
    (void) state;
    expect("{\"blocks\":[{\"type\":\"rich_text\",\"elements\":["
           "{\"type\":\"rich_text_section\",\"elements\":[{\"type\":\"text\","
           "\"text\":\"todo:\"}]},"
           "{\"type\":\"rich_text_list\",\"style\":\"bullet\",\"indent\":0,"
           "\"elements\":[{\"type\":\"rich_text_section\",\"elements\":[{"
           "\"type\":\"text\",\"text\":\"one\"}]},{\"type\":"
           "\"rich_text_section\",\"elements\":[{\"type\":\"text\",\"text\":"
           "\"two\"}]}]},"
           "{\"type\":\"rich_text_list\",\"style\":\"ordered\",\"indent\":1,"
           "\"elements\":[{\"type\":\"rich_text_section\",\"elements\":[{"
           "\"type\":\"text\",\"text\":\"sub\"}]}]},"
           "{\"type\":\"rich_text_list\",\"style\":\"ordered\",\"offset\":2,"
           "\"elements\":[{\"type\":\"rich_text_section\",\"elements\":[{"
           "\"type\":\"text\",\"text\":\"third\\nmore\"}]}]},"
           "{\"type\":\"rich_text_section\",\"elements\":[{\"type\":\"text\","
           "\"text\":\"after\"}]}]}]}",
        "todo:\n\n- one\n- two\n    1. sub\n3. third\n   more\n\nafter");
}

static void
test_markup_rich_text_quote_and_preformatted(void **state)
{
    (void) state;
    expect("{\"blocks\":[{\"type\":\"rich_text\",\"elements\":["
           "{\"type\":\"rich_text_quote\",\"elements\":[{\"type\":\"text\","
           "\"text\":\"said\\nthis\"}]},"
           "{\"type\":\"rich_text_preformatted\",\"elements\":[{\"type\":"
           "\"text\",\"text\":\"x = *y*\\n```\\n\"},{\"type\":\"link\","
           "\"url\":\"https://a.io\"}]}]}]}",
        "> said\n> this\n\n````\nx = *y*\n```\nhttps://a.io\n````");
}

/* -------------------------------------------------------------- blocks */

static void
test_markup_blocks_section_header_divider_context_image(void **state)
{
    (void) state;
    expect("{\"blocks\":["
           "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\","
           "\"text\":\"Weekly\\nreport\"}},"
           "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":"
           "\"*done* for <@U1>\"},\"fields\":[{\"type\":\"plain_text\","
           "\"text\":\"f1\"},{\"type\":\"mrkdwn\",\"text\":\"_f2_\"}],"
           "\"accessory\":{\"type\":\"button\",\"text\":{\"type\":"
           "\"plain_text\",\"text\":\"Open\"},\"url\":\"https://a.io\"}},"
           "{\"type\":\"divider\"},"
           "{\"type\":\"context\",\"elements\":[{\"type\":\"image\","
           "\"image_url\":\"https://i.io/x.png\",\"alt_text\":\"x\"},"
           "{\"type\":\"mrkdwn\",\"text\":\"by\"},{\"type\":\"plain_text\","
           "\"text\":\"me\"}]},"
           "{\"type\":\"image\",\"image_url\":\"https://i.io/c.png\","
           "\"alt_text\":\"a cat\",\"title\":{\"type\":\"plain_text\","
           "\"text\":\"Cat\"}},"
           "{\"type\":\"actions\",\"elements\":[{\"type\":\"button\","
           "\"text\":{\"type\":\"plain_text\",\"text\":\"A\"},\"url\":"
           "\"https://a.io\"},{\"type\":\"button\",\"text\":{\"type\":"
           "\"plain_text\",\"text\":\"no url\"}},{\"type\":\"button\","
           "\"text\":{\"type\":\"plain_text\",\"text\":\"B\"},\"url\":"
           "\"https://b.io\"}]}]}",
        "# Weekly report\n\n**done** for @alice\nf1\n_f2_\n"
        "[Open](https://a.io)\n\n---\n\nby me\n\n"
        "Cat\n![a cat](https://i.io/c.png)\n\n"
        "[A](https://a.io) | [B](https://b.io)");
}

static void
test_markup_blocks_win_over_text(void **state)
{
    (void) state;
    expect("{\"text\":\"fallback *text*\",\"blocks\":[{\"type\":\"section\","
           "\"text\":{\"type\":\"mrkdwn\",\"text\":\"from blocks\"}}]}",
        "from blocks");
}

static void
test_markup_text_used_when_blocks_give_nothing(void **state)
{
    (void) state;
    expect("{\"text\":\"the <@U1> text\",\"blocks\":[{\"type\":\"file\","
           "\"external_id\":\"x\"},{\"type\":\"rich_text\",\"elements\":[]}]}",
        "the @alice text");
    expect("{\"text\":\"plain\",\"blocks\":[]}", "plain");
}

/* --------------------------------------------------------- attachments */

static void
test_markup_attachment_parts(void **state)
{
    (void) state;
    expect("{\"text\":\"deploy\",\"attachments\":[{\"pretext\":\"pre <@U1>\","
           "\"title\":\"Build 7\",\"title_link\":\"https://ci.io/7\","
           "\"text\":\"*ok* &amp; done\",\"fields\":[{\"title\":\"Env\","
           "\"value\":\"prod\",\"short\":true}],\"footer\":\"CI\"}]}",
        "deploy\n\npre @alice\n[Build 7](https://ci.io/7)\n**ok** & done\n"
        "**Env**\nprod\nCI");
}

static void
test_markup_attachments_joined_with_rule(void **state)
{
    (void) state;
    expect("{\"attachments\":[{\"title\":\"One\",\"text\":\"a\"},"
           "{\"fallback\":\"only fallback\"},{\"color\":\"#ff0000\"},"
           "{\"author_name\":\"Ann\",\"author_link\":\"https://ann.io\","
           "\"image_url\":\"https://i.io/p.png\",\"actions\":[{\"type\":"
           "\"button\",\"text\":\"Go\",\"url\":\"https://go.io\"}]}]}",
        "**One**\na\n\n---\n\nonly fallback\n\n---\n\n"
        "[Ann](https://ann.io)\n![](https://i.io/p.png)\n"
        "[Go](https://go.io)");
}

static void
test_markup_attachment_blocks_and_unfurl(void **state)
{
    (void) state;
    /* a link's unfurl is Mattermost's to make; a shared message is kept */
    expect("{\"text\":\"<https://news.io>\",\"attachments\":["
           "{\"from_url\":\"https://news.io\",\"title\":\"News\","
           "\"service_name\":\"news\"},"
           "{\"is_msg_unfurl\":true,\"from_url\":\"https://x.slack.com/p1\","
           "\"author_name\":\"Bob\",\"text\":\"shared\"},"
           "{\"blocks\":[{\"type\":\"section\",\"text\":{\"type\":"
           "\"plain_text\",\"text\":\"in blocks\"}}]}]}",
        "https://news.io\n\nBob\nshared\n\n---\n\nin blocks");
}

static void
test_markup_blocks_and_attachments_both_kept(void **state)
{
    (void) state;
    expect("{\"text\":\"t\",\"blocks\":[{\"type\":\"section\",\"text\":{"
           "\"type\":\"plain_text\",\"text\":\"b\"}}],\"attachments\":["
           "{\"text\":\"a\"}]}",
        "b\n\na");
}

/* ----------------------------------------------------------- malformed */

static void
test_markup_empty_message_gives_empty_string(void **state)
{
    (void) state;
    expect("{}", "");
    expect("{\"text\":\"\"}", "");
    expect("{\"text\":\"  \\n \"}", "");
    expect("[]", "");
    expect("null", "");
}

static void
test_markup_unterminated_angle_kept_as_text(void **state)
{
    (void) state;
    expect("{\"text\":\"a <@U1 b\"}", "a <@U1 b");
    expect("{\"text\":\"a <https://x\\n> b\"}", "a <https://x\n> b");
    expect("{\"text\":\"<>\"}", "");
    expect("{\"text\":\"<|>\"}", "");
    expect("{\"text\":\"<@>\"}", "@");
    expect("{\"text\":\"*\"}", "*");
    expect("{\"text\":\"&\"}", "&");
}

static void
test_markup_non_string_fields_ignored(void **state)
{
    (void) state;
    expect("{\"text\":5,\"blocks\":{\"type\":\"x\"},\"attachments\":7}", "");
    expect("{\"blocks\":[1,null,\"s\",{\"type\":3},{\"type\":\"section\","
           "\"text\":7},{\"type\":\"rich_text\",\"elements\":[5,{\"type\":"
           "\"rich_text_section\",\"elements\":[{\"type\":\"text\",\"text\":"
           "9},{\"type\":\"user\",\"user_id\":[]},{\"type\":\"link\"},"
           "{\"type\":\"text\",\"text\":\"ok\",\"style\":7}]},"
           "{\"type\":\"rich_text_list\",\"elements\":\"x\",\"indent\":99}]}],"
           "\"attachments\":[1,{\"title\":{},\"fields\":[1,{\"title\":2}]}]}",
        "ok");
}

static void
test_markup_deep_nesting_does_not_crash(void **state)
{
    char  *json, *md;
    size_t i, depth = 400, n = 0;

    (void) state;
    json = malloc(depth * 64 + 256);
    assert_non_null(json);
    n += (size_t) sprintf(json + n, "{\"text\":\"top\",\"blocks\":[");
    for (i = 0; i < depth; i++) {
        n += (size_t) sprintf(
            json + n, "{\"type\":\"rich_text\",\"elements\":[");
    }
    for (i = 0; i < depth; i++) {
        n += (size_t) sprintf(json + n, "]}");
    }
    sprintf(json + n, "]}");

    md = convert(json);
    assert_string_equal(md, "top");
    free(md);
    free(json);
}

static void
test_markup_without_lookup_uses_labels(void **state)
{
    cJSON *msg = cJSON_Parse("{\"text\":\"<@U1|al> <#C1|gen> <@U2>\"}");
    char  *md = mm_markup_message(msg, NULL, NULL);

    (void) state;
    assert_string_equal(md, "@al ~gen @U2");
    free(md);
    cJSON_Delete(msg);
}

static void
test_markup_long_message_kept_whole(void **state)
{
    char  *json, *md;
    size_t i, n = 100000;

    (void) state;
    json = malloc(n * 2 + 32);
    assert_non_null(json);
    strcpy(json, "{\"text\":\"");
    for (i = 0; i < n; i++) {
        memcpy(json + 9 + i * 2, "\xd0\xb9", 2); /* й */
    }
    strcpy(json + 9 + n * 2, "\"}");

    md = convert(json);
    assert_int_equal(strlen(md), n * 2);
    assert_memory_equal(md, json + 9, n * 2);
    free(md);
    free(json);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markup_user_mention_becomes_username),
        cmocka_unit_test(test_markup_unknown_user_keeps_label_or_id),
        cmocka_unit_test(test_markup_channel_link_becomes_tilde_name),
        cmocka_unit_test(test_markup_links_with_and_without_label),
        cmocka_unit_test(test_markup_mailto_link),
        cmocka_unit_test(test_markup_specials),
        cmocka_unit_test(test_markup_entities_decoded),
        cmocka_unit_test(test_markup_text_emphasis_becomes_markdown),
        cmocka_unit_test(test_markup_text_code_block_on_its_own_lines),
        cmocka_unit_test(test_markup_text_skin_tone_dropped),
        cmocka_unit_test(test_markup_join_message_names_user),
        cmocka_unit_test(test_markup_non_latin_text_unchanged),
        cmocka_unit_test(test_markup_rich_text_mentions_and_links),
        cmocka_unit_test(test_markup_rich_text_specials_and_emoji),
        cmocka_unit_test(
            test_markup_rich_text_usergroup_takes_handle_from_text),
        cmocka_unit_test(test_markup_rich_text_styles),
        cmocka_unit_test(test_markup_rich_text_nested_styles),
        cmocka_unit_test(test_markup_rich_text_lists),
        cmocka_unit_test(test_markup_rich_text_quote_and_preformatted),
        cmocka_unit_test(
            test_markup_blocks_section_header_divider_context_image),
        cmocka_unit_test(test_markup_blocks_win_over_text),
        cmocka_unit_test(test_markup_text_used_when_blocks_give_nothing),
        cmocka_unit_test(test_markup_attachment_parts),
        cmocka_unit_test(test_markup_attachments_joined_with_rule),
        cmocka_unit_test(test_markup_attachment_blocks_and_unfurl),
        cmocka_unit_test(test_markup_blocks_and_attachments_both_kept),
        cmocka_unit_test(test_markup_empty_message_gives_empty_string),
        cmocka_unit_test(test_markup_unterminated_angle_kept_as_text),
        cmocka_unit_test(test_markup_non_string_fields_ignored),
        cmocka_unit_test(test_markup_deep_nesting_does_not_crash),
        cmocka_unit_test(test_markup_without_lookup_uses_labels),
        cmocka_unit_test(test_markup_long_message_kept_whole),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
