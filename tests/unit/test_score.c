/* test_score.c - the pure scorer: request checks, the NAB sigmoid and
 * quantiles, merging one incident seen by two services, and the figures
 * a tally renders to. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "api_errors.h"
#include "buf.h"
#include "score.h"

static enum bm_rc parse(const char *body, struct score_req *r, struct api_fail *f)
{
    memset(r, 0, sizeof(*r));
    return score_req_parse(body, strlen(body), r, f);
}

static void test_score_request_errors_name_their_field(void **state)
{
    static const struct {
        const char *body, *field;
    } bad[] = {
        { "{\"from\":\"2026-01-05T00:00:00Z\"}", "detections" },
        { "{\"detections\":[],\"from\":\"yesterday\"}", "from" },
        { "{\"detections\":[],\"from\":\"2026-01-05T01:00:00Z\",\"to\":\"2026-01-05T00:00:00Z\"}",
          "from" },
        { "{\"detections\":[{\"event_id\":\"a\",\"incident_id\":\"b\"}]}", "detections" },
        { "{\"detections\":[],\"colour\":1}", "colour" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct score_req r;
        struct api_fail f;

        memset(&f, 0, sizeof(f));
        assert_int_not_equal(parse(bad[i].body, &r, &f), BM_OK);
        if (!strstr(f.field, bad[i].field))
            fail_msg("%s: field \"%s\", want \"%s\"", bad[i].body, f.field, bad[i].field);
        score_req_free(&r);
    }
}

static void test_score_request_keeps_ids_types_and_times(void **state)
{
    struct score_req r;
    struct api_fail f;

    (void)state;
    assert_int_equal(parse("{\"detections\":[{\"event_id\":\"e1\"},"
                           "{\"incident_id\":\"i1\",\"type\":\"brute_force\","
                           "\"detected_at\":\"2026-01-05T00:00:01.000Z\"}],"
                           "\"from\":\"2026-01-05T00:00:00Z\",\"to\":\"2026-01-05T01:00:00Z\"}",
                           &r, &f),
                     BM_OK);
    assert_int_equal(r.ndets, 2);
    assert_string_equal(r.dets[0].id, "e1");
    assert_false(r.dets[0].incident);
    assert_int_equal(r.dets[0].at_ms, -1);
    assert_string_equal(r.dets[1].id, "i1");
    assert_true(r.dets[1].incident);
    assert_string_equal(r.dets[1].type_name, "brute_force");
    assert_int_equal(r.dets[1].at_ms - r.from_ms, 1000);
    assert_int_equal(r.to_ms - r.from_ms, 3600 * 1000);
    score_req_free(&r);
}

static void test_score_nab_sigmoid_rewards_early_detection(void **state)
{
    (void)state;
    /* 2 / (1 + e^(5y)) - 1: near 1 at the window's start, 0 at its end,
     * towards -1 after it */
    assert_true(fabs(score_nab_sigmoid(-1.0) - (2.0 / (1.0 + exp(-5.0)) - 1.0)) < 1e-12);
    assert_true(fabs(score_nab_sigmoid(0.0)) < 1e-12);
    assert_true(score_nab_sigmoid(-0.5) > score_nab_sigmoid(-0.1));
    assert_true(score_nab_sigmoid(3.0) < -0.99);
}

static void test_score_quantile_is_nearest_rank(void **state)
{
    static const int64_t v[] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 };

    (void)state;
    assert_int_equal(score_quantile(v, 10, 0.5), 50);
    assert_int_equal(score_quantile(v, 10, 0.9), 90);
    assert_int_equal(score_quantile(v, 10, 1.0), 100);
    assert_int_equal(score_quantile(v, 1, 0.9), 10);
}

static void test_score_merge_sums_one_incident_seen_twice(void **state)
{
    struct score_tally t;
    struct score_incident *a, *b;
    int k;

    (void)state;
    score_tally_init(&t);
    k = score_type_index(&t, "brute_force");
    assert_true(k >= 0);
    a = score_incident_add(&t, "inc", k);
    a->start_ms = 1000;
    a->end_ms = 5000;
    a->win_start_ms = 1000;
    a->events = 3;
    a->flagged = 1;
    a->det_ms = 4000;
    a->nab_ms = 4000;
    b = score_incident_add(&t, "inc", k);
    b->start_ms = 500;
    b->end_ms = 9000;
    b->win_start_ms = 2000;
    b->events = 2;
    b->flagged = 2;
    b->det_ms = 3000;
    b->nab_ms = 3000;
    score_tally_merge_dups(&t);
    assert_int_equal(t.ninc, 1);
    assert_int_equal(t.inc[0].start_ms, 500);
    assert_int_equal(t.inc[0].end_ms, 9000);
    assert_int_equal(t.inc[0].win_start_ms, 1000);
    assert_int_equal(t.inc[0].events, 5);
    assert_int_equal(t.inc[0].flagged, 3);
    assert_int_equal(t.inc[0].det_ms, 3000);
    score_tally_free(&t);
}

/* Two incidents, one found at its first event, one missed; 10 normal
 * events of which 2 were flagged. */
static void test_score_render_counts_precision_recall_and_nab(void **state)
{
    struct score_tally t;
    struct score_incident *x;
    struct buf b;
    cJSON *j, *ev, *inc;
    int k;

    (void)state;
    score_tally_init(&t);
    t.from_ms = 0;
    t.to_ms = 3600 * 1000;
    t.submitted_ms = t.to_ms;
    k = score_type_index(&t, "brute_force");
    x = score_incident_add(&t, "found", k);
    x->start_ms = x->win_start_ms = 1000;
    x->end_ms = 61000;
    x->events = 4;
    x->flagged = 4;
    x->det_ms = x->nab_ms = 1000;
    x = score_incident_add(&t, "missed", k);
    x->start_ms = x->win_start_ms = 100000;
    x->end_ms = 160000;
    x->events = 6;
    t.normal = 10;
    t.fp_untyped = 2;
    buf_init(&b, 1 << 20);
    assert_int_equal(score_render(&t, NULL, "id", "transaction-service", 0, &b), BM_OK);
    j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    ev = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "overall"),
                                          "event");
    inc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "overall"),
                                           "incident");
    assert_non_null(ev);
    assert_non_null(inc);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ev, "tp")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ev, "fn")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ev, "fp")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ev, "tn")->valueint, 8);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(ev, "precision")->valuedouble -
                     4.0 / 6.0) < 1e-3);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(ev, "recall")->valuedouble - 0.4) < 1e-3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(inc, "tp")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(inc, "fn")->valueint, 1);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(inc, "recall")->valuedouble - 0.5) <
                1e-3);
    cJSON_Delete(j);
    buf_free(&b);
    score_tally_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_request_errors_name_their_field),
        cmocka_unit_test(test_score_request_keeps_ids_types_and_times),
        cmocka_unit_test(test_score_nab_sigmoid_rewards_early_detection),
        cmocka_unit_test(test_score_quantile_is_nearest_rank),
        cmocka_unit_test(test_score_merge_sums_one_incident_seen_twice),
        cmocka_unit_test(test_score_render_counts_precision_recall_and_nab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
