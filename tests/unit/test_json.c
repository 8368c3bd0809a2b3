/* test_json.c - bounded strict parsing and typed getters over cJSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Parses a copy in a buffer of exactly strlen(s) bytes, no NUL after
 * it, so a sanitizer build catches any read past len. */
static enum bm_rc parse_exact(const char *s, cJSON **out)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    enum bm_rc rc;

    assert_non_null(copy);
    memcpy(copy, s, n);
    rc = json_parse(copy, n, out);
    free(copy);
    return rc;
}

static void assert_rejected(const char *s)
{
    cJSON *j = (cJSON *)&j; /* must be reset to NULL */

    assert_int_equal(parse_exact(s, &j), BM_EINVAL);
    assert_null(j);
}

static void assert_accepted(const char *s)
{
    cJSON *j = NULL;

    assert_int_equal(parse_exact(s, &j), BM_OK);
    assert_non_null(j);
    cJSON_Delete(j);
}

static void test_json_parse_reads_object_without_nul_terminator(void **state)
{
    const char *s = "{\"rate\": 0.05, \"name\": \"x\", \"on\": true, \"n\": null}";
    double rate = 0;
    cJSON *j = NULL;

    (void)state;
    assert_int_equal(parse_exact(s, &j), BM_OK);
    assert_int_equal(json_as_double(json_get(j, "rate"), &rate), BM_OK);
    assert_true(rate == 0.05);
    assert_true(cJSON_IsNull(json_get(j, "n")));
    cJSON_Delete(j);
}

static void test_json_parse_reads_only_len_bytes(void **state)
{
    const char *s = "[1,2]garbage";
    cJSON *j = NULL;

    (void)state;
    assert_int_equal(json_parse(s, 5, &j), BM_OK);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);
    assert_int_equal(json_parse(s, 6, &j), BM_EINVAL);
    assert_null(j);
}

static void test_json_parse_accepts_surrounding_whitespace(void **state)
{
    (void)state;
    assert_accepted(" \t\r\n{}\n ");
    assert_accepted("42");
    assert_accepted("\"s\"");
}

static void test_json_parse_rejects_trailing_garbage(void **state)
{
    (void)state;
    assert_rejected("{} x");
    assert_rejected("{}}");
    assert_rejected("1 2");
    assert_rejected("[1]]");
    assert_rejected("{}\x01");
    assert_rejected("true false");
}

static void test_json_parse_rejects_empty_and_invalid_input(void **state)
{
    cJSON *j = NULL;

    (void)state;
    assert_rejected("");
    assert_rejected("   ");
    assert_rejected("{");
    assert_rejected("{\"a\":}");
    assert_rejected("[1,]");
    assert_rejected("{'a':1}");
    assert_rejected("nul");
    assert_int_equal(json_parse(NULL, 3, &j), BM_EINVAL);
    assert_int_equal(json_parse("{}", 0, &j), BM_EINVAL);
}

/* cJSON 1.7.15 reads past the length here (cJSON#800); json_parse must
 * neither crash under a sanitizer nor accept it. */
static void test_json_parse_rejects_object_cut_after_comma(void **state)
{
    (void)state;
    assert_rejected("{\"1\":1,");
    assert_rejected("{\"name\":\"james\",\"age\":20,");
    assert_rejected("[1,");
    assert_rejected("{\"a\":1, ");
}

static char *nested(int depth, char open, char close)
{
    char *s = malloc((size_t)depth * 2 + 1);

    assert_non_null(s);
    memset(s, open, (size_t)depth);
    memset(s + depth, close, (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void test_json_parse_accepts_depth_32(void **state)
{
    char *a = nested(32, '[', ']');

    (void)state;
    assert_accepted(a);
    free(a);
    assert_accepted("{\"a\":[{\"b\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]}");
}

static void test_json_parse_rejects_depth_above_32(void **state)
{
    char *a = nested(33, '[', ']');
    char *deep = nested(100000, '[', ']');

    (void)state;
    assert_rejected(a);
    assert_rejected(deep);
    assert_rejected("{\"a\":[{\"b\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]}");
    free(a);
    free(deep);
}

static void test_json_parse_ignores_brackets_inside_strings_for_depth(void **state)
{
    (void)state;
    assert_accepted("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]");
    assert_accepted("[\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]");
}

static void test_json_parse_rejects_invalid_utf8(void **state)
{
    (void)state;
    assert_rejected("\"\xff\"");
    assert_rejected("\"\xc0\xaf\"");         /* overlong '/' */
    assert_rejected("\"\xe0\x80\xaf\"");     /* overlong */
    assert_rejected("\"\xed\xa0\x80\"");     /* UTF-16 surrogate */
    assert_rejected("\"\xf4\x90\x80\x80\""); /* past U+10FFFF */
    assert_rejected("\"\xe2\x82\"");         /* truncated */
    assert_rejected("\"\x80\"");             /* lone continuation */
    assert_rejected("{\"k\xfe\":1}");
    assert_rejected("[1]\xc3");
}

static void test_json_parse_accepts_valid_utf8(void **state)
{
    const char *s = NULL;
    cJSON *j = NULL;

    (void)state;
    assert_int_equal(parse_exact("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", &j), BM_OK);
    assert_int_equal(json_as_str(j, &s), BM_OK);
    assert_string_equal(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    cJSON_Delete(j);
}

static void test_json_parse_rejects_control_bytes(void **state)
{
    cJSON *j = NULL;

    (void)state;
    assert_rejected("\"a\nb\"");
    assert_rejected("\"a\tb\"");
    assert_rejected("[1,\x01 2]");
    assert_rejected("[1,\x0b 2]");
    assert_int_equal(json_parse("[1,\0 2]", 6, &j), BM_EINVAL);
    assert_int_equal(json_parse("\"a\0b\"", 5, &j), BM_EINVAL);
}

static void test_json_parse_checks_escapes(void **state)
{
    const char *s = NULL;
    cJSON *j = NULL;

    (void)state;
    assert_rejected("\"\\x\"");
    assert_rejected("\"\\u12\"");
    assert_rejected("\"\\u00zz\"");
    assert_rejected("\"\\u0000\""); /* would cut the C string */
    assert_rejected("\"\\udc00\""); /* lone low surrogate */
    assert_int_equal(parse_exact("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"", &j),
                     BM_OK);
    assert_int_equal(json_as_str(j, &s), BM_OK);
    assert_string_equal(s, "\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    cJSON_Delete(j);
}

static void test_json_parse_rejects_non_rfc_numbers(void **state)
{
    (void)state;
    assert_rejected("01");
    assert_rejected("[-01]");
    assert_rejected("1.");
    assert_rejected(".5");
    assert_rejected("+1");
    assert_rejected("-");
    assert_rejected("1e");
    assert_rejected("1e+");
    assert_rejected("0x10");
    assert_rejected("NaN");
    assert_rejected("Infinity");
    assert_rejected("[1.5.2]");
    assert_rejected("[1-2]");
    assert_accepted("[0, -0, 0.5, -1.25e-3, 1E+2, 10]");
}

static void test_json_get_is_case_sensitive(void **state)
{
    cJSON *j = NULL;

    (void)state;
    assert_int_equal(parse_exact("{\"Rate\":1,\"rate\":2}", &j), BM_OK);
    assert_true(json_get(j, "rate")->valuedouble == 2);
    assert_true(json_get(j, "Rate")->valuedouble == 1);
    assert_null(json_get(j, "RATE"));
    assert_null(json_get(j, NULL));
    assert_null(json_get(json_get(j, "rate"), "x")); /* not an object */
    assert_null(json_get(NULL, "rate"));
    cJSON_Delete(j);
}

static void test_json_as_double_requires_finite_number(void **state)
{
    cJSON *j = NULL;
    double d = 7;

    (void)state;
    assert_int_equal(parse_exact("[1.5, \"1.5\", true, null, 1e999]", &j), BM_OK);
    assert_int_equal(json_as_double(cJSON_GetArrayItem(j, 0), &d), BM_OK);
    assert_true(d == 1.5);
    d = 7;
    for (int i = 1; i < 5; i++)
        assert_int_equal(json_as_double(cJSON_GetArrayItem(j, i), &d), BM_EINVAL);
    assert_int_equal(json_as_double(NULL, &d), BM_EINVAL);
    assert_true(d == 7);
    cJSON_Delete(j);
}

static enum bm_rc i64_of(const char *text, int64_t min, int64_t max, int64_t *out)
{
    cJSON *j = NULL;
    enum bm_rc rc;

    assert_int_equal(parse_exact(text, &j), BM_OK);
    rc = json_as_i64(j, min, max, out);
    cJSON_Delete(j);
    return rc;
}

static void test_json_as_i64_accepts_integral_numbers_in_range(void **state)
{
    int64_t v = 0;

    (void)state;
    assert_int_equal(i64_of("42", 0, 100, &v), BM_OK);
    assert_true(v == 42);
    assert_int_equal(i64_of("-7", -10, 10, &v), BM_OK);
    assert_true(v == -7);
    assert_int_equal(i64_of("1e3", 0, 5000, &v), BM_OK);
    assert_true(v == 1000);
    assert_int_equal(i64_of("2.0", 0, 5, &v), BM_OK);
    assert_true(v == 2);
    assert_int_equal(i64_of("-0", -1, 1, &v), BM_OK);
    assert_true(v == 0);
    assert_int_equal(i64_of("9007199254740991", INT64_MIN, INT64_MAX, &v), BM_OK);
    assert_true(v == INT64_C(9007199254740991));
    assert_int_equal(i64_of("-9007199254740991", INT64_MIN, INT64_MAX, &v), BM_OK);
    assert_true(v == -INT64_C(9007199254740991));
}

static void test_json_as_i64_rejects_fractions(void **state)
{
    int64_t v = 3;

    (void)state;
    assert_int_equal(i64_of("1.5", 0, 100, &v), BM_EINVAL);
    assert_int_equal(i64_of("0.0001", 0, 100, &v), BM_EINVAL);
    assert_int_equal(i64_of("1e999", INT64_MIN, INT64_MAX, &v), BM_EINVAL);
    assert_true(v == 3);
}

static void test_json_as_i64_rejects_beyond_2_pow_53(void **state)
{
    int64_t v = 3;

    (void)state;
    assert_int_equal(i64_of("9007199254740993", INT64_MIN, INT64_MAX, &v), BM_ERANGE);
    assert_int_equal(i64_of("9007199254740992", INT64_MIN, INT64_MAX, &v), BM_ERANGE);
    assert_int_equal(i64_of("-9007199254740993", INT64_MIN, INT64_MAX, &v), BM_ERANGE);
    assert_int_equal(i64_of("1e300", INT64_MIN, INT64_MAX, &v), BM_ERANGE);
    assert_true(v == 3);
}

static void test_json_as_i64_rejects_outside_min_max(void **state)
{
    int64_t v = 3;

    (void)state;
    assert_int_equal(i64_of("101", 0, 100, &v), BM_ERANGE);
    assert_int_equal(i64_of("-1", 0, 100, &v), BM_ERANGE);
    assert_true(v == 3);
}

static void test_json_as_i64_rejects_non_numbers(void **state)
{
    int64_t v = 3;

    (void)state;
    assert_int_equal(i64_of("\"5\"", 0, 100, &v), BM_EINVAL);
    assert_int_equal(i64_of("true", 0, 100, &v), BM_EINVAL);
    assert_int_equal(i64_of("null", 0, 100, &v), BM_EINVAL);
    assert_int_equal(json_as_i64(NULL, 0, 100, &v), BM_EINVAL);
    assert_true(v == 3);
}

static void test_json_as_bool_accepts_only_booleans(void **state)
{
    cJSON *j = NULL;
    bool b = false;

    (void)state;
    assert_int_equal(parse_exact("[true, false, 1, \"true\", null]", &j), BM_OK);
    assert_int_equal(json_as_bool(cJSON_GetArrayItem(j, 0), &b), BM_OK);
    assert_true(b);
    assert_int_equal(json_as_bool(cJSON_GetArrayItem(j, 1), &b), BM_OK);
    assert_false(b);
    for (int i = 2; i < 5; i++)
        assert_int_equal(json_as_bool(cJSON_GetArrayItem(j, i), &b), BM_EINVAL);
    assert_int_equal(json_as_bool(NULL, &b), BM_EINVAL);
    cJSON_Delete(j);
}

static void test_json_as_str_borrows_string_and_rejects_others(void **state)
{
    cJSON *j = NULL;
    const char *s = NULL;

    (void)state;
    assert_int_equal(parse_exact("[\"UTC\", 5, null]", &j), BM_OK);
    assert_int_equal(json_as_str(cJSON_GetArrayItem(j, 0), &s), BM_OK);
    assert_string_equal(s, "UTC");
    assert_ptr_equal(s, cJSON_GetArrayItem(j, 0)->valuestring);
    assert_int_equal(json_as_str(cJSON_GetArrayItem(j, 1), &s), BM_EINVAL);
    assert_int_equal(json_as_str(cJSON_GetArrayItem(j, 2), &s), BM_EINVAL);
    assert_int_equal(json_as_str(NULL, &s), BM_EINVAL);
    cJSON_Delete(j);
}

static void test_json_get_path_walks_nested_objects(void **state)
{
    const char *text = "{\"anomaly_settings\":{\"global_anomaly_rate\":0.02,"
                       "\"transaction_service\":{\"anomaly_rate\":0.05}},"
                       "\"list\":[1]}";
    cJSON *j = NULL, *it;
    double d = 0;

    (void)state;
    assert_int_equal(parse_exact(text, &j), BM_OK);
    it = json_get_path(j, "anomaly_settings.transaction_service.anomaly_rate");
    assert_int_equal(json_as_double(it, &d), BM_OK);
    assert_true(d == 0.05);
    it = json_get_path(j, "anomaly_settings.global_anomaly_rate");
    assert_int_equal(json_as_double(it, &d), BM_OK);
    assert_true(d == 0.02);
    assert_ptr_equal(json_get_path(j, "list"), json_get(j, "list"));
    cJSON_Delete(j);
}

static void test_json_get_path_returns_null_for_missing_or_bad_paths(void **state)
{
    const char *text = "{\"a\":{\"b\":{\"c\":1}},\"n\":5}";
    char longkey[300];
    cJSON *j = NULL;

    (void)state;
    assert_int_equal(parse_exact(text, &j), BM_OK);
    assert_null(json_get_path(j, "a.x.c"));
    assert_null(json_get_path(j, "a.b.c.d"));
    assert_null(json_get_path(j, "n.x"));
    assert_null(json_get_path(j, "A.b.c"));
    assert_null(json_get_path(j, ""));
    assert_null(json_get_path(j, "a..c"));
    assert_null(json_get_path(j, ".a"));
    assert_null(json_get_path(j, "a."));
    assert_null(json_get_path(j, NULL));
    assert_null(json_get_path(NULL, "a"));
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_null(json_get_path(j, longkey));
    cJSON_Delete(j);
}

/* ---- request body fields ---- */

static void test_json_want_code_takes_prefix_and_exact_digits(void **state)
{
    cJSON *j = NULL;
    struct api_fail f;
    char out[16];

    (void)state;
    assert_int_equal(parse_exact("[\"CUST_123456\",\"CUST_12345\",\"CUST_1234567\","
                                 "\"CUSX_123456\",\"CUST_12345a\",7]", &j), BM_OK);
    assert_int_equal(json_want_code(cJSON_GetArrayItem(j, 0), "customer_id", "CUST_", 6, out,
                                    sizeof out, &f), BM_OK);
    assert_string_equal(out, "CUST_123456");
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(json_want_code(cJSON_GetArrayItem(j, i), "customer_id", "CUST_", 6, out,
                                        sizeof out, &f), BM_EINVAL);
        assert_int_equal(f.err, API_BAD_VALUE);
        assert_string_equal(f.field, "customer_id");
        assert_string_equal(f.msg, "customer_id must be CUST_ followed by 6 digits");
    }
    assert_int_equal(json_want_code(cJSON_GetArrayItem(j, 5), "customer_id", "CUST_", 6, out,
                                    sizeof out, &f), BM_EINVAL);
    assert_int_equal(f.err, API_BAD_TYPE);
    /* no room for it: refused, not cut */
    assert_int_equal(json_want_code(cJSON_GetArrayItem(j, 0), "customer_id", "CUST_", 6, out, 11,
                                    &f), BM_EINVAL);
    cJSON_Delete(j);
}

static void test_json_want_country_takes_two_capitals(void **state)
{
    cJSON *j = NULL;
    struct api_fail f;
    char out[3];

    (void)state;
    assert_int_equal(parse_exact("[\"JP\",\"jp\",\"JPN\",\"\",1]", &j), BM_OK);
    assert_int_equal(json_want_country(cJSON_GetArrayItem(j, 0), "location.country", out, &f),
                     BM_OK);
    assert_string_equal(out, "JP");
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(json_want_country(cJSON_GetArrayItem(j, i), "location.country", out, &f),
                         BM_EINVAL);
        assert_int_equal(f.err, API_BAD_VALUE);
        assert_string_equal(f.field, "location.country");
    }
    assert_int_equal(json_want_country(cJSON_GetArrayItem(j, 4), "location.country", out, &f),
                     BM_EINVAL);
    assert_int_equal(f.err, API_BAD_TYPE);
    cJSON_Delete(j);
}

static const char *const m_names[] = { "a", "b", "c" };
static const char *const m_readonly[] = { "id" };

/* Records the members handed over; "b" must be a number. */
static enum bm_rc m_one(const cJSON *it, int i, void *ctx, struct api_fail *fail)
{
    int *got = ctx;

    if (i == 1 && !cJSON_IsNumber(it)) {
        api_fail_set(fail, API_BAD_TYPE, "b", "b must be a number");
        return BM_EINVAL;
    }
    got[i]++;
    return BM_OK;
}

static enum bm_rc members(const char *text, const char *obj, struct api_fail *f, int got[3])
{
    const struct json_members spec = {
        .obj = obj, .names = m_names, .n = 3, .required = 1u | 4u,
        .readonly = m_readonly, .n_readonly = 1, .one = m_one,
    };
    cJSON *j = NULL;
    enum bm_rc rc;

    memset(got, 0, 3 * sizeof got[0]);
    memset(f, 0, sizeof *f);
    assert_int_equal(parse_exact(text, &j), BM_OK);
    rc = json_want_members(j, &spec, got, f);
    cJSON_Delete(j);
    return rc;
}

static void test_json_want_members_hands_each_known_member_over_once(void **state)
{
    struct api_fail f;
    int got[3];

    (void)state;
    assert_int_equal(members("{\"c\":1,\"a\":2,\"b\":3}", "", &f, got), BM_OK);
    assert_true(got[0] == 1 && got[1] == 1 && got[2] == 1);
    assert_int_equal(members("{\"a\":1,\"c\":null}", "loc", &f, got), BM_OK);
    assert_true(got[0] == 1 && got[1] == 0 && got[2] == 1);
    assert_int_equal(members("{\"a\":1,\"b\":\"x\",\"c\":1}", "", &f, got), BM_EINVAL);
    assert_string_equal(f.field, "b"); /* one()'s own failure stands */
}

static void test_json_want_members_names_the_field_at_fault(void **state)
{
    static const struct {
        const char *text, *obj;
        enum api_err err;
        const char *field, *msg;
    } cases[] = {
        { "{\"a\":1,\"z\":1,\"c\":1}", "", API_UNKNOWN_FIELD, "z", "unknown field z" },
        { "{\"a\":1,\"z\":1}", "loc", API_UNKNOWN_FIELD, "loc.z", "unknown field loc.z" },
        { "{\"id\":1}", "", API_READONLY, "id", "id is set by the server" },
        { "{\"a\":1,\"a\":2,\"c\":1}", "loc", API_BAD_VALUE, "loc.a", "duplicate field loc.a" },
        { "{\"a\":1}", "loc", API_BAD_VALUE, "loc.c", "loc.c is required" },
        { "{\"c\":1}", "", API_BAD_VALUE, "a", "a is required" },
        { "{\"k\\u0001\":1}", "", API_UNKNOWN_FIELD, "k?", "unknown field k?" },
        { "[1]", "loc", API_BAD_TYPE, "loc", "loc must be an object" },
        { "[1]", "", API_BAD_TYPE, "", "the body must be a JSON object" },
    };
    struct api_fail f;
    int got[3];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(members(cases[i].text, cases[i].obj, &f, got), BM_EINVAL);
        assert_int_equal(f.err, cases[i].err);
        assert_string_equal(f.field, cases[i].field);
        assert_string_equal(f.msg, cases[i].msg);
    }
}

static void test_json_want_members_cuts_long_names_to_the_field_size(void **state)
{
    char text[200];
    struct api_fail f;
    int got[3];

    (void)state;
    memset(text, 0, sizeof text);
    memcpy(text, "{\"", 2);
    memset(text + 2, 'x', 100);
    memcpy(text + 102, "\":1}", 4);
    assert_int_equal(members(text, "location", &f, got), BM_EINVAL);
    assert_int_equal(strlen(f.field), 63);
    assert_memory_equal(f.field, "location.xxx", 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_parse_reads_object_without_nul_terminator),
        cmocka_unit_test(test_json_parse_reads_only_len_bytes),
        cmocka_unit_test(test_json_parse_accepts_surrounding_whitespace),
        cmocka_unit_test(test_json_parse_rejects_trailing_garbage),
        cmocka_unit_test(test_json_parse_rejects_empty_and_invalid_input),
        cmocka_unit_test(test_json_parse_rejects_object_cut_after_comma),
        cmocka_unit_test(test_json_parse_accepts_depth_32),
        cmocka_unit_test(test_json_parse_rejects_depth_above_32),
        cmocka_unit_test(test_json_parse_ignores_brackets_inside_strings_for_depth),
        cmocka_unit_test(test_json_parse_rejects_invalid_utf8),
        cmocka_unit_test(test_json_parse_accepts_valid_utf8),
        cmocka_unit_test(test_json_parse_rejects_control_bytes),
        cmocka_unit_test(test_json_parse_checks_escapes),
        cmocka_unit_test(test_json_parse_rejects_non_rfc_numbers),
        cmocka_unit_test(test_json_get_is_case_sensitive),
        cmocka_unit_test(test_json_as_double_requires_finite_number),
        cmocka_unit_test(test_json_as_i64_accepts_integral_numbers_in_range),
        cmocka_unit_test(test_json_as_i64_rejects_fractions),
        cmocka_unit_test(test_json_as_i64_rejects_beyond_2_pow_53),
        cmocka_unit_test(test_json_as_i64_rejects_outside_min_max),
        cmocka_unit_test(test_json_as_i64_rejects_non_numbers),
        cmocka_unit_test(test_json_as_bool_accepts_only_booleans),
        cmocka_unit_test(test_json_as_str_borrows_string_and_rejects_others),
        cmocka_unit_test(test_json_get_path_walks_nested_objects),
        cmocka_unit_test(test_json_get_path_returns_null_for_missing_or_bad_paths),
        cmocka_unit_test(test_json_want_code_takes_prefix_and_exact_digits),
        cmocka_unit_test(test_json_want_country_takes_two_capitals),
        cmocka_unit_test(test_json_want_members_hands_each_known_member_over_once),
        cmocka_unit_test(test_json_want_members_names_the_field_at_fault),
        cmocka_unit_test(test_json_want_members_cuts_long_names_to_the_field_size),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
