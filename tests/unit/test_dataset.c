/* test_dataset.c - generate/dataset.c, the offline stream: the same seed
 * gives the same bytes and another seed others; events are numbered from 1
 * with times inside [start, start + duration), nondecreasing; the window's
 * end stops it; an empty window is empty (CSV: the service's header row);
 * CSV is a header row then one CRLF row per event; progress
 * counts what was written. (Its equality with a service's stored stream
 * is tests/generate/test_generate.sh's.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dataset.h"
#include "timefmt.h"

#define START_MS INT64_C(1767600000000) /* 2026-01-05T08:00:00Z, a Monday */

/* The whole window of svc as one buffer; the number of events in *n. */
static void run(enum bm_svc svc, uint64_t seed, int64_t secs, enum dataset_format f,
                struct buf *out, uint64_t *n)
{
    struct dataset_spec spec = { .svc = svc, .seed = seed, .start_ms = START_MS,
                                 .duration_s = secs, .format = f };
    struct bm_config cfg;
    struct dataset *d;
    struct dataset_progress p;
    bool done = false;

    cfg_defaults(&cfg, svc);
    assert_int_equal(dataset_open(&spec, &cfg, &d), BM_OK);
    buf_init(out, 64 << 20);
    while (!done)
        assert_int_equal(dataset_next(d, out, &done), BM_OK);
    dataset_progress(d, &p);
    assert_float_equal(p.fraction, 1.0, 1e-12);
    assert_true(p.sim_us >= START_MS * 1000 + secs * 1000000);
    *n = p.events;
    dataset_free(d);
}

static size_t count_char(const struct buf *b, char c)
{
    size_t n = 0;

    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == c;
    return n;
}

static void test_dataset_same_seed_same_bytes_other_seed_others(void **state)
{
    struct buf a, b, c;
    uint64_t na, nb, nc;

    (void)state;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        run((enum bm_svc)s, 7, 60, DATASET_NDJSON, &a, &na);
        run((enum bm_svc)s, 7, 60, DATASET_NDJSON, &b, &nb);
        run((enum bm_svc)s, 8, 60, DATASET_NDJSON, &c, &nc);
        assert_true(na > 0);
        assert_int_equal(na, nb);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        assert_false(a.len == c.len && memcmp(a.data, c.data, a.len) == 0);
        assert_int_equal(count_char(&a, '\n'), na);
        buf_free(&a);
        buf_free(&b);
        buf_free(&c);
    }
}

static void test_dataset_numbers_events_from_one_inside_the_window(void **state)
{
    struct buf a;
    uint64_t n, seq = 0;
    int64_t last = START_MS;
    const char *p;

    (void)state;
    run(SVC_AUTH, 7, 120, DATASET_NDJSON, &a, &n);
    for (p = a.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *ts = strstr(p, "\"timestamp\":\"");
        const char *sq = strstr(p, "\"sequence\":");
        char iso[TIMEFMT_ISO_LEN + 1];
        int64_t ms;
        unsigned long long v;

        assert_non_null(ts);
        assert_non_null(sq);
        memcpy(iso, ts + 13, TIMEFMT_ISO_LEN);
        iso[TIMEFMT_ISO_LEN] = '\0';
        assert_int_equal(timefmt_parse_iso(iso, &ms), BM_OK);
        assert_true(ms >= last && ms < START_MS + 120000);
        last = ms;
        assert_int_equal(sscanf(sq + 11, "%llu", &v), 1);
        assert_int_equal(v, ++seq);
    }
    assert_int_equal(seq, n);
    buf_free(&a);
}

static void test_dataset_empty_window_is_empty_or_a_csv_header(void **state)
{
    struct buf a;
    uint64_t n;

    (void)state;
    run(SVC_TRANSACTION, 7, 0, DATASET_NDJSON, &a, &n);
    assert_int_equal(n, 0);
    assert_int_equal(a.len, 0);
    buf_free(&a);
    run(SVC_TRANSACTION, 7, 0, DATASET_CSV, &a, &n);
    assert_int_equal(n, 0);
    assert_string_equal(a.data, "transaction_id,timestamp,sequence,customer_id,customer_segment,"
                                "account_id,counterparty_account,merchant_id,merchant_category,"
                                "amount,currency,transaction_type,channel,location.country,"
                                "location.city,status,processing_time_ms,risk_score,is_anomaly,"
                                "anomaly_type,incident_id,origin\r\n");
    buf_free(&a);
}

static void test_dataset_csv_is_a_header_then_a_crlf_row_per_event(void **state)
{
    struct buf a;
    uint64_t n;

    (void)state;
    run(SVC_MONITORING, 7, 30, DATASET_CSV, &a, &n);
    assert_true(n > 0);
    assert_true(strncmp(a.data, "event_id,timestamp,sequence,service,host,", 41) == 0);
    assert_true(a.len >= 2 && a.data[a.len - 2] == '\r' && a.data[a.len - 1] == '\n');
    assert_int_equal(count_char(&a, '\n'), n + 1);
    buf_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_same_seed_same_bytes_other_seed_others),
        cmocka_unit_test(test_dataset_numbers_events_from_one_inside_the_window),
        cmocka_unit_test(test_dataset_empty_window_is_empty_or_a_csv_header),
        cmocka_unit_test(test_dataset_csv_is_a_header_then_a_crlf_row_per_event),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
