/* store.c - the auth service's tables beside the common events table, and
 * its only SQL. Both are written by the store_event hook in the
 * transaction of the event's own row and pruned with the events, so they
 * say what the events say:
 *
 * - auth_failures: every failed login (~5 % of rows, appended), for the
 *   failed-attempts view and the brute-force rule of API logins;
 * - auth_baselines: the non-anomalous logins with a place, for the
 *   unusual_location rule of API logins. A per-user "last login" row
 *   would cost a random B-tree update per event (measured 6-10 us here:
 *   16 KiB pages, a 1 MiB cache), more than the event's own insert. So the
 *   writer fills a chunk of 256 sequences in memory, one 24-byte slot per
 *   sequence (a username key, time, place), and appends it as one row when
 *   its last sequence is stored. A look-up scans chunks newest first, then
 *   the writer's chunk in progress; the chunk in progress is rebuilt from
 *   the events table after a start or a rollback, so a crash loses
 *   nothing the events do not.
 *
 * The statements are the connection's (db_stmt(), owned and finalized by
 * db.c); the chunk in progress is the writer connection's own state
 * (db_conn_state()), made stale by any rollback on it (db_rollbacks()). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "auth.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "timefmt.h"

#define CHUNK 256 /* sequences per auth_baselines row */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS auth_failures("
    "  seq INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  username TEXT NOT NULL,"
    "  ip TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS auth_failures_ts ON auth_failures(ts);"
    "CREATE TABLE IF NOT EXISTS auth_baselines("
    "  chunk INTEGER PRIMARY KEY,"
    "  ts_max INTEGER NOT NULL,"
    "  slots BLOB NOT NULL);";

enum auth_stmt {
    ST_FAIL_INSERT,
    ST_CHUNK_WRITE,
    ST_PRUNE_FAIL,
    ST_PRUNE_CHUNKS,
    ST_CHUNKS_DESC,
    ST_CHUNKS_NEWER,
    ST_CHUNK_EVENTS,
    ST_EVENT_BODY,
    ST_COUNT_FAILS,
    ST_FA_TOTAL,
    ST_FA_USER,
    ST_FA_IP,
    ST_IP_FAILS,
    ST_IP_SUCCESSES,
    ST_API_INCIDENT,
    ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_FAIL_INSERT] = "INSERT INTO auth_failures(seq, ts, username, ip) VALUES(?1,?2,?3,?4)",
    [ST_CHUNK_WRITE] = "INSERT OR REPLACE INTO auth_baselines(chunk, ts_max, slots) "
                       "VALUES(?1,?2,?3)",
    [ST_PRUNE_FAIL] = "DELETE FROM auth_failures WHERE seq < ?1",
    [ST_PRUNE_CHUNKS] = "DELETE FROM auth_baselines WHERE chunk < ?1",
    [ST_CHUNKS_DESC] = "SELECT chunk, ts_max, slots FROM auth_baselines ORDER BY chunk DESC",
    [ST_CHUNKS_NEWER] = "SELECT chunk, ts_max, slots FROM auth_baselines WHERE chunk > ?1 "
                        "ORDER BY chunk DESC",
    [ST_CHUNK_EVENTS] = "SELECT seq, ts, anomaly_type IS NULL, body FROM events "
                        "WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
    [ST_EVENT_BODY] = "SELECT body FROM events WHERE seq = ?1",
    [ST_COUNT_FAILS] = "SELECT count(*) FROM auth_failures WHERE ts > ?1 AND ts <= ?2 "
                       "AND username = ?3 AND ip = ?4",
    [ST_FA_TOTAL] = "SELECT count(*), count(DISTINCT username), count(DISTINCT ip) "
                    "FROM auth_failures WHERE ts > ?1 AND ts <= ?2",
    [ST_FA_USER] = "SELECT username, count(*) AS n, count(DISTINCT ip), max(ts) "
                   "FROM auth_failures WHERE ts > ?1 AND ts <= ?2 "
                   "GROUP BY username ORDER BY n DESC, username LIMIT ?3",
    [ST_FA_IP] = "SELECT ip, count(*) AS n, count(DISTINCT username), max(ts) "
                 "FROM auth_failures WHERE ts > ?1 AND ts <= ?2 "
                 "GROUP BY ip ORDER BY n DESC, ip LIMIT ?3",
    /* The stuffing rule's counts for one address (POST /auth only). */
    [ST_IP_FAILS] = "SELECT count(DISTINCT username), count(*), coalesce(sum(username = ?4), 0) "
                    "FROM auth_failures WHERE ts > ?1 AND ts <= ?2 AND ip = ?3",
    [ST_IP_SUCCESSES] = "SELECT count(*) FROM events WHERE seq >= ?1 AND ts > ?2 "
                        "AND instr(body, ?3) > 0 AND instr(body, '\"result\":\"success\"') > 0",
    /* The newest API event of a type among an address's (and a
     * username's, ?4 not NULL) failures in a window: its incident. */
    [ST_API_INCIDENT] = "SELECT e.body FROM auth_failures f JOIN events e ON e.seq = f.seq "
                        "WHERE f.ts > ?1 AND f.ts <= ?2 AND f.ip = ?3 "
                        "AND (?4 IS NULL OR f.username = ?4) AND e.origin = 1 "
                        "AND e.anomaly_type = ?5 ORDER BY f.seq DESC LIMIT 1",
};

/* One sequence of a chunk: a baseline when key != 0. Stored as bytes. */
struct slot {
    uint64_t key; /* username_key() */
    int64_t ts_ms;
    int32_t lat_e4, lon_e4;
};
_Static_assert(sizeof(struct slot) == 24, "struct slot is stored as bytes");

/* The writer's chunk in progress: slots of sequences chunk * CHUNK ..
 * up to the last one stored. The writer connection's db_conn_state(). */
struct chunk_fill {
    bool valid;         /* false: rebuild from the events table first */
    uint64_t rollbacks; /* db_rollbacks() when built: one since makes it stale */
    int64_t chunk;
    int64_t ts_max;     /* newest event time in the chunk */
    struct slot slots[CHUNK];
};

const struct db_sql auth_store_sql = {
    .schema = schema,
    .stmts = stmt_sql,
    .nstmts = ST_N,
    .conn_state_size = sizeof(struct chunk_fill),
};

static sqlite3_stmt *stmt(struct db *d, enum auth_stmt id)
{
    return db_stmt(d, (int)id);
}

static void done_with(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Steps a statement without rows; resets it. */
static enum bm_rc run(struct db *d, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    done_with(s);
    if (rc != SQLITE_DONE) {
        log_error("sqlite: %s", db_errmsg(d));
        return BM_EDB;
    }
    return BM_OK;
}

/* ---- the baseline chunks ---- */

/* A username's key in the slots: 64-bit FNV-1a, never 0 (0 = no
 * baseline). A match is confirmed against the event's body. */
static uint64_t username_key(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
    return h | 1u;
}

static void fill_reset(struct chunk_fill *f, int64_t chunk)
{
    memset(f->slots, 0, sizeof f->slots);
    f->chunk = chunk;
    f->ts_max = INT64_MIN;
}

/* The baseline fields of a stored event body; false if it has none. */
static bool body_baseline(const char *body, int len, struct slot *sl)
{
    cJSON *root = NULL, *loc;
    const char *name;
    double lat, lon;
    bool ok = false;

    if (len <= 0 || json_parse(body, (size_t)len, &root) != BM_OK)
        return false;
    loc = json_get(root, "location");
    if (json_as_str(json_get(root, "username"), &name) == BM_OK &&
        json_as_double(json_get(loc, "latitude"), &lat) == BM_OK &&
        json_as_double(json_get(loc, "longitude"), &lon) == BM_OK) {
        sl->key = username_key(name);
        sl->lat_e4 = (int32_t)llround(lat * 1e4);
        sl->lon_e4 = (int32_t)llround(lon * 1e4);
        ok = true;
    }
    cJSON_Delete(root);
    return ok;
}

/* Refills the chunk of next_seq from the events before it (after a
 * start or a rollback: at most CHUNK - 1 rows). */
static enum bm_rc fill_rebuild(struct db *db, struct chunk_fill *f, uint64_t next_seq)
{
    sqlite3_stmt *s = stmt(db, ST_CHUNK_EVENTS);
    int64_t chunk = (int64_t)(next_seq / CHUNK);
    int rc;

    fill_reset(f, chunk);
    if (!s || sqlite3_bind_int64(s, 1, chunk * CHUNK) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (sqlite3_int64)next_seq) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0), ts = sqlite3_column_int64(s, 1);
        struct slot *sl = &f->slots[seq % CHUNK];

        f->ts_max = ts > f->ts_max ? ts : f->ts_max;
        if (sqlite3_column_int(s, 2) &&
            body_baseline((const char *)sqlite3_column_text(s, 3), sqlite3_column_bytes(s, 3),
                          sl))
            sl->ts_ms = ts;
    }
    done_with(s);
    if (rc != SQLITE_DONE)
        return BM_EDB;
    f->valid = true;
    f->rollbacks = db_rollbacks(db);
    return BM_OK;
}

/* The writer's chunk in progress, current for sequence seq. */
static enum bm_rc fill_for(struct db *db, struct chunk_fill *f, uint64_t seq)
{
    int64_t chunk = (int64_t)(seq / CHUNK);

    if (f->rollbacks != db_rollbacks(db))
        f->valid = false; /* it may hold slots of rows taken back */
    if (f->valid && chunk == f->chunk)
        return BM_OK;
    if (f->valid && chunk == f->chunk + 1 && seq % CHUNK == 0) {
        fill_reset(f, chunk);
        return BM_OK;
    }
    return fill_rebuild(db, f, seq);
}

static enum bm_rc chunk_write(struct db *db, const struct chunk_fill *f)
{
    sqlite3_stmt *s = stmt(db, ST_CHUNK_WRITE);

    if (!s || sqlite3_bind_int64(s, 1, f->chunk) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, f->ts_max) != SQLITE_OK ||
        sqlite3_bind_blob(s, 3, f->slots, (int)sizeof f->slots, SQLITE_STATIC) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    return run(db, s);
}

/* ---- writes (writer thread, inside the event's transaction) ---- */

static enum bm_rc store_failure(struct db *db, const struct gen_event *ev,
                                const struct auth_detail *d)
{
    sqlite3_stmt *s = stmt(db, ST_FAIL_INSERT);

    if (!s || sqlite3_bind_int64(s, 1, (sqlite3_int64)ev->seq) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, ev->ts_ms) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, d->username, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 4, d->ip, -1, SQLITE_STATIC) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    return run(db, s);
}

enum bm_rc auth_store_event(struct db *db, const struct gen_event *ev)
{
    const struct auth_detail *d = ev->detail;
    struct chunk_fill *f;
    struct slot *sl;
    enum bm_rc rc;

    if (!d)
        return BM_OK;
    f = db_conn_state(db);
    if (!f)
        return BM_ENOMEM;
    if (d->failure && (rc = store_failure(db, ev, d)) != BM_OK)
        return rc;
    rc = fill_for(db, f, ev->seq);
    if (rc != BM_OK)
        return rc;
    sl = &f->slots[ev->seq % CHUNK];
    memset(sl, 0, sizeof *sl);
    if (d->baseline) {
        sl->key = username_key(d->username);
        sl->ts_ms = ev->ts_ms;
        sl->lat_e4 = (int32_t)d->lat_e4;
        sl->lon_e4 = (int32_t)d->lon_e4;
    }
    f->ts_max = ev->ts_ms > f->ts_max ? ev->ts_ms : f->ts_max;
    return ev->seq % CHUNK == CHUNK - 1 ? chunk_write(db, f) : BM_OK;
}

static enum bm_rc prune_one(struct db *db, enum auth_stmt id, int64_t below)
{
    sqlite3_stmt *s = stmt(db, id);

    if (!s || sqlite3_bind_int64(s, 1, below) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    return run(db, s);
}

enum bm_rc auth_store_prune(struct db *db, uint64_t oldest_kept)
{
    enum bm_rc rc = prune_one(db, ST_PRUNE_FAIL, (int64_t)oldest_kept);

    /* a chunk goes with its last event: a partly pruned one stays, and
     * look-ups confirm each match against the events that remain */
    return rc == BM_OK ? prune_one(db, ST_PRUNE_CHUNKS, (int64_t)(oldest_kept / CHUNK)) : rc;
}

/* ---- reads ---- */

/* Whether event seq is still stored and is a login of username. */
static bool confirm(struct db *db, uint64_t seq, const char *username)
{
    sqlite3_stmt *s = stmt(db, ST_EVENT_BODY);
    char pat[AUTH_USERNAME_MAX + 16];
    size_t n = strlen(username);
    bool ok = false;

    if (!s || n > AUTH_USERNAME_MAX)
        return false;
    memcpy(pat, "\"username\":\"", 12);
    memcpy(pat + 12, username, n);
    memcpy(pat + 12 + n, "\",", 3);
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)seq) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(s, 0);

        ok = body && strstr(body, pat) != NULL;
    }
    done_with(s);
    return ok;
}

/* The newest confirmed slot of key among slots[0 .. n), into b. */
static bool find_in(struct db *db, const struct slot *slots, int n, int64_t chunk, uint64_t key,
                    const char *username, struct auth_baseline *b)
{
    for (int j = n - 1; j >= 0; j--) {
        if (slots[j].key != key || !confirm(db, (uint64_t)(chunk * CHUNK + j), username))
            continue;
        b->found = true;
        b->ts_ms = slots[j].ts_ms;
        b->lat_e4 = slots[j].lat_e4;
        b->lon_e4 = slots[j].lon_e4;
        return true;
    }
    return false;
}

/* Walks chunk rows newest first until a match or a chunk older than
 * oldest_ms. *newest: the first chunk seen, if it is still -1. */
static enum bm_rc scan_chunks(struct db *db, sqlite3_stmt *s, const char *username,
                              int64_t oldest_ms, int64_t *newest, struct auth_baseline *b)
{
    uint64_t key = username_key(username);
    struct slot slots[CHUNK];
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t chunk = sqlite3_column_int64(s, 0);

        if (*newest < 0)
            *newest = chunk;
        if (sqlite3_column_int64(s, 1) < oldest_ms)
            break;
        if (sqlite3_column_bytes(s, 2) != (int)sizeof slots)
            continue; /* not written by this binary */
        memcpy(slots, sqlite3_column_blob(s, 2), sizeof slots);
        if (find_in(db, slots, CHUNK, chunk, key, username, b))
            break;
    }
    done_with(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? BM_OK : BM_EDB;
}

enum bm_rc auth_store_baseline(struct db *db, const char *username, int64_t now_ms,
                               struct auth_baseline *b)
{
    sqlite3_stmt *s;
    enum bm_rc rc;

    memset(b, 0, sizeof *b);
    b->newest_chunk = -1;
    rc = db_read_begin(db);
    if (rc != BM_OK)
        return rc;
    s = stmt(db, ST_CHUNKS_DESC);
    rc = s ? scan_chunks(db, s, username, now_ms - AUTH_TRAVEL_SPAN_MS, &b->newest_chunk, b)
           : BM_EDB;
    if (db_read_end(db) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    return rc;
}

/* What the reader did not see: the writer's chunk in progress, then the
 * chunks written since. */
static enum bm_rc newer_baseline(struct db *db, const char *username, int64_t ts_ms,
                                 uint64_t seq, const struct auth_baseline *seen,
                                 struct auth_baseline *b)
{
    struct chunk_fill *f = db_conn_state(db);
    sqlite3_stmt *s;
    int64_t newest = seen->newest_chunk;
    enum bm_rc rc;

    memset(b, 0, sizeof *b);
    if (!f)
        return BM_ENOMEM;
    rc = fill_for(db, f, seq);
    if (rc != BM_OK)
        return rc;
    if (find_in(db, f->slots, (int)(seq % CHUNK), f->chunk, username_key(username), username, b))
        return BM_OK;
    s = stmt(db, ST_CHUNKS_NEWER);
    if (!s || sqlite3_bind_int64(s, 1, seen->newest_chunk) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    return scan_chunks(db, s, username, ts_ms - AUTH_TRAVEL_SPAN_MS, &newest, b);
}

static enum bm_rc count_failures(struct db *db, const char *username, const char *ip,
                                 int64_t ts_ms, struct auth_history *h)
{
    sqlite3_stmt *s = stmt(db, ST_COUNT_FAILS);
    int rc;

    if (!s || sqlite3_bind_int64(s, 1, ts_ms - AUTH_BRUTE_WINDOW_MS) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, ts_ms) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, username, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 4, ip, -1, SQLITE_STATIC) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        h->failures = sqlite3_column_int64(s, 0);
    done_with(s);
    return rc == SQLITE_ROW ? BM_OK : BM_EDB;
}

/* The stuffing rule's counts of ip in (ts_ms - window, ts_ms]; its
 * successes are read from the events (they have no table of their own)
 * only when the usernames could reach the rule's count. */
static enum bm_rc count_address(struct db *db, const char *username, const char *ip,
                                int64_t ts_ms, struct auth_history *h)
{
    sqlite3_stmt *s = stmt(db, ST_IP_FAILS);
    int64_t from = ts_ms - AUTH_STUFF_WINDOW_MS;
    char needle[48];
    uint64_t first = 0;
    enum bm_rc rc;
    int step;

    if (!s || sqlite3_bind_int64(s, 1, from) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, ts_ms) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, ip, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 4, username, -1, SQLITE_STATIC) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        h->ip_fail_users = sqlite3_column_int64(s, 0);
        h->ip_failures = sqlite3_column_int64(s, 1);
        h->ip_has_user = sqlite3_column_int64(s, 2) > 0;
    }
    done_with(s);
    if (step != SQLITE_ROW)
        return BM_EDB;
    if (h->ip_fail_users + 1 < AUTH_STUFF_MIN_USERS)
        return BM_OK;
    if (snprintf(needle, sizeof needle, "\"ip_address\":\"%s\"", ip) >= (int)sizeof needle)
        return BM_EINVAL;
    rc = db_seq_after_ts(db, from, &first);
    if (rc != BM_OK)
        return rc;
    s = stmt(db, ST_IP_SUCCESSES);
    if (!s || sqlite3_bind_int64(s, 1, (sqlite3_int64)first) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, from) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, needle, -1, SQLITE_STATIC) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        h->ip_successes = sqlite3_column_int64(s, 0);
    done_with(s);
    return step == SQLITE_ROW ? BM_OK : BM_EDB;
}

/* The incident id of the newest API event of `type` among the failures
 * of ip (and username, unless NULL) in the rule's window, into id ("" if
 * none). */
static enum bm_rc api_incident(struct db *db, const char *type, const char *username,
                               const char *ip, int64_t ts_ms, int64_t window_ms, char *id)
{
    sqlite3_stmt *s = stmt(db, ST_API_INCIDENT);
    int step;

    id[0] = '\0';
    if (!s || sqlite3_bind_int64(s, 1, ts_ms - window_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, ts_ms) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, ip, -1, SQLITE_STATIC) != SQLITE_OK ||
        (username ? sqlite3_bind_text(s, 4, username, -1, SQLITE_STATIC)
                  : sqlite3_bind_null(s, 4)) != SQLITE_OK ||
        sqlite3_bind_text(s, 5, type, -1, SQLITE_STATIC) != SQLITE_OK) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        cJSON *root = NULL;
        const char *v;
        int len = sqlite3_column_bytes(s, 0);

        if (len > 0 &&
            json_parse((const char *)sqlite3_column_text(s, 0), (size_t)len, &root) == BM_OK &&
            json_as_str(json_get(root, "incident_id"), &v) == BM_OK &&
            strlen(v) == RNG_UUID_LEN)
            memcpy(id, v, RNG_UUID_LEN + 1);
        cJSON_Delete(root);
    }
    done_with(s);
    return step == SQLITE_ROW || step == SQLITE_DONE ? BM_OK : BM_EDB;
}

enum bm_rc auth_store_history(struct db *db, const char *username, const char *ip,
                              int64_t ts_ms, uint64_t seq, const struct auth_baseline *seen,
                              struct auth_history *h)
{
    struct auth_baseline newer;
    const struct auth_baseline *b;
    enum bm_rc rc;

    memset(h, 0, sizeof *h);
    rc = newer_baseline(db, username, ts_ms, seq, seen, &newer);
    if (rc == BM_OK)
        rc = count_failures(db, username, ip, ts_ms, h);
    if (rc == BM_OK)
        rc = count_address(db, username, ip, ts_ms, h);
    if (rc == BM_OK && h->failures + 1 >= AUTH_BRUTE_MIN_FAILURES)
        rc = api_incident(db, auth_anomaly_names[AUTH_A_BRUTE_FORCE], username, ip, ts_ms,
                          AUTH_BRUTE_WINDOW_MS, h->brute_id);
    if (rc == BM_OK && h->ip_fail_users + 1 >= AUTH_STUFF_MIN_USERS)
        rc = api_incident(db, auth_anomaly_names[AUTH_A_STUFFING], NULL, ip, ts_ms,
                          AUTH_STUFF_WINDOW_MS, h->stuff_id);
    b = newer.found ? &newer : seen;
    if (rc == BM_OK && b->found) {
        h->has_prev = true;
        h->prev_ts_ms = b->ts_ms;
        h->prev_lat = (double)b->lat_e4 / 1e4;
        h->prev_lon = (double)b->lon_e4 / 1e4;
    }
    return rc;
}

static enum bm_rc bind_window(sqlite3_stmt *s, const struct auth_failed_query *q, bool limit)
{
    if (!s || sqlite3_bind_int64(s, 1, q->from_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, q->to_ms) != SQLITE_OK ||
        (limit && sqlite3_bind_int64(s, 3, q->limit) != SQLITE_OK)) {
        if (s)
            done_with(s);
        return BM_EDB;
    }
    return BM_OK;
}

static enum bm_rc put_ts(struct buf *b, int64_t ms)
{
    char ts[TIMEFMT_ISO_LEN + 1];

    timefmt_iso(ms, ts);
    return buf_put_json_str(b, ts);
}

static enum bm_rc fa_totals(struct db *db, const struct auth_failed_query *q, struct buf *out)
{
    sqlite3_stmt *s = stmt(db, ST_FA_TOTAL);
    enum bm_rc rc = bind_window(s, q, false);

    if (rc != BM_OK)
        return rc;
    rc = BM_EDB;
    if (sqlite3_step(s) == SQLITE_ROW)
        rc = buf_printf(out, ",\"total_failures\":%lld,\"distinct_usernames\":%lld,"
                             "\"distinct_ips\":%lld",
                        (long long)sqlite3_column_int64(s, 0),
                        (long long)sqlite3_column_int64(s, 1),
                        (long long)sqlite3_column_int64(s, 2));
    done_with(s);
    return rc;
}

/* One group list: "by_username" or "by_ip". */
static enum bm_rc fa_groups(struct db *db, const struct auth_failed_query *q, enum auth_stmt id,
                            struct buf *out)
{
    const bool by_user = id == ST_FA_USER;
    sqlite3_stmt *s = stmt(db, id);
    enum bm_rc rc = bind_window(s, q, true);
    int step = SQLITE_DONE;
    bool first = true;

    if (rc != BM_OK)
        return rc;
    rc = buf_puts(out, by_user ? ",\"by_username\":[" : ",\"by_ip\":[");
    while (rc == BM_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(s, 0);

        if (!first)
            rc = buf_putc(out, ',');
        first = false;
        if (rc == BM_OK)
            rc = buf_puts(out, by_user ? "{\"username\":" : "{\"ip_address\":");
        if (rc == BM_OK)
            rc = buf_put_json_str(out, key ? key : "");
        if (rc == BM_OK)
            rc = buf_printf(out, by_user ? ",\"failures\":%lld,\"distinct_ips\":%lld"
                                         : ",\"failures\":%lld,\"distinct_usernames\":%lld",
                            (long long)sqlite3_column_int64(s, 1),
                            (long long)sqlite3_column_int64(s, 2));
        if (rc == BM_OK)
            rc = buf_puts(out, ",\"last_failure\":");
        if (rc == BM_OK)
            rc = put_ts(out, sqlite3_column_int64(s, 3));
        if (rc == BM_OK)
            rc = buf_putc(out, '}');
    }
    done_with(s);
    if (rc == BM_OK && step != SQLITE_DONE)
        rc = BM_EDB;
    return rc == BM_OK ? buf_putc(out, ']') : rc;
}

enum bm_rc auth_store_failed_attempts(struct db *db, const struct auth_failed_query *q,
                                      struct buf *out)
{
    size_t start = out->len;
    enum bm_rc rc = db_read_begin(db);

    if (rc != BM_OK)
        return rc;
    rc = buf_printf(out, "{\"window_s\":%lld,\"from\":", (long long)q->window_s);
    if (rc == BM_OK)
        rc = put_ts(out, q->from_ms);
    if (rc == BM_OK)
        rc = buf_puts(out, ",\"to\":");
    if (rc == BM_OK)
        rc = put_ts(out, q->to_ms);
    if (rc == BM_OK)
        rc = fa_totals(db, q, out);
    if (rc == BM_OK)
        rc = fa_groups(db, q, ST_FA_USER, out);
    if (rc == BM_OK)
        rc = fa_groups(db, q, ST_FA_IP, out);
    if (rc == BM_OK)
        rc = buf_putc(out, '}');
    if (db_read_end(db) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    if (rc != BM_OK)
        buf_truncate(out, start);
    return rc;
}
