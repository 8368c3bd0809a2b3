/* test_str.c - fixed-size C strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "str.h"

static void test_str_copy_copies_what_fits(void **state)
{
    char out[8];

    (void)state;
    memset(out, 'x', sizeof out);
    str_copy(out, sizeof out, "Tokyo");
    assert_string_equal(out, "Tokyo");
    str_copy(out, sizeof out, "");
    assert_string_equal(out, "");
}

static void test_str_copy_cuts_and_always_terminates(void **state)
{
    char out[8];

    (void)state;
    memset(out, 'x', sizeof out);
    str_copy(out, sizeof out, "San Francisco");
    assert_string_equal(out, "San Fra");
    str_copy(out, 1, "abc");
    assert_string_equal(out, "");
}

static void test_str_one_line_replaces_controls_and_del_only(void **state)
{
    char s[] = "a\nb\r\x1b[2J\x7f\t \xc3\xa9z";
    char cut[] = "x\ny\nz";

    (void)state;
    str_one_line(s, sizeof s);
    assert_string_equal(s, "a?b??[2J?? \xc3\xa9z");
    /* no further than size bytes */
    str_one_line(cut, 2);
    assert_string_equal(cut, "x?y\nz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_copy_copies_what_fits),
        cmocka_unit_test(test_str_copy_cuts_and_always_terminates),
        cmocka_unit_test(test_str_one_line_replaces_controls_and_del_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
