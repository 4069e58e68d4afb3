/*
 * Slack's message markup into Mattermost's Markdown.
 *
 * Sources: Slack's "Formatting text for app surfaces"
 * (https://api.slack.com/reference/surfaces/formatting: the <...>
 * sequences, &amp; &lt; &gt;, *bold* _italic_ ~strike~ `code` ```pre```),
 * its Block Kit reference (https://api.slack.com/reference/block-kit/blocks:
 * rich_text and its sub-elements, section, header, divider, context, image,
 * actions) and its legacy secondary attachments
 * (https://api.slack.com/reference/messaging/attachments); Mattermost's
 * Markdown (https://docs.mattermost.com/collaborate/format-messages.html).
 * What the original service did is in reference/slack-mm2-seed.md.
 *
 * blocks or text: Slack shows a message's blocks when it has any and uses
 * its text only as the notification fallback, so the blocks win when they
 * give anything; the text is used when there are none, or none that give
 * anything (a file block, an unknown type). Attachments are shown by Slack
 * below either, so they follow here as well (the original dropped them
 * when there were blocks, and the text when there were attachments), each
 * after a horizontal rule; a link's unfurl is left out, as Mattermost makes
 * its own preview of the link in the text.
 *
 * Rich text is written as typed: its text is not escaped, since Mattermost
 * users read and edit raw Markdown. Emphasis markers are kept off
 * surrounding spaces and closed before a line break, which CommonMark needs.
 * Nothing here recurses on the input's own nesting (a message's blocks, an
 * attachment's blocks and no deeper), so a deep input cannot run the stack
 * out; bytes are copied whole, never cut.
 */
#include "mm_markup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry_json.h"
#include "mm_emoji.h"

enum { MM_BOLD = 1, MM_ITALIC = 2, MM_STRIKE = 4, MM_CODE = 8 };

#define MM_NSTYLES 3

static const unsigned    mm_style_bit[MM_NSTYLES] = { MM_BOLD, MM_ITALIC,
       MM_STRIKE };
static const char *const mm_style_mark[MM_NSTYLES] = { "**", "_", "~~" };

typedef struct {
    char  *p;
    size_t len;
    size_t cap;
    int    oom;
} mm_buf_t;

typedef struct {
    mm_buf_t          out;
    mm_markup_name_pt name;
    void             *ctx;
    const char       *text; /* the message's text: labels blocks lack */
} mm_markup_t;

/* the emphasis open in a run of rich text, and the spaces not yet written
 * (written after a closing marker, before an opening one) */
typedef struct {
    unsigned open[MM_NSTYLES];
    int      nopen;
    mm_buf_t pending;
} mm_inline_t;

static void
mm_add(mm_buf_t *b, const char *s, size_t n)
{
    char  *p;
    size_t cap;

    if (b->oom || n == 0) {
        return;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
mm_adds(mm_buf_t *b, const char *s)
{
    mm_add(b, s, strlen(s));
}

static int
mm_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Slack's emphasis needs a non-word character (or nothing) outside each
 * marker; a byte of a multibyte character counts as a word's */
static int
mm_word(char c)
{
    unsigned char u = (unsigned char) c;

    return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z')
        || (u >= 'A' && u <= 'Z') || u >= 0x80;
}

static const char *
mm_lookup(mm_markup_t *m, char kind, const char *id)
{
    const char *name = m->name && id[0] ? m->name(m->ctx, kind, id) : NULL;

    return name && name[0] ? name : NULL;
}

/* s (n bytes) with &amp; &lt; &gt; decoded, appended to b */
static void
mm_add_decoded(mm_buf_t *b, const char *s, size_t n)
{
    size_t i, from = 0;

    for (i = 0; i < n; i++) {
        const char *e = NULL;
        size_t      k = 0;

        if (s[i] != '&') {
            continue;
        }
        if (n - i >= 5 && memcmp(s + i, "&amp;", 5) == 0) {
            e = "&", k = 5;
        } else if (n - i >= 4 && memcmp(s + i, "&lt;", 4) == 0) {
            e = "<", k = 4;
        } else if (n - i >= 4 && memcmp(s + i, "&gt;", 4) == 0) {
            e = ">", k = 4;
        }
        if (e) {
            mm_add(b, s + from, i - from);
            mm_adds(b, e);
            from = i + k;
            i += k - 1;
        }
    }

    mm_add(b, s + from, n - from);
}

/* A link's text inside [...]: brackets escaped, line breaks made spaces */
static void
mm_add_label(mm_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '[' || *s == ']' || *s == '\\') {
            mm_add(b, "\\", 1);
        }
        mm_add(b, mm_space(*s) ? " " : s, 1);
    }
}

/* A link's address inside (...): what would end it percent-encoded */
static void
mm_add_url(mm_buf_t *b, const char *s)
{
    char hex[4];

    for (; *s; s++) {
        if (mm_space(*s) || *s == '(' || *s == ')' || *s == '<' || *s == '>') {
            snprintf(hex, sizeof(hex), "%%%02X", (unsigned char) *s);
            mm_adds(b, hex);
        } else {
            mm_add(b, s, 1);
        }
    }
}

/* A link: the bare address when the label says nothing more (Mattermost
 * links addresses and e-mails itself), else [label](url); in code the
 * label, or the address, as text. */
static void
mm_add_link(mm_buf_t *b, const char *url, const char *label, int code)
{
    const char *bare = url;

    if (strncmp(url, "mailto:", 7) == 0) {
        bare = url + 7;
    }

    if (label == NULL || label[0] == '\0' || strcmp(label, url) == 0
        || strcmp(label, bare) == 0)
    {
        mm_adds(b, bare);
        return;
    }

    if (code) {
        mm_adds(b, label);
        return;
    }

    mm_add(b, "[", 1);
    mm_add_label(b, label);
    mm_add(b, "](", 2);
    mm_add_url(b, url);
    mm_add(b, ")", 1);
}

static void
mm_add_date(mm_buf_t *b, double ts)
{
    char      s[32];
    time_t    t;
    struct tm tm;

    /* NaN (no timestamp) fails both */
    if (!(ts >= 0 && ts <= 253402300799.0)) {
        return;
    }
    t = (time_t) ts;
    if (gmtime_r(&t, &tm) == NULL) {
        return;
    }
    strftime(s, sizeof(s), "%Y-%m-%d %H:%M UTC", &tm);
    mm_adds(b, s);
}

/* The label Slack gave id in the message's text ("<@U1|name>",
 * "<!subteam^S1|@team>"), into b; 0 when there is none. */
static int
mm_text_label(mm_markup_t *m, const char *open, const char *id, mm_buf_t *b)
{
    const char *p = m->text, *l, *e;
    size_t      on = strlen(open), idn = strlen(id);

    while (p && (p = strstr(p, open)) != NULL) {
        p += on;
        if (strncmp(p, id, idn) != 0 || p[idn] != '|') {
            continue;
        }
        l = p + idn + 1;
        e = strchr(l, '>');
        if (e == NULL || e == l) {
            return 0;
        }
        if (*l == '@') {
            l++;
        }
        mm_add_decoded(b, l, (size_t) (e - l));
        return b->len > 0;
    }

    return 0;
}

/* "@name" for a user (kind '@'), "~name" for a channel ('#'): the
 * caller's name, else the label (already decoded), else the id. */
static void
mm_add_mention(
    mm_markup_t *m, mm_buf_t *b, char kind, const char *id, const char *label)
{
    const char *name = mm_lookup(m, kind, id);

    mm_adds(b, kind == '@' ? "@" : "~");
    if (name == NULL && label && label[0] == '@') {
        label++;
    }
    mm_adds(b, name ? name : label && label[0] ? label : id);
}

static void
mm_add_emoji(mm_buf_t *b, const char *name)
{
    char clean[80];

    if (mm_emoji_name(name, clean, sizeof(clean)) >= 0) {
        name = clean;
    }
    mm_add(b, ":", 1);
    mm_adds(b, name);
    mm_add(b, ":", 1);
}

/* ---------------------------------------------------------------- text */

/* One <...> sequence of Slack's text (s, n bytes between the brackets). */
static void
mm_angle(mm_markup_t *m, const char *s, size_t n, int code)
{
    mm_buf_t    body = { 0 }, label = { 0 };
    const char *bar = memchr(s, '|', n), *b, *l;
    size_t      bn = bar ? (size_t) (bar - s) : n;

    mm_add_decoded(&body, s, bn);
    if (bar) {
        mm_add_decoded(&label, bar + 1, n - bn - 1);
    }
    b = body.p ? body.p : "";

    if (b[0] == '@' || b[0] == '#') {
        mm_add_mention(m, &m->out, b[0], b + 1, label.p);

    } else if (b[0] == '!') {
        b++;
        if (strncmp(b, "here", 4) == 0 && (b[4] == '\0' || b[4] == '^')) {
            mm_adds(&m->out, "@here");
        } else if (strncmp(b, "channel", 7) == 0
            && (b[7] == '\0' || b[7] == '^')) {
            mm_adds(&m->out, "@channel");
        } else if (strncmp(b, "everyone", 8) == 0
            && (b[8] == '\0' || b[8] == '^')) {
            mm_adds(&m->out, "@all");
        } else if (strncmp(b, "subteam^", 8) == 0) {
            l = label.p && label.p[0] == '@' ? label.p + 1 : label.p;
            mm_adds(&m->out, "@");
            mm_adds(&m->out, l && l[0] ? l : b + 8);
        } else if (label.p) {
            mm_adds(&m->out, label.p);
        } else if (strncmp(b, "date^", 5) == 0) {
            mm_add_date(&m->out, strtod(b + 5, NULL));
        } else {
            mm_adds(&m->out, b);
        }

    } else if (b[0]) {
        mm_add_link(&m->out, b, label.p, code);
    }

    m->out.oom |= body.oom | label.oom;
    free(body.p);
    free(label.p);
}

/* The closing marker (c) of an emphasis opening at s[i], on its line,
 * before any code, not inside <...>; -1 when there is none, so the marker
 * is a plain one. */
static long
mm_emphasis_end(const char *s, size_t i, char c)
{
    size_t j;

    if ((i > 0 && (mm_word(s[i - 1]) || s[i - 1] == c)) || s[i + 1] == '\0'
        || mm_space(s[i + 1]) || s[i + 1] == c)
    {
        return -1;
    }

    for (j = i + 1; s[j] && s[j] != '\n' && s[j] != '`'; j++) {
        if (s[j] == '<') {
            while (s[j + 1] && s[j + 1] != '>' && s[j + 1] != '\n') {
                j++;
            }
            continue;
        }
        if (s[j] == c && !mm_space(s[j - 1]) && !mm_word(s[j + 1])
            && s[j + 1] != c) {
            return (long) j;
        }
    }

    return -1;
}

static int
mm_at_line_start(mm_buf_t *b)
{
    return b->len == 0 || b->p[b->len - 1] == '\n';
}

/* Slack's mrkdwn text into Markdown: <...> sequences, entities, *bold* and
 * ~strike~ (Markdown's * is italic), a ``` block on lines of its own and
 * a skin tone off an emoji. */
static void
mm_mrkdwn(mm_markup_t *m, const char *s)
{
    mm_buf_t *o = &m->out;
    size_t    i = 0, k;
    long      bold = -1, strike = -1, e;
    int       fence = 0, code = 0;
    char     *gt;

    while (s[i]) {
        char c = s[i];

        if (!code && strncmp(s + i, "```", 3) == 0) {
            i += 3;
            while (!fence && o->len && (o->p[o->len - 1] == ' ')) {
                o->len--;
            }
            if (!mm_at_line_start(o)) {
                mm_add(o, "\n", 1);
            }
            mm_add(o, "```", 3);
            if (!fence) {
                /* the code on a line of its own: no info string */
                mm_add(o, "\n", 1);
                i += s[i] == '\n';
            } else {
                while (s[i] == ' ') {
                    i++;
                }
                if (s[i] && s[i] != '\n') {
                    mm_add(o, "\n", 1);
                }
            }
            fence = !fence;
            continue;
        }

        if (!fence && c == '`') {
            code = !code;
            mm_add(o, "`", 1);
            i++;
            continue;
        }

        if (c == '<' && (gt = strchr(s + i + 1, '>')) != NULL
            && memchr(s + i + 1, '\n', (size_t) (gt - s - i - 1)) == NULL)
        {
            mm_angle(m, s + i + 1, (size_t) (gt - s - i - 1), fence || code);
            i = (size_t) (gt - s) + 1;
            continue;
        }

        if (c == '&') {
            k = strncmp(s + i, "&amp;", 5) == 0 ? 5
                : strncmp(s + i, "&lt;", 4) == 0
                    || strncmp(s + i, "&gt;", 4) == 0
                ? 4
                : 1;
            mm_add_decoded(o, s + i, k);
            i += k;
            continue;
        }

        if (!fence && !code && (c == '*' || c == '~')) {
            long *end = c == '*' ? &bold : &strike;

            if ((long) i == *end) {
                mm_adds(o, c == '*' ? "**" : "~~");
                *end = -1;
                i++;
                continue;
            }
            if (*end < 0 && (e = mm_emphasis_end(s, i, c)) > 0) {
                mm_adds(o, c == '*' ? "**" : "~~");
                *end = e;
                i++;
                continue;
            }
        }

        if (!fence && !code && c == ':'
            && strncmp(s + i + 1, ":skin-tone-", 11) == 0 && s[i + 12] >= '2'
            && s[i + 12] <= '6' && s[i + 13] == ':')
        {
            mm_add(o, ":", 1);
            i += 14;
            continue;
        }

        if (c == '\n') {
            code = 0;
        }
        mm_add(o, s + i, 1);
        i++;
    }

    if (fence) {
        if (!mm_at_line_start(o)) {
            mm_add(o, "\n", 1);
        }
        mm_add(o, "```", 3);
    }
}

/* ----------------------------------------------------------- rich text */

/* Closes the emphasis open beyond the first keep markers, latest first. */
static void
mm_close(mm_buf_t *o, mm_inline_t *st, int keep)
{
    int k;

    while (st->nopen > keep) {
        st->nopen--;
        for (k = 0; k < MM_NSTYLES; k++) {
            if (st->open[st->nopen] == mm_style_bit[k]) {
                mm_adds(o, mm_style_mark[k]);
            }
        }
    }
}

/* Writes s (n bytes, no space at either end) with the emphasis styles: the
 * open markers that differ are closed, the pending spaces written, the
 * missing ones opened, in one fixed order so that they nest. */
static void
mm_put(mm_buf_t *o, mm_inline_t *st, unsigned styles, const char *s, size_t n)
{
    unsigned want[MM_NSTYLES];
    int      nwant = 0, keep = 0, k;

    for (k = 0; k < MM_NSTYLES; k++) {
        if (styles & mm_style_bit[k]) {
            want[nwant++] = mm_style_bit[k];
        }
    }

    if (st->pending.len && memchr(st->pending.p, '\n', st->pending.len)) {
        keep = 0;
    } else {
        while (keep < st->nopen && keep < nwant && st->open[keep] == want[keep])
        {
            keep++;
        }
    }

    mm_close(o, st, keep);
    mm_add(o, st->pending.p, st->pending.len);
    st->pending.len = 0;

    for (; st->nopen < nwant; st->nopen++) {
        st->open[st->nopen] = want[st->nopen];
        for (k = 0; k < MM_NSTYLES; k++) {
            if (want[st->nopen] == mm_style_bit[k]) {
                mm_adds(o, mm_style_mark[k]);
            }
        }
    }

    mm_add(o, s, n);
}

/* Ends a run of rich text: emphasis closed, spaces written. */
static void
mm_flush(mm_buf_t *o, mm_inline_t *st)
{
    mm_close(o, st, 0);
    mm_add(o, st->pending.p, st->pending.len);
    o->oom |= st->pending.oom;
    free(st->pending.p);
    memset(st, 0, sizeof(*st));
}

/* Text of one style: its spaces kept out of the markers, a line break
 * closing them. */
static void
mm_put_text(mm_buf_t *o, mm_inline_t *st, unsigned styles, const char *s)
{
    size_t a, e, z;

    while (*s) {
        for (a = 0; s[a] && mm_space(s[a]); a++) {
        }
        mm_add(&st->pending, s, a);
        s += a;
        if (*s == '\0') {
            return;
        }
        for (z = 0; s[z] && s[z] != '\n'; z++) {
        }
        for (e = z; e > 0 && mm_space(s[e - 1]); e--) {
        }
        mm_put(o, st, styles, s, e);
        mm_add(&st->pending, s + e, z - e);
        s += z;
    }
}

static unsigned
mm_styles(const cJSON *el)
{
    const cJSON *style = cJSON_GetObjectItemCaseSensitive(el, "style");
    unsigned     s = 0;

    s |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(style, "bold")) ? MM_BOLD
                                                                       : 0;
    s |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(style, "italic"))
        ? MM_ITALIC
        : 0;
    s |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(style, "strike"))
        ? MM_STRIKE
        : 0;
    s |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(style, "code")) ? MM_CODE
                                                                       : 0;

    return s;
}

/* `s` with a fence longer than any run of backticks inside */
static void
mm_add_code(mm_buf_t *o, const char *s, size_t n)
{
    size_t i, run = 0, longest = 0;

    for (i = 0; i < n; i++) {
        run = s[i] == '`' ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }

    for (i = 0; i <= longest; i++) {
        mm_add(o, "`", 1);
    }
    if (n && (s[0] == '`' || s[n - 1] == '`')) {
        mm_add(o, " ", 1);
    }
    mm_add(o, s, n);
    if (n && (s[0] == '`' || s[n - 1] == '`')) {
        mm_add(o, " ", 1);
    }
    for (i = 0; i <= longest; i++) {
        mm_add(o, "`", 1);
    }
}

static void
mm_put_code(
    mm_buf_t *o, mm_inline_t *st, unsigned styles, const char *s, size_t n)
{
    mm_buf_t code = { 0 };

    mm_add_code(&code, s, n);
    mm_put(o, st, styles, code.p, code.len);
    o->oom |= code.oom;
    free(code.p);
}

/* One inline element of rich text (not text) as Markdown into b: a link,
 * a mention, an emoji, a date. raw: as plain text, for a code block. */
static void
mm_element(mm_markup_t *m, const cJSON *el, mm_buf_t *b, int raw)
{
    const char *type = ferry_json_str(el, "type"), *v;
    mm_buf_t    label = { 0 };

    if (type == NULL) {
        return;
    }

    if (strcmp(type, "link") == 0 && (v = ferry_json_str(el, "url"))) {
        mm_add_link(b, v, ferry_json_str(el, "text"), raw);

    } else if (strcmp(type, "user") == 0 && (v = ferry_json_str(el, "user_id")))
    {
        mm_text_label(m, "<@", v, &label);
        mm_add_mention(m, b, '@', v, label.p);

    } else if (strcmp(type, "channel") == 0
        && (v = ferry_json_str(el, "channel_id")))
    {
        mm_text_label(m, "<#", v, &label);
        mm_add_mention(m, b, '#', v, label.p);

    } else if (strcmp(type, "usergroup") == 0
        && (v = ferry_json_str(el, "usergroup_id")))
    {
        mm_add(b, "@", 1);
        if (mm_text_label(m, "<!subteam^", v, &label)) {
            mm_adds(b, label.p);
        } else {
            mm_adds(b, v);
        }

    } else if (strcmp(type, "broadcast") == 0
        && (v = ferry_json_str(el, "range"))) {
        mm_add(b, "@", 1);
        mm_adds(b, strcmp(v, "everyone") == 0 ? "all" : v);

    } else if (strcmp(type, "emoji") == 0 && (v = ferry_json_str(el, "name"))) {
        mm_add_emoji(b, v);

    } else if (strcmp(type, "date") == 0) {
        v = ferry_json_str(el, "fallback");
        if (v) {
            mm_adds(b, v);
        } else {
            mm_add_date(b,
                cJSON_GetNumberValue(
                    cJSON_GetObjectItemCaseSensitive(el, "timestamp")));
        }

    } else if (strcmp(type, "color") == 0 && (v = ferry_json_str(el, "value")))
    {
        mm_adds(b, v);
    }

    b->oom |= label.oom;
    free(label.p);
}

/* The inline elements of a rich_text section, quote or list item. raw:
 * no emphasis, links as text (a preformatted block). */
static void
mm_inline(mm_markup_t *m, const cJSON *elements, int raw)
{
    const cJSON *el, *next;
    mm_inline_t  st = { 0 };
    mm_buf_t     piece = { 0 };
    const char  *type, *text;
    unsigned     styles;

    for (el = cJSON_IsArray(elements) ? elements->child : NULL; el; el = next) {
        next = el->next;
        type = ferry_json_str(el, "type");
        text = ferry_json_str(el, "text");
        styles = raw ? 0 : mm_styles(el);
        piece.len = 0;

        if (type && strcmp(type, "text") == 0) {
            if (text == NULL) {
                continue;
            }
            if (!(styles & MM_CODE)) {
                if (raw) {
                    mm_adds(&m->out, text);
                } else {
                    mm_put_text(&m->out, &st, styles, text);
                }
                continue;
            }
            /* neighbouring code pieces make one span: "`a``b`" is not
             * two */
            mm_adds(&piece, text);
            while (next && (type = ferry_json_str(next, "type"))
                && strcmp(type, "text") == 0 && mm_styles(next) == styles
                && ferry_json_str(next, "text"))
            {
                mm_adds(&piece, ferry_json_str(next, "text"));
                next = next->next;
            }
            mm_put_code(&m->out, &st, styles, piece.p, piece.len);
            continue;
        }

        mm_element(m, el, &piece, raw || (styles & MM_CODE));
        if (piece.len == 0) {
            continue;
        }
        if (raw) {
            mm_add(&m->out, piece.p, piece.len);
        } else if (styles & MM_CODE) {
            mm_put_code(&m->out, &st, styles, piece.p, piece.len);
        } else {
            mm_put(&m->out, &st, styles, piece.p, piece.len);
        }
    }

    mm_flush(&m->out, &st);
    m->out.oom |= piece.oom;
    free(piece.p);
}

/* ------------------------------------------------------------- layout */

/* A part of the message (a block, a list item, an attachment's title):
 * where it began, before its separator, and where its own text begins. */
typedef struct {
    size_t before;
    size_t start;
} mm_part_t;

static mm_part_t
mm_part_begin(mm_buf_t *o, const char *sep)
{
    mm_part_t p = { o->len, o->len };

    /* at the start of an enclosing part, its separator is enough */
    if (o->len && o->p[o->len - 1] != '\n') {
        mm_adds(o, sep);
        p.start = o->len;
    }

    return p;
}

/* Ends a part: its trailing spaces dropped, and the part with its
 * separator when it gave nothing. */
static void
mm_part_end(mm_buf_t *o, mm_part_t p)
{
    while (o->len > p.start && mm_space(o->p[o->len - 1])) {
        o->len--;
    }
    if (o->len == p.start) {
        o->len = p.before;
    }
    if (o->p) {
        o->p[o->len] = '\0';
    }
}

/* Puts first before the text written since from, and rest before each of
 * its following lines. */
static void
mm_prefix(mm_buf_t *o, size_t from, const char *first, const char *rest)
{
    char  *text, *nl, *p;
    size_t n;

    if (o->oom || o->len <= from) {
        return;
    }

    n = o->len - from;
    text = malloc(n + 1);
    if (text == NULL) {
        o->oom = 1;
        return;
    }
    memcpy(text, o->p + from, n + 1);
    o->len = from;

    mm_adds(o, first);
    for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        mm_add(o, p, (size_t) (nl - p) + 1);
        mm_adds(o, rest);
    }
    mm_adds(o, p);
    free(text);
}

/* A text object of Block Kit: mrkdwn converted, plain_text as it is. */
static void
mm_text_object(mm_markup_t *m, const cJSON *obj)
{
    const char *type = ferry_json_str(obj, "type");
    const char *text = ferry_json_str(obj, "text");

    if (text == NULL) {
        return;
    }
    if (type && strcmp(type, "mrkdwn") == 0) {
        mm_mrkdwn(m, text);
    } else {
        mm_adds(&m->out, text);
    }
}

static void
mm_list(mm_markup_t *m, const cJSON *list)
{
    const cJSON *item;
    const char  *style = ferry_json_str(list, "style");
    long         indent = ferry_json_long(list, "indent");
    long         n = ferry_json_long(list, "offset");
    char         marker[32], cont[32];
    mm_part_t    p;
    int          i, w;

    indent = indent < 0 ? 0 : indent > 6 ? 6 : indent;
    n = n < 0 || n > 999999999 ? 0 : n;

    item = cJSON_GetObjectItemCaseSensitive(list, "elements");
    for (item = cJSON_IsArray(item) ? item->child : NULL; item;
         item = item->next) {
        p = mm_part_begin(&m->out, "\n");
        for (i = 0; i < indent * 4; i++) {
            mm_add(&m->out, " ", 1);
        }
        if (style && strcmp(style, "ordered") == 0) {
            w = snprintf(marker, sizeof(marker), "%ld. ", ++n);
        } else {
            w = snprintf(marker, sizeof(marker), "- ");
        }
        snprintf(cont, sizeof(cont), "%*s", (int) (indent * 4 + w), "");
        mm_adds(&m->out, marker);
        p.start = m->out.len;
        mm_inline(m, cJSON_GetObjectItemCaseSensitive(item, "elements"), 0);
        mm_prefix(&m->out, p.start, "", cont);
        mm_part_end(&m->out, p);
    }
}

static void
mm_preformatted(mm_markup_t *m, const cJSON *el)
{
    size_t from = m->out.len, i, run = 0, longest = 2;
    char   fence[64], *code;

    mm_inline(m, cJSON_GetObjectItemCaseSensitive(el, "elements"), 1);
    while (m->out.len > from && m->out.p[m->out.len - 1] == '\n') {
        m->out.len--;
    }
    if (m->out.len == from) {
        return;
    }

    for (i = from; i < m->out.len; i++) {
        run = m->out.p[i] == '`' ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    longest = longest + 1 < sizeof(fence) ? longest + 1 : sizeof(fence) - 1;
    memset(fence, '`', longest);
    fence[longest] = '\0';

    code = strndup(m->out.p + from, m->out.len - from);
    if (code == NULL) {
        m->out.oom = 1;
        return;
    }
    m->out.len = from;
    mm_adds(&m->out, fence);
    mm_adds(&m->out, "\n");
    mm_adds(&m->out, code);
    mm_adds(&m->out, "\n");
    mm_adds(&m->out, fence);
    free(code);
}

/* A rich_text block: sections, lists, quotes and code blocks; a blank
 * line around lists, quotes and code, none between the items of
 * neighbouring lists (Slack makes a list per indent level). */
static void
mm_rich_text(mm_markup_t *m, const cJSON *block)
{
    const cJSON *el = cJSON_GetObjectItemCaseSensitive(block, "elements");
    const char  *type;
    mm_part_t    p;
    int          list, prev = 0, cur;
    size_t       from;

    for (el = cJSON_IsArray(el) ? el->child : NULL; el; el = el->next) {
        type = ferry_json_str(el, "type");
        if (type == NULL) {
            continue;
        }
        list = strcmp(type, "rich_text_list") == 0;
        cur = strcmp(type, "rich_text_section") == 0 ? 1 : list ? 2 : 3;
        p = mm_part_begin(&m->out,
            (cur == 1 && prev == 1) || (list && prev == 2) ? "\n" : "\n\n");

        if (cur == 1) {
            mm_inline(m, cJSON_GetObjectItemCaseSensitive(el, "elements"), 0);
        } else if (list) {
            mm_list(m, el);
        } else if (strcmp(type, "rich_text_quote") == 0) {
            from = m->out.len;
            mm_inline(m, cJSON_GetObjectItemCaseSensitive(el, "elements"), 0);
            mm_prefix(&m->out, from, "> ", "> ");
        } else if (strcmp(type, "rich_text_preformatted") == 0) {
            mm_preformatted(m, el);
        }

        mm_part_end(&m->out, p);
        if (m->out.len > p.before) {
            prev = cur;
        }
    }
}

/* A button that opens a link, as the link; 0 when it opens none */
static int
mm_button(mm_markup_t *m, const cJSON *el)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(el, "text");
    const char  *url = ferry_json_str(el, "url");

    if (url == NULL) {
        return 0;
    }
    /* Block Kit's text is an object, a classic attachment's a string */
    mm_add_link(&m->out, url,
        cJSON_IsString(t) ? t->valuestring : ferry_json_str(t, "text"), 0);

    return 1;
}

/* "[Open](url) | [Docs](url)" */
static void
mm_buttons(mm_markup_t *m, const cJSON *elements)
{
    const cJSON *el;
    mm_part_t    p;

    for (el = cJSON_IsArray(elements) ? elements->child : NULL; el;
         el = el->next) {
        p = mm_part_begin(&m->out, " | ");
        if (!mm_button(m, el)) {
            mm_part_end(&m->out, p);
        }
    }
}

static void
mm_image(mm_markup_t *m, const char *url, const char *alt)
{
    mm_adds(&m->out, "![");
    mm_add_label(&m->out, alt ? alt : "");
    mm_adds(&m->out, "](");
    mm_add_url(&m->out, url);
    mm_adds(&m->out, ")");
}

static void
mm_block(mm_markup_t *m, const cJSON *b, const char *type)
{
    const cJSON *el, *t;
    const char  *v;
    mm_part_t    p;
    size_t       from;

    if (strcmp(type, "rich_text") == 0) {
        mm_rich_text(m, b);

    } else if (strcmp(type, "section") == 0) {
        mm_text_object(m, cJSON_GetObjectItemCaseSensitive(b, "text"));
        el = cJSON_GetObjectItemCaseSensitive(b, "fields");
        for (el = cJSON_IsArray(el) ? el->child : NULL; el; el = el->next) {
            p = mm_part_begin(&m->out, "\n");
            mm_text_object(m, el);
            mm_part_end(&m->out, p);
        }
        p = mm_part_begin(&m->out, "\n");
        mm_button(m, cJSON_GetObjectItemCaseSensitive(b, "accessory"));
        mm_part_end(&m->out, p);

    } else if (strcmp(type, "header") == 0) {
        from = m->out.len;
        mm_adds(&m->out, "# ");
        mm_text_object(m, cJSON_GetObjectItemCaseSensitive(b, "text"));
        if (m->out.len == from + 2) {
            m->out.len = from;
        }
        for (; from < m->out.len; from++) {
            if (m->out.p[from] == '\n') {
                m->out.p[from] = ' ';
            }
        }

    } else if (strcmp(type, "divider") == 0) {
        mm_adds(&m->out, "---");

    } else if (strcmp(type, "context") == 0) {
        el = cJSON_GetObjectItemCaseSensitive(b, "elements");
        for (el = cJSON_IsArray(el) ? el->child : NULL; el; el = el->next) {
            p = mm_part_begin(&m->out, " ");
            mm_text_object(m, el);
            mm_part_end(&m->out, p);
        }

    } else if (strcmp(type, "image") == 0
        && (v = ferry_json_str(b, "image_url"))) {
        t = cJSON_GetObjectItemCaseSensitive(b, "title");
        if (ferry_json_str(t, "text")) {
            mm_adds(&m->out, ferry_json_str(t, "text"));
            mm_adds(&m->out, "\n");
        }
        mm_image(m, v, ferry_json_str(b, "alt_text"));

    } else if (strcmp(type, "actions") == 0) {
        mm_buttons(m, cJSON_GetObjectItemCaseSensitive(b, "elements"));
    }
}

/* A message's or an attachment's blocks, a blank line apart. */
static void
mm_blocks(mm_markup_t *m, const cJSON *blocks)
{
    const cJSON *b;
    const char  *type;
    mm_part_t    p;

    for (b = cJSON_IsArray(blocks) ? blocks->child : NULL; b; b = b->next) {
        type = ferry_json_str(b, "type");
        if (type == NULL) {
            continue;
        }
        p = mm_part_begin(&m->out, "\n\n");
        mm_block(m, b, type);
        mm_part_end(&m->out, p);
    }
}

/* A classic attachment: pretext, author, title (a link when it has one,
 * else bold), text, fields, blocks, image, link buttons, footer; its
 * fallback when none of them gives anything. */
static void
mm_attachment(mm_markup_t *m, const cJSON *a)
{
    const cJSON *f;
    const char  *v, *link;
    mm_part_t    p;
    size_t       from = m->out.len;

    if ((v = ferry_json_str(a, "pretext"))) {
        p = mm_part_begin(&m->out, "\n");
        mm_mrkdwn(m, v);
        mm_part_end(&m->out, p);
    }
    if ((v = ferry_json_str(a, "author_name"))) {
        p = mm_part_begin(&m->out, "\n");
        if ((link = ferry_json_str(a, "author_link"))) {
            mm_add_link(&m->out, link, v, 0);
        } else {
            mm_adds(&m->out, v);
        }
        mm_part_end(&m->out, p);
    }
    if ((v = ferry_json_str(a, "title"))) {
        p = mm_part_begin(&m->out, "\n");
        if ((link = ferry_json_str(a, "title_link"))) {
            mm_add_link(&m->out, link, v, 0);
        } else {
            mm_adds(&m->out, "**");
            mm_adds(&m->out, v);
            mm_adds(&m->out, "**");
        }
        mm_part_end(&m->out, p);
    }
    if ((v = ferry_json_str(a, "text"))) {
        p = mm_part_begin(&m->out, "\n");
        mm_mrkdwn(m, v);
        mm_part_end(&m->out, p);
    }
    f = cJSON_GetObjectItemCaseSensitive(a, "fields");
    for (f = cJSON_IsArray(f) ? f->child : NULL; f; f = f->next) {
        p = mm_part_begin(&m->out, "\n");
        if ((v = ferry_json_str(f, "title"))) {
            mm_adds(&m->out, "**");
            mm_adds(&m->out, v);
            mm_adds(&m->out, "**\n");
        }
        if ((v = ferry_json_str(f, "value"))) {
            mm_mrkdwn(m, v);
        }
        mm_part_end(&m->out, p);
    }
    p = mm_part_begin(&m->out, "\n");
    mm_blocks(m, cJSON_GetObjectItemCaseSensitive(a, "blocks"));
    mm_part_end(&m->out, p);
    if ((v = ferry_json_str(a, "image_url"))) {
        p = mm_part_begin(&m->out, "\n");
        mm_image(m, v, NULL);
        mm_part_end(&m->out, p);
    }
    p = mm_part_begin(&m->out, "\n");
    mm_buttons(m, cJSON_GetObjectItemCaseSensitive(a, "actions"));
    mm_part_end(&m->out, p);
    if ((v = ferry_json_str(a, "footer"))) {
        p = mm_part_begin(&m->out, "\n");
        mm_mrkdwn(m, v);
        mm_part_end(&m->out, p);
    }

    if (m->out.len == from && (v = ferry_json_str(a, "fallback"))) {
        mm_mrkdwn(m, v);
    }
}

/* A link's unfurl: Slack's preview of a link in the text */
static int
mm_unfurl(const cJSON *a)
{
    return (ferry_json_str(a, "from_url") || ferry_json_str(a, "original_url"))
        && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "is_msg_unfurl"))
        && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "is_share"));
}

char *
mm_markup_message(const cJSON *msg, mm_markup_name_pt name, void *ctx)
{
    mm_markup_t  m = { { 0 }, name, ctx, ferry_json_str(msg, "text") };
    const cJSON *a;
    const char  *sep = "\n\n";
    mm_part_t    p;
    size_t       skip = 0;

    if (cJSON_IsObject(msg)) {
        p = mm_part_begin(&m.out, "");
        mm_blocks(&m, cJSON_GetObjectItemCaseSensitive(msg, "blocks"));
        mm_part_end(&m.out, p);
        if (m.out.len == 0 && m.text) {
            mm_mrkdwn(&m, m.text);
            mm_part_end(&m.out, p);
        }

        a = cJSON_GetObjectItemCaseSensitive(msg, "attachments");
        for (a = cJSON_IsArray(a) ? a->child : NULL; a; a = a->next) {
            if (!cJSON_IsObject(a) || mm_unfurl(a)) {
                continue;
            }
            p = mm_part_begin(&m.out, sep);
            mm_attachment(&m, a);
            mm_part_end(&m.out, p);
            if (m.out.len > p.before) {
                sep = "\n\n---\n\n";
            }
        }
    }

    if (m.out.oom) {
        free(m.out.p);
        return NULL;
    }
    if (m.out.p == NULL) {
        return strdup("");
    }

    while (skip < m.out.len && m.out.p[skip] == '\n') {
        skip++;
    }
    memmove(m.out.p, m.out.p + skip, m.out.len - skip + 1);

    return m.out.p;
}
