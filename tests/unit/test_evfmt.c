/* test_evfmt.c - events as CSV rows (header, flattening, RFC 4180
 * quoting) and as NDJSON lines, and each service's known CSV columns
 * against its encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth_internal.h"
#include "buf.h"
#include "evfmt.h"
#include "mon.h"
#include "svc.h"
#include "txn_internal.h"

static const char nested[] =
    "{\"id\":\"a\",\"n\":12.50,\"ok\":true,\"no\":false,\"gone\":null,"
    "\"location\":{\"country\":\"US\",\"city\":\"Austin\",\"geo\":{\"lat\":30.2}},"
    "\"tags\":[1,\"x\"],\"last\":\"z\"}";

static void csv(bool header, const char *json, const char *want)
{
    struct buf b;

    buf_init(&b, 4096);
    if (header)
        assert_int_equal(evfmt_csv_header(json, strlen(json), &b), BM_OK);
    else
        assert_int_equal(evfmt_csv_row(json, strlen(json), &b), BM_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_free(&b);
}

static void test_evfmt_header_flattens_nested_objects_with_dots(void **state)
{
    (void)state;
    csv(true, nested, "id,n,ok,no,gone,location.country,location.city,location.geo.lat,tags,last\r\n");
}

static void test_evfmt_row_follows_the_header_order(void **state)
{
    (void)state;
    /* null is empty, numbers and booleans as JSON, an array its JSON text
     * (quoted: it holds a comma and quotes). */
    csv(false, nested, "a,12.5,true,false,,US,Austin,30.2,\"[1,\"\"x\"\"]\",z\r\n");
}

static void test_evfmt_quotes_commas_quotes_and_line_breaks(void **state)
{
    (void)state;
    csv(false, "{\"a\":\"x,y\",\"b\":\"say \\\"hi\\\"\",\"c\":\"l1\\nl2\",\"d\":\"r\\r\",\"e\":\"plain\"}",
        "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"r\r\",plain\r\n");
    /* a key needing quotes is quoted in the header the same way */
    csv(true, "{\"a,b\":1,\"q\\\"\":2}", "\"a,b\",\"q\"\"\"\r\n");
}

static void test_evfmt_rejects_what_is_not_an_object(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4096);
    assert_int_not_equal(evfmt_csv_row("[1,2]", 5, &b), BM_OK);
    assert_int_not_equal(evfmt_csv_row("{\"a\":", 5, &b), BM_OK);
    assert_int_not_equal(evfmt_csv_header("3", 1, &b), BM_OK);
    buf_free(&b);
}

/* NDJSON is each event's JSON text and a newline: the stored body is
 * already one line (the encoders write no raw newline; a string's is
 * escaped), so one object per line and each line parses alone. */
static void test_evfmt_ndjson_is_one_object_per_line(void **state)
{
    struct txn_rec t;
    struct buf b;
    size_t lines = 0, start = 0;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.segment = -1;
    t.anomaly = -1;
    snprintf(t.city, sizeof(t.city), "New\nYork, \"NY\"");
    buf_init(&b, 8192);
    for (int i = 0; i < 3; i++) {
        t.seq = (uint64_t)i + 1;
        assert_int_equal(txn_rec_encode(&t, &b), BM_OK);
        assert_int_equal(buf_putc(&b, '\n'), BM_OK);
    }
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] != '\n')
            continue;
        assert_true(i > start);
        assert_int_equal(b.data[start], '{');
        assert_int_equal(b.data[i - 1], '}');
        {
            struct buf row;
            buf_init(&row, 4096);
            /* the line alone is a whole object */
            assert_int_equal(evfmt_csv_row(b.data + start, i - start, &row), BM_OK);
            buf_free(&row);
        }
        start = i + 1;
        lines++;
    }
    assert_int_equal(lines, 3);
    assert_int_equal(start, b.len);
    buf_free(&b);
}

/* The header an empty CSV list or export carries is the one the first
 * event would give: each encoder's keys, flattened. */
static void header_matches(enum bm_svc svc, const struct buf *event)
{
    const char *cols = svc_info(svc)->csv_columns;
    struct buf h;

    assert_non_null(cols);
    buf_init(&h, 4096);
    assert_int_equal(evfmt_csv_header(event->data, event->len, &h), BM_OK);
    assert_int_equal(h.len, strlen(cols) + 2);
    assert_memory_equal(h.data, cols, strlen(cols));
    assert_memory_equal(h.data + strlen(cols), "\r\n", 2);
    buf_free(&h);
}

static void test_evfmt_known_columns_match_each_encoder(void **state)
{
    struct txn_rec t;
    struct auth_rec a;
    struct mon_sample m;
    struct buf b;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.segment = -1;
    t.anomaly = -1;
    memset(&a, 0, sizeof(a));
    a.reason = -1;
    a.device_type = -1;
    a.anomaly = -1;
    memset(&m, 0, sizeof(m));
    m.event_id = "e";
    m.anomaly = -1;
    buf_init(&b, 8192);
    assert_int_equal(txn_rec_encode(&t, &b), BM_OK);
    header_matches(SVC_TRANSACTION, &b);
    /* an anomaly or a location changes values, never columns */
    buf_reset(&b);
    t.anomaly = 0;
    t.segment = 0;
    assert_int_equal(txn_rec_encode(&t, &b), BM_OK);
    header_matches(SVC_TRANSACTION, &b);
    buf_reset(&b);
    assert_int_equal(auth_rec_encode(&a, &b), BM_OK);
    header_matches(SVC_AUTH, &b);
    buf_reset(&b);
    a.has_location = a.has_device = a.failure = true;
    a.reason = 0;
    a.anomaly = 0;
    assert_int_equal(auth_rec_encode(&a, &b), BM_OK);
    header_matches(SVC_AUTH, &b);
    buf_reset(&b);
    assert_int_equal(mon_sample_encode(&m, &b), BM_OK);
    header_matches(SVC_MONITORING, &b);
    assert_null(svc_info(SVC_GATEWAY)->csv_columns);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evfmt_header_flattens_nested_objects_with_dots),
        cmocka_unit_test(test_evfmt_row_follows_the_header_order),
        cmocka_unit_test(test_evfmt_quotes_commas_quotes_and_line_breaks),
        cmocka_unit_test(test_evfmt_rejects_what_is_not_an_object),
        cmocka_unit_test(test_evfmt_ndjson_is_one_object_per_line),
        cmocka_unit_test(test_evfmt_known_columns_match_each_encoder),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
