/* test_gw_history.c - the dashboard's rings: counts land in the second
 * (minute) they arrive in, slots the clock moves past are zeroed, the
 * JSON lists the window oldest first with the current slot last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "history.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z, a minute boundary */

static struct gw_history *fresh(void)
{
    struct gw_history *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    return h;
}

static cJSON *as_json(struct gw_history *h, int64_t now_ms)
{
    struct buf b;
    cJSON *j;

    buf_init(&b, 1024 * 1024);
    assert_int_equal(gw_history_json(h, now_ms, &b), BM_OK);
    j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    buf_free(&b);
    return j;
}

static double at(const cJSON *arr, int i)
{
    const cJSON *v = cJSON_GetArrayItem(arr, i);

    assert_non_null(v);
    return v->valuedouble;
}

static void test_gw_history_counts_land_in_their_second_and_json_ends_with_now(void **st)
{
    struct gw_history *h = fresh();
    cJSON *j, *ev, *an;
    uint64_t e, a;

    (void)st;
    gw_history_count(h, T0 + 100, 0, SVC_TRANSACTION, false, -1);
    gw_history_count(h, T0 + 900, 0, SVC_TRANSACTION, true, 1);
    gw_history_count(h, T0 + 2500, 0, SVC_TRANSACTION, false, -1);
    gw_history_count(h, T0 + 2600, 0, SVC_AUTH, true, 0);
    j = as_json(h, T0 + 3000);
    ev = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "events"),
                                          "transaction-service");
    an = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "anomalies"),
                                          "transaction-service");
    assert_int_equal(cJSON_GetArraySize(ev), GW_HIST_SECS);
    /* now is second T0+3: index 899; T0+2 is 898, T0 is 896 */
    assert_true(at(ev, 899) == 0);
    assert_true(at(ev, 898) == 1);
    assert_true(at(ev, 897) == 0);
    assert_true(at(ev, 896) == 2);
    assert_true(at(an, 896) == 1);
    gw_history_sum(h, T0 + 3000, SVC_TRANSACTION, 60, &e, &a);
    assert_int_equal(e, 3);
    assert_int_equal(a, 1);
    gw_history_sum(h, T0 + 3000, SVC_TRANSACTION, 2, &e, &a); /* seconds 2 and 3 */
    assert_int_equal(e, 1);
    assert_int_equal(a, 0);
    assert_int_equal(gw_history_type_hour(h, T0 + 3000, SVC_TRANSACTION, 1), 1);
    assert_int_equal(gw_history_type_hour(h, T0 + 3000, SVC_AUTH, 0), 1);
    assert_int_equal(gw_history_type_hour(h, T0 + 3000, SVC_AUTH, 1), 0);
    cJSON_Delete(j);
    free(h);
}

static void test_gw_history_forgets_what_leaves_the_window(void **st)
{
    struct gw_history *h = fresh();
    uint64_t e, a;

    (void)st;
    gw_history_count(h, T0, 0, SVC_MONITORING, true, 2);
    gw_history_count(h, T0 + 10 * 60000, 0, SVC_MONITORING, true, 2);
    /* 14:59 later the first second is still in the 15-minute window */
    gw_history_sum(h, T0 + 899 * 1000, SVC_MONITORING, GW_HIST_SECS, &e, &a);
    assert_int_equal(e, 2);
    /* a second later it is not, and its slot was reused, not added to */
    gw_history_count(h, T0 + 900 * 1000, 0, SVC_MONITORING, false, -1);
    gw_history_sum(h, T0 + 900 * 1000, SVC_MONITORING, GW_HIST_SECS, &e, &a);
    assert_int_equal(e, 2);
    assert_int_equal(a, 1);
    assert_int_equal(gw_history_type_hour(h, T0 + 59 * 60000, SVC_MONITORING, 2), 2);
    assert_int_equal(gw_history_type_hour(h, T0 + 60 * 60000, SVC_MONITORING, 2), 1);
    /* a jump past the whole window clears everything */
    gw_history_count(h, T0 + 3 * 3600000LL, 0, SVC_MONITORING, false, -1);
    assert_int_equal(gw_history_type_hour(h, T0 + 3 * 3600000LL, SVC_MONITORING, 2), 0);
    gw_history_sum(h, T0 + 3 * 3600000LL, SVC_MONITORING, GW_HIST_SECS, &e, &a);
    assert_int_equal(e, 1);
    free(h);
}

static void test_gw_history_places_an_event_at_its_own_time_inside_the_window(void **st)
{
    struct gw_history *h = fresh();
    int64_t now = T0 + 600 * 1000;
    uint64_t e, a;

    (void)st;
    /* a backlog read at once: generated 5 minutes ago, 5 s ago, and
     * an hour ago (outside the window: counted at arrival) */
    gw_history_count(h, now, now - 300 * 1000, SVC_TRANSACTION, true, 0);
    gw_history_count(h, now, now - 5000, SVC_TRANSACTION, false, -1);
    gw_history_count(h, now, now - 3600 * 1000, SVC_TRANSACTION, false, -1);
    gw_history_count(h, now, now + 60 * 1000, SVC_TRANSACTION, false, -1); /* ahead: now */
    gw_history_sum(h, now, SVC_TRANSACTION, 1, &e, &a);
    assert_int_equal(e, 2);
    gw_history_sum(h, now, SVC_TRANSACTION, 6, &e, &a);
    assert_int_equal(e, 3);
    gw_history_sum(h, now, SVC_TRANSACTION, 301, &e, &a);
    assert_int_equal(e, 4);
    assert_int_equal(a, 1);
    assert_int_equal(gw_history_type_hour(h, now, SVC_TRANSACTION, 0), 1);
    free(h);
}

static void test_gw_history_clock_stepping_back_counts_into_the_newest_slot(void **st)
{
    struct gw_history *h = fresh();
    uint64_t e, a;

    (void)st;
    gw_history_count(h, T0 + 5000, 0, SVC_AUTH, false, -1);
    gw_history_count(h, T0 + 1000, 0, SVC_AUTH, false, -1); /* NTP stepped back */
    gw_history_sum(h, T0 + 5000, SVC_AUTH, 1, &e, &a);
    assert_int_equal(e, 2);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_history_counts_land_in_their_second_and_json_ends_with_now),
        cmocka_unit_test(test_gw_history_forgets_what_leaves_the_window),
        cmocka_unit_test(test_gw_history_places_an_event_at_its_own_time_inside_the_window),
        cmocka_unit_test(test_gw_history_clock_stepping_back_counts_into_the_newest_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
