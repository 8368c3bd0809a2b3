/* test_gw_incidents.c - the gateway's incident cursor: one sequence per
 * service, "t,a,m". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "incidents.h"

static void test_gw_inc_cursor_reads_three_sequences(void **state)
{
    struct gw_inc_cursor c;

    (void)state;
    assert_int_equal(gw_inc_cursor_parse("12,0,9000000000", &c), BM_OK);
    assert_int_equal(c.seq[SVC_TRANSACTION], 12);
    assert_int_equal(c.seq[SVC_AUTH], 0);
    assert_int_equal(c.seq[SVC_MONITORING], 9000000000ULL);
}

static void test_gw_inc_cursor_rejects_other_shapes(void **state)
{
    static const char *const bad[] = { "", "1", "1,2", "1,2,3,4", "1,,3", ",2,3", "1,2,",
                                       "1,-2,3", "1,x,3", "1,2,99999999999999999999",
                                       "1,2,9223372036854775808" };
    struct gw_inc_cursor c;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_inc_cursor_parse(bad[i], &c), BM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_inc_cursor_reads_three_sequences),
        cmocka_unit_test(test_gw_inc_cursor_rejects_other_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
