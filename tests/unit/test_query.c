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
    /* an event read elsewhere (a stream's ring) matches by its type's name */
    assert_true(query_matches(&q, 0, "high_disk", "{}", 2));
    assert_false(query_matches(&q, 0, "network_timeout", "{}", 2));
    assert_false(query_matches(&q, 0, NULL, "{}", 2));
    assert_int_equal(query_parse_list(SVC_MONITORING, NULL, NULL, NULL, "high_cpu", &q, &f),
                     BM_OK);
    assert_int_equal(q.ntypes, 1);
    assert_string_equal(q.types[0], "high_cpu");
    memset(&f, 0, sizeof(f));
    assert_int_equal(parse(NULL, NULL, NULL, "resource_exhaustion", &q, &f), BM_EINVAL);
    assert_string_equal(f.field, "anomaly_type");
}

static enum bm_rc filters(enum bm_svc svc, const char *from, const char *to,
                          struct db_list_query *q, struct api_fail *f)
{
    struct query_filters in;

    memset(&in, 0, sizeof(in));
    memset(q, 0, sizeof(*q));
    memset(f, 0, sizeof(*f));
    in.from = from;
    in.to = to;
    return query_parse_filters(svc, &in, q, f);
}

static void test_query_takes_a_time_range(void **state)
{
    struct db_list_query q;
    struct api_fail f;

    (void)state;
    assert_int_equal(filters(SVC_AUTH, "2026-01-05T00:00:00Z", "2026-01-05T01:00:00.500Z", &q,
                             &f),
                     BM_OK);
    assert_true(q.has_from && q.has_to);
    assert_int_equal(q.from_ms, 1767571200000LL);
    assert_int_equal(q.to_ms, 1767571200000LL + 3600500);
    /* [from, to): an empty range is allowed, the end is excluded */
    assert_int_equal(filters(SVC_AUTH, "2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z", &q, &f),
                     BM_OK);
    assert_true(query_matches(&q, q.from_ms - 1, NULL, "{}", 2) == false);
    assert_int_equal(filters(SVC_AUTH, "2026-01-05T00:00:00Z", "2026-01-05T00:00:01Z", &q, &f),
                     BM_OK);
    assert_true(query_matches(&q, q.from_ms, NULL, "{}", 2));
    assert_false(query_matches(&q, q.to_ms, NULL, "{}", 2));
    /* either end alone */
    assert_int_equal(filters(SVC_MONITORING, NULL, "2026-01-05", &q, &f), BM_OK);
    assert_false(q.has_from);
    assert_true(q.has_to);
}

static void test_query_names_a_malformed_or_reversed_time(void **state)
{
    static const struct {
        const char *from, *to, *field;
    } rows[] = {
        { "yesterday", NULL, "from" },
        { "", NULL, "from" },
        { "2026-13-01T00:00:00Z", NULL, "from" },
        { "2026-01-05T25:00:00Z", NULL, "from" },
        { NULL, "2026-01-05T00:00:00", "to" }, /* no zone is fine... */
        { NULL, "1767571200000", "to" },
        { NULL, "2026-01-05T00:00:00Zjunk", "to" },
        { "2026-01-05T00:00:00Z", "2026-01-04T23:59:59.999Z", "from" },
    };
    struct db_list_query q;
    struct api_fail f;

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum bm_rc rc = filters(SVC_TRANSACTION, rows[i].from, rows[i].to, &q, &f);
        if (i == 4) { /* ...the parser takes a local-less time as UTC */
            assert_int_equal(rc, BM_OK);
            continue;
        }
        assert_int_equal(rc, BM_EINVAL);
        assert_int_equal(f.err, API_BAD_PARAM);
        assert_string_equal(f.field, rows[i].field);
    }
}

static void test_query_format_from_the_parameter_or_accept(void **state)
{
    enum query_format fmt;
    struct api_fail f;

    (void)state;
    assert_int_equal(query_parse_format(NULL, NULL, &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_JSON);
    assert_int_equal(query_parse_format("ndjson", NULL, &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_NDJSON);
    assert_int_equal(query_parse_format("csv", "application/x-ndjson", &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_CSV); /* the parameter wins */
    assert_int_equal(query_parse_format("json", "text/csv", &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_JSON);
    assert_int_equal(query_parse_format(NULL, "text/html, application/x-ndjson;q=0.9", &fmt, &f),
                     BM_OK);
    assert_int_equal(fmt, QF_NDJSON);
    assert_int_equal(query_parse_format(NULL, "TEXT/CSV", &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_CSV);
    /* a type that only starts like one is not it; unknown Accept is JSON */
    assert_int_equal(query_parse_format(NULL, "text/csvx", &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_JSON);
    assert_int_equal(query_parse_format(NULL, "application/xml", &fmt, &f), BM_OK);
    assert_int_equal(fmt, QF_JSON);
    assert_string_equal(query_format_ctype(QF_NDJSON), "application/x-ndjson");
    assert_non_null(strstr(query_format_ctype(QF_CSV), "text/csv"));
}

static void test_query_rejects_an_unknown_format_naming_it(void **state)
{
    static const char *const bad[] = { "xml", "", "CSV", "ndjson ", "yaml" };
    enum query_format fmt;
    struct api_fail f;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&f, 0, sizeof(f));
        assert_int_equal(query_parse_format(bad[i], "text/csv", &fmt, &f), BM_EINVAL);
        assert_int_equal(f.err, API_BAD_PARAM);
        assert_string_equal(f.field, "format");
    }
}

/* Each service filters on its own body fields only; the HTTP layer
 * rejects the others by name (test_streams), and here a value in a slot
 * the service does not have is never read. */
static void test_query_filters_only_the_fields_a_service_has(void **state)
{
    struct query_filters in;
    struct db_list_query q;
    struct api_fail f;
    const char *const *fx = query_fields(SVC_TRANSACTION);
    const char *const *fa = query_fields(SVC_AUTH);
    const char *const *fm = query_fields(SVC_MONITORING);
    const char *yes = "{\"customer_id\":\"CUST_000042\",\"incident_id\":\"7c1e\"}";
    const char *no = "{\"customer_id\":\"CUST_0000421\",\"incident_id\":\"7c1e\"}";

    (void)state;
    assert_string_equal(fx[0], "customer_id");
    assert_null(fx[1]);
    assert_string_equal(fa[0], "customer_id");
    assert_string_equal(fa[1], "username");
    assert_null(fa[2]);
    assert_string_equal(fm[0], "service");
    assert_string_equal(fm[1], "host");
    assert_null(fm[2]);
    assert_null(query_fields(SVC_GATEWAY)[0]);

    memset(&in, 0, sizeof(in));
    memset(&q, 0, sizeof(q));
    in.field[0] = "CUST_000042";
    in.field[1] = "alice"; /* the transaction service has no second field */
    in.incident_id = "7c1e";
    assert_int_equal(query_parse_filters(SVC_TRANSACTION, &in, &q, &f), BM_OK);
    assert_int_equal(q.nneedles, 2);
    assert_string_equal(q.needle[0], "\"customer_id\":\"CUST_000042\"");
    assert_string_equal(q.needle[1], "\"incident_id\":\"7c1e\"");
    assert_true(query_body_matches(&q, yes, strlen(yes)));
    assert_false(query_body_matches(&q, no, strlen(no)));
    memset(&q, 0, sizeof(q));
    assert_int_equal(query_parse_filters(SVC_GATEWAY, &in, &q, &f), BM_OK);
    assert_int_equal(q.nneedles, 1); /* incident_id only */

    /* empty or overlong values name the field */
    memset(&in, 0, sizeof(in));
    memset(&q, 0, sizeof(q));
    in.field[1] = "";
    assert_int_equal(query_parse_filters(SVC_MONITORING, &in, &q, &f), BM_EINVAL);
    assert_string_equal(f.field, "host");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_defaults_to_newest_hundred),
        cmocka_unit_test(test_query_takes_resource_exhaustion_as_the_utilisation_types),
        cmocka_unit_test(test_query_accepts_every_parameter),
        cmocka_unit_test(test_query_rejects_each_bad_value_naming_it),
        cmocka_unit_test(test_query_takes_a_time_range),
        cmocka_unit_test(test_query_names_a_malformed_or_reversed_time),
        cmocka_unit_test(test_query_format_from_the_parameter_or_accept),
        cmocka_unit_test(test_query_rejects_an_unknown_format_naming_it),
        cmocka_unit_test(test_query_filters_only_the_fields_a_service_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
