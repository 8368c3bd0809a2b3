/* test_mon_store.c - the monitoring tables: written with each event in
 * its transaction, read back in one snapshot that agrees with the events,
 * counts by type and severity over what retention keeps, and statements
 * that do not keep a connection from closing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "db_fixture.h"
#include "mon.h"

#define N_EVENTS 6000
#define START_US 1709542800000000LL /* Monday 2024-03-04 09:00 */

struct fixture {
    struct db_fixture db;
    struct mon_model *m;
    struct mon_state st;
    struct rng r;
    struct gen_params p;
    uint64_t seq;
    /* what was written, as the test saw it */
    int32_t value[N_EVENTS + 1];
    int16_t series[N_EVENTS + 1];
    int8_t anomaly[N_EVENTS + 1], severity[N_EVENTS + 1];
    char inc[N_EVENTS + 1][RNG_UUID_LEN + 1];
};

/* Writes n generated events in one transaction, as the loop does. */
static void write_events(struct fixture *f, int n)
{
    struct buf b;

    buf_init(&b, 64 * 1024);
    assert_int_equal(db_begin(f->db.w), BM_OK);
    for (int i = 0; i < n; i++) {
        struct gen_event ev = { .json = &b };
        const struct mon_detail *d;
        uint64_t seq = ++f->seq;
        cJSON *j;
        const cJSON *inc;

        buf_reset(&b);
        assert_int_equal(mon_generate(f->m, &f->st, &f->p, &f->r,
                                      START_US + (int64_t)seq * 10000, seq, &ev),
                         BM_OK);
        assert_int_equal(db_insert_event(f->db.w, seq, ev.ts_ms, ev.anomaly_type, false, b.data,
                                         b.len),
                         BM_OK);
        assert_int_equal(mon_store_event(f->db.w, &ev), BM_OK);
        d = ev.detail;
        f->value[seq] = d->value;
        f->series[seq] = (int16_t)d->series;
        f->anomaly[seq] = (int8_t)d->anomaly;
        f->severity[seq] = (int8_t)d->severity;
        j = cJSON_Parse(b.data);
        inc = cJSON_GetObjectItemCaseSensitive(j, "incident_id");
        snprintf(f->inc[seq], sizeof f->inc[seq], "%s",
                 cJSON_IsString(inc) ? inc->valuestring : "");
        cJSON_Delete(j);
    }
    assert_int_equal(db_commit(f->db.w), BM_OK);
    buf_free(&b);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    if (db_fixture_open(&f->db, "bmmon", &mon_store_sql) != 0)
        return -1;
    f->m = mon_model_new(5);
    rng_seed(&f->r, 5);
    mon_state_init(&f->st, &f->r);
    f->p.anomaly_rate = 0.1;
    for (int i = 0; i < MON_A_COUNT; i++)
        f->p.weights[i] = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    db_fixture_close(&f->db);
    mon_model_free(f->m);
    free(f);
    return 0;
}

static struct db *reader(struct fixture *f)
{
    struct db *r;

    assert_int_equal(db_reader(f->db.path, &mon_store_sql, &r), BM_OK);
    return r;
}

/* The newest sample of each series is the last event written for it. */
static void test_current_values_are_the_newest_event_of_each_series(void **state)
{
    struct fixture *f = *state;
    static struct mon_snapshot s;

    write_events(f, N_EVENTS);
    assert_int_equal(mon_store_read(reader(f), &s, NULL, 0, NULL), BM_OK);
    assert_int_equal(s.head, N_EVENTS);
    assert_int_equal(s.oldest, 1);
    for (int i = 0; i < MON_N_SERIES; i++) {
        uint64_t newest = 0;

        for (uint64_t q = 1; q <= N_EVENTS; q++)
            if (f->series[q] == i)
                newest = q;
        assert_true(s.cur[i].present);
        assert_int_equal(s.cur[i].seq, newest);
        assert_int_equal(s.cur[i].value, f->value[newest]);
        assert_int_equal(s.cur[i].severity, f->severity[newest]);
        assert_int_equal(s.cur[i].anomaly, f->anomaly[newest]);
        assert_int_equal(s.cur[i].ts_ms, (START_US + (int64_t)newest * 10000) / 1000);
    }
}

/* Counts by type and severity, and incidents, over the retained events;
 * after pruning only what is kept counts. */
static void check_counts(struct fixture *f, uint64_t from)
{
    static struct mon_snapshot s;
    struct mon_counts c, want;
    struct buf recent;
    const cJSON *e;
    cJSON *arr;
    uint64_t prev = UINT64_MAX;
    char *wrapped;

    memset(&want, 0, sizeof want);
    want.total = (int64_t)(f->seq - from + 1);
    for (uint64_t q = from; q <= f->seq; q++) {
        int a = f->anomaly[q] < 0 ? MON_A_COUNT : f->anomaly[q];
        bool first = true;

        want.by[a][f->severity[q]]++;
        if (f->anomaly[q] < 0)
            continue;
        for (uint64_t k = from; k < q && first; k++)
            first = strcmp(f->inc[k], f->inc[q]) != 0;
        want.incidents[f->anomaly[q]] += first;
    }
    buf_init(&recent, 1 << 20);
    assert_int_equal(mon_store_read(reader(f), &s, &c, 5, &recent), BM_OK);
    assert_int_equal(s.oldest, from);
    assert_int_equal(c.total, want.total);
    for (int a = 0; a <= MON_A_COUNT; a++)
        for (int v = 0; v < MON_SEV_COUNT; v++)
            assert_int_equal(c.by[a][v], want.by[a][v]);
    for (int a = 0; a < MON_A_COUNT; a++) {
        assert_int_equal(c.incidents[a], want.incidents[a]);
        assert_true(c.incidents[a] > 0);
    }
    /* the newest anomalous events, newest first */
    wrapped = malloc(recent.len + 3);
    assert_non_null(wrapped);
    snprintf(wrapped, recent.len + 3, "[%s]", recent.data ? recent.data : "");
    arr = cJSON_Parse(wrapped);
    assert_int_equal(cJSON_GetArraySize(arr), 5);
    cJSON_ArrayForEach(e, arr)
    {
        uint64_t seq = (uint64_t)cJSON_GetObjectItem(e, "sequence")->valuedouble;

        assert_true(seq < prev);
        assert_true(f->anomaly[seq] >= 0);
        for (uint64_t q = seq + 1; q < prev && q <= f->seq; q++)
            assert_true(f->anomaly[q] < 0);
        prev = seq;
    }
    cJSON_Delete(arr);
    free(wrapped);
    buf_free(&recent);
}

static void test_counts_cover_the_retained_events(void **state)
{
    struct fixture *f = *state;
    int64_t deleted;
    uint64_t head, oldest;

    write_events(f, N_EVENTS);
    check_counts(f, 1);
    assert_int_equal(db_begin(f->db.w), BM_OK);
    assert_int_equal(db_prune(f->db.w, 2400, 100000, &deleted), BM_OK);
    assert_int_equal(deleted, N_EVENTS - 2400);
    assert_int_equal(db_bounds(f->db.w, &head, &oldest), BM_OK);
    assert_int_equal(mon_store_prune(f->db.w, oldest), BM_OK);
    assert_int_equal(db_commit(f->db.w), BM_OK);
    check_counts(f, oldest);
}

/* Our prepared statements are finalized when a connection closes: the
 * writer, closing last, checkpoints and removes the WAL, and a new
 * connection gets statements of its own. */
static void test_connections_close_cleanly_and_reopen(void **state)
{
    struct fixture *f = *state;
    static struct mon_snapshot s;
    char wal[128];

    write_events(f, 500);
    assert_int_equal(mon_store_read(reader(f), &s, NULL, 0, NULL), BM_OK);
    db_readers_close();
    db_close(f->db.w);
    snprintf(wal, sizeof wal, "%s-wal", f->db.path);
    assert_int_not_equal(access(wal, F_OK), 0);
    assert_int_equal(db_open_writer(f->db.path, &mon_store_sql, &f->db.w), BM_OK);
    write_events(f, 500);
    assert_int_equal(mon_store_read(reader(f), &s, NULL, 0, NULL), BM_OK);
    assert_int_equal(s.head, 1000);
}

/* A failed batch leaves no trace in our tables either. */
static void test_rolled_back_batch_leaves_the_tables_as_they_were(void **state)
{
    struct fixture *f = *state;
    static struct mon_snapshot before, after;
    struct buf b;
    struct gen_event ev = { .json = &b };

    write_events(f, 400);
    assert_int_equal(mon_store_read(reader(f), &before, NULL, 0, NULL), BM_OK);
    buf_init(&b, 64 * 1024);
    assert_int_equal(db_begin(f->db.w), BM_OK);
    for (int i = 0; i < 200; i++) {
        buf_reset(&b);
        assert_int_equal(mon_generate(f->m, &f->st, &f->p, &f->r, START_US + 5000000000LL + i,
                                      1000 + (uint64_t)i, &ev),
                         BM_OK);
        assert_int_equal(db_insert_event(f->db.w, 1000 + (uint64_t)i, ev.ts_ms, ev.anomaly_type,
                                         false, b.data, b.len),
                         BM_OK);
        assert_int_equal(mon_store_event(f->db.w, &ev), BM_OK);
    }
    db_rollback(f->db.w);
    buf_free(&b);
    assert_int_equal(mon_store_read(reader(f), &after, NULL, 0, NULL), BM_OK);
    assert_memory_equal(&before, &after, sizeof before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_values_are_the_newest_event_of_each_series,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_cover_the_retained_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_close_cleanly_and_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_batch_leaves_the_tables_as_they_were,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
