/* test_auth_store.c - the auth service's tables: failed logins and the
 * baseline chunks, written in the events' transactions, read back the way
 * POST /auth and GET /security/failed-attempts read them, after restarts
 * and rollbacks, and pruned with the events. */
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

#include "auth.h"
#include "db.h"
#include "json.h"

#define T0_MS 1767614400000LL /* 2026-01-05T12:00:00Z */

struct fixture {
    char path[64];
    struct db *w; /* the writer */
    struct db *r; /* a reader, as on a request thread */
    uint64_t next_seq;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    int fd;

    if (!f)
        return -1;
    snprintf(f->path, sizeof f->path, "/tmp/bm-auth-store-XXXXXX");
    fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(f->path);
    if (db_open_writer(f->path, &auth_store_sql, &f->w) != BM_OK ||
        db_reader(f->path, &auth_store_sql, &f->r) != BM_OK)
        return -1;
    f->next_seq = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char side[96];

    db_readers_close();
    db_close(f->w);
    unlink(f->path);
    snprintf(side, sizeof side, "%s-wal", f->path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", f->path);
    unlink(side);
    free(f);
    return 0;
}

/* One login: user, result, address, place, anomalous or not. */
struct login {
    const char *user;
    bool failure;
    const char *ip;
    double lat, lon;
    bool anomaly;
};

/* Stores a login as genloop does: its row, then the hook, in a write
 * transaction of the caller's. */
static uint64_t put(struct fixture *f, const struct login *l, int64_t ts_ms)
{
    struct auth_detail d;
    struct gen_event ev = { 0 };
    char body[512];
    uint64_t seq = f->next_seq++;

    snprintf(body, sizeof body,
             "{\"sequence\":%llu,\"username\":\"%s\",\"result\":\"%s\",\"ip_address\":\"%s\","
             "\"location\":{\"latitude\":%.4f,\"longitude\":%.4f}}",
             (unsigned long long)seq, l->user, l->failure ? "failure" : "success", l->ip, l->lat,
             l->lon);
    memset(&d, 0, sizeof d);
    d.ts_ms = ts_ms;
    snprintf(d.username, sizeof d.username, "%s", l->user);
    snprintf(d.ip, sizeof d.ip, "%s", l->ip);
    d.failure = l->failure;
    d.baseline = !l->anomaly;
    d.lat_e4 = (int64_t)(l->lat * 1e4 + (l->lat >= 0 ? 0.5 : -0.5));
    d.lon_e4 = (int64_t)(l->lon * 1e4 + (l->lon >= 0 ? 0.5 : -0.5));
    ev.ts_ms = ts_ms;
    ev.seq = seq;
    ev.anomaly_type = l->anomaly ? "unusual_location" : NULL;
    ev.detail = &d;
    assert_int_equal(db_insert_event(f->w, seq, ts_ms, ev.anomaly_type, false, body, strlen(body)),
                     BM_OK);
    assert_int_equal(auth_store_event(f->w, &ev), BM_OK);
    return seq;
}

/* n filler logins of other users, one a second from t. */
static int64_t filler(struct fixture *f, int n, int64_t t)
{
    static const struct login other = { "someone.else", false, "10.1.1.1", 40.0, -74.0, false };

    for (int i = 0; i < n; i++)
        put(f, &other, t += 1000);
    return t;
}

/* The look-up of POST /auth: a request thread's part on its reader, then
 * the writer's, in the write transaction of the event to come. */
static struct auth_history lookup(struct fixture *f, const char *user, const char *ip,
                                  int64_t ts_ms)
{
    struct auth_baseline seen;
    struct auth_history h;

    assert_int_equal(auth_store_baseline(f->r, user, ts_ms, &seen), BM_OK);
    assert_int_equal(db_begin(f->w), BM_OK);
    assert_int_equal(auth_store_history(f->w, user, ip, ts_ms, f->next_seq, &seen, &h), BM_OK);
    assert_int_equal(db_commit(f->w), BM_OK);
    return h;
}

/* A restart of the writer: what it kept of the chunk in progress is gone. */
static void reopen_writer(struct fixture *f)
{
    db_close(f->w);
    assert_int_equal(db_open_writer(f->path, &auth_store_sql, &f->w), BM_OK);
}

static void test_store_finds_the_newest_baseline_in_chunks_and_in_progress(void **state)
{
    struct fixture *f = *state;
    const struct login ny = { "jsmith", false, "1.2.3.4", 40.7128, -74.0060, false };
    const struct login tokyo = { "jsmith", false, "5.6.7.8", 35.6762, 139.6503, true };
    const struct login la = { "jsmith", true, "1.2.3.4", 34.0522, -118.2437, false };
    struct auth_history h;
    int64_t t = T0_MS;

    assert_int_equal(db_begin(f->w), BM_OK);
    put(f, &ny, t);
    t = filler(f, 600, t); /* two full chunks later */
    put(f, &tokyo, t += 1000); /* an anomaly is nobody's baseline */
    assert_int_equal(db_commit(f->w), BM_OK);
    h = lookup(f, "jsmith", "1.2.3.4", t + 1000);
    assert_true(h.has_prev);
    assert_int_equal(h.prev_ts_ms, T0_MS);
    assert_true(h.prev_lat == 40.7128 && h.prev_lon == -74.006);
    assert_int_equal(h.failures, 0);
    /* a newer one, in the chunk still being filled */
    assert_int_equal(db_begin(f->w), BM_OK);
    put(f, &la, t += 1000);
    assert_int_equal(db_commit(f->w), BM_OK);
    h = lookup(f, "jsmith", "1.2.3.4", t + 1000);
    assert_true(h.has_prev);
    assert_int_equal(h.prev_ts_ms, t);
    assert_true(h.prev_lat == 34.0522);
    assert_int_equal(h.failures, 1); /* la failed, from that address */
    h = lookup(f, "nobody", "1.2.3.4", t + 1000);
    assert_false(h.has_prev);
    /* older than a day's travel: cannot matter, so not searched for */
    h = lookup(f, "jsmith", "1.2.3.4", t + AUTH_TRAVEL_SPAN_MS + 600 * 1000);
    assert_true(h.has_prev); /* still in the chunk in progress */
}

static void test_store_rebuilds_the_chunk_in_progress_after_a_restart(void **state)
{
    struct fixture *f = *state;
    const struct login a = { "anna.lee", false, "1.2.3.4", 51.5074, -0.1278, false };
    struct auth_history h;
    int64_t t = T0_MS;

    assert_int_equal(db_begin(f->w), BM_OK);
    t = filler(f, 300, t);
    put(f, &a, t += 1000);
    t = filler(f, 5, t);
    assert_int_equal(db_commit(f->w), BM_OK);
    reopen_writer(f);
    h = lookup(f, "anna.lee", "9.9.9.9", t + 1000);
    assert_true(h.has_prev);
    assert_true(h.prev_lat == 51.5074 && h.prev_lon == -0.1278);
    /* and writing goes on where it was: the chunk completes with a's slot */
    assert_int_equal(db_begin(f->w), BM_OK);
    t = filler(f, 400, t);
    assert_int_equal(db_commit(f->w), BM_OK);
    reopen_writer(f);
    h = lookup(f, "anna.lee", "9.9.9.9", t + 1000);
    assert_true(h.has_prev);
    assert_int_equal(h.prev_ts_ms, T0_MS + 301 * 1000);
}

static void test_store_forgets_what_a_rollback_took_back(void **state)
{
    struct fixture *f = *state;
    const struct login a = { "bob.ray", false, "1.2.3.4", 10.0, 10.0, false };
    const struct login b = { "bob.ray", false, "1.2.3.4", 20.0, 20.0, false };
    struct auth_history h;
    int64_t t = T0_MS;
    uint64_t seq;

    assert_int_equal(db_begin(f->w), BM_OK);
    put(f, &a, t += 1000);
    assert_int_equal(db_commit(f->w), BM_OK);
    seq = f->next_seq;
    assert_int_equal(db_begin(f->w), BM_OK);
    put(f, &b, t += 1000);
    db_rollback(f->w);
    f->next_seq = seq; /* genloop writes the same sequence again */
    h = lookup(f, "bob.ray", "1.2.3.4", t + 1000);
    assert_true(h.has_prev);
    assert_true(h.prev_lat == 10.0);
}

static void test_store_counts_failures_in_the_window_by_user_and_address(void **state)
{
    struct fixture *f = *state;
    const struct login bad = { "carl.x", true, "6.6.6.6", 1.0, 1.0, true };
    const struct login typo = { "dina.y", true, "7.7.7.7", 1.0, 1.0, false };
    const struct login stuff[3] = { { "u1_x", true, "8.8.8.8", 1, 1, true },
                                    { "u2_x", true, "8.8.8.8", 1, 1, true },
                                    { "u3_x", true, "8.8.8.8", 1, 1, true } };
    struct auth_failed_query q = { 300, T0_MS, T0_MS + 300 * 1000, 2 };
    struct buf b;
    cJSON *j, *users, *ips;
    int64_t t = T0_MS;

    assert_int_equal(db_begin(f->w), BM_OK);
    put(f, &bad, t); /* exactly at the window's start: outside (from < ts) */
    for (int i = 0; i < 12; i++)
        put(f, &bad, t += 10 * 1000);
    put(f, &typo, t += 1000);
    for (int i = 0; i < 3; i++)
        put(f, &stuff[i], t += 1000);
    put(f, &typo, T0_MS + 301 * 1000); /* after the window's end */
    assert_int_equal(db_commit(f->w), BM_OK);
    buf_init(&b, 64 * 1024);
    assert_int_equal(auth_store_failed_attempts(f->r, &q, &b), BM_OK);
    assert_int_equal(json_parse(b.data, b.len, &j), BM_OK);
    assert_int_equal(json_get(j, "window_s")->valueint, 300);
    assert_string_equal(json_get(j, "from")->valuestring, "2026-01-05T12:00:00.000Z");
    assert_int_equal(json_get(j, "total_failures")->valueint, 16);
    assert_int_equal(json_get(j, "distinct_usernames")->valueint, 5);
    assert_int_equal(json_get(j, "distinct_ips")->valueint, 3);
    users = json_get(j, "by_username");
    ips = json_get(j, "by_ip");
    assert_int_equal(cJSON_GetArraySize(users), 2); /* the limit */
    assert_string_equal(json_get(cJSON_GetArrayItem(users, 0), "username")->valuestring, "carl.x");
    assert_int_equal(json_get(cJSON_GetArrayItem(users, 0), "failures")->valueint, 12);
    assert_int_equal(json_get(cJSON_GetArrayItem(users, 0), "distinct_ips")->valueint, 1);
    assert_string_equal(json_get(cJSON_GetArrayItem(ips, 1), "ip_address")->valuestring,
                        "8.8.8.8");
    assert_int_equal(json_get(cJSON_GetArrayItem(ips, 1), "distinct_usernames")->valueint, 3);
    cJSON_Delete(j);
    buf_free(&b);
    /* the brute-force rule's count: this user from this address in the
     * 5 minutes up to t (all 13 of them), then in those up to 5 min past
     * the first one (that one is out) */
    assert_int_equal(lookup(f, "carl.x", "6.6.6.6", t).failures, 13);
    assert_int_equal(lookup(f, "carl.x", "6.6.6.6", T0_MS + 300 * 1000).failures, 12);
    assert_int_equal(lookup(f, "carl.x", "6.6.6.7", t).failures, 0);
}

static void test_store_prunes_with_the_events(void **state)
{
    struct fixture *f = *state;
    const struct login a = { "erin.z", true, "1.2.3.4", 10.0, 10.0, false };
    struct auth_failed_query q = { 86400, T0_MS - 1, T0_MS + 86400000, 10 };
    struct auth_history h;
    int64_t t = T0_MS, deleted;
    uint64_t head, oldest;
    struct buf b;
    cJSON *j;

    assert_int_equal(db_begin(f->w), BM_OK);
    put(f, &a, t);
    t = filler(f, 1000, t);
    assert_int_equal(db_prune(f->w, 500, 100000, &deleted), BM_OK);
    assert_int_equal(db_bounds(f->w, &head, &oldest), BM_OK);
    assert_int_equal(auth_store_prune(f->w, oldest), BM_OK);
    assert_int_equal(db_commit(f->w), BM_OK);
    h = lookup(f, "erin.z", "1.2.3.4", t + 1000);
    assert_false(h.has_prev); /* the data no longer shows it */
    buf_init(&b, 64 * 1024);
    assert_int_equal(auth_store_failed_attempts(f->r, &q, &b), BM_OK);
    assert_int_equal(json_parse(b.data, b.len, &j), BM_OK);
    assert_int_equal(json_get(j, "total_failures")->valueint, 0);
    cJSON_Delete(j);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_store_finds_the_newest_baseline_in_chunks_and_in_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rebuilds_the_chunk_in_progress_after_a_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_forgets_what_a_rollback_took_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_counts_failures_in_the_window_by_user_and_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_prunes_with_the_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
