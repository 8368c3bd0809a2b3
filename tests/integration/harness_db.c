/* harness_db.c - the SQLite file of a stopped or killed daemon. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

sqlite3 *h_db_open_checked(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0)
        fail_msg("integrity_check: %s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return db;
}

long long h_db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

long long h_db_dense_max(sqlite3 *db)
{
    long long count = h_db_int(db, "SELECT count(*) FROM events");
    long long min = h_db_int(db, "SELECT coalesce(min(seq), 0) FROM events");
    long long max = h_db_int(db, "SELECT coalesce(max(seq), 0) FROM events");

    if (min != 1 || count != max)
        fail_msg("sequences not dense: %lld rows, %lld..%lld", count, min, max);
    return max;
}

void h_db_close(sqlite3 *db)
{
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}
