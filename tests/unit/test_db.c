/* test_db.c - the SQLite store: inserts, lists and cursors, pruning, meta,
 * a service's own SQL and state on a connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "db_fixture.h"

struct fixture {
    struct db_fixture db;
};

static const char *type_of(uint64_t seq)
{
    /* every 10th event is an anomaly, alternating two types */
    if (seq % 10 != 0)
        return NULL;
    return seq % 20 == 0 ? "fraud_pattern" : "money_laundering";
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f || db_fixture_open(&f->db, "bmdb", NULL) != 0 ||
        db_begin(f->db.w) != BM_OK)
        return -1;
    for (uint64_t s = 1; s <= 100; s++) {
        char body[128];
        const char *t = type_of(s);
        int n = snprintf(body, sizeof(body), "{\"sequence\":%llu,\"anomaly_type\":%s%s%s}",
                         (unsigned long long)s, t ? "\"" : "", t ? t : "null", t ? "\"" : "");
        if (db_insert_event(f->db.w, s, (int64_t)s * 1000, t, false, body, (size_t)n) != BM_OK)
            return -1;
    }
    if (db_commit(f->db.w) != BM_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    db_fixture_close(&f->db);
    free(f);
    return 0;
}

/* Runs a list query through a reader connection and parses the answer. */
static cJSON *list(struct fixture *f, struct db_list_query q)
{
    struct db *r;
    struct buf b;
    cJSON *j;

    assert_int_equal(db_reader(f->db.path, NULL, &r), BM_OK);
    buf_init(&b, 1 << 20);
    assert_int_equal(db_list_events(r, &q, &b), BM_OK);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    buf_free(&b);
    return j;
}

static int64_t num(const cJSON *j, const char *k)
{
    return (int64_t)cJSON_GetObjectItemCaseSensitive(j, k)->valuedouble;
}

static int64_t seq_at(const cJSON *j, int i)
{
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "events"), i);
    return (int64_t)cJSON_GetObjectItemCaseSensitive(e, "sequence")->valuedouble;
}

static void test_db_newest_page_is_newest_first_with_head_cursor(void **state)
{
    struct fixture *f = *state;
    cJSON *j = list(f, (struct db_list_query){ .limit = 5 });

    assert_int_equal(num(j, "count"), 5);
    assert_int_equal(seq_at(j, 0), 100);
    assert_int_equal(seq_at(j, 4), 96);
    assert_int_equal(num(j, "next_since"), 100);
    assert_int_equal(num(j, "oldest_sequence"), 1);
    cJSON_Delete(j);
}

static void test_db_since_page_is_oldest_first_and_resumes_after_last(void **state)
{
    struct fixture *f = *state;
    cJSON *j = list(f, (struct db_list_query){ .limit = 3, .has_since = true, .since = 40 });

    assert_int_equal(num(j, "count"), 3);
    assert_int_equal(seq_at(j, 0), 41);
    assert_int_equal(seq_at(j, 2), 43);
    assert_int_equal(num(j, "next_since"), 43); /* full page: resume after the last */
    cJSON_Delete(j);
}

static void test_db_filtered_poll_advances_to_head(void **state)
{
    struct fixture *f = *state;
    cJSON *j = list(f, (struct db_list_query){ .limit = 50, .has_since = true, .since = 85,
                                               .anomalies_only = true });

    assert_int_equal(num(j, "count"), 2); /* 90 and 100 */
    assert_int_equal(seq_at(j, 0), 90);
    cJSON_Delete(j);
    j = list(f, (struct db_list_query){ .limit = 50, .has_since = true, .since = 85,
                                        .anomaly_type = "money_laundering" });
    assert_int_equal(num(j, "count"), 1);
    assert_int_equal(seq_at(j, 0), 90);
    assert_int_equal(num(j, "next_since"), 100); /* examined up to the head */
    cJSON_Delete(j);
}

static void test_db_type_filter_returns_only_that_type(void **state)
{
    struct fixture *f = *state;
    cJSON *j = list(f, (struct db_list_query){ .limit = 100, .anomaly_type = "fraud_pattern" });
    const cJSON *e;

    assert_int_equal(num(j, "count"), 5); /* 20, 40, 60, 80, 100 */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "events"))
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "anomaly_type")->valuestring,
                            "fraud_pattern");
    cJSON_Delete(j);
}

static void test_db_since_beyond_head_keeps_cursor(void **state)
{
    struct fixture *f = *state;
    cJSON *j = list(f, (struct db_list_query){ .limit = 10, .has_since = true, .since = 500 });

    assert_int_equal(num(j, "count"), 0);
    assert_int_equal(num(j, "next_since"), 500);
    cJSON_Delete(j);
}

static void test_db_prune_keeps_newest_in_bounded_batches(void **state)
{
    struct fixture *f = *state;
    uint64_t head, oldest;
    int64_t deleted;

    (void)state;
    assert_int_equal(db_begin(f->db.w), BM_OK);
    assert_int_equal(db_prune(f->db.w, 30, 25, &deleted), BM_OK);
    assert_int_equal(deleted, 25); /* at most max_rows at a time */
    assert_int_equal(db_prune(f->db.w, 30, 1000, &deleted), BM_OK);
    assert_int_equal(deleted, 45);
    assert_int_equal(db_prune(f->db.w, 30, 1000, &deleted), BM_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(db_commit(f->db.w), BM_OK);
    assert_int_equal(db_bounds(f->db.w, &head, &oldest), BM_OK);
    assert_int_equal(head, 100);
    assert_int_equal(oldest, 71);
}

static void test_db_meta_round_trips_and_overwrites(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    bool found;

    buf_init(&b, 1024);
    assert_int_equal(db_meta_get(f->db.w, "k", &b, &found), BM_OK);
    assert_false(found);
    assert_int_equal(db_meta_set(f->db.w, "k", "one", 3), BM_OK);
    assert_int_equal(db_meta_set(f->db.w, "k", "two!", 4), BM_OK);
    assert_int_equal(db_meta_get(f->db.w, "k", &b, &found), BM_OK);
    assert_true(found);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "two!", 4);
    assert_int_equal(db_meta_delete(f->db.w, "k"), BM_OK);
    buf_reset(&b);
    assert_int_equal(db_meta_get(f->db.w, "k", &b, &found), BM_OK);
    assert_false(found);
    buf_free(&b);
}

static void test_db_readers_do_not_see_uncommitted_rows(void **state)
{
    struct fixture *f = *state;
    cJSON *j;

    assert_int_equal(db_begin(f->db.w), BM_OK);
    assert_int_equal(db_insert_event(f->db.w, 101, 101000, NULL, false, "{\"sequence\":101}", 16),
                     BM_OK);
    j = list(f, (struct db_list_query){ .limit = 1 });
    assert_int_equal(seq_at(j, 0), 100);
    cJSON_Delete(j);
    db_rollback(f->db.w);
}

static void test_db_rejects_duplicate_sequence(void **state)
{
    struct fixture *f = *state;

    assert_int_not_equal(db_insert_event(f->db.w, 50, 1, NULL, false, "{}", 2), BM_OK);
}

/* A service's SQL as a store.c gives it. */
enum { SVC_COUNT_ROWS, SVC_ADD_ROW, SVC_NSTMTS };
static const char *const svc_stmts[SVC_NSTMTS] = {
    [SVC_COUNT_ROWS] = "SELECT count(*) FROM svc_rows",
    [SVC_ADD_ROW] = "INSERT INTO svc_rows(v) VALUES(?1)",
};
static const struct db_sql svc_sql = {
    .schema = "CREATE TABLE IF NOT EXISTS svc_rows(v INTEGER NOT NULL);",
    .stmts = svc_stmts,
    .nstmts = SVC_NSTMTS,
    .conn_state_size = 64,
};

static int64_t svc_rows(struct db *d)
{
    sqlite3_stmt *s = db_stmt(d, SVC_COUNT_ROWS);
    int64_t n;

    assert_non_null(s);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return n;
}

static void svc_add(struct db *d, int v)
{
    sqlite3_stmt *s = db_stmt(d, SVC_ADD_ROW);

    assert_non_null(s);
    assert_int_equal(sqlite3_bind_int(s, 1, v), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static void test_db_owns_a_services_schema_statements_and_state(void **state)
{
    struct fixture *f = *state;
    char path[128], p[160];
    struct db *w;
    unsigned char *st;

    snprintf(path, sizeof(path), "%s/svc.db", f->db.dir);
    assert_int_equal(db_open_writer(path, &svc_sql, &w), BM_OK);
    /* the writer made the service's table; its statements are prepared
     * once on this connection and are not the common connection's */
    assert_int_equal(svc_rows(w), 0);
    assert_ptr_equal(db_stmt(w, SVC_COUNT_ROWS), db_stmt(w, SVC_COUNT_ROWS));
    assert_null(db_stmt(w, SVC_NSTMTS));
    assert_null(db_stmt(w, -1));
    assert_null(db_stmt(f->db.w, SVC_COUNT_ROWS));
    /* per-connection state: zeroed, kept, none where the service asked none */
    st = db_conn_state(w);
    assert_non_null(st);
    for (int i = 0; i < 64; i++)
        assert_int_equal(st[i], 0);
    st[0] = 7;
    assert_ptr_equal(db_conn_state(w), st);
    assert_null(db_conn_state(f->db.w));
    /* rollbacks are counted, commits are not */
    assert_int_equal(db_rollbacks(w), 0);
    assert_int_equal(db_begin(w), BM_OK);
    svc_add(w, 1);
    db_rollback(w);
    assert_int_equal(db_rollbacks(w), 1);
    assert_int_equal(db_begin(w), BM_OK);
    svc_add(w, 2);
    assert_int_equal(db_commit(w), BM_OK);
    assert_int_equal(db_rollbacks(w), 1);
    assert_int_equal(svc_rows(w), 1);
    /* closing finalizes them: the file closes cleanly (no WAL left) */
    db_close(w);
    snprintf(p, sizeof(p), "%s-wal", path);
    assert_int_not_equal(access(p, F_OK), 0);
    unlink(path);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

/* The writer's page cache grows for a backfill and, made small again,
 * gives its pages back (SQLite's own count of what it holds). */
static void test_db_cache_grows_and_gives_back(void **state)
{
    struct fixture *f = *state;
    char body[700];
    sqlite3_int64 big, small;

    assert_int_equal(db_cache_kib(f->db.w, DB_BACKFILL_CACHE_KIB), BM_OK);
    assert_int_equal(db_begin(f->db.w), BM_OK);
    for (uint64_t s = 101; s <= 20100; s++) {
        int n = snprintf(body, sizeof(body), "{\"sequence\":%llu,\"pad\":\"%0600d\"}",
                         (unsigned long long)s, 0);
        assert_int_equal(db_insert_event(f->db.w, s, (int64_t)s * 1000, NULL, false, body,
                                         (size_t)n),
                         BM_OK);
    }
    assert_int_equal(db_commit(f->db.w), BM_OK);
    big = sqlite3_memory_used();
    assert_int_equal(db_cache_kib(f->db.w, DB_CACHE_KIB), BM_OK);
    small = sqlite3_memory_used();
    print_message("SQLite holds %lld KiB with the backfill cache, %lld KiB after\n",
                  (long long)big / 1024, (long long)small / 1024);
    assert_true(big > 8 * 1024 * 1024);
    assert_true(small < big / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_db_newest_page_is_newest_first_with_head_cursor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_since_page_is_oldest_first_and_resumes_after_last,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_filtered_poll_advances_to_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_type_filter_returns_only_that_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_since_beyond_head_keeps_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_prune_keeps_newest_in_bounded_batches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_meta_round_trips_and_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_readers_do_not_see_uncommitted_rows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_rejects_duplicate_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_owns_a_services_schema_statements_and_state,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_cache_grows_and_gives_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
