/* The back-sync's items: checked, and mapped into Grist's columns as the
 * original service wrote them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "grist/grist_back_items.h"

#define NOW 1780000000.5

static int
check(const char *json, grist_back_kind_t kind, grist_back_item_t *it,
    char *field)
{
    char   msg[512];
    cJSON *item = cJSON_Parse(json);
    int    rc;

    assert_non_null(item);
    rc = grist_back_check(item, kind, 2, NOW, it, field, 128, msg, sizeof(msg));
    cJSON_Delete(item);
    return rc;
}

static const char *
text(const grist_back_item_t *it, const char *col)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(it->fields, col);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
test_back_badge_values_map_as_the_original(void **state)
{
    grist_back_item_t it;
    char              field[128];

    (void) state;
    assert_int_equal(
        check("{\"data\":{\"id\":\"0123456789ABCDEF0123456789abcdef\","
              "\"vegan\":false,\"feed\":\"FREE\",\"gender\":\"OTHER\","
              "\"infant\":true,\"batch\":3}}",
            GRIST_BACK_BADGE, &it, field),
        0);
    assert_string_equal(it.id, "01234567-89ab-cdef-0123-456789abcdef");
    assert_string_equal(it.hex, "0123456789abcdef0123456789abcdef");
    assert_string_equal(text(&it, "diet"), "Без особенностей");
    assert_string_equal(text(&it, "feed_type"), "Бесплатно");
    assert_string_equal(text(&it, "gender"), "др.");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(it.fields, "infant")));
    /* accepted, not written */
    assert_null(cJSON_GetObjectItem(it.fields, "batch"));
    assert_int_equal(
        (long) cJSON_GetObjectItem(it.fields, "feeder_update")->valuedouble,
        1780000000L);
    grist_back_item_free(&it);
}

static void
test_back_empty_feed_is_no_food(void **state)
{
    grist_back_item_t it;
    char              field[128];

    (void) state;
    assert_int_equal(check("{\"data\":{\"id\":\"01234567-89ab-cdef-0123-"
                           "456789abcdef\",\"feed\":\"\",\"vegan\":true}}",
                         GRIST_BACK_BADGE, &it, field),
        0);
    assert_string_equal(text(&it, "feed_type"), "Без питания");
    assert_string_equal(text(&it, "diet"), "Веган");
    grist_back_item_free(&it);
}

static void
test_back_deleted_marks_the_row_for_the_feeder(void **state)
{
    grist_back_item_t it;
    char              field[128];

    (void) state;
    assert_int_equal(check("{\"data\":{\"id\":\"01234567-89ab-cdef-0123-"
                           "456789abcdef\",\"deleted\":true}}",
                         GRIST_BACK_ARRIVAL, &it, field),
        0);
    assert_true(
        cJSON_GetObjectItem(it.fields, "to_delete")->valuedouble == NOW);
    assert_string_equal(text(&it, "delete_reason"), "FEEDER: deleted");
    grist_back_item_free(&it);
}

static void
test_back_bad_values_name_their_field(void **state)
{
    grist_back_item_t it;
    char              field[128];

    (void) state;
    assert_int_equal(check("{\"data\":{\"id\":\"01234567-89ab-cdef-0123-"
                           "456789abcdef\",\"feed\":\"LOTS\"}}",
                         GRIST_BACK_BADGE, &it, field),
        -1);
    assert_string_equal(field, "badges[2].data.feed");
    assert_int_equal(
        check("{\"data\":{\"id\":\"x\"}}", GRIST_BACK_ARRIVAL, &it, field), -1);
    assert_string_equal(field, "arrivals[2].data.id");
    assert_int_equal(check("{\"data\":{\"id\":\"01234567-89ab-cdef-0123-"
                           "456789abcdef\",\"departure_date\":\"2026-02-30\"}}",
                         GRIST_BACK_ARRIVAL, &it, field),
        -1);
    assert_string_equal(field, "arrivals[2].data.departure_date");
}

static void
test_back_references_become_row_ids(void **state)
{
    grist_back_item_t it;
    grist_back_refs_t refs;
    char              field[128], msg[256];
    cJSON            *roles = cJSON_Parse("{\"ORGANIZER\":1,\"VOLUNTEER\":2}");
    cJSON *dirs = cJSON_Parse("{\"00000001-0000-0000-0000-000000000002\":2}");
    const cJSON *d;

    (void) state;
    memset(&refs, 0, sizeof(refs));
    refs.roles = roles;
    refs.directions = dirs;
    assert_int_equal(check("{\"data\":{\"id\":\"01234567-89ab-cdef-0123-"
                           "456789abcdef\",\"role\":\"VOLUNTEER\","
                           "\"person\":null,\"directions\":"
                           "[\"00000001-0000-0000-0000-000000000002\"]}}",
                         GRIST_BACK_BADGE, &it, field),
        0);
    assert_int_equal(
        grist_back_resolve(&it, &refs, field, sizeof(field), msg, sizeof(msg)),
        0);
    assert_int_equal(cJSON_GetObjectItem(it.fields, "role")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(it.fields, "person")->valueint, 0);
    d = cJSON_GetObjectItem(it.fields, "directions_ref");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    assert_string_equal(cJSON_GetArrayItem(d, 0)->valuestring, "L");
    assert_int_equal(cJSON_GetArrayItem(d, 1)->valueint, 2);
    grist_back_item_free(&it);

    assert_int_equal(check("{\"data\":{\"id\":\"01234567-89ab-cdef-0123-"
                           "456789abcdef\",\"role\":\"KING\"}}",
                         GRIST_BACK_BADGE, &it, field),
        0);
    assert_int_equal(
        grist_back_resolve(&it, &refs, field, sizeof(field), msg, sizeof(msg)),
        -1);
    assert_string_equal(field, "badges[2].data.role");
    grist_back_item_free(&it);
    cJSON_Delete(roles);
    cJSON_Delete(dirs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_badge_values_map_as_the_original),
        cmocka_unit_test(test_back_empty_feed_is_no_food),
        cmocka_unit_test(test_back_deleted_marks_the_row_for_the_feeder),
        cmocka_unit_test(test_back_bad_values_name_their_field),
        cmocka_unit_test(test_back_references_become_row_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
