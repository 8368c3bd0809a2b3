/* db.c - SQLite open, schema, the statements of each connection (the
 * common ones, prepared at open, and its service's, prepared at first
 * use), reader pool, event list. */
#include "db.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <sqlite3.h>

#include "log.h"
#include "svc.h"
#include "query.h"

enum db_stmt {
    ST_INSERT,
    ST_BOUNDS,
    ST_META_GET,
    ST_META_SET,
    ST_META_DEL,
    ST_BEGIN_READ,
    ST_END_READ,
    ST_INC_NOTE,
    ST_INC_EVENT,
    ST_PRUNE_KEPT,
    ST_PRUNE_PASSED,
    ST_PRUNE_RANGE,
    ST_INC_PRUNE_EVENTS,
    ST_INC_PRUNE,
    /* list: [desc|asc] x [all|anomalies|type] */
    ST_DESC_ALL,
    ST_DESC_ANOM,
    ST_DESC_TYPE,
    ST_ASC_ALL,
    ST_ASC_ANOM,
    ST_ASC_TYPE,
    ST_SCAN,
    ST_SCORE_PUT,
    ST_SCORE_TRIM,
    ST_SCORE_GET,
    ST_SCORE_LAST,
    /* any filter: time range, anomalies, type; body fields in C */
    ST_DESC_GEN,
    ST_ASC_GEN,
    ST_AFTER,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO events(seq, ts, anomaly_type, origin, body) VALUES(?1,?2,?3,?4,?5)",
    [ST_BOUNDS] = "SELECT (SELECT max(seq) FROM events), (SELECT min(seq) FROM events)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_META_DEL] = "DELETE FROM meta WHERE key = ?1",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_END_READ] = "COMMIT",
    [ST_INC_NOTE] = "INSERT INTO incidents(incident_id, anomaly_type, origin, first_seq, last_seq,"
                    " started_ms, ended_ms, event_count, open)"
                    " VALUES(?1, ?2, ?3, ?4, ?4, ?5, ?5, 1, ?6)"
                    " ON CONFLICT(incident_id) DO UPDATE SET last_seq = excluded.last_seq,"
                    " ended_ms = max(ended_ms, excluded.ended_ms),"
                    " event_count = event_count + 1, open = excluded.open",
    [ST_INC_EVENT] = "INSERT INTO incident_events(seq, incident_id) VALUES(?1, ?2)",
    /* The events before ?1 of an incident that has events at or after ?1
     * or more to come, which db_prune keeps. Found from the incident
     * events before ?1 (CROSS JOIN: in that order), few once pruning keeps
     * up, not from every incident of the store. */
    [ST_PRUNE_KEPT] = "SELECT e.seq FROM incident_events e"
                      " CROSS JOIN incidents i ON i.incident_id = e.incident_id"
                      " WHERE e.seq >= ?2 AND e.seq < ?3"
                      " AND (i.first_seq < i.last_seq OR i.open)"
                      " AND (i.last_seq >= ?1 OR i.open) ORDER BY e.seq",
    /* The events db_prune kept before its frontier ?2 whose incident the
     * cut ?1 has now passed: they go with it. */
    [ST_PRUNE_PASSED] = "DELETE FROM events WHERE seq < ?2 AND seq IN"
                        " (SELECT e.seq FROM incidents i CROSS JOIN incident_events e"
                        " ON e.incident_id = i.incident_id"
                        " WHERE i.last_seq < ?1 AND NOT i.open AND e.seq < ?2)",
    [ST_PRUNE_RANGE] = "DELETE FROM events WHERE seq >= ?1 AND seq < ?2",
    [ST_INC_PRUNE_EVENTS] = "DELETE FROM incident_events WHERE seq < ?1 AND incident_id IN"
                            " (SELECT incident_id FROM incidents"
                            " WHERE last_seq < ?1 AND NOT open)",
    [ST_INC_PRUNE] = "DELETE FROM incidents WHERE last_seq < ?1 AND NOT open",
    [ST_DESC_ALL] = "SELECT seq, body FROM events ORDER BY seq DESC LIMIT ?1",
    [ST_DESC_ANOM] = "SELECT seq, body FROM events WHERE anomaly_type IS NOT NULL "
                     "ORDER BY seq DESC LIMIT ?1",
    [ST_DESC_TYPE] = "SELECT seq, body FROM events WHERE anomaly_type = ?2 "
                     "ORDER BY seq DESC LIMIT ?1",
    [ST_ASC_ALL] = "SELECT seq, body FROM events WHERE seq > ?3 ORDER BY seq LIMIT ?1",
    [ST_ASC_ANOM] = "SELECT seq, body FROM events WHERE anomaly_type IS NOT NULL "
                    "AND seq > ?3 ORDER BY seq LIMIT ?1",
    [ST_ASC_TYPE] = "SELECT seq, body FROM events WHERE anomaly_type = ?2 AND seq > ?3 "
                    "ORDER BY seq LIMIT ?1",
    /* Scoring (db_scan_all): an incident id is read from anomalies only. */
    [ST_SCAN] = "SELECT ts, anomaly_type, CASE WHEN anomaly_type IS NOT NULL THEN"
                " json_extract(body, '$.incident_id') END, body FROM events ORDER BY seq",
    [ST_SCORE_PUT] = "INSERT INTO scores(id, created_ms, body) VALUES(?1, ?2, ?3)",
    [ST_SCORE_TRIM] = "DELETE FROM scores WHERE n <= (SELECT max(n) FROM scores) - ?1",
    [ST_SCORE_GET] = "SELECT body FROM scores WHERE id = ?1",
    [ST_SCORE_LAST] = "SELECT body FROM scores ORDER BY n DESC LIMIT 1",
    /* a type group (resource_exhaustion) is ?2, ?7, ?8, the last member
     * repeated when it has fewer */
    [ST_DESC_GEN] = "SELECT seq, body FROM events WHERE ts >= ?4 AND ts < ?5 "
                    "AND (?2 IS NULL OR anomaly_type IN (?2, ?7, ?8)) "
                    "AND (?6 = 0 OR anomaly_type IS NOT NULL) ORDER BY seq DESC LIMIT ?1",
    [ST_ASC_GEN] = "SELECT seq, body FROM events WHERE seq > ?3 AND ts >= ?4 AND ts < ?5 "
                   "AND (?2 IS NULL OR anomaly_type IN (?2, ?7, ?8)) "
                   "AND (?6 = 0 OR anomaly_type IS NOT NULL) ORDER BY seq LIMIT ?1",
    [ST_AFTER] = "SELECT seq, ts, anomaly_type, body FROM events WHERE seq > ?1 "
                 "ORDER BY seq LIMIT ?2",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events("
    "  seq INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  anomaly_type TEXT,"
    "  origin INTEGER NOT NULL,"
    "  body TEXT NOT NULL);"
    /* Anomalies are a few percent of rows: partial indexes stay small and
     * cheap to maintain, and serve anomalies_only / anomaly_type lists. */
    "CREATE INDEX IF NOT EXISTS events_anom ON events(seq) WHERE anomaly_type IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS events_type ON events(anomaly_type, seq) "
    "  WHERE anomaly_type IS NOT NULL;"
    /* One row per multi-event incident whose first event is kept: pruning
     * never splits one (db_prune), and it is what an incident list reads. */
    "CREATE TABLE IF NOT EXISTS incidents("
    "  incident_id TEXT PRIMARY KEY,"
    "  anomaly_type TEXT NOT NULL,"
    "  origin INTEGER NOT NULL,"
    "  first_seq INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER NOT NULL,"
    "  event_count INTEGER NOT NULL,"
    "  open INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS incidents_last ON incidents(last_seq);"
    "CREATE TABLE IF NOT EXISTS incident_events("
    "  seq INTEGER PRIMARY KEY,"
    "  incident_id TEXT NOT NULL);"
    /* GET /incidents/{id} and each listed incident's entities read its
     * events by id. */
    "CREATE INDEX IF NOT EXISTS incident_events_id ON incident_events(incident_id, seq);"
    /* Only an incident of several events can straddle the retention cut:
     * pruning reads these (a few hundred), not every incident kept (single
     * events are most of them). */
    "CREATE INDEX IF NOT EXISTS incidents_multi ON incidents(last_seq)"
    "  WHERE first_seq < last_seq OR open;"
    /* POST /inject's incidents, written in the writer's transaction: a
     * scheduled one survives any stop; taken_seq is the event that
     * started it (NULL: still to come). */
    "CREATE TABLE IF NOT EXISTS injections("
    "  incident_id TEXT PRIMARY KEY,"
    "  id BLOB NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  target INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  at_us INTEGER NOT NULL,"
    "  taken_seq INTEGER);"
    /* POST /score's results, the newest DB_SCORES_KEPT. */
    "CREATE TABLE IF NOT EXISTS scores("
    "  n INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  body TEXT NOT NULL);";

/* Incident reads (the incidents table db_note_incident writes): their
 * own statements, kept apart from the event lists'. */
enum db_inc_stmt {
    INC_ST_LIST_DESC,
    INC_ST_LIST_ASC,
    INC_ST_GET,
    INC_ST_EVENTS,
    INJ_ST_ADD,
    INJ_ST_TAKEN,
    INJ_ST_PENDING,
    DB_ST_SEQ_FROM,
    DB_INC_ST_COUNT
};

#define INC_COLS "incident_id, anomaly_type, origin, first_seq, last_seq, started_ms, ended_ms," \
                 " event_count, open"
/* ?2 type or NULL (a type group: ?2, ?5, ?6, the last member repeated
 * where it has fewer), ?3 open (1/0) or NULL: one statement for every
 * filter (the table holds incidents, a few percent of the events). */
#define INC_FILTER "(?2 IS NULL OR anomaly_type IN (?2, ?5, ?6)) AND (?3 IS NULL OR open = ?3)"

static const char *const inc_sql[DB_INC_ST_COUNT] = {
    [INC_ST_LIST_DESC] = "SELECT " INC_COLS " FROM incidents WHERE " INC_FILTER
                         " ORDER BY last_seq DESC LIMIT ?1",
    [INC_ST_LIST_ASC] = "SELECT " INC_COLS " FROM incidents WHERE " INC_FILTER
                        " AND last_seq > ?4 ORDER BY last_seq LIMIT ?1",
    [INC_ST_GET] = "SELECT " INC_COLS " FROM incidents WHERE incident_id = ?1",
    [INC_ST_EVENTS] = "SELECT e.seq, e.body FROM incident_events ie JOIN events e ON e.seq = ie.seq"
                      " WHERE ie.incident_id = ?1 ORDER BY ie.seq",
    [INJ_ST_ADD] = "INSERT INTO injections(incident_id, id, type, target, size, at_us)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [INJ_ST_TAKEN] = "UPDATE injections SET taken_seq = ?2 WHERE incident_id = ?1",
    [INJ_ST_PENDING] = "SELECT incident_id, id, type, target, size, at_us FROM injections"
                       " WHERE taken_seq IS NULL ORDER BY at_us, rowid",
    [DB_ST_SEQ_FROM] = "SELECT seq, ts FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
};

/* A connection and everything prepared on it; used by one thread at a
 * time (SQLITE_OPEN_NOMUTEX), so nothing here is locked. */
struct db {
    sqlite3 *h;
    sqlite3_stmt *st[ST_COUNT];
    const struct db_sql *sql; /* the service's SQL, or NULL */
    sqlite3_stmt **svc;       /* sql->nstmts, prepared on first use */
    void *conn_state;         /* sql->conn_state_size, made on first use */
    uint64_t rollbacks;
    int64_t prune_from;       /* db_prune: every event before it is gone but
                                 those it kept; 0: not known (the oldest) */
    bool writer;
    int cache_kib;          /* db_cache_kib's last size, 0 before */
    struct db *next_reader; /* reader pool list */
    sqlite3_stmt *inc[DB_INC_ST_COUNT]; /* incident reads, prepared on first use */
};

const char *db_errmsg(struct db *d)
{
    return d && d->h ? sqlite3_errmsg(d->h) : "no database";
}

static enum bm_rc exec(struct db *d, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite: %s (in: %.60s)", msg ? msg : "?", sql);
        sqlite3_free(msg);
        return BM_EDB;
    }
    return BM_OK;
}

static void mkdir_parent(const char *path)
{
    char dir[512];
    const char *slash = strrchr(path, '/');
    size_t n;

    if (!slash || slash == path)
        return;
    n = (size_t)(slash - path);
    if (n >= sizeof(dir))
        return;
    memcpy(dir, path, n);
    dir[n] = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        log_warn("cannot create directory %s: %s", dir, strerror(errno));
}

static enum bm_rc prepare_all(struct db *d)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(d->h, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i],
                               NULL) != SQLITE_OK) {
            log_error("sqlite prepare: %s", sqlite3_errmsg(d->h));
            return BM_EDB;
        }
    }
    return BM_OK;
}

static enum bm_rc check_schema(struct db *d)
{
    sqlite3_stmt *s = NULL;
    int v = -1;

    if (sqlite3_prepare_v2(d->h, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (v < 0)
        return BM_EDB;
    if (v > DB_SCHEMA_VERSION) {
        log_error("database schema version %d is newer than this binary's (%d)", v,
                  DB_SCHEMA_VERSION);
        return BM_ESTATE;
    }
    if (v < DB_SCHEMA_VERSION && d->writer)
        return exec(d, "PRAGMA user_version = 1");
    return BM_OK;
}

/* Runs on the connection's thread, inside the rollback. */
static void on_rollback(void *arg)
{
    ((struct db *)arg)->rollbacks++;
}

static enum bm_rc open_conn(const char *path, bool writer, const struct db_sql *sql,
                            struct db **out)
{
    struct db *d = calloc(1, sizeof(*d));
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    enum bm_rc rc = BM_EDB;

    if (!d)
        return BM_ENOMEM;
    d->writer = writer;
    d->sql = sql;
    if (sql && sql->nstmts > 0) {
        d->svc = calloc((size_t)sql->nstmts, sizeof(*d->svc));
        if (!d->svc) {
            free(d);
            return BM_ENOMEM;
        }
    }
    if (writer)
        mkdir_parent(path);
    if (sqlite3_open_v2(path, &d->h, flags, NULL) != SQLITE_OK) {
        log_error("cannot open database %s: %s", path, d->h ? sqlite3_errmsg(d->h) : "?");
        goto fail;
    }
    sqlite3_busy_timeout(d->h, 2000);
    sqlite3_rollback_hook(d->h, on_rollback, d);
    /* DB_CACHE_KIB of page cache per connection, no memory-mapped I/O */
    if (exec(d, "PRAGMA mmap_size = 0") != BM_OK || db_cache_kib(d, DB_CACHE_KIB) != BM_OK)
        goto fail;
    if (writer) {
        /* 16 KiB pages halve the per-row cost of appending ~600-byte rows
         * (measured with bench/bare_insert); only takes effect on a new
         * database, before WAL is switched on. */
        if (exec(d, "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL;"
                    "PRAGMA synchronous = NORMAL;"
                    "PRAGMA temp_store = MEMORY") != BM_OK ||
            exec(d, schema_sql) != BM_OK || (sql && sql->schema && exec(d, sql->schema) != BM_OK))
            goto fail;
    }
    rc = check_schema(d);
    if (rc != BM_OK)
        goto fail;
    rc = prepare_all(d);
    if (rc != BM_OK)
        goto fail;
    *out = d;
    return BM_OK;
fail:
    db_close(d);
    return rc == BM_OK ? BM_EDB : rc;
}

enum bm_rc db_open_writer(const char *path, const struct db_sql *sql, struct db **out)
{
    return open_conn(path, true, sql, out);
}

void db_close(struct db *d)
{
    if (!d)
        return;
    for (int i = 0; d->svc && i < d->sql->nstmts; i++)
        sqlite3_finalize(d->svc[i]);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(d->st[i]);
    for (int i = 0; i < DB_INC_ST_COUNT; i++)
        sqlite3_finalize(d->inc[i]);
    if (d->h)
        sqlite3_close(d->h);
    free(d->svc);
    free(d->conn_state);
    free(d);
}

sqlite3_stmt *db_stmt(struct db *d, int id)
{
    if (!d->svc || id < 0 || id >= d->sql->nstmts)
        return NULL;
    if (!d->svc[id] && sqlite3_prepare_v3(d->h, d->sql->stmts[id], -1,
                                          SQLITE_PREPARE_PERSISTENT, &d->svc[id],
                                          NULL) != SQLITE_OK) {
        log_error("sqlite prepare: %s", sqlite3_errmsg(d->h));
        d->svc[id] = NULL;
    }
    return d->svc[id];
}

void *db_conn_state(struct db *d)
{
    if (!d->conn_state && d->sql && d->sql->conn_state_size)
        d->conn_state = calloc(1, d->sql->conn_state_size);
    return d->conn_state;
}

uint64_t db_rollbacks(const struct db *d)
{
    return d->rollbacks;
}

/* Reader pool: one connection per thread, listed so they can be closed
 * at shutdown once no thread uses them. */
static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER; /* guards readers */
static struct db *readers;
static _Thread_local struct db *my_reader;

enum bm_rc db_reader(const char *path, const struct db_sql *sql, struct db **out)
{
    enum bm_rc rc;

    if (my_reader) {
        if (my_reader->sql != sql)
            return BM_ESTATE; /* one service per process */
        *out = my_reader;
        return BM_OK;
    }
    rc = open_conn(path, false, sql, &my_reader);
    if (rc != BM_OK) {
        my_reader = NULL;
        return rc;
    }
    pthread_mutex_lock(&readers_lock);
    my_reader->next_reader = readers;
    readers = my_reader;
    pthread_mutex_unlock(&readers_lock);
    *out = my_reader;
    return BM_OK;
}

void db_readers_close(void)
{
    pthread_mutex_lock(&readers_lock);
    while (readers) {
        struct db *n = readers->next_reader;
        db_close(readers);
        readers = n;
    }
    pthread_mutex_unlock(&readers_lock);
    my_reader = NULL;
}

/* ------------------------------------------------------------------ */
/* Transactions and writes                                              */

enum bm_rc db_exec(struct db *d, const char *sql)
{
    return exec(d, sql);
}

enum bm_rc db_cache_kib(struct db *d, int kib)
{
    char sql[64];
    enum bm_rc rc;

    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kib);
    rc = exec(d, sql);
    if (rc == BM_OK && kib < d->cache_kib) {
        /* the pages past the new size go back to the heap, and the heap's
         * free pages to the system */
        sqlite3_db_release_memory(d->h);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
        malloc_trim(0); /* glibc's heap; a sanitizer's allocator is its own */
#endif
    }
    if (rc == BM_OK)
        d->cache_kib = kib;
    return rc;
}

enum bm_rc db_begin(struct db *d)
{
    return exec(d, "BEGIN IMMEDIATE");
}

enum bm_rc db_commit(struct db *d)
{
    if (exec(d, "COMMIT") != BM_OK) {
        db_rollback(d);
        return BM_EDB;
    }
    return BM_OK;
}

void db_rollback(struct db *d)
{
    d->prune_from = 0; /* the deletes it counted on may be undone */
    if (sqlite3_get_autocommit(d->h) == 0)
        (void)sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
}

static enum bm_rc step_done(struct db *d, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) {
        log_error("sqlite: %s", sqlite3_errmsg(d->h));
        return BM_EDB;
    }
    return BM_OK;
}

enum bm_rc db_read_begin(struct db *d)
{
    return step_done(d, d->st[ST_BEGIN_READ]);
}

enum bm_rc db_read_end(struct db *d)
{
    return step_done(d, d->st[ST_END_READ]);
}

enum bm_rc db_insert_event(struct db *d, uint64_t seq, int64_t ts_ms, const char *anomaly_type,
                           bool api, const char *json, size_t len)
{
    sqlite3_stmt *s = d->st[ST_INSERT];

    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)seq) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, ts_ms) != SQLITE_OK ||
        (anomaly_type ? sqlite3_bind_text(s, 3, anomaly_type, -1, SQLITE_STATIC)
                      : sqlite3_bind_null(s, 3)) != SQLITE_OK ||
        sqlite3_bind_int(s, 4, api ? 1 : 0) != SQLITE_OK ||
        sqlite3_bind_text(s, 5, json, (int)len, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    return step_done(d, s);
}

enum bm_rc db_bounds(struct db *d, uint64_t *head, uint64_t *oldest)
{
    sqlite3_stmt *s = d->st[ST_BOUNDS];
    enum bm_rc rc = BM_EDB;

    if (sqlite3_step(s) == SQLITE_ROW) {
        *head = (uint64_t)sqlite3_column_int64(s, 0);
        *oldest = (uint64_t)sqlite3_column_int64(s, 1);
        rc = BM_OK;
    }
    sqlite3_reset(s);
    return rc;
}

enum bm_rc db_note_incident(struct db *d, const char *incident_id, const char *anomaly_type,
                            bool api, uint64_t seq, int64_t ts_ms, bool open)
{
    return db_note_incident_as(d, incident_id, anomaly_type, api ? DB_ORIGIN_API : DB_ORIGIN_GENERATED,
                               seq, ts_ms, open);
}

enum bm_rc db_note_incident_as(struct db *d, const char *incident_id, const char *anomaly_type,
                               int origin, uint64_t seq, int64_t ts_ms, bool open)
{
    sqlite3_stmt *s = d->st[ST_INC_NOTE];

    if (sqlite3_bind_text(s, 1, incident_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, anomaly_type ? anomaly_type : "", -1, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_int(s, 3, origin) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, (sqlite3_int64)seq) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, ts_ms) != SQLITE_OK ||
        sqlite3_bind_int(s, 6, open ? 1 : 0) != SQLITE_OK) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    if (step_done(d, s) != BM_OK)
        return BM_EDB;
    s = d->st[ST_INC_EVENT];
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)seq) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, incident_id, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    return step_done(d, s);
}

static enum bm_rc bind_step(struct db *d, int id, int64_t a, int64_t b, int64_t *changes)
{
    sqlite3_stmt *s = d->st[id];
    enum bm_rc rc;

    if (sqlite3_bind_int64(s, 1, a) != SQLITE_OK ||
        (b >= 0 && sqlite3_bind_int64(s, 2, b) != SQLITE_OK)) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    rc = step_done(d, s);
    if (rc == BM_OK && changes)
        *changes = sqlite3_changes(d->h);
    return rc;
}

/* The sequences in [from, upto) ST_PRUNE_KEPT gives for cut, ascending,
 * into *kept (*n of them; free *kept). */
static enum bm_rc prune_kept(struct db *d, int64_t cut, int64_t from, int64_t upto,
                             int64_t **kept, size_t *n)
{
    sqlite3_stmt *s = d->st[ST_PRUNE_KEPT];
    size_t cap = 0;
    enum bm_rc rc = BM_OK;
    int step = SQLITE_DONE;

    *kept = NULL;
    *n = 0;
    if (sqlite3_bind_int64(s, 1, cut) != SQLITE_OK || sqlite3_bind_int64(s, 2, from) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, upto) != SQLITE_OK)
        rc = BM_EDB;
    while (rc == BM_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            int64_t *p = realloc(*kept, ncap * sizeof(**kept));
            if (!p) {
                rc = BM_ENOMEM;
                break;
            }
            *kept = p;
            cap = ncap;
        }
        (*kept)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (rc == BM_OK && step != SQLITE_DONE)
        rc = BM_EDB;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* Deletes the events in [lo, hi), adding the count to *deleted. */
static enum bm_rc prune_range(struct db *d, int64_t lo, int64_t hi, int64_t *deleted)
{
    int64_t n = 0;
    enum bm_rc rc;

    if (lo >= hi)
        return BM_OK;
    rc = bind_step(d, ST_PRUNE_RANGE, lo, hi, &n);
    *deleted += n;
    return rc;
}

enum bm_rc db_prune(struct db *d, int64_t keep, int64_t max_rows, int64_t *deleted)
{
    uint64_t head, oldest;
    int64_t cut, from, upto, *kept = NULL, passed = 0;
    size_t nkept = 0;
    enum bm_rc rc;

    *deleted = 0;
    rc = db_bounds(d, &head, &oldest);
    if (rc != BM_OK || head == 0 || (int64_t)head - keep + 1 <= (int64_t)oldest)
        return rc;
    /* Delete before cut: the oldest beyond `keep`, about max_rows at most;
     * but an incident with events on both sides of the cut, or still
     * going on, is kept whole, so every incident kept has all its events.
     * (A cut moved back to such an incident's start would land inside an
     * older one: with a few incidents always in flight, back to the
     * stream's start.) They go once the cut has passed their last.
     *
     * The frontier (prune_from) moves up through the store: before it,
     * only kept events are left; from it, every event is there. Each call
     * deletes [frontier, frontier + max_rows) but the kept ones, by
     * ranges between them, and the kept ones before the frontier whose
     * incident the cut has passed. (One statement with IN and NOT IN
     * lists built and looked up per row took 45% of a backfill; looking
     * for the kept ones among all incident events before the cut, 20%.) */
    cut = (int64_t)head - keep + 1;
    from = d->prune_from > (int64_t)oldest ? d->prune_from : (int64_t)oldest;
    upto = from < cut - max_rows ? from + max_rows : cut;
    if (from < upto)
        rc = prune_kept(d, cut, from, upto, &kept, &nkept);
    for (size_t j = 0; rc == BM_OK && j < nkept; j++) {
        rc = prune_range(d, from, kept[j], deleted);
        from = kept[j] + 1;
    }
    if (rc == BM_OK)
        rc = prune_range(d, from, upto, deleted);
    free(kept);
    if (rc == BM_OK && upto > d->prune_from)
        d->prune_from = upto;
    if (rc == BM_OK)
        rc = bind_step(d, ST_PRUNE_PASSED, cut, d->prune_from, &passed);
    *deleted += passed;
    if (rc == BM_OK)
        rc = bind_step(d, ST_INC_PRUNE_EVENTS, cut, -1, NULL);
    if (rc == BM_OK)
        rc = bind_step(d, ST_INC_PRUNE, cut, -1, NULL);
    if (rc != BM_OK)
        d->prune_from = 0;
    return rc;
}

enum bm_rc db_meta_get(struct db *d, const char *key, struct buf *out, bool *found)
{
    sqlite3_stmt *s = d->st[ST_META_GET];
    enum bm_rc rc = BM_OK;
    int step;

    *found = false;
    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return BM_EDB;
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        *found = true;
        if (n > 0)
            rc = buf_append(out, v, (size_t)n);
    } else if (step != SQLITE_DONE) {
        rc = BM_EDB;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

enum bm_rc db_meta_set(struct db *d, const char *key, const void *val, size_t len)
{
    sqlite3_stmt *s = d->st[ST_META_SET];

    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    return step_done(d, s);
}

enum bm_rc db_meta_delete(struct db *d, const char *key)
{
    sqlite3_stmt *s = d->st[ST_META_DEL];

    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return BM_EDB;
    return step_done(d, s);
}

/* ------------------------------------------------------------------ */
/* Event lists                                                          */

/* A range, a body filter or a type group: the general statements. */
static bool needs_general(const struct db_list_query *q)
{
    return query_narrowed(q) || (q->anomaly_type && q->ntypes > 1);
}

/* The members of a type group beyond the first: ?7 and ?8 of the general
 * statements (the last member again where the group has fewer). */
static int bind_group(sqlite3_stmt *s, const struct db_list_query *q)
{
    for (int i = 1; i < 3; i++) {
        const char *t = q->ntypes > 1 ? q->types[i < q->ntypes ? i : q->ntypes - 1]
                                      : q->anomaly_type;
        int rc = sqlite3_bind_text(s, 6 + i, t, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static sqlite3_stmt *list_stmt(struct db *d, const struct db_list_query *q)
{
    int base = q->has_since ? ST_ASC_ALL : ST_DESC_ALL;

    if (needs_general(q))
        return d->st[q->has_since ? ST_ASC_GEN : ST_DESC_GEN];
    if (q->anomaly_type)
        return d->st[base + 2];
    if (q->anomalies_only)
        return d->st[base + 1];
    return d->st[base];
}

static enum bm_rc list_bind(sqlite3_stmt *s, const struct db_list_query *q)
{
    bool gen = needs_general(q);
    /* body filters run here, after SQL: the SQL limit cannot count them */
    int64_t limit = q->nneedles ? -1 : q->limit;

    if (sqlite3_bind_int64(s, 1, limit) != SQLITE_OK ||
        (q->anomaly_type &&
         sqlite3_bind_text(s, 2, q->ntypes > 1 ? q->types[0] : q->anomaly_type, -1,
                           SQLITE_STATIC) != SQLITE_OK) ||
        (q->has_since && sqlite3_bind_int64(s, 3, (sqlite3_int64)q->since) != SQLITE_OK))
        return BM_EDB;
    if (gen && (sqlite3_bind_int64(s, 4, q->has_from ? q->from_ms : INT64_MIN) != SQLITE_OK ||
                sqlite3_bind_int64(s, 5, q->has_to ? q->to_ms : INT64_MAX) != SQLITE_OK ||
                sqlite3_bind_int(s, 6, q->anomalies_only ? 1 : 0) != SQLITE_OK ||
                (q->anomaly_type && bind_group(s, q) != SQLITE_OK)))
        return BM_EDB;
    return BM_OK;
}

static enum bm_rc list_rows(struct db *d, const struct db_list_query *q, db_row_fn fn,
                            void *ud, int64_t *count, uint64_t *last)
{
    sqlite3_stmt *s = list_stmt(d, q);
    enum bm_rc rc = list_bind(s, q);
    int step = SQLITE_DONE;

    *count = 0;
    while (rc == BM_OK && *count < q->limit && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(s, 1);
        size_t n = (size_t)sqlite3_column_bytes(s, 1);
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
        if (!query_body_matches(q, body, n))
            continue;
        if (!fn(ud, seq, body, n)) {
            rc = BM_ETOOBIG;
            break;
        }
        *last = seq;
        (*count)++;
    }
    if (rc == BM_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = BM_EDB;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

enum bm_rc db_scan_events(struct db *d, struct db_list_query *q, db_row_fn fn, void *ud,
                          int64_t *count)
{
    uint64_t head = 0, oldest = 0, last = 0;
    enum bm_rc rc;

    *count = 0;
    /* One read transaction: the page, head and oldest agree. */
    if (db_read_begin(d) != BM_OK)
        return BM_EDB;
    rc = db_bounds(d, &head, &oldest);
    if (rc == BM_OK)
        rc = list_rows(d, q, fn, ud, count, &last);
    if (db_read_end(d) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    if (rc != BM_OK)
        return rc;
    q->head = head;
    q->oldest = oldest;
    if (!q->has_since)
        q->next_since = head;
    else if (*count == q->limit)
        q->next_since = last; /* more may follow: resume after the last one sent */
    else
        q->next_since = head > q->since ? head : q->since; /* examined everything */
    return BM_OK;
}

struct json_rows {
    struct buf *out;
    bool first;
};

static bool json_row(void *ud, uint64_t seq, const char *body, size_t len)
{
    struct json_rows *j = ud;

    (void)seq;
    if (!j->first && buf_putc(j->out, ',') != BM_OK)
        return false;
    j->first = false;
    return buf_append(j->out, body, len) == BM_OK;
}

enum bm_rc db_list_events(struct db *d, struct db_list_query *q, struct buf *out)
{
    struct json_rows j = { out, true };
    int64_t count = 0;
    enum bm_rc rc;

    if (buf_puts(out, "{\"events\":[") != BM_OK)
        return BM_ETOOBIG;
    rc = db_scan_events(d, q, json_row, &j, &count);
    if (rc != BM_OK)
        return rc;
    if (buf_puts(out, "],\"count\":") != BM_OK || buf_put_i64(out, count) != BM_OK ||
        buf_puts(out, ",\"next_since\":") != BM_OK ||
        buf_put_i64(out, (int64_t)q->next_since) != BM_OK ||
        buf_puts(out, ",\"oldest_sequence\":") != BM_OK ||
        buf_put_i64(out, (int64_t)q->oldest) != BM_OK || buf_putc(out, '}') != BM_OK)
        return BM_ETOOBIG;
    return BM_OK;
}

/* ------------------------------------------------------------------ */
/* Incident reads                                                       */

static sqlite3_stmt *inc_stmt(struct db *d, int id)
{
    if (!d->inc[id] && sqlite3_prepare_v3(d->h, inc_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                          &d->inc[id], NULL) != SQLITE_OK) {
        log_error("sqlite prepare: %s", sqlite3_errmsg(d->h));
        d->inc[id] = NULL;
    }
    return d->inc[id];
}

static void text_col(sqlite3_stmt *s, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    snprintf(out, size, "%s", t ? (const char *)t : "");
}

static void incident_row(sqlite3_stmt *s, struct db_incident *in)
{
    text_col(s, 0, in->id, sizeof in->id);
    text_col(s, 1, in->type, sizeof in->type);
    in->origin = sqlite3_column_int(s, 2);
    in->first_seq = (uint64_t)sqlite3_column_int64(s, 3);
    in->last_seq = (uint64_t)sqlite3_column_int64(s, 4);
    in->started_ms = sqlite3_column_int64(s, 5);
    in->ended_ms = sqlite3_column_int64(s, 6);
    in->event_count = sqlite3_column_int64(s, 7);
    in->open = sqlite3_column_int(s, 8) != 0;
}

/* Steps s to the end, handing each row to fn; resets s. */
static enum bm_rc each_incident(struct db *d, sqlite3_stmt *s, db_incident_fn fn, void *ud)
{
    struct db_incident in;
    enum bm_rc rc = BM_OK;
    int step;

    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        incident_row(s, &in);
        rc = fn(ud, &in);
        if (rc != BM_OK)
            break;
    }
    if (rc == BM_OK && step != SQLITE_DONE) {
        log_error("sqlite: %s", sqlite3_errmsg(d->h));
        rc = BM_EDB;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* ?2, ?5, ?6: the type, or a group's members (the last one repeated). */
static int bind_inc_types(sqlite3_stmt *s, const struct db_incident_query *q)
{
    static const int param[3] = { 2, 5, 6 };

    for (int i = 0; i < 3; i++) {
        const char *t = q->types && q->ntypes > 0
                            ? q->types[i < q->ntypes ? i : q->ntypes - 1]
                            : q->type;
        int rc = sqlite3_bind_text(s, param[i], t, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

enum bm_rc db_list_incidents(struct db *d, const struct db_incident_query *q, db_incident_fn fn,
                             void *ud)
{
    sqlite3_stmt *s = inc_stmt(d, q->has_since ? INC_ST_LIST_ASC : INC_ST_LIST_DESC);

    if (!s)
        return BM_EDB;
    if (sqlite3_bind_int64(s, 1, q->limit) != SQLITE_OK ||
        (q->type && bind_inc_types(s, q) != SQLITE_OK) ||
        (q->open >= 0 && sqlite3_bind_int(s, 3, q->open) != SQLITE_OK) ||
        (q->has_since && sqlite3_bind_int64(s, 4, (sqlite3_int64)q->since) != SQLITE_OK)) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    return each_incident(d, s, fn, ud);
}

struct found_one {
    struct db_incident *out;
    bool *found;
};

static enum bm_rc take_one(void *ud, const struct db_incident *in)
{
    struct found_one *f = ud;

    *f->out = *in;
    *f->found = true;
    return BM_OK;
}

enum bm_rc db_get_incident(struct db *d, const char *id, struct db_incident *out, bool *found)
{
    sqlite3_stmt *s = inc_stmt(d, INC_ST_GET);
    struct found_one f = { out, found };

    *found = false;
    if (!s)
        return BM_EDB;
    if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        return BM_EDB;
    }
    return each_incident(d, s, take_one, &f);
}

enum bm_rc db_incident_events(struct db *d, const char *id, db_body_fn fn, void *ud)
{
    sqlite3_stmt *s = inc_stmt(d, INC_ST_EVENTS);
    enum bm_rc rc = BM_OK;
    int step;

    if (!s)
        return BM_EDB;
    if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        return BM_EDB;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        rc = fn(ud, (uint64_t)sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                (size_t)sqlite3_column_bytes(s, 1));
        if (rc != BM_OK)
            break;
    }
    if (rc == BM_OK && step != SQLITE_DONE)
        rc = BM_EDB;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

enum bm_rc db_read_after(struct db *d, uint64_t after, int64_t max, db_event_fn fn, void *ud)
{
    sqlite3_stmt *s = d->st[ST_AFTER];
    enum bm_rc rc = BM_OK;
    int step = SQLITE_DONE;

    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)after) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, max) != SQLITE_OK)
        rc = BM_EDB;
    while (rc == BM_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (!fn(ud, (uint64_t)sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
                (size_t)sqlite3_column_bytes(s, 3)))
            break;
    }
    if (rc == BM_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = BM_EDB;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Injections                                                           */

static enum bm_rc bind_fail(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return BM_EDB;
}

enum bm_rc db_injection_add(struct db *d, const struct db_injection *in)
{
    sqlite3_stmt *s = inc_stmt(d, INJ_ST_ADD);

    if (!s)
        return BM_EDB;
    if (sqlite3_bind_text(s, 1, in->incident_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(s, 2, in->inj.id, sizeof in->inj.id, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(s, 3, in->inj.type) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, in->inj.target) != SQLITE_OK ||
        sqlite3_bind_int(s, 5, in->inj.size) != SQLITE_OK ||
        sqlite3_bind_int64(s, 6, in->at_us) != SQLITE_OK)
        return bind_fail(s);
    return step_done(d, s);
}

enum bm_rc db_injection_taken(struct db *d, const char *incident_id, uint64_t seq)
{
    sqlite3_stmt *s = inc_stmt(d, INJ_ST_TAKEN);

    if (!s)
        return BM_EDB;
    if (sqlite3_bind_text(s, 1, incident_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (sqlite3_int64)seq) != SQLITE_OK)
        return bind_fail(s);
    return step_done(d, s);
}

enum bm_rc db_injections_pending(struct db *d, db_injection_fn fn, void *ud)
{
    sqlite3_stmt *s = inc_stmt(d, INJ_ST_PENDING);
    struct db_injection in;
    enum bm_rc rc = BM_OK;
    int step;

    if (!s)
        return BM_EDB;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&in, 0, sizeof in);
        text_col(s, 0, in.incident_id, sizeof in.incident_id);
        if (sqlite3_column_bytes(s, 1) == (int)sizeof in.inj.id)
            memcpy(in.inj.id, sqlite3_column_blob(s, 1), sizeof in.inj.id);
        in.inj.type = sqlite3_column_int(s, 2);
        in.inj.target = sqlite3_column_int64(s, 3);
        in.inj.size = sqlite3_column_int(s, 4);
        in.at_us = sqlite3_column_int64(s, 5);
        rc = fn(ud, &in);
        if (rc != BM_OK)
            break;
    }
    if (rc == BM_OK && step != SQLITE_DONE)
        rc = BM_EDB;
    sqlite3_reset(s);
    return rc;
}

/* The first kept row at or after seq: *found false past the newest. */
static enum bm_rc row_from(struct db *d, uint64_t seq, uint64_t *at, int64_t *ts, bool *found)
{
    sqlite3_stmt *s = inc_stmt(d, DB_ST_SEQ_FROM);
    int step;

    *found = false;
    if (!s)
        return BM_EDB;
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)seq) != SQLITE_OK)
        return bind_fail(s);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *at = (uint64_t)sqlite3_column_int64(s, 0);
        *ts = sqlite3_column_int64(s, 1);
        *found = true;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return step == SQLITE_ROW || step == SQLITE_DONE ? BM_OK : BM_EDB;
}

enum bm_rc db_event_ts(struct db *d, uint64_t seq, int64_t *ts_ms, bool *found)
{
    uint64_t at = 0;
    enum bm_rc rc = row_from(d, seq, &at, ts_ms, found);

    *found = *found && at == seq;
    return rc;
}

enum bm_rc db_seq_after_ts(struct db *d, int64_t ts_ms, uint64_t *seq)
{
    uint64_t head, lo, hi;
    enum bm_rc rc = db_bounds(d, &head, &lo);

    if (rc != BM_OK)
        return rc;
    hi = head + 1;
    /* every kept row before lo is at or before ts_ms; the answer is in [lo, hi] */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, at = 0;
        int64_t ts = 0;
        bool found;

        rc = row_from(d, mid, &at, &ts, &found);
        if (rc != BM_OK)
            return rc;
        if (!found || ts > ts_ms)
            hi = mid;
        else
            lo = at + 1;
    }
    *seq = lo;
    return BM_OK;
}

int64_t db_file_bytes(const char *path)
{
    char wal[600];
    struct stat st;
    int64_t total = 0;

    if (stat(path, &st) == 0)
        total += (int64_t)st.st_size;
    if (snprintf(wal, sizeof(wal), "%s-wal", path) < (int)sizeof(wal) && stat(wal, &st) == 0)
        total += (int64_t)st.st_size;
    return total;
}

/* ------------------------------------------------------------------ */
/* Scoring                                                              */

enum bm_rc db_scan_all(struct db *d, db_scan_fn fn, void *ud)
{
    sqlite3_stmt *s = d->st[ST_SCAN];
    enum bm_rc rc = BM_OK;
    int step;

    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct db_scan_row r = {
            .ts_ms = sqlite3_column_int64(s, 0),
            .anomaly_type = (const char *)sqlite3_column_text(s, 1),
            .incident_id = (const char *)sqlite3_column_text(s, 2),
            .body = (const char *)sqlite3_column_text(s, 3),
        };
        r.len = (size_t)sqlite3_column_bytes(s, 3);
        if (!r.body)
            continue;
        rc = fn(ud, &r);
        if (rc != BM_OK)
            break;
    }
    if (rc == BM_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = BM_EDB;
    sqlite3_reset(s);
    return rc;
}

enum bm_rc db_score_put(struct db *d, const char *id, int64_t created_ms, const char *json,
                        size_t len)
{
    sqlite3_stmt *s = d->st[ST_SCORE_PUT];

    if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, created_ms) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, json, (int)len, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return BM_EDB;
    }
    if (step_done(d, s) != BM_OK)
        return BM_EDB;
    return bind_step(d, ST_SCORE_TRIM, DB_SCORES_KEPT, -1, NULL);
}

/* id NULL: the newest. */
enum bm_rc db_score_get(struct db *d, const char *id, struct buf *out, bool *found)
{
    sqlite3_stmt *s = d->st[id ? ST_SCORE_GET : ST_SCORE_LAST];
    enum bm_rc rc = BM_OK;
    int step;

    *found = false;
    if (id && sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
        return BM_EDB;
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *found = true;
        rc = buf_append(out, sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    } else if (step != SQLITE_DONE) {
        rc = BM_EDB;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}
