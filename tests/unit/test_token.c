/* test_token.c - admin token comparison and Bearer header check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "token.h"

static void test_token_equal_accepts_identical_tokens(void **state)
{
    (void)state;
    assert_true(token_equal("s3cret-token", "s3cret-token"));
    assert_true(token_equal("x", "x"));
}

static void test_token_equal_rejects_difference_at_any_position(void **state)
{
    (void)state;
    assert_false(token_equal("abcdef", "Xbcdef"));
    assert_false(token_equal("abcdef", "abcXef"));
    assert_false(token_equal("abcdef", "abcdeX"));
    assert_false(token_equal("abcdef", "ABCDEF"));
}

static void test_token_equal_rejects_different_lengths(void **state)
{
    (void)state;
    assert_false(token_equal("abcdef", "abc"));
    assert_false(token_equal("abc", "abcdef"));
    /* A repetition of the expected token must not pass via cycling. */
    assert_false(token_equal("abc", "abcabc"));
    assert_false(token_equal("abc", ""));
}

static void test_token_equal_never_matches_null_or_empty_expected(void **state)
{
    (void)state;
    assert_false(token_equal(NULL, "abc"));
    assert_false(token_equal("abc", NULL));
    assert_false(token_equal(NULL, NULL));
    assert_false(token_equal("", ""));
}

static void test_token_check_bearer_accepts_valid_header(void **state)
{
    (void)state;
    assert_true(token_check_bearer("tok123", "Bearer tok123"));
    assert_true(token_check_bearer("tok123", "bearer tok123"));
    assert_true(token_check_bearer("tok123", "BEARER tok123"));
    assert_true(token_check_bearer("tok123", "Bearer   tok123  "));
}

static void test_token_check_bearer_rejects_wrong_token(void **state)
{
    (void)state;
    assert_false(token_check_bearer("tok123", "Bearer tok124"));
    assert_false(token_check_bearer("tok123", "Bearer tok12"));
    assert_false(token_check_bearer("tok123", "Bearer tok1234"));
    assert_false(token_check_bearer("tok123", "Bearer tok 123"));
}

static void test_token_check_bearer_rejects_malformed_header(void **state)
{
    (void)state;
    assert_false(token_check_bearer("tok123", "tok123"));
    assert_false(token_check_bearer("tok123", "Basic tok123"));
    assert_false(token_check_bearer("tok123", "Bearertok123"));
    assert_false(token_check_bearer("tok123", "Bearer"));
    assert_false(token_check_bearer("tok123", "Bearer "));
    assert_false(token_check_bearer("tok123", "Bear"));
    assert_false(token_check_bearer("tok123", ""));
    assert_false(token_check_bearer("tok123", " Bearer tok123"));
}

static void test_token_check_bearer_rejects_null_and_empty_token(void **state)
{
    (void)state;
    assert_false(token_check_bearer("tok123", NULL));
    assert_false(token_check_bearer(NULL, "Bearer tok123"));
    assert_false(token_check_bearer("", "Bearer "));
    assert_false(token_check_bearer("", "Bearer x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_equal_accepts_identical_tokens),
        cmocka_unit_test(test_token_equal_rejects_difference_at_any_position),
        cmocka_unit_test(test_token_equal_rejects_different_lengths),
        cmocka_unit_test(test_token_equal_never_matches_null_or_empty_expected),
        cmocka_unit_test(test_token_check_bearer_accepts_valid_header),
        cmocka_unit_test(test_token_check_bearer_rejects_wrong_token),
        cmocka_unit_test(test_token_check_bearer_rejects_malformed_header),
        cmocka_unit_test(test_token_check_bearer_rejects_null_and_empty_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
