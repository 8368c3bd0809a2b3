/* test_inject_req.c - reading a POST /inject body and the checks the
 * services share: size ranges and targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "inject_req.h"

static enum bm_rc parse(const char *text, struct inject_req *r, struct api_fail *f)
{
    static cJSON *body; /* kept until the next call: r borrows from it */

    cJSON_Delete(body);
    body = cJSON_Parse(text);
    assert_non_null(body);
    memset(f, 0, sizeof *f);
    return inject_req_parse(body, r, f);
}

static void test_inject_body_defaults_to_now_and_the_usual_size(void **state)
{
    struct inject_req r;
    struct api_fail f;

    (void)state;
    assert_int_equal(parse("{\"type\":\"brute_force\"}", &r, &f), BM_OK);
    assert_string_equal(r.type, "brute_force");
    assert_null(r.target);
    assert_true(r.at_now);
    assert_int_equal(r.size, -1);
    assert_int_equal(parse("{\"type\":\"x\",\"at\":\"now\",\"target\":null}", &r, &f), BM_OK);
    assert_true(r.at_now);
    assert_null(r.target);
}

static void test_inject_body_reads_target_time_and_size(void **state)
{
    struct inject_req r;
    struct api_fail f;

    (void)state;
    assert_int_equal(parse("{\"type\":\"t\",\"target\":{\"username\":\"u\"},"
                           "\"at\":\"2026-01-05T09:20:00Z\",\"size\":12}",
                           &r, &f),
                     BM_OK);
    assert_non_null(r.target);
    assert_false(r.at_now);
    assert_int_equal(r.at_ms, 1767604800000LL);
    assert_int_equal(r.size, 12);
}

static void test_inject_body_errors_name_the_field(void **state)
{
    static const struct {
        const char *body, *field;
        enum api_err err;
    } bad[] = {
        { "{}", "type", API_BAD_VALUE },
        { "{\"type\":1}", "type", API_BAD_TYPE },
        { "{\"type\":\"t\",\"at\":\"later\"}", "at", API_BAD_VALUE },
        { "{\"type\":\"t\",\"at\":5}", "at", API_BAD_TYPE },
        { "{\"type\":\"t\",\"size\":0}", "size", API_BAD_VALUE },
        { "{\"type\":\"t\",\"size\":2.5}", "size", API_BAD_VALUE },
        { "{\"type\":\"t\",\"size\":\"3\"}", "size", API_BAD_TYPE },
        { "{\"type\":\"t\",\"target\":\"me\"}", "target", API_BAD_TYPE },
        { "{\"type\":\"t\",\"who\":1}", "who", API_UNKNOWN_FIELD },
        { "{\"type\":\"t\",\"type\":\"u\"}", "type", API_BAD_VALUE },
    };
    struct inject_req r;
    struct api_fail f;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i].body, &r, &f), BM_EINVAL);
        assert_string_equal(f.field, bad[i].field);
        assert_int_equal(f.err, bad[i].err);
    }
}

static void test_inject_size_and_target_checks(void **state)
{
    struct api_fail f;
    const char *v;
    cJSON *t = cJSON_Parse("{\"username\":\"u1\"}");
    int n = 0;

    (void)state;
    assert_int_equal(inject_req_size(-1, 3, 8, 5, &n, &f), BM_OK);
    assert_int_equal(n, 5);
    assert_int_equal(inject_req_size(8, 3, 8, 5, &n, &f), BM_OK);
    assert_int_equal(n, 8);
    assert_int_equal(inject_req_size(9, 3, 8, 5, &n, &f), BM_EINVAL);
    assert_string_equal(f.field, "size");
    assert_int_equal(inject_req_target(t, "username", &v, &f), BM_OK);
    assert_string_equal(v, "u1");
    assert_int_equal(inject_req_target(t, "customer_id", &v, &f), BM_EINVAL);
    assert_string_equal(f.field, "target.username");
    assert_int_equal(inject_req_target(t, NULL, &v, &f), BM_EINVAL);
    assert_int_equal(inject_req_target(NULL, NULL, &v, &f), BM_OK);
    assert_null(v);
    cJSON_Delete(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inject_body_defaults_to_now_and_the_usual_size),
        cmocka_unit_test(test_inject_body_reads_target_time_and_size),
        cmocka_unit_test(test_inject_body_errors_name_the_field),
        cmocka_unit_test(test_inject_size_and_target_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
