/* db.h - the SQLite store shared by the services: one events table, a
 * meta key/value table, WAL, prepared statements (the common ones and each
 * service's, owned by the connection), one writer connection (the
 * generator thread's) and one read-only connection per reader thread.
 * Only db.c and the services' store.c include <sqlite3.h>; the raw
 * connection handle stays in db.c. */
#ifndef BM_COMMON_DB_H
#define BM_COMMON_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gen.h"
#include "rc.h"

#define DB_SCHEMA_VERSION 1

struct db;
struct sqlite3_stmt;

/* A service's SQL beside the common tables, from its store.c. The writer
 * runs the schema when it opens. db_stmt(d, id) hands out stmts[id],
 * prepared on d at its first use (SQLITE_PREPARE_PERSISTENT) and
 * finalized by db_close(): a statement lives and dies with its connection,
 * so it is used by that connection's thread only. */
struct db_sql {
    const char *schema;       /* NULL: no tables of its own */
    const char *const *stmts; /* indexed by the store's statement ids */
    int nstmts;
    size_t conn_state_size;   /* bytes of db_conn_state(); 0: none */
};

/* Opens (creating if needed) the writer connection: WAL, the common
 * schema, then sql's (sql may be NULL). */
enum bm_rc db_open_writer(const char *path, const struct db_sql *sql, struct db **out) BM_WUR;
/* A read-only connection for the calling thread, opened on first use and
 * kept until db_readers_close(). sql is the same on every call. */
enum bm_rc db_reader(const char *path, const struct db_sql *sql, struct db **out) BM_WUR;
void db_readers_close(void);
/* Finalizes the connection's statements, closes it, frees its state. */
void db_close(struct db *d);
const char *db_errmsg(struct db *d);

/* Statement id of the connection's struct db_sql, ready to bind (reset,
 * no bindings); NULL (logged) if it cannot be prepared. The caller resets
 * it and clears its bindings after use. */
struct sqlite3_stmt *db_stmt(struct db *d, int id);
/* conn_state_size bytes of the service's own per-connection state,
 * zeroed at the first call, freed by db_close(); NULL on no memory. */
void *db_conn_state(struct db *d);
/* Transactions this connection has rolled back so far, by db_rollback()
 * or by SQLite itself after an error: state kept beside the connection
 * that describes uncommitted rows is stale once this moves. */
uint64_t db_rollbacks(const struct db *d);

/* Runs SQL text without results (schema statements). */
enum bm_rc db_exec(struct db *d, const char *sql) BM_WUR;
/* Each connection's page cache: DB_CACHE_KIB, the writer's more while it
 * backfills (DB_BACKFILL_CACHE_KIB: with 64 pages of 16 KiB the random
 * inserts of the entity indexes kept reading pages back). Made smaller,
 * the freed pages are returned to the system. */
#define DB_CACHE_KIB          1024
#define DB_BACKFILL_CACHE_KIB (16 * 1024)
enum bm_rc db_cache_kib(struct db *d, int kib) BM_WUR;
enum bm_rc db_begin(struct db *d) BM_WUR;   /* BEGIN IMMEDIATE */
enum bm_rc db_commit(struct db *d) BM_WUR;
void db_rollback(struct db *d);
/* One read transaction on a reader: what is read between the two is one
 * snapshot. */
enum bm_rc db_read_begin(struct db *d) BM_WUR;
enum bm_rc db_read_end(struct db *d) BM_WUR;

enum bm_rc db_insert_event(struct db *d, uint64_t seq, int64_t ts_ms, const char *anomaly_type,
                           bool api, const char *json, size_t len) BM_WUR;
/* Records one event of a multi-event incident in the incidents table (in
 * the same transaction as the event): the first makes its row, later ones
 * extend it. open: more events of it are to come. */
enum bm_rc db_note_incident(struct db *d, const char *incident_id, const char *anomaly_type,
                            bool api, uint64_t seq, int64_t ts_ms, bool open) BM_WUR;
/* An incident's origin as stored (incidents.origin). */
enum { DB_ORIGIN_GENERATED = 0, DB_ORIGIN_API = 1, DB_ORIGIN_INJECTED = 2 };
/* db_note_incident with the origin given (DB_ORIGIN_*). */
enum bm_rc db_note_incident_as(struct db *d, const char *incident_id, const char *anomaly_type,
                               int origin, uint64_t seq, int64_t ts_ms, bool open) BM_WUR;
/* Deletes at most max_rows of the oldest events beyond `keep` newest, but
 * never part of an incident: an incident with events on both sides of
 * the cut, or with more to come, stays whole (its older events stay, so
 * a little more than `keep` may stay and the oldest sequences kept may
 * have gaps). Incidents whose events all went go too. */
enum bm_rc db_prune(struct db *d, int64_t keep, int64_t max_rows, int64_t *deleted) BM_WUR;
/* Newest and oldest sequence (0, 0 when empty). */
enum bm_rc db_bounds(struct db *d, uint64_t *head, uint64_t *oldest) BM_WUR;

enum bm_rc db_meta_get(struct db *d, const char *key, struct buf *out, bool *found) BM_WUR;
enum bm_rc db_meta_set(struct db *d, const char *key, const void *val, size_t len) BM_WUR;
enum bm_rc db_meta_delete(struct db *d, const char *key) BM_WUR;

/* Filters on fields inside the event body: a needle is the exact JSON
 * text `"key":"value"` (value JSON-escaped), which the services' encoders
 * write for a top-level string field and which cannot occur inside a
 * string (its quotes would be escaped). */
#define DB_NEEDLES_MAX 4
#define DB_NEEDLE_MAX  160

struct db_list_query {
    int64_t limit;           /* 1..1000 */
    bool has_since;
    uint64_t since;
    bool anomalies_only;
    const char *anomaly_type; /* NULL = any; a type, or a group's name (static strings) */
    /* the types it stands for: one, or a group's members */
    const char *const *types;
    int ntypes;
    bool has_from, has_to;    /* timestamp range [from, to), ms */
    int64_t from_ms, to_ms;
    int nneedles;
    char needle[DB_NEEDLES_MAX][DB_NEEDLE_MAX];
    int source;               /* the gateway's: 1 + the enum bm_svc of the events'
                                 service, 0 any (query_parse_source) */
    uint64_t head;            /* out: newest sequence in the snapshot read */
    uint64_t oldest;          /* out: oldest sequence in the snapshot read */
    uint64_t next_since;      /* out: the cursor to continue from (SPEC §6) */
};

/* Appends {"events":[...],"count":n,"next_since":s,"oldest_sequence":o}
 * read in one snapshot. */
enum bm_rc db_list_events(struct db *d, struct db_list_query *q, struct buf *out) BM_WUR;

/* One row of the incidents table. */
struct db_incident {
    char id[40];
    char type[40];
    int origin; /* DB_ORIGIN_* */
    uint64_t first_seq, last_seq;
    int64_t started_ms, ended_ms;
    int64_t event_count;
    bool open;
};

struct db_incident_query {
    int64_t limit;    /* 1..1000 */
    bool has_since;   /* incidents with an event after since, oldest change first */
    uint64_t since;   /* (a sequence); without: newest change first */
    const char *type; /* NULL = any; a type, or a group's name */
    /* the types it stands for (NULL: type itself); a group's members */
    const char *const *types;
    int ntypes;
    int open;         /* 1 open, 0 closed, -1 either */
};

typedef enum bm_rc (*db_incident_fn)(void *ud, const struct db_incident *in);
typedef enum bm_rc (*db_body_fn)(void *ud, uint64_t seq, const char *body, size_t len);

/* Hands each incident of q to fn (in the caller's read transaction, if
 * any); fn may read the incident's events meanwhile. */
enum bm_rc db_list_incidents(struct db *d, const struct db_incident_query *q, db_incident_fn fn,
                             void *ud) BM_WUR;
enum bm_rc db_get_incident(struct db *d, const char *id, struct db_incident *out,
                           bool *found) BM_WUR;
/* Hands each event of the incident, in sequence order, to fn. */
enum bm_rc db_incident_events(struct db *d, const char *id, db_body_fn fn, void *ud) BM_WUR;

/* A scheduled injection (POST /inject). */
struct db_injection {
    char incident_id[40];
    struct gen_inject inj;
    int64_t at_us; /* simulated time it is due */
};
typedef enum bm_rc (*db_injection_fn)(void *ud, const struct db_injection *in);

/* Writer, in the open transaction. */
enum bm_rc db_injection_add(struct db *d, const struct db_injection *in) BM_WUR;
/* The injection was started by the event seq. */
enum bm_rc db_injection_taken(struct db *d, const char *incident_id, uint64_t seq) BM_WUR;
/* Hands each injection not yet started to fn, due first. */
enum bm_rc db_injections_pending(struct db *d, db_injection_fn fn, void *ud) BM_WUR;
/* The timestamp of event seq; *found false if it is not kept. */
enum bm_rc db_event_ts(struct db *d, uint64_t seq, int64_t *ts_ms, bool *found) BM_WUR;
/* One stored event as scoring reads it; the pointers live until the
 * callback returns. incident_id is read for anomalies only. */
struct db_scan_row {
    int64_t ts_ms;
    const char *anomaly_type; /* NULL: a normal event */
    const char *incident_id;  /* NULL: none (or a normal event) */
    const char *body;
    size_t len;
};
typedef enum bm_rc (*db_scan_fn)(void *ud, const struct db_scan_row *r);
/* Calls fn for every stored event, oldest first, until it fails; run it
 * inside db_read_begin/db_read_end for one snapshot. */
enum bm_rc db_scan_all(struct db *d, db_scan_fn fn, void *ud) BM_WUR;

/* Scoring results (POST /score): the newest DB_SCORES_KEPT are kept. */
#define DB_SCORES_KEPT 100
/* On the writer, in a write transaction. */
enum bm_rc db_score_put(struct db *d, const char *id, int64_t created_ms, const char *json,
                        size_t len) BM_WUR;
/* The stored answer of id (NULL: the newest) appended to out. */
enum bm_rc db_score_get(struct db *d, const char *id, struct buf *out, bool *found) BM_WUR;
/* Called for each matching row, in list order; false stops the scan
 * (that row not counted). */
typedef bool (*db_row_fn)(void *ud, uint64_t seq, const char *body, size_t len);
/* The rows db_list_events would list, one call each, in one snapshot:
 * fills q->head, q->oldest, q->next_since; *count = rows handed over. */
enum bm_rc db_scan_events(struct db *d, struct db_list_query *q, db_row_fn fn, void *ud,
                          int64_t *count) BM_WUR;
/* Events after `after`, oldest first, at most max, unfiltered, with their
 * columns (the stream hub's feed). */
typedef bool (*db_event_fn)(void *ud, uint64_t seq, int64_t ts_ms, const char *anomaly_type,
                            const char *body, size_t len);
enum bm_rc db_read_after(struct db *d, uint64_t after, int64_t max, db_event_fn fn,
                         void *ud) BM_WUR;

/* The first sequence whose event is after ts_ms (head + 1 if none), by a
 * binary search over the kept rows (timestamps never go back as sequences
 * grow): the start of a time window for a look-up by sequence. Any
 * connection; the caller's transaction, if any, is its snapshot. */
enum bm_rc db_seq_after_ts(struct db *d, int64_t ts_ms, uint64_t *seq) BM_WUR;

/* Size of the database file plus its WAL, in bytes. */
int64_t db_file_bytes(const char *path);

#endif
