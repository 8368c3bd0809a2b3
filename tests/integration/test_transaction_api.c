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


/* ------------------------------------------------------------------ */
/* POST /transactions: the rules of the multi-event types               */

static cJSON *post_txn_json(int port, const char *body)
{
    struct resp r;
    cJSON *j;

    assert_int_equal(h_http_req(port, "POST", "/transactions", body, h_json_ct, &r), 0);
    if (r.status != 201)
        fail_msg("POST /transactions %s: %ld %s", body, r.status, r.body);
    j = cJSON_ParseWithLength(r.body, r.len);
    assert_non_null(j);
    h_resp_free(&r);
    return j;
}

static const char *type_of(const cJSON *e)
{
    const char *t = h_jstr(e, "anomaly_type");
    return t ? t : "";
}

/* Posts body (a format with one %d: the event's number, 1..n) n times:
 * normal before the (first_hit)th, type from it on under one incident
 * id (into id, with the first labelled sequence). */
static void post_run(int port, const char *fmt, int n, int first_hit, const char *type,
                     char *id, long long *first_seq)
{
    for (int i = 1; i <= n; i++) {
        char body[512];
        cJSON *e;

        /* the formats below are this file's own literals */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(body, sizeof(body), fmt, i);
#pragma GCC diagnostic pop
        e = post_txn_json(port, body);
        if (i < first_hit) {
            assert_string_equal(type_of(e), "");
            assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "incident_id")));
        } else {
            assert_string_equal(type_of(e), type);
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly")));
            if (i == first_hit) {
                snprintf(id, 40, "%s", h_jstr(e, "incident_id"));
                *first_seq = h_jnum(e, "sequence");
            }
            assert_string_equal(h_jstr(e, "incident_id"), id);
        }
        cJSON_Delete(e);
    }
}

static void check_api_incident(int port, const char *id, const char *type, long long count,
                               long long first_seq)
{
    char path[96];
    cJSON *inc;

    snprintf(path, sizeof(path), "/incidents/%s", id);
    inc = h_get_json(port, path);
    assert_string_equal(h_jstr(inc, "type"), type);
    assert_string_equal(h_jstr(inc, "origin"), "api");
    assert_int_equal(h_jnum(inc, "event_count"), count);
    assert_int_equal(h_jnum(inc, "first_sequence"), first_seq);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(inc, "events")), count);
    cJSON_Delete(inc);
}

#define PURCHASE(cust, amount, merchant, loc)                                                  \
    "{\"customer_id\":\"" cust "\",\"amount\":" amount ",\"transaction_type\":\"purchase\","     \
    "\"merchant_id\":\"" merchant "\"" loc "}"
#define ABROAD ",\"location\":{\"country\":\"JP\",\"city\":\"Tokyo\"}"
#define TRANSFER(cust, amount, to)                                                             \
    "{\"customer_id\":\"" cust "\",\"amount\":" amount ",\"transaction_type\":\"transfer\","     \
    "\"counterparty_account\":\"" to "\"}"

/* fraud_pattern and money_laundering through the API, judged with every
 * stored event (customers the bank does not know, so no generated event
 * is theirs; their home is the US): the event that completes the pattern
 * and every later one of the window carry the type under one incident id
 * (origin api); the ones before it, and runs that miss the rule by one
 * count, amount, place or account, stay normal. */
static void test_posted_patterns_are_labelled_by_the_rules(void **state)
{
    static const char *const args[] = { "--seed", "41", "--start-time", "2026-01-05T15:00:00Z",
                                        "--backfill", "60s", NULL };
    struct proc *p = &h_procs[0];
    char id[40];
    long long first = 0;
    cJSON *e;

    (void)state;
    h_proc_start_backfilled(p, "txnrules", "transaction-service", NULL, args, 60000);
    /* seven $9.99 purchases at one merchant, abroad, minutes (here:
     * moments) apart: the third is a fraud_pattern, the rest join it */
    post_run(p->port, PURCHASE("CUST_000101", "9.99", "MER_T1", ABROAD), 7, 3, "fraud_pattern",
             id, &first);
    check_api_incident(p->port, id, "fraud_pattern", 5, first);
    /* near misses: two there, a third at home, one over $60, one at
     * another merchant */
    post_run(p->port, PURCHASE("CUST_000102", "9.99", "MER_T2", ABROAD), 2, 99, "", id, &first);
    post_run(p->port, PURCHASE("CUST_000102", "9.99", "MER_T2", ""), 1, 99, "", id, &first);
    post_run(p->port, PURCHASE("CUST_000102", "60.01", "MER_T2", ABROAD), 1, 99, "", id, &first);
    post_run(p->port, PURCHASE("CUST_000102", "9.99", "MER_T3", ABROAD), 1, 99, "", id, &first);
    /* five round $5,000 transfers to five accounts: the third is
     * money_laundering */
    post_run(p->port, TRANSFER("CUST_000103", "5000", "ACC900000000%d"), 5, 3,
             "money_laundering", id, &first);
    check_api_incident(p->port, id, "money_laundering", 3, first);
    /* near misses: round to two accounts only (rent-like), and a third
     * account with cents */
    post_run(p->port, TRANSFER("CUST_000104", "5000", "ACC91000000%d0"), 2, 99, "", id, &first);
    post_run(p->port, TRANSFER("CUST_000104", "4000", "ACC91000000%d0"), 2, 99, "", id, &first);
    post_run(p->port, TRANSFER("CUST_000104", "5000.50", "ACC91000009%d"), 1, 99, "", id,
             &first);
    post_run(p->port, TRANSFER("CUST_000104", "900", "ACC91000008%d"), 1, 99, "", id, &first);
    /* a high amount is an incident of one event, its own id */
    e = post_txn_json(p->port, TRANSFER("CUST_000105", "50000", "ACC9200000001"));
    assert_string_equal(type_of(e), "suspicious_high_amount");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "incident_id")));
    check_api_incident(p->port, h_jstr(e, "transaction_id"), "suspicious_high_amount", 1,
                       h_jnum(e, "sequence"));
    cJSON_Delete(e);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_appear_within_seconds_with_every_field_typed),
        cmocka_unit_test(test_sigterm_exits_zero_within_two_seconds),
        cmocka_unit_test_setup_teardown(test_posted_patterns_are_labelled_by_the_rules,
                                        h_procs_setup, h_procs_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
