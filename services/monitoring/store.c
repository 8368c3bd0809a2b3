/* store.c - monitoring service: its tables beside the common events
 * table, and the queries of the report endpoints. The service's only SQL.
 *
 * mon_current holds the newest sample of every series and mon_alerts one
 * row per retained event that is anomalous or not "info"; both are written
 * by the store_event hook in the same transaction as the event, so the
 * reports always agree with the event list. Counts per (type, severity)
 * come from mon_alerts; plain normal info events are the rest of the
 * retained range (sequences are dense: this service takes no API events).
 *
 * Statements are prepared once per connection and kept in a small
 * registry. db_close() knows nothing of them, so each connection gets a
 * SQLITE_TRACE_CLOSE callback: sqlite3_close() calls it before it checks
 * for unfinalized statements, and it finalizes ours. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "mon.h"

const char mon_store_schema[] =
    "CREATE TABLE IF NOT EXISTS mon_current("
    "  series INTEGER PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  value INTEGER NOT NULL," /* hundredths of the unit */
    "  severity INTEGER NOT NULL,"
    "  anomaly INTEGER NOT NULL);" /* -1: normal */
    "CREATE TABLE IF NOT EXISTS mon_alerts("
    "  seq INTEGER PRIMARY KEY,"
    "  anomaly INTEGER NOT NULL,"
    "  severity INTEGER NOT NULL,"
    "  incident INTEGER);"
    "CREATE INDEX IF NOT EXISTS mon_alerts_kind ON mon_alerts(anomaly, severity, incident);";

enum stmt_id {
    S_CUR_SET,
    S_ALERT_ADD,
    S_ALERT_PRUNE,
    S_BEGIN,
    S_END,
    S_BOUNDS,
    S_CUR_ALL,
    S_COUNTS,
    S_INCIDENTS,
    S_RECENT,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_CUR_SET] = "INSERT INTO mon_current(series, seq, ts, value, severity, anomaly) "
                  "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(series) DO UPDATE SET "
                  "seq = excluded.seq, ts = excluded.ts, value = excluded.value, "
                  "severity = excluded.severity, anomaly = excluded.anomaly",
    [S_ALERT_ADD] = "INSERT INTO mon_alerts(seq, anomaly, severity, incident) VALUES(?1,?2,?3,?4)",
    [S_ALERT_PRUNE] = "DELETE FROM mon_alerts WHERE seq < ?1",
    [S_BEGIN] = "BEGIN",
    [S_END] = "COMMIT",
    [S_BOUNDS] = "SELECT (SELECT max(seq) FROM events), (SELECT min(seq) FROM events)",
    [S_CUR_ALL] = "SELECT series, seq, ts, value, severity, anomaly FROM mon_current",
    [S_COUNTS] = "SELECT anomaly, severity, count(*) FROM mon_alerts GROUP BY anomaly, severity",
    [S_INCIDENTS] = "SELECT anomaly, count(DISTINCT incident) FROM mon_alerts "
                    "WHERE anomaly >= 0 GROUP BY anomaly",
    [S_RECENT] = "SELECT body FROM events WHERE anomaly_type IS NOT NULL "
                 "ORDER BY seq DESC LIMIT ?1",
};

/* ---- per-connection statements ---- */

#define MAX_CONNS 32

struct conn {
    sqlite3 *h;
    sqlite3_stmt *st[S_COUNT];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER; /* guards reg */
static struct conn *reg[MAX_CONNS];

/* Runs inside sqlite3_close(), on the closing thread, before the check for
 * statements still open. */
static int on_close(unsigned type, void *ctx, void *p, void *x)
{
    struct conn *c = ctx;

    (void)p;
    (void)x;
    if (type != SQLITE_TRACE_CLOSE)
        return 0;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < MAX_CONNS; i++)
        if (reg[i] == c)
            reg[i] = NULL;
    pthread_mutex_unlock(&reg_lock);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    free(c);
    return 0;
}

/* This connection's statement set, made on first use. A connection is
 * used by one thread at a time, so only the registry needs the lock. */
static struct conn *conn_of(struct db *db)
{
    sqlite3 *h = db_handle(db);
    struct conn *c = NULL;
    int free_i = -1;

    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < MAX_CONNS && !c; i++) {
        if (reg[i] && reg[i]->h == h)
            c = reg[i];
        else if (!reg[i] && free_i < 0)
            free_i = i;
    }
    if (!c && free_i >= 0 && (c = calloc(1, sizeof *c)) != NULL) {
        c->h = h;
        if (sqlite3_trace_v2(h, SQLITE_TRACE_CLOSE, on_close, c) == SQLITE_OK) {
            reg[free_i] = c;
        } else {
            free(c);
            c = NULL;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    if (!c)
        log_error("monitoring store: no statement slot for a connection");
    return c;
}

static sqlite3_stmt *stmt(struct conn *c, enum stmt_id id)
{
    if (!c->st[id] && sqlite3_prepare_v3(c->h, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                         &c->st[id], NULL) != SQLITE_OK) {
        log_error("monitoring store: %s", sqlite3_errmsg(c->h));
        c->st[id] = NULL;
    }
    return c->st[id];
}

static enum bm_rc done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? BM_OK : BM_EDB;
}

/* ---- writes (the writer thread, inside the batch transaction) ---- */

enum bm_rc mon_store_event(struct db *db, const struct gen_event *ev)
{
    const struct mon_detail *d = ev->detail;
    struct conn *c;
    sqlite3_stmt *s;

    if (!d)
        return BM_OK;
    c = conn_of(db);
    if (!c || !(s = stmt(c, S_CUR_SET)))
        return BM_EDB;
    if (sqlite3_bind_int(s, 1, d->series) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (sqlite3_int64)ev->seq) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, ev->ts_ms) != SQLITE_OK ||
        sqlite3_bind_int(s, 4, d->value) != SQLITE_OK ||
        sqlite3_bind_int(s, 5, d->severity) != SQLITE_OK ||
        sqlite3_bind_int(s, 6, d->anomaly) != SQLITE_OK || done(s) != BM_OK)
        goto fail;
    if (d->anomaly < 0 && d->severity == MON_SEV_INFO)
        return BM_OK;
    if (!(s = stmt(c, S_ALERT_ADD)))
        return BM_EDB;
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)ev->seq) != SQLITE_OK ||
        sqlite3_bind_int(s, 2, d->anomaly) != SQLITE_OK ||
        sqlite3_bind_int(s, 3, d->severity) != SQLITE_OK ||
        (d->incident ? sqlite3_bind_int64(s, 4, (sqlite3_int64)d->incident)
                     : sqlite3_bind_null(s, 4)) != SQLITE_OK ||
        done(s) != BM_OK)
        goto fail;
    return BM_OK;
fail:
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return BM_EDB;
}

enum bm_rc mon_store_prune(struct db *db, uint64_t oldest_kept)
{
    struct conn *c = conn_of(db);
    sqlite3_stmt *s;

    if (!c || !(s = stmt(c, S_ALERT_PRUNE)))
        return BM_EDB;
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)oldest_kept) != SQLITE_OK) {
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    return done(s);
}

/* ---- reads (request threads, each on its own connection) ---- */

static enum bm_rc read_bounds(struct conn *c, struct mon_snapshot *snap)
{
    sqlite3_stmt *s = stmt(c, S_BOUNDS);
    enum bm_rc rc = BM_EDB;

    if (s && sqlite3_step(s) == SQLITE_ROW) {
        snap->head = (uint64_t)sqlite3_column_int64(s, 0);
        snap->oldest = (uint64_t)sqlite3_column_int64(s, 1);
        rc = BM_OK;
    }
    if (s)
        sqlite3_reset(s);
    return rc;
}

static enum bm_rc read_current(struct conn *c, struct mon_snapshot *snap)
{
    sqlite3_stmt *s = stmt(c, S_CUR_ALL);
    int step;

    if (!s)
        return BM_EDB;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int series = sqlite3_column_int(s, 0), sev = sqlite3_column_int(s, 4);
        int anomaly = sqlite3_column_int(s, 5);
        struct mon_current *cur;

        /* rows from another binary's estate are not ours to show */
        if (series < 0 || series >= MON_N_SERIES || sev < 0 || sev >= MON_SEV_COUNT ||
            anomaly < -1 || anomaly >= MON_A_COUNT)
            continue;
        cur = &snap->cur[series];
        cur->present = true;
        cur->seq = (uint64_t)sqlite3_column_int64(s, 1);
        cur->ts_ms = sqlite3_column_int64(s, 2);
        cur->value = sqlite3_column_int(s, 3);
        cur->severity = sev;
        cur->anomaly = anomaly;
    }
    sqlite3_reset(s);
    return step == SQLITE_DONE ? BM_OK : BM_EDB;
}

static enum bm_rc read_counts(struct conn *c, const struct mon_snapshot *snap,
                              struct mon_counts *k)
{
    sqlite3_stmt *s = stmt(c, S_COUNTS), *si = stmt(c, S_INCIDENTS);
    int64_t listed = 0;
    int step;

    memset(k, 0, sizeof *k);
    if (!s || !si)
        return BM_EDB;
    k->total = snap->head ? (int64_t)(snap->head - snap->oldest + 1) : 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int a = sqlite3_column_int(s, 0), sev = sqlite3_column_int(s, 1);
        int64_t n = sqlite3_column_int64(s, 2);

        if (a < -1 || a >= MON_A_COUNT || sev < 0 || sev >= MON_SEV_COUNT)
            continue;
        k->by[a < 0 ? MON_A_COUNT : a][sev] += n;
        listed += n;
    }
    sqlite3_reset(s);
    if (step != SQLITE_DONE)
        return BM_EDB;
    k->by[MON_A_COUNT][MON_SEV_INFO] += k->total - listed > 0 ? k->total - listed : 0;
    while ((step = sqlite3_step(si)) == SQLITE_ROW) {
        int a = sqlite3_column_int(si, 0);

        if (a >= 0 && a < MON_A_COUNT)
            k->incidents[a] = sqlite3_column_int64(si, 1);
    }
    sqlite3_reset(si);
    return step == SQLITE_DONE ? BM_OK : BM_EDB;
}

static enum bm_rc read_recent(struct conn *c, int n, struct buf *out)
{
    sqlite3_stmt *s = stmt(c, S_RECENT);
    enum bm_rc rc = BM_OK;
    int step, i = 0;

    if (!s || sqlite3_bind_int(s, 1, n) != SQLITE_OK)
        return BM_EDB;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(s, 0);
        int len = sqlite3_column_bytes(s, 0);

        if ((i++ && buf_putc(out, ',') != BM_OK) ||
            buf_append(out, body ? body : "{}", body ? (size_t)len : 2) != BM_OK) {
            rc = BM_ETOOBIG;
            break;
        }
    }
    if (rc == BM_OK && step != SQLITE_DONE)
        rc = BM_EDB;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

enum bm_rc mon_store_read(struct db *db, struct mon_snapshot *snap, struct mon_counts *counts,
                          int n_recent, struct buf *recent)
{
    struct conn *c = conn_of(db);
    sqlite3_stmt *begin, *end;
    enum bm_rc rc;

    memset(snap, 0, sizeof *snap);
    if (!c || !(begin = stmt(c, S_BEGIN)) || !(end = stmt(c, S_END)))
        return BM_EDB;
    /* One read transaction: bounds, current values and counts agree. */
    if (done(begin) != BM_OK)
        return BM_EDB;
    rc = read_bounds(c, snap);
    if (rc == BM_OK)
        rc = read_current(c, snap);
    if (rc == BM_OK && counts)
        rc = read_counts(c, snap, counts);
    if (rc == BM_OK && counts && n_recent > 0)
        rc = read_recent(c, n_recent, recent);
    if (done(end) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    return rc;
}
