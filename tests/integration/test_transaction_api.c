/* test_transaction_api.c - transaction-service end to end: the real
 * binary on a free loopback port with a temporary database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "harness.h"

static const char *const live_args[] = { "--seed", "42", NULL };

static bool is_str(const cJSON *o, const char *k)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, k));
}

static bool is_num(const cJSON *o, const char *k)
{
    return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Every SPEC §5 field, present and typed. */
static void assert_transaction_shape(const cJSON *e)
{
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "location");
    const cJSON *anom = cJSON_GetObjectItemCaseSensitive(e, "is_anomaly");
    const cJSON *risk = cJSON_GetObjectItemCaseSensitive(e, "risk_score");
    const cJSON *amount = cJSON_GetObjectItemCaseSensitive(e, "amount");

    assert_true(is_str(e, "transaction_id"));
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(e, "transaction_id")->valuestring), 36);
    assert_true(is_str(e, "timestamp"));
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(e, "timestamp")->valuestring), 24);
    assert_true(is_num(e, "sequence"));
    assert_true(is_str(e, "customer_id"));
    assert_int_equal(strncmp(cJSON_GetObjectItemCaseSensitive(e, "customer_id")->valuestring,
                             "CUST_", 5), 0);
    assert_true(is_str(e, "customer_segment"));
    assert_true(is_str(e, "account_id"));
    assert_true(h_is_str_or_null(e, "counterparty_account"));
    assert_true(h_is_str_or_null(e, "merchant_id"));
    assert_true(h_is_str_or_null(e, "merchant_category"));
    assert_true(cJSON_IsNumber(amount) && amount->valuedouble > 0);
    assert_true(is_str(e, "currency"));
    assert_true(is_str(e, "transaction_type"));
    assert_true(is_str(e, "channel"));
    assert_true(cJSON_IsObject(loc));
    assert_true(is_str(loc, "country"));
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(loc, "country")->valuestring), 2);
    assert_true(is_str(loc, "city"));
    assert_true(is_str(e, "status"));
    assert_true(is_num(e, "processing_time_ms"));
    assert_true(cJSON_IsNumber(risk) && risk->valuedouble >= 0 && risk->valuedouble <= 1);
    assert_true(cJSON_IsBool(anom));
    assert_true(h_is_str_or_null(e, "anomaly_type"));
    assert_true(h_is_str_or_null(e, "incident_id"));
    assert_true(is_str(e, "origin"));
    assert_int_equal(cJSON_IsTrue(anom),
                     is_str(e, "anomaly_type"));
}

static void test_events_appear_within_seconds_with_every_field_typed(void **state)
{
    struct proc p;
    cJSON *j, *events;

    (void)state;
    h_proc_init(&p, "shape");
    assert_int_equal(h_proc_start(&p, "transaction-service", live_args), 0);
    j = h_wait_first_events(p.port, "/transactions/events");
    events = h_events_of(j);
    assert_true(cJSON_GetArraySize(events) > 0);
    {
        const cJSON *e;
        cJSON_ArrayForEach(e, events) assert_transaction_shape(e);
    }
    assert_true(is_num(j, "count"));
    assert_true(is_num(j, "next_since"));
    assert_true(is_num(j, "oldest_sequence"));
    cJSON_Delete(j);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void test_sigterm_exits_zero_within_two_seconds(void **state)
{
    struct proc p;
    long ms = 0;
    const char *const args[] = { "--seed", "7", "--backfill", "30d", NULL };

    (void)state;
    h_proc_init(&p, "term");
    assert_int_equal(h_proc_start(&p, "transaction-service", args), 0);
    /* in the middle of a long backfill */
    assert_true(h_wait_health_status(p.port, "backfilling", 5000));
    assert_int_equal(h_proc_stop(&p, &ms), 0);
    assert_true(ms < 2000);
    h_proc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_appear_within_seconds_with_every_field_typed),
        cmocka_unit_test(test_sigterm_exits_zero_within_two_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
