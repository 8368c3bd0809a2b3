/* test_scenario.c - scenario timelines: offsets, the three step shapes,
 * checks that name the step's field, time order, another service's
 * steps, the ramp's rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "inject_req.h"
#include "scenario.h"

#define US 1000000LL

static void test_scenario_offsets_read_d_h_m_s_in_order(void **state)
{
    int64_t us = -1;

    (void)state;
    assert_int_equal(scenario_offset("+2h30m", &us), BM_OK);
    assert_int_equal(us, 9000 * US);
    assert_int_equal(scenario_offset("+1d2h3m4s", &us), BM_OK);
    assert_int_equal(us, (86400 + 7200 + 180 + 4) * US);
    assert_int_equal(scenario_offset("+0s", &us), BM_OK);
    assert_int_equal(us, 0);
    assert_int_equal(scenario_offset("2h", &us), BM_EINVAL);
    assert_int_equal(scenario_offset("+", &us), BM_EINVAL);
    assert_int_equal(scenario_offset("+5", &us), BM_EINVAL);
    assert_int_equal(scenario_offset("+30m2h", &us), BM_EINVAL);
    assert_int_equal(scenario_offset("+1h1h", &us), BM_EINVAL);
    assert_int_equal(scenario_offset("+-1h", &us), BM_EINVAL);
    assert_int_equal(scenario_offset("+400d", &us), BM_ERANGE);
}

/* A stand-in for a service's inject_check: any type "fraud_pattern". */
static enum bm_rc check(const void *model, const char *type, const cJSON *target, int64_t size,
                        struct gen_inject *inj, struct api_fail *f)
{
    (void)model;
    (void)target;
    if (strcmp(type, "fraud_pattern") != 0) {
        api_fail_set(f, API_BAD_VALUE, "type", "no");
        return BM_EINVAL;
    }
    inj->type = 1;
    inj->target = -1;
    return inject_req_size(size, 3, 8, 5, &inj->size, f);
}

static enum bm_rc parse(const char *text, struct scenario *s, struct api_fail *f)
{
    struct bm_config c;
    cJSON *root = cJSON_Parse(text);
    enum bm_rc rc;

    assert_non_null(root);
    cfg_defaults(&c, SVC_TRANSACTION);
    memset(f, 0, sizeof *f);
    rc = scenario_parse(root, SVC_TRANSACTION, &c, check, NULL, s, f);
    cJSON_Delete(root);
    return rc;
}

static void test_scenario_steps_sorted_with_the_ramp_end_as_a_set(void **state)
{
    static struct scenario s;
    struct api_fail f;

    (void)state;
    assert_int_equal(parse("{\"name\":\"n\",\"steps\":["
                           "{\"from\":\"+3h\",\"to\":\"+4h\",\"ramp\":{\"events_per_second\":[100,2000]}},"
                           "{\"at\":\"+2h30m\",\"inject\":{\"type\":\"fraud_pattern\"}},"
                           "{\"at\":\"+2h\",\"set\":{\"anomaly_rate\":0.1}},"
                           "{\"at\":\"+2h\",\"service\":\"auth\",\"set\":{\"failed_login_rate\":0.2}}]}",
                           &s, &f),
                     BM_OK);
    assert_string_equal(s.name, "n");
    assert_int_equal(s.n, 3); /* auth's step is not the transaction service's */
    assert_int_equal(s.steps[0].kind, SCEN_SET);
    assert_int_equal(s.steps[0].at_us, 7200 * US);
    assert_int_equal(s.steps[1].kind, SCEN_INJECT);
    assert_int_equal(s.steps[1].inj.size, 5);
    assert_int_equal(s.steps[2].kind, SCEN_RAMP_END);
    assert_int_equal(s.steps[2].at_us, 4 * 3600 * US);
    assert_true(cJSON_GetObjectItemCaseSensitive(s.steps[2].set, "events_per_second")->valuedouble ==
                2000.0);
    assert_int_equal(s.nramps, 1);
    assert_true(scenario_eps(&s, 3 * 3600 * US - 1, 50.0) == 50.0);
    assert_true(scenario_eps(&s, 3 * 3600 * US, 50.0) == 100.0);
    assert_true(scenario_eps(&s, 3 * 3600 * US + 1800 * US, 50.0) == 1050.0);
    assert_true(scenario_eps(&s, 4 * 3600 * US, 50.0) == 50.0); /* the set takes over */
    scenario_free(&s);
}

static void test_scenario_errors_name_the_step_and_field(void **state)
{
    static const struct {
        const char *steps, *field;
    } bad[] = {
        { "[{\"at\":\"2h\",\"set\":{\"anomaly_rate\":0.1}}]", "steps[0].at" },
        { "[{\"set\":{\"anomaly_rate\":0.1}}]", "steps[0].at" },
        { "[{\"at\":\"+1h\",\"set\":{\"anomaly_rate\":0.9}}]", "steps[0].set.anomaly_rate" },
        { "[{\"at\":\"+1h\",\"set\":{\"bogus\":1}}]", "steps[0].set.bogus" },
        { "[{\"at\":\"+1h\",\"set\":{\"paused\":true}}]", "steps[0].set.paused" },
        { "[{\"at\":\"+1h\",\"set\":7}]", "steps[0].set" },
        { "[{\"at\":\"+1h\"},{\"at\":\"+1h\"}]", "steps[0]" },
        { "[{\"at\":\"+1h\",\"set\":{},\"colour\":1}]", "steps[0].colour" },
        { "[{\"at\":\"+1h\",\"inject\":{\"type\":\"brute_force\"}}]", "steps[0].inject.type" },
        { "[{\"at\":\"+1h\",\"inject\":{\"type\":\"fraud_pattern\",\"size\":9}}]",
          "steps[0].inject.size" },
        { "[{\"at\":\"+1h\",\"inject\":{\"type\":\"fraud_pattern\",\"at\":\"2026-01-05T00:00:00Z\"}}]",
          "steps[0].inject.at" },
        { "[{\"from\":\"+2h\",\"to\":\"+1h\",\"ramp\":{\"events_per_second\":[1,2]}}]",
          "steps[0].to" },
        { "[{\"from\":\"+1h\",\"to\":\"+2h\",\"ramp\":{\"events_per_second\":[1,9000]}}]",
          "steps[0].ramp.events_per_second" },
        { "[{\"from\":\"+1h\",\"to\":\"+2h\",\"ramp\":{\"anomaly_rate\":[0,1]}}]",
          "steps[0].ramp.events_per_second" },
        { "[{\"at\":\"+1h\",\"service\":\"billing\",\"set\":{}}]", "steps[0].service" },
        { "{}", "steps" },
    };
    static struct scenario s;
    struct api_fail f;
    char text[512];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "{\"steps\":%s}", bad[i].steps);
        if (parse(text, &s, &f) == BM_OK)
            fail_msg("%s was taken", bad[i].steps);
        if (strcmp(f.field, bad[i].field) != 0)
            fail_msg("%s: field %s, expected %s (%s)", bad[i].steps, f.field, bad[i].field,
                     f.msg);
    }
    assert_int_equal(parse("{\"steps\":[],\"extra\":1}", &s, &f), BM_EINVAL);
    assert_string_equal(f.field, "extra");
}

static void test_scenario_sets_are_checked_on_top_of_earlier_ones(void **state)
{
    static struct scenario s;
    struct api_fail f;

    (void)state;
    /* the type rate fits only once the first step raised anomaly_rate */
    assert_int_equal(parse("{\"steps\":[{\"at\":\"+1h\",\"set\":{\"anomaly_rate\":0.3}},"
                           "{\"at\":\"+2h\",\"set\":{\"fraud_pattern_rate\":0.2}}]}",
                           &s, &f),
                     BM_OK);
    scenario_free(&s);
    assert_int_equal(parse("{\"steps\":[{\"at\":\"+2h\",\"set\":{\"fraud_pattern_rate\":0.2}}]}",
                           &s, &f),
                     BM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_offsets_read_d_h_m_s_in_order),
        cmocka_unit_test(test_scenario_steps_sorted_with_the_ramp_end_as_a_set),
        cmocka_unit_test(test_scenario_errors_name_the_step_and_field),
        cmocka_unit_test(test_scenario_sets_are_checked_on_top_of_earlier_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
