/* test_http_yield.c - when a busy worker offers the CPU (http_yield_due). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http_server.h"

static long fake_waits; /* what the worker's switch count reads as */
static int reads;       /* how often it was read */

static long read_waits(void)
{
    reads++;
    return fake_waits;
}

/* Serves n requests; returns how many of them said "yield now". */
static int serve(struct http_yield *y, int n)
{
    int due = 0;

    for (int i = 0; i < n; i++)
        due += http_yield_due(y, read_waits);
    return due;
}

static void test_yield_reads_the_count_once_per_batch(void **state)
{
    struct http_yield y = { 0, -1 };

    (void)state;
    reads = 0;
    fake_waits = 5;
    assert_int_equal(serve(&y, HTTP_YIELD_EVERY - 1), 0);
    assert_int_equal(reads, 0);
    /* the first batch has nothing to compare with */
    assert_int_equal(serve(&y, 1), 0);
    assert_int_equal(reads, 1);
    assert_int_equal(serve(&y, 10 * HTTP_YIELD_EVERY), 10);
    assert_int_equal(reads, 11);
}

static void test_yield_only_after_a_batch_without_a_wait(void **state)
{
    struct http_yield y = { 0, -1 };

    (void)state;
    fake_waits = 100;
    assert_int_equal(serve(&y, HTTP_YIELD_EVERY), 0);
    /* the worker waited for the network during the batch: no yield */
    fake_waits = 101;
    assert_int_equal(serve(&y, HTTP_YIELD_EVERY), 0);
    /* it ran the whole next batch without waiting: yield, at its end */
    assert_int_equal(serve(&y, HTTP_YIELD_EVERY - 1), 0);
    assert_int_equal(serve(&y, 1), 1);
    /* still busy (a yield counts as an involuntary switch): again */
    assert_int_equal(serve(&y, HTTP_YIELD_EVERY), 1);
    /* idle again: no more yields */
    fake_waits = 102;
    assert_int_equal(serve(&y, HTTP_YIELD_EVERY), 0);
}

static void test_yield_never_when_the_count_is_unknown(void **state)
{
    struct http_yield y = { 0, -1 };

    (void)state;
    fake_waits = -1;
    assert_int_equal(serve(&y, 5 * HTTP_YIELD_EVERY), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yield_reads_the_count_once_per_batch),
        cmocka_unit_test(test_yield_only_after_a_batch_without_a_wait),
        cmocka_unit_test(test_yield_never_when_the_count_is_unknown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
