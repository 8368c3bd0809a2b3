/* test_gw_poller.c - the gateway's replica URL lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "poller.h"

static void test_gw_parse_urls_splits_replicas_and_trims_trailing_slashes(void **state)
{
    struct gw_upstream u;

    (void)state;
    assert_int_equal(gw_parse_urls("http://a:1", &u), BM_OK);
    assert_int_equal(u.nurls, 1);
    assert_string_equal(u.urls[0], "http://a:1");
    assert_int_equal(gw_parse_urls("http://a:1/,http://b:2//", &u), BM_OK);
    assert_int_equal(u.nurls, 2);
    assert_string_equal(u.urls[0], "http://a:1");
    assert_string_equal(u.urls[1], "http://b:2");
}

static void test_gw_parse_urls_rejects_empty_entries_and_too_many(void **state)
{
    struct gw_upstream u;
    char many[512] = "";
    size_t len = 0;

    (void)state;
    assert_int_not_equal(gw_parse_urls("", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls(",", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("http://a,,http://b", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("/", &u), BM_OK);
    /* not URLs curl should be given */
    assert_int_not_equal(gw_parse_urls("127.0.0.1:8081", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("ftp://a:1", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("http://", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("http:///x", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("http://a b", &u), BM_OK);
    assert_int_not_equal(gw_parse_urls("http://a\nb", &u), BM_OK);
    assert_int_equal(gw_parse_urls("https://a.example:443/base", &u), BM_OK);
    for (int i = 0; i <= GW_REPLICAS_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%shttp://x", i ? "," : "");
    assert_int_not_equal(gw_parse_urls(many, &u), BM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_parse_urls_splits_replicas_and_trims_trailing_slashes),
        cmocka_unit_test(test_gw_parse_urls_rejects_empty_entries_and_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
