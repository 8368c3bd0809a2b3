/*
 * The reference for bench/run.sh (SPEC §9): a bare SQLite insert loop.
 * WAL, synchronous=NORMAL, one prepared statement, rows made before the clock
 * starts (~600 bytes of JSON each), 500 rows per transaction. A service's
 * backfill does this plus generating the events; its rate is compared to this.
 *
 *   bare_insert DB_PATH [ROWS]    (ROWS default 500000; DB_PATH must not exist)
 *
 * Last line of output: "rows_per_s N".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define POOL 1024          /* distinct ready-made rows, reused in turn */
#define BATCH 500          /* rows per transaction */
#define BODY_CAP 1024

struct row {
    long long ts;
    const char *anomaly_type; /* NULL for a normal event */
    int origin;
    char body[BODY_CAP];
    int len;
};

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* xorshift64: deterministic filler, no libc rand() (banned). */
static unsigned long long next_u64(unsigned long long *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int make_rows(struct row *rows)
{
    static const char *const types[] = { "suspicious_high_amount", "fraud_pattern",
                                         "money_laundering" };
    unsigned long long s = 0x9e3779b97f4a7c15ull;
    int i, n;

    for (i = 0; i < POOL; i++) {
        unsigned long long r = next_u64(&s);
        int anomalous = r % 50 == 0;

        rows[i].ts = 1700000000000LL + (long long)i * 10;
        rows[i].anomaly_type = anomalous ? types[(r >> 8) % 3] : NULL;
        rows[i].origin = 0;
        n = snprintf(rows[i].body, BODY_CAP,
            "{\"sequence\":%d,\"transaction_id\":\"%08llx-%04llx-4%03llx-a%03llx-%012llx\","
            "\"timestamp\":\"2023-11-14T22:13:20.%03dZ\",\"customer_id\":\"CUST_%06llu\","
            "\"customer_segment\":\"retail\",\"account_id\":\"ACC_%010llu\","
            "\"counterparty_account\":null,\"merchant_id\":\"MER_%06llu\","
            "\"merchant_category\":\"grocery\",\"amount\":%llu.%02llu,\"currency\":\"USD\","
            "\"transaction_type\":\"purchase\",\"channel\":\"pos\","
            "\"location\":{\"country\":\"US\",\"city\":\"Chicago\"},\"status\":\"approved\","
            "\"processing_time_ms\":%llu,\"risk_score\":0.%04llu,\"is_anomaly\":%s,"
            "\"anomaly_type\":%s%s%s,\"incident_id\":null,\"origin\":\"generated\","
            "\"note\":\"padding to the size of a real event.......................\"}",
            i, r & 0xffffffffull, (r >> 32) & 0xffff, (r >> 20) & 0xfff, (r >> 8) & 0xfff,
            next_u64(&s) & 0xffffffffffffull, i % 1000, r % 1000000, r % 10000000000ull,
            (r >> 3) % 1000000, (r >> 5) % 500, (r >> 7) % 100, (r >> 9) % 900 + 20,
            (r >> 11) % 10000, anomalous ? "true" : "false", anomalous ? "\"" : "",
            anomalous ? rows[i].anomaly_type : "null", anomalous ? "\"" : "");
        if (n < 0 || n >= BODY_CAP)
            return -1;
        rows[i].len = n;
    }
    return 0;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bare_insert: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int insert_all(sqlite3 *db, sqlite3_stmt *st, const struct row *rows, long n)
{
    long i;

    for (i = 0; i < n; i++) {
        const struct row *r = &rows[i % POOL];

        if (i % BATCH == 0 && exec(db, "BEGIN IMMEDIATE") != 0)
            return -1;
        if (sqlite3_bind_int64(st, 1, i + 1) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, r->ts + i) != SQLITE_OK ||
            (r->anomaly_type ? sqlite3_bind_text(st, 3, r->anomaly_type, -1, SQLITE_STATIC)
                             : sqlite3_bind_null(st, 3)) != SQLITE_OK ||
            sqlite3_bind_int(st, 4, r->origin) != SQLITE_OK ||
            sqlite3_bind_text(st, 5, r->body, r->len, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "bare_insert: insert: %s\n", sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_reset(st);
        if ((i + 1) % BATCH == 0 || i + 1 == n) {
            if (exec(db, "COMMIT") != 0)
                return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct row rows[POOL];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = 500000;
    double t0, dt;
    char *end;
    int rc = 1;
    size_t bytes = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s DB_PATH [ROWS]\n", argv[0]);
        return 2;
    }
    if (argc == 3) {
        errno = 0;
        n = strtol(argv[2], &end, 10);
        if (errno || end == argv[2] || *end || n < 1 || n > 100000000) {
            fprintf(stderr, "bare_insert: ROWS must be 1..100000000\n");
            return 2;
        }
    }
    if (access(argv[1], F_OK) == 0) {
        fprintf(stderr, "bare_insert: %s exists; give a new path\n", argv[1]);
        return 2;
    }
    if (make_rows(rows) != 0) {
        fprintf(stderr, "bare_insert: row template too long\n");
        return 1;
    }
    for (int i = 0; i < POOL; i++)
        bytes += (size_t)rows[i].len;

    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "bare_insert: open %s: %s\n", argv[1], db ? sqlite3_errmsg(db) : "?");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    if (exec(db, "PRAGMA journal_mode=WAL") != 0 ||
        exec(db, "PRAGMA synchronous=NORMAL") != 0 ||
        exec(db, "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
                 " anomaly_type TEXT, origin INTEGER NOT NULL, body TEXT NOT NULL)") != 0)
        goto out;
    if (sqlite3_prepare_v3(db, "INSERT INTO events(seq, ts, anomaly_type, origin, body)"
                           " VALUES (?, ?, ?, ?, ?)", -1, SQLITE_PREPARE_PERSISTENT,
                           &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bare_insert: prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }

    t0 = now_s();
    if (insert_all(db, st, rows, n) != 0)
        goto out;
    dt = now_s() - t0;

    printf("rows %ld\nbody_bytes_avg %zu\nseconds %.3f\nrows_per_s %.0f\n",
           n, bytes / POOL, dt, (double)n / dt);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
