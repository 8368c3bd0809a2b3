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
 * The statements are the connection's (db_stmt(), owned and finalized by
 * db.c). */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "mon.h"

static const char schema[] =
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
    [S_CUR_ALL] = "SELECT series, seq, ts, value, severity, anomaly FROM mon_current",
    [S_COUNTS] = "SELECT anomaly, severity, count(*) FROM mon_alerts GROUP BY anomaly, severity",
    [S_INCIDENTS] = "SELECT anomaly, count(DISTINCT incident) FROM mon_alerts "
                    "WHERE anomaly >= 0 GROUP BY anomaly",
    [S_RECENT] = "SELECT body FROM events WHERE anomaly_type IS NOT NULL "
                 "ORDER BY seq DESC LIMIT ?1",
};

const struct db_sql mon_store_sql = {
    .schema = schema,
    .stmts = stmt_sql,
    .nstmts = S_COUNT,
};

static sqlite3_stmt *stmt(struct db *db, enum stmt_id id)
{
    return db_stmt(db, (int)id);
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
    sqlite3_stmt *s;

    if (!d)
        return BM_OK;
    if (!(s = stmt(db, S_CUR_SET)))
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
    if (!(s = stmt(db, S_ALERT_ADD)))
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
    sqlite3_stmt *s = stmt(db, S_ALERT_PRUNE);

    if (!s)
        return BM_EDB;
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)oldest_kept) != SQLITE_OK) {
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    return done(s);
}

/* ---- reads (request threads, each on its own connection) ---- */

static enum bm_rc read_current(struct db *db, struct mon_snapshot *snap)
{
    sqlite3_stmt *s = stmt(db, S_CUR_ALL);
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

static enum bm_rc read_counts(struct db *db, const struct mon_snapshot *snap,
                              struct mon_counts *k)
{
    sqlite3_stmt *s = stmt(db, S_COUNTS), *si = stmt(db, S_INCIDENTS);
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

static enum bm_rc read_recent(struct db *db, int n, struct buf *out)
{
    sqlite3_stmt *s = stmt(db, S_RECENT);
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
    enum bm_rc rc;

    memset(snap, 0, sizeof *snap);
    /* One read transaction: bounds, current values and counts agree. */
    if (db_read_begin(db) != BM_OK)
        return BM_EDB;
    rc = db_bounds(db, &snap->head, &snap->oldest);
    if (rc == BM_OK)
        rc = read_current(db, snap);
    if (rc == BM_OK && counts)
        rc = read_counts(db, snap, counts);
    if (rc == BM_OK && counts && n_recent > 0)
        rc = read_recent(db, n_recent, recent);
    if (db_read_end(db) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    return rc;
}
