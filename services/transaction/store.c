/* store.c - the transaction service's only SQL: the look-ups of the API
 * rules (POST /transactions). The service has no tables beside the
 * common ones, so a generated event costs nothing here; a POST that
 * could complete a pattern reads the events of its window whose bodies
 * name its customer (and merchant), from the first sequence of the
 * window on (db_seq_after_ts: a binary search on the primary key). */
#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "txn.h"

enum txn_stmt {
    ST_WINDOW,
    ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_WINDOW] = "SELECT origin, anomaly_type, body FROM events "
                  "WHERE seq >= ?1 AND ts > ?2 AND instr(body, ?3) > 0 AND instr(body, ?4) > 0 "
                  "ORDER BY seq",
};

const struct db_sql txn_store_sql = {
    .schema = NULL,
    .stmts = stmt_sql,
    .nstmts = ST_N,
    .conn_state_size = 0,
};

enum bm_rc txn_store_history(struct db *db, const struct txn_model *m, struct txn_history *h)
{
    sqlite3_stmt *s;
    uint64_t first = 0;
    enum bm_rc rc;
    int step;

    if (h->kind < 0)
        return BM_OK;
    rc = db_seq_after_ts(db, h->from_ms, &first);
    if (rc != BM_OK)
        return rc;
    s = db_stmt(db, ST_WINDOW);
    if (!s)
        return BM_EDB;
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)first) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, h->from_ms) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, h->needle[0], -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 4, h->needle[1], -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(s, 2);
        const char *body = (const char *)sqlite3_column_text(s, 2);

        if (body && len > 0)
            txn_history_add(m, h, body, (size_t)len, sqlite3_column_int(s, 0) == 1,
                            (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (step != SQLITE_DONE) {
        log_error("sqlite: %s", db_errmsg(db));
        return BM_EDB;
    }
    return BM_OK;
}
