/* test_faults_storage.c - the services when their storage fails (SPEC §4:
 * 503 while the database is unwritable; no crash, no corrupt database, no
 * partial change): kill -9 amid concurrent POST /config and POST
 * /transactions, a full disk (RLIMIT_FSIZE lowered on the running daemon),
 * and a read-only or full file system (tests/integration/faultfs.c, an
 * LD_PRELOAD shim). Each fault is lifted again and the service must carry
 * on by itself: writes succeed, sequences stay dense, nothing repeats. */
#define _GNU_SOURCE /* prlimit */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "harness.h"
#include "rng.h"

#define TXN_BIN  "transaction-service"
#define AUTH_BIN "auth-service"
#define MON_BIN  "monitoring-service"

/* faultfs control files to remove, by daemon slot */
static char fault_flag[PROCS_MAX][400];

static int storage_setup(void **state)
{
    memset(fault_flag, 0, sizeof(fault_flag));
    return h_procs_setup(state);
}

/* The slots' teardown, after the fault switches it leaves in their
 * directories, and no shim for what runs next. */
static int storage_teardown(void **state)
{
    for (int i = 0; i < PROCS_MAX; i++)
        if (fault_flag[i][0])
            unlink(fault_flag[i]);
    h_procs_teardown(state);
    unsetenv("LD_PRELOAD");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* CPU time the process has used (user + system), in ms. */
static long cpu_ms(pid_t pid)
{
    char path[64], text[1024];
    const char *p;
    unsigned long long ut = 0, st = 0;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* fields after the command name, which may hold spaces: state is
     * field 3, utime and stime fields 14 and 15 */
    p = strrchr(text, ')');
    assert_non_null(p);
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st),
                     2);
    return (long)((ut + st) * 1000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* A POST over a raw connection, so the whole answer head can be checked. */
static int raw_post(int port, const char *path, const char *body, char *out, size_t outlen,
                    long *ms)
{
    char req[2048];
    long t0 = h_now_ms();
    int st;

    snprintf(req, sizeof(req),
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             path, strlen(body), body);
    st = h_raw_http(port, req, out, outlen, 10000);
    if (ms)
        *ms = h_now_ms() - t0;
    return st;
}

/* The answer is the documented 503: Retry-After and the error body of
 * SPEC §4 with code service_unavailable. */
static void assert_unavailable(const char *what, int status, const char *raw, long ms)
{
    const char *body = strstr(raw, "\r\n\r\n");
    cJSON *j, *err;

    if (status != 503)
        fail_msg("%s during the fault: status %d, want 503:\n%.400s", what, status, raw);
    if (!strstr(raw, "\r\nRetry-After: "))
        fail_msg("%s: 503 without Retry-After:\n%.400s", what, raw);
    assert_non_null(body);
    j = cJSON_Parse(body + 4);
    err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (!h_jstr(err, "code") || strcmp(h_jstr(err, "code"), "service_unavailable") != 0 ||
        !h_jstr(err, "message"))
        fail_msg("%s: 503 body is not the documented error: %s", what, body + 4);
    cJSON_Delete(j);
    /* one pass of the write queue, not a hang until some timeout */
    if (ms > 2500)
        fail_msg("%s: the 503 took %ld ms", what, ms);
}

/* What a stopped (or killed) daemon's database holds. */
struct db_facts {
    long long max;          /* events 1..max, each once */
    long long distinct_ids; /* distinct values of the event id field */
    long long api;          /* rows written through POST */
    long long backwards;    /* consecutive sequences whose time goes back */
};

/* integrity_check ok; sequences 1..max, each once; every event id once. */
static void check_db(const char *path, const char *id_field, struct db_facts *f)
{
    char sql[256];
    sqlite3 *db = h_db_open_checked(path);

    memset(f, 0, sizeof(*f));
    f->max = h_db_dense_max(db);
    snprintf(sql, sizeof(sql), "SELECT count(DISTINCT json_extract(body, '$.%s')) FROM events",
             id_field);
    f->distinct_ids = h_db_int(db, sql);
    f->api = h_db_int(db, "SELECT count(*) FROM events WHERE origin = 1");
    f->backwards = h_db_int(db, "SELECT count(*) FROM events a JOIN events b ON b.seq = a.seq + 1 "
                              "WHERE b.ts < a.ts");
    h_db_close(db);
    if (f->distinct_ids != f->max)
        fail_msg("%lld rows but %lld distinct %s: an event was written twice", f->max,
                 f->distinct_ids, id_field);
    if (f->backwards)
        fail_msg("%lld events are older than the one before them", f->backwards);
}

/* ------------------------------------------------------------------ */
/* kill -9 amid concurrent writes                                       */

/* Two full settings that differ in every key they set: after any crash
 * the service must hold all of one of them, never a mix. */
static const char cfg_a[] = "{\"anomaly_rate\":0.05,\"events_per_second\":800,"
                            "\"fraud_pattern_rate\":0.002,\"money_laundering_rate\":0.003,"
                            "\"suspicious_high_amount_rate\":0.004}";
static const char cfg_b[] = "{\"anomaly_rate\":0.1,\"events_per_second\":1200,"
                            "\"fraud_pattern_rate\":0.005,\"money_laundering_rate\":0.006,"
                            "\"suspicious_high_amount_rate\":0.007}";

#define ACK_MAX 4096

/* One client thread's share of a storm. */
struct storm_client {
    pthread_t thread;
    int port;
    bool config;             /* POST /config (else POST /transactions) */
    atomic_bool *stop;
    int ok;                  /* 2xx answers */
    int n_acked;             /* POST /transactions: what was acknowledged */
    char (*acked_id)[40];
    long long *acked_seq;
};

static void *storm_main(void *arg)
{
    struct storm_client *c = arg;
    int i = 0;

    while (!atomic_load(c->stop)) {
        struct resp r;
        const char *body = c->config ? (i++ % 2 ? cfg_b : cfg_a)
                                     : "{\"customer_id\":\"CUST_000042\",\"amount\":12.34,"
                                       "\"transaction_type\":\"purchase\"}";
        if (h_http_req(c->port, "POST", c->config ? "/config" : "/transactions", body, h_json_ct,
                       &r) == 0 &&
            r.status / 100 == 2) {
            c->ok++;
            if (!c->config && c->n_acked < ACK_MAX) {
                cJSON *e = cJSON_ParseWithLength(r.body, r.len);
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "transaction_id");
                const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "sequence");
                if (cJSON_IsString(id) && cJSON_IsNumber(seq)) {
                    snprintf(c->acked_id[c->n_acked], 40, "%s", id->valuestring);
                    c->acked_seq[c->n_acked] = (long long)seq->valuedouble;
                    c->n_acked++;
                }
                cJSON_Delete(e);
            }
        }
        h_resp_free(&r);
    }
    return NULL;
}

/* Every acknowledged POST /transactions is in the database, at the
 * sequence it was answered with. */
static void check_acked(const char *path, const struct storm_client *c)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT json_extract(body, '$.transaction_id') FROM "
                                        "events WHERE seq = ?1 AND origin = 1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    for (int i = 0; i < c->n_acked; i++) {
        sqlite3_bind_int64(s, 1, c->acked_seq[i]);
        if (sqlite3_step(s) != SQLITE_ROW ||
            strcmp((const char *)sqlite3_column_text(s, 0), c->acked_id[i]) != 0)
            fail_msg("POST /transactions answered 201 with %s at sequence %lld; lost in kill -9",
                     c->acked_id[i], c->acked_seq[i]);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static char *post_config(int port, const char *body)
{
    struct resp r;

    assert_int_equal(h_http_req(port, "POST", "/config", body, h_json_ct, &r), 0);
    if (r.status != 200)
        fail_msg("POST /config %s: %ld %s", body, r.status, r.body);
    return r.body;
}

static void test_kill9_amid_config_and_event_posts_keeps_config_whole(void **state)
{
    static const char file_cfg[] = "{\"generation_settings\":{\"events_per_second\":1000,"
                                   "\"retention_events\":100000000}}";
    static const char *const args[] = { "--seed", "51", NULL };
    const bool small = h_test_scale_small();
    const int rounds = small ? 8 : 20;
    struct proc *p = &h_procs[0];
    char (*ids)[40] = calloc(ACK_MAX, 40);
    long long *seqs = calloc(ACK_MAX, sizeof(*seqs));
    char *exp_a, *exp_b;
    struct db_facts f;
    struct rng rng;
    long long last_max = 0;
    int saw_a = 0, saw_b = 0, cfg_oks = 0, txn_oks = 0;

    (void)state;
    assert_non_null(ids);
    assert_non_null(seqs);
    rng_seed(&rng, 0xfa17);
    h_proc_init(p, "fltkill");
    h_proc_write_config(p, file_cfg);
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    /* Both settings set the same keys, so each one's full answer does not
     * depend on what came before. */
    exp_a = post_config(p->port, cfg_a);
    exp_b = post_config(p->port, cfg_b);
    assert_string_not_equal(exp_a, exp_b);

    for (int round = 0; round < rounds; round++) {
        atomic_bool stop;
        struct storm_client cl[3];
        long delay = (long)rng_range(&rng, 0, 120);
        char *now;

        atomic_init(&stop, false);
        memset(cl, 0, sizeof(cl));
        for (int i = 0; i < 3; i++) {
            cl[i].port = p->port;
            cl[i].config = i < 2;
            cl[i].stop = &stop;
            cl[i].acked_id = ids;
            cl[i].acked_seq = seqs;
            assert_int_equal(pthread_create(&cl[i].thread, NULL, storm_main, &cl[i]), 0);
        }
        h_sleep_ms(delay);
        h_proc_kill9(p);
        atomic_store(&stop, true);
        for (int i = 0; i < 3; i++) {
            pthread_join(cl[i].thread, NULL);
            if (cl[i].config)
                cfg_oks += cl[i].ok;
            else
                txn_oks += cl[i].ok;
        }

        check_db(p->db, "transaction_id", &f);
        if (f.max < last_max)
            fail_msg("round %d: database went back from %lld to %lld events", round, last_max,
                     f.max);
        last_max = f.max;
        check_acked(p->db, &cl[2]);

        assert_int_equal(h_proc_restart(p, TXN_BIN, args), 0);
        now = h_get_config(p->port);
        if (strcmp(now, exp_a) == 0)
            saw_a++;
        else if (strcmp(now, exp_b) == 0)
            saw_b++;
        else
            fail_msg("round %d (killed after %ld ms): config after restart is neither whole "
                     "setting:\n%s\nA: %s\nB: %s",
                     round, delay, now, exp_a, exp_b);
        free(now);
        /* the stream goes on from what was committed */
        if (h_health_head(p->port) < f.max)
            fail_msg("round %d: head %lld after restart, %lld in the database", round,
                     h_health_head(p->port), f.max);
    }
    printf("  %d rounds: %d config and %d transaction POSTs acknowledged; config A %d, B %d; "
           "%lld events\n",
           rounds, cfg_oks, txn_oks, saw_a, saw_b, last_max);
    assert_true(cfg_oks > 0);
    assert_true(txn_oks > 0);

    assert_true(h_wait_head(p->port, last_max + 50, 20000));
    assert_int_equal(h_proc_stop(p, NULL), 0);
    check_db(p->db, "transaction_id", &f);
    assert_true(f.max >= last_max + 50);
    free(exp_a);
    free(exp_b);
    free(ids);
    free(seqs);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Unwritable storage                                                   */

struct scenario {
    const char *tag, *bin, *events_path, *id_field;
    const char *post_path, *post_body; /* an event POST, or NULL */
    const char *extra_read;            /* another read endpoint, or NULL */
    const char *fault;                 /* "fsize", or an errno name for faultfs */
};

static void fault_on(const struct scenario *sc, struct proc *p, int slot)
{
    if (strcmp(sc->fault, "fsize") == 0) {
        /* Every write past the first byte of any file now fails with EFBIG
         * (SIGXFSZ is ignored): no file can grow or be rewritten, a full
         * disk and then some. Only the soft limit moves, so the test may
         * raise it again without privileges. */
        struct rlimit rl;
        assert_int_equal(prlimit(p->pid, RLIMIT_FSIZE, NULL, &rl), 0);
        rl.rlim_cur = 1;
        assert_int_equal(prlimit(p->pid, RLIMIT_FSIZE, &rl, NULL), 0);
    } else {
        int fd = open(fault_flag[slot], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
}

static void fault_off(const struct scenario *sc, struct proc *p, int slot)
{
    if (strcmp(sc->fault, "fsize") == 0) {
        struct rlimit rl;
        assert_int_equal(prlimit(p->pid, RLIMIT_FSIZE, NULL, &rl), 0);
        rl.rlim_cur = rl.rlim_max;
        assert_int_equal(prlimit(p->pid, RLIMIT_FSIZE, &rl, NULL), 0);
    } else {
        assert_int_equal(unlink(fault_flag[slot]), 0);
    }
}

/* Starts the daemon; for a faultfs scenario with the shim preloaded
 * (under ASan, whose runtime then is not first in the link order). */
static void start_for(const struct scenario *sc, struct proc *p, int slot, const char *const *args)
{
    char asan[1024];
    const char *old_asan = getenv("ASAN_OPTIONS");
    int rc;

    if (strcmp(sc->fault, "fsize") == 0) {
        assert_int_equal(h_proc_start(p, sc->bin, args), 0);
        return;
    }
    snprintf(fault_flag[slot], sizeof(fault_flag[slot]), "%s/faultfs.on", p->dir);
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old_asan ? old_asan : "",
             old_asan ? ":" : "");
    setenv("LD_PRELOAD", BM_FAULTFS, 1);
    setenv("FAULTFS_CONTROL", fault_flag[slot], 1);
    setenv("FAULTFS_MATCH", p->db, 1);
    setenv("FAULTFS_ERRNO", sc->fault, 1);
    setenv("ASAN_OPTIONS", asan, 1);
    rc = h_proc_start(p, sc->bin, args);
    unsetenv("LD_PRELOAD");
    unsetenv("FAULTFS_CONTROL");
    unsetenv("FAULTFS_MATCH");
    unsetenv("FAULTFS_ERRNO");
    if (old_asan)
        setenv("ASAN_OPTIONS", old_asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    assert_int_equal(rc, 0);
}

/* /metrics database.write_errors; *ok = database.ok, which must be a bool. */
static long long write_errors(int port, bool *ok)
{
    long st = 0;
    cJSON *m = h_http_get_json(port, "/metrics", &st);
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(m, "database");
    const cJSON *okj = cJSON_GetObjectItemCaseSensitive(db, "ok");
    long long n;

    assert_int_equal(st, 200);
    if (!cJSON_IsBool(okj))
        fail_msg("/metrics database.ok is not a bool");
    *ok = cJSON_IsTrue(okj);
    n = h_jnum(db, "write_errors");
    cJSON_Delete(m);
    return n;
}

static void assert_db_ok_metric(int port, bool want)
{
    bool ok = false;
    long long n = write_errors(port, &ok);

    if (ok != want)
        fail_msg("/metrics database.ok is not %s", want ? "true" : "false");
    if (!want)
        assert_true(n > 0);
}

static void assert_reads_work(const struct scenario *sc, int port, long long head)
{
    char path[160];
    long st = 0;
    cJSON *j;

    snprintf(path, sizeof(path), "%s?limit=20", sc->events_path);
    j = h_http_get_json(port, path, &st);
    if (st != 200)
        fail_msg("GET %s during the fault: %ld", path, st);
    assert_int_equal(h_jnum(j, "count"), 20);
    cJSON_Delete(j);
    snprintf(path, sizeof(path), "%s?since=%lld&limit=1000", sc->events_path,
             head > 100 ? head - 100 : 0);
    j = h_http_get_json(port, path, &st);
    if (st != 200)
        fail_msg("GET %s during the fault: %ld", path, st);
    assert_true(h_jnum(j, "count") > 0);
    cJSON_Delete(j);
    if (sc->extra_read) {
        j = h_http_get_json(port, sc->extra_read, &st);
        if (st != 200)
            fail_msg("GET %s during the fault: %ld", sc->extra_read, st);
        cJSON_Delete(j);
    }
    j = h_http_get_json(port, "/config", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(j);
}

static void run_scenario(const struct scenario *sc)
{
    static const char file_cfg[] = "{\"generation_settings\":{\"events_per_second\":500,"
                                   "\"retention_events\":100000000}}";
    static const char *const args[] = { "--seed", "52", NULL };
    static const char new_cfg[] = "{\"anomaly_rate\":0.07,\"events_per_second\":600}";
    const bool small = h_test_scale_small();
    struct proc *p = &h_procs[0];
    char raw[8192], *cfg_before, *cfg_during;
    long ms, cpu0, cpu1, t0, t1;
    long long head0, head1, head2;
    int st, acked = 0;
    struct db_facts f;

    h_proc_init(p, sc->tag);
    h_proc_write_config(p, file_cfg);
    start_for(sc, p, 0, args);
    assert_true(h_wait_head(p->port, 100, 20000));
    if (sc->post_path) {
        st = raw_post(p->port, sc->post_path, sc->post_body, raw, sizeof(raw), NULL);
        if (st != 201)
            fail_msg("POST %s before the fault: %d\n%s", sc->post_path, st, raw);
        acked++;
    }
    cfg_before = h_get_config(p->port);

    fault_on(sc, p, 0);
    if (!h_wait_health_status(p->port, "degraded", 5000))
        fail_msg("/health does not say degraded 5 s into the fault");
    assert_db_ok_metric(p->port, false);
    head0 = h_health_head(p->port);

    /* writes: a quick, documented 503 */
    for (int i = 0; sc->post_path && i < 3; i++) {
        st = raw_post(p->port, sc->post_path, sc->post_body, raw, sizeof(raw), &ms);
        assert_unavailable(sc->post_path, st, raw, ms);
    }
    st = raw_post(p->port, "/config", new_cfg, raw, sizeof(raw), &ms);
    assert_unavailable("POST /config", st, raw, ms);
    cfg_during = h_get_config(p->port);
    assert_string_equal(cfg_during, cfg_before); /* nothing changed, not even in memory */
    free(cfg_during);

    /* reads go on */
    assert_reads_work(sc, p->port, head0);

    /* the generator waits for the disk instead of spinning */
    t0 = h_now_ms();
    cpu0 = cpu_ms(p->pid);
    h_sleep_ms(2000);
    cpu1 = cpu_ms(p->pid);
    t1 = h_now_ms();
    printf("  %s: during the fault the daemon used %ld ms of CPU in %ld ms\n", sc->tag,
           cpu1 - cpu0, t1 - t0);
    if (cpu1 - cpu0 > (t1 - t0) / (small ? 2 : 4))
        fail_msg("the daemon used %ld ms of CPU in %ld ms of an unwritable database",
                 cpu1 - cpu0, t1 - t0);
    assert_true(h_wait_health_status(p->port, "degraded", 1000));
    head1 = h_health_head(p->port);
    if (head1 != head0)
        fail_msg("head moved from %lld to %lld while nothing could be written", head0, head1);

    /* the fault ends: the service recovers by itself */
    fault_off(sc, p, 0);
    if (!h_wait_health_status(p->port, "ok", 5000))
        fail_msg("/health is not ok again 5 s after the fault ended");
    assert_db_ok_metric(p->port, true);
    if (sc->post_path) {
        cJSON *e;
        st = raw_post(p->port, sc->post_path, sc->post_body, raw, sizeof(raw), NULL);
        if (st != 201)
            fail_msg("POST %s after the fault: %d\n%s", sc->post_path, st, raw);
        acked++;
        e = cJSON_Parse(strstr(raw, "\r\n\r\n") + 4);
        assert_true(h_jnum(e, "sequence") > head1);
        cJSON_Delete(e);
    }
    free(post_config(p->port, new_cfg));
    head2 = h_health_head(p->port);
    assert_true(h_wait_head(p->port, head2 + 100, 20000));
    free(cfg_before);

    assert_int_equal(h_proc_stop(p, NULL), 0);
    check_db(p->db, sc->id_field, &f);
    printf("  %s: %lld events, dense; head %lld in the fault, %lld after\n", sc->tag, f.max,
           head1, head2);
    /* what was refused is not there */
    assert_int_equal(f.api, acked);
    unlink(fault_flag[0]);
    fault_flag[0][0] = '\0';
    h_proc_finish(p);
}

/* The disk fills up under the transaction service (RLIMIT_FSIZE). */
static void test_full_disk_answers_503_keeps_reads_and_recovers(void **state)
{
    static const struct scenario sc = {
        .tag = "fltfull",
        .bin = TXN_BIN,
        .events_path = "/transactions/events",
        .id_field = "transaction_id",
        .post_path = "/transactions",
        .post_body = "{\"customer_id\":\"CUST_000042\",\"amount\":12.34,"
                     "\"transaction_type\":\"purchase\"}",
        .fault = "fsize",
    };
    (void)state;
    run_scenario(&sc);
}

/* The auth service's database turns read-only (EROFS from faultfs). */
static void test_read_only_database_answers_503_keeps_reads_and_recovers(void **state)
{
    static const struct scenario sc = {
        .tag = "fltro",
        .bin = AUTH_BIN,
        .events_path = "/auth/events",
        .id_field = "event_id",
        .post_path = "/auth",
        .post_body = "{\"username\":\"jsmith\",\"result\":\"success\",\"ip_address\":\"1.2.3.4\"}",
        .extra_read = "/security/failed-attempts",
        .fault = "EROFS",
    };
    (void)state;
    run_scenario(&sc);
}

/* The monitoring service's file system fills up (ENOSPC from faultfs). */
static void test_no_space_answers_503_keeps_reads_and_recovers(void **state)
{
    static const struct scenario sc = {
        .tag = "fltnospc",
        .bin = MON_BIN,
        .events_path = "/metrics/events",
        .id_field = "event_id",
        .extra_read = "/system/health",
        .fault = "ENOSPC",
    };
    (void)state;
    run_scenario(&sc);
}

/* /metrics counts failed write transactions: a refused POST is one, not
 * two (a failed config commit once counted itself twice). Paused, the
 * generator writes nothing, so every failure is the posts'. */
static void test_each_failed_write_counts_once(void **state)
{
    static const struct scenario sc = {
        .tag = "fltcount",
        .bin = TXN_BIN,
        .fault = "ENOSPC",
    };
    static const char *const args[] = { "--seed", "53", NULL };
    static const char txn[] = "{\"customer_id\":\"CUST_000042\",\"amount\":12.34,"
                              "\"transaction_type\":\"purchase\"}";
    struct proc *p = &h_procs[0];
    char raw[8192];
    long ms;
    bool ok = false;
    int st;

    (void)state;
    h_proc_init(p, sc.tag);
    h_proc_write_config(p, "{\"generation_settings\":{\"paused\":true}}");
    start_for(&sc, p, 0, args);
    assert_true(h_wait_health_status(p->port, "paused", 5000));
    assert_int_equal(write_errors(p->port, &ok), 0);
    assert_true(ok);

    fault_on(&sc, p, 0);
    st = raw_post(p->port, "/config", "{\"anomaly_rate\":0.07}", raw, sizeof(raw), &ms);
    assert_unavailable("POST /config", st, raw, ms);
    assert_int_equal(write_errors(p->port, &ok), 1);
    assert_false(ok);
    st = raw_post(p->port, "/transactions", txn, raw, sizeof(raw), &ms);
    assert_unavailable("POST /transactions", st, raw, ms);
    assert_int_equal(write_errors(p->port, &ok), 2);

    fault_off(&sc, p, 0);
    free(post_config(p->port, "{\"anomaly_rate\":0.07}"));
    assert_int_equal(write_errors(p->port, &ok), 2);
    assert_true(ok);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    fault_flag[0][0] = '\0';
    h_proc_finish(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, storage_setup, storage_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_kill9_amid_config_and_event_posts_keeps_config_whole),
        T(test_full_disk_answers_503_keeps_reads_and_recovers),
        T(test_read_only_database_answers_503_keeps_reads_and_recovers),
        T(test_no_space_answers_503_keeps_reads_and_recovers),
        T(test_each_failed_write_counts_once),
    };
    int rc;

    /* client threads: libcurl's global state first */
    curl_global_init(CURL_GLOBAL_ALL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
