/* test_query.c - event-list query parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

static enum bm_rc parse(const char *limit, const char *since, const char *anom,
                        const char *type, struct db_list_query *q, struct api_fail *f)
{
    return query_parse_list(SVC_TRANSACTION, limit, since, anom, type, q, f);
}

static void test_query_defaults_to_newest_hundred(void **state)
{
    struct db_list_query q;
    struct api_fail f;

    (void)state;
    assert_int_equal(parse(NULL, NULL, NULL, NULL, &q, &f), BM_OK);
    assert_int_equal(q.limit, 100);
    assert_false(q.has_since);
    assert_false(q.anomalies_only);
    assert_null(q.anomaly_type);
}

static void test_query_accepts_every_parameter(void **state)
{
    struct db_list_query q;
    struct api_fail f;

    (void)state;
    assert_int_equal(parse("1000", "0", "true", "fraud_pattern", &q, &f), BM_OK);
    assert_int_equal(q.limit, 1000);
    assert_true(q.has_since);
    assert_int_equal(q.since, 0);
    assert_true(q.anomalies_only);
    assert_string_equal(q.anomaly_type, "fraud_pattern");
}

static void test_query_rejects_each_bad_value_naming_it(void **state)
{
    static const struct {
        const char *limit, *since, *anom, *type, *field;
    } rows[] = {
        { "0", NULL, NULL, NULL, "limit" },
        { "1001", NULL, NULL, NULL, "limit" },
        { "ten", NULL, NULL, NULL, "limit" },
        { "", NULL, NULL, NULL, "limit" },
        { "5 ", NULL, NULL, NULL, "limit" },
        { "1e2", NULL, NULL, NULL, "limit" },
        { NULL, "-1", NULL, NULL, "since" },
        { NULL, "abc", NULL, NULL, "since" },
        { NULL, "99999999999999999999", NULL, NULL, "since" },
        { NULL, NULL, "maybe", NULL, "anomalies_only" },
        { NULL, NULL, "", NULL, "anomalies_only" },
        { NULL, NULL, NULL, "brute_force", "anomaly_type" }, /* another service's */
        { NULL, NULL, NULL, "", "anomaly_type" },
    };
    struct db_list_query q;
    struct api_fail f;

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        memset(&f, 0, sizeof(f));
        assert_int_equal(parse(rows[i].limit, rows[i].since, rows[i].anom, rows[i].type, &q, &f),
                         BM_EINVAL);
        assert_int_equal(f.err, API_BAD_PARAM);
        assert_string_equal(f.field, rows[i].field);
    }
}

/* The seed's name for the three utilisation types, on the monitoring
 * list only. */
static void test_query_takes_resource_exhaustion_as_the_utilisation_types(void **state)
{
    struct db_list_query q;
    struct api_fail f;

    (void)state;
    assert_int_equal(query_parse_list(SVC_MONITORING, NULL, NULL, NULL, "resource_exhaustion",
                                      &q, &f),
                     BM_OK);
    assert_string_equal(q.anomaly_type, "resource_exhaustion");
    assert_int_equal(q.ntypes, 3);
    assert_string_equal(q.types[0], "high_cpu");
    assert_string_equal(q.types[1], "high_memory");
    assert_string_equal(q.types[2], "high_disk");
    assert_true(svc_filter_takes("resource_exhaustion", SVC_MONITORING,
                                 svc_anomaly_index(SVC_MONITORING, "high_disk")));
    assert_false(svc_filter_takes("resource_exhaustion", SVC_MONITORING,
                                  svc_anomaly_index(SVC_MONITORING, "network_timeout")));
    assert_false(svc_filter_takes("resource_exhaustion", SVC_MONITORING, -1));
    assert_int_equal(query_parse_list(SVC_MONITORING, NULL, NULL, NULL, "high_cpu", &q, &f),
                     BM_OK);
    assert_int_equal(q.ntypes, 1);
    assert_string_equal(q.types[0], "high_cpu");
    memset(&f, 0, sizeof(f));
    assert_int_equal(parse(NULL, NULL, NULL, "resource_exhaustion", &q, &f), BM_EINVAL);
    assert_string_equal(f.field, "anomaly_type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_defaults_to_newest_hundred),
        cmocka_unit_test(test_query_takes_resource_exhaustion_as_the_utilisation_types),
        cmocka_unit_test(test_query_accepts_every_parameter),
        cmocka_unit_test(test_query_rejects_each_bad_value_naming_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
