/* harness.h - run a real daemon on a free loopback port with a temporary
 * database, talk to it over HTTP with libcurl, and check what it answers
 * and what it leaves on disk. The helpers said to "fail the test" end the
 * running cmocka test on a mismatch (call them from a test only); the
 * rest return what they found.
 *
 * One header, one section per file (harness_<section>.c). Everything it
 * exports starts with h_, so no name meets common's (which the tests link
 * too: common has its own db_close). */
#ifndef BM_TESTS_INTEGRATION_HARNESS_H
#define BM_TESTS_INTEGRATION_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cJSON;
struct sqlite3;

struct proc {
    pid_t pid;
    int port;
    char dir[256];      /* temporary directory, removed by h_proc_cleanup */
    char db[320];       /* database path inside dir */
    char log[320];      /* the daemon's stdout+stderr */
    char config[320];   /* config file in dir (written by h_proc_write_config) */
};

struct resp {
    long status;
    char *body;         /* NUL-terminated, malloc'ed */
    size_t len;
    char ctype[128];
    char request_id[96];
    char allow[96];
};

/* ------------------------------------------------------------------ */
/* Processes (harness_proc.c) */

/* Makes a temporary directory; db and log paths inside it. */
void h_proc_init(struct proc *p, const char *tag);
/* Writes text as p->config. */
void h_proc_write_config(struct proc *p, const char *json);
/* Starts build/bin/<binary> --port 0 --bind 127.0.0.1 --db p->db
 * [--config p->config if written] + args (NULL-terminated). Waits for the
 * "listening" log line (up to 10 s). Returns 0 on success. */
int h_proc_start(struct proc *p, const char *binary, const char *const *args);
/* h_proc_start again on p's directory, database and config (after
 * h_proc_stop or h_proc_kill9), with a fresh log. */
int h_proc_restart(struct proc *p, const char *binary, const char *const *args);
/* Same for build/bin/api-gateway, which takes no --db. */
int h_proc_start_gateway(struct proc *p, const char *const *args);
/* A URL where nothing listens: an upstream that refuses connections. */
#define NO_UPSTREAM_URL "http://127.0.0.1:1"
/* h_proc_start_gateway with --transaction-url, --auth-url and
 * --monitoring-url (NULL: NO_UPSTREAM_URL), and --poll-interval-ms and
 * --upstream-timeout-ms when not NULL (else the defaults). */
int h_proc_start_gateway_urls(struct proc *p, const char *txn_url, const char *auth_url,
                              const char *mon_url, const char *poll_ms, const char *timeout_ms);
/* Runs the binary to completion with args, returns its exit status;
 * output captured into out (may be NULL). */
int h_proc_run(const char *binary, const char *const *args, char *out, size_t outlen);
/* SIGTERM, wait up to 5 s (15 s at BM_TEST_SCALE=small: sanitizers), then
 * SIGKILL; returns the exit status, or -1 if killed; *ms = time taken. */
int h_proc_stop(struct proc *p, long *ms);
/* h_proc_stop with sig in place of SIGTERM. */
int h_proc_stop_by(struct proc *p, int sig, long *ms);
void h_proc_kill9(struct proc *p);
/* Removes the temporary directory. */
void h_proc_cleanup(struct proc *p);
/* How many threads of pid, the main thread aside, leave sig unblocked,
 * by their SigBlk line in /proc; *nthreads says how many of those threads
 * were read. -1 if none could be read. */
int h_proc_threads_taking(pid_t pid, int sig, int *nthreads);
/* VmRSS and VmHWM (its peak) of pid in KiB, from /proc (either pointer may
 * be NULL; a value not found is -1). -1 if the process is gone. */
int h_proc_mem_kib(pid_t pid, long *rss, long *hwm);

/* Daemon slots for a test program. They live here, not on a test's
 * stack, so the teardown can stop and remove them when an assertion ends
 * a test early. */
#define PROCS_MAX 3
extern struct proc h_procs[PROCS_MAX];
/* cmocka setup: every slot empty (pid -1). */
int h_procs_setup(void **state);
/* cmocka teardown: kills and removes what a test left in a slot. */
int h_procs_teardown(void **state);
/* Kills p if it still runs, removes its files and frees its slot. */
void h_proc_finish(struct proc *p);
/* Says on stderr why the daemon on port does not answer: gone (how) or
 * running (its threads' states; their stacks with BM_TEST_GDB set), and
 * the end of its log. */
void h_proc_explain_port(int port);

/* ------------------------------------------------------------------ */
/* Time and numbers (harness_proc.c) */

/* Monotonic clock, in ms. */
long h_now_ms(void);
void h_sleep_ms(long ms);

/* Scale factor: BM_TEST_SCALE=small shrinks long tests (sanitizers). */
bool h_test_scale_small(void);

/* The decimal number at the start of s (leading blanks skipped) into *out;
 * false if there is none or it is out of range (strtol, checked). */
bool h_num_at(const char *s, long *out);

/* ------------------------------------------------------------------ */
/* HTTP (harness_http.c) */

/* { "Content-Type: application/json", NULL } */
extern const char *const h_json_ct[];

/* One request; headers is NULL or a NULL-terminated list of "Name: value". */
int h_http_req(int port, const char *method, const char *path, const char *body,
               const char *const *headers, struct resp *r);
/* h_http_req with a body of len bytes, which may hold NUL bytes. */
int h_http_req_len(int port, const char *method, const char *path, const char *body, size_t len,
                   const char *const *headers, struct resp *r);
void h_resp_free(struct resp *r);
/* GET and parse JSON; returns a cJSON tree (caller deletes) or NULL. */
struct cJSON *h_http_get_json(int port, const char *path, long *status);
/* GET that must answer 200, application/json and a JSON body (else it
 * fails the test); returns the tree (caller deletes). */
struct cJSON *h_get_json(int port, const char *path);
/* GET /config, which must answer 200; returns the body (caller frees). */
char *h_get_config(int port);
/* Polls GET /health until its status is status, or timeout_ms. */
bool h_wait_health_status(int port, const char *status, int timeout_ms);
/* head_sequence of GET /health (by h_get_json; fails the test if none). */
long long h_health_head(int port);
/* Polls /health until head_sequence >= min or timeout_ms. */
bool h_wait_head(int port, long long min, int timeout_ms);
/* Polls /health until the backfill is over: status "ok" and every
 * simulated second of it written. Fails the test at once if /health has
 * no status or backfill (a broken daemon), or if head_sequence stands
 * still for 15 s before that. (Status alone once said "ok" before the
 * generator's first batch.) */
bool h_wait_backfilled(int port, int timeout_ms);
/* h_proc_init(p, tag), config as its file (unless NULL), h_proc_start and
 * h_wait_backfilled(timeout_ms); fails the test if a step does. */
void h_proc_start_backfilled(struct proc *p, const char *tag, const char *binary,
                             const char *config, const char *const *args, int timeout_ms);
/* GETs an event list every 100 ms, 50 times at most, until its events
 * array is not empty; returns the last answer (NULL or without events if
 * none came; caller deletes). */
struct cJSON *h_wait_first_events(int port, const char *path);

/* ------------------------------------------------------------------ */
/* JSON members (harness_http.c): member k of object o (o may be NULL) */

/* A string member, or NULL. */
const char *h_jstr(const struct cJSON *o, const char *k);
/* A number member as an integer; fails the test if it is not a number. */
long long h_jnum(const struct cJSON *o, const char *k);
/* A number member; fails the test if it is not a number. */
double h_jdbl(const struct cJSON *o, const char *k);
/* Present, and a string or null (a number or null). */
bool h_is_str_or_null(const struct cJSON *o, const char *k);
bool h_is_num_or_null(const struct cJSON *o, const char *k);
/* Lower-case hex 8-4-4-4-12, version 4, RFC 4122 variant. */
bool h_is_uuid_v4(const char *s);
/* qsort comparator for an array of C strings. */
int h_cmp_str(const void *a, const void *b);

/* ------------------------------------------------------------------ */
/* Event lists (harness_list.c): {"events":[...],"count","next_since",
 * "oldest_sequence"} */

/* The largest page (limit) an event list gives. */
#define LIST_PAGE 1000

/* One event's bytes inside a list body. */
struct span {
    const char *p;
    size_t n;
};

/* GET a list page: 200, JSON, count = length of events, next_since and
 * oldest_sequence numbers (else it fails the test). The raw body stays
 * in r for byte comparisons (caller frees r and deletes the tree). */
struct cJSON *h_get_page(int port, const char *path, struct resp *r);
/* The events array of a page. */
struct cJSON *h_events_of(const struct cJSON *page);
/* Splits the raw "events" array of a list body into its elements, so
 * events can be compared byte for byte rather than re-printed by cJSON.
 * Returns the number of events (more than max fails the test). */
size_t h_split_events(const char *body, size_t len, struct span *out, size_t max);
bool h_span_eq(struct span a, struct span b);
/* Pages list (e.g. "/transactions/events") of two daemons side by side
 * from sequence 1 up to the first event at or after end_ts (where live
 * events begin); fails the test unless they are byte-identical. Returns
 * how many were compared. */
long long h_compare_backfill(int pa, int pb, const char *list, const char *end_ts);
/* The newest page of list (LIST_PAGE events, which it must hold), as a client
 * sees it: the raw body stays in r, ev gets its events (newest first).
 * Returns next_since, the newest sequence. */
long long h_newest_page(int port, const char *list, struct resp *r, struct span ev[LIST_PAGE]);
/* The LIST_PAGE events up to head, read again (oldest first), are byte for
 * byte those h_newest_page gave in ev (e.g. across kill -9 and restart). */
void h_assert_page_kept(int port, const char *list, long long head,
                        const struct span ev[LIST_PAGE]);
/* Pages list at two daemons from since = from in steps of LIST_PAGE while
 * since < upto: full pages, byte-identical at both (killed_at names the
 * crash in a message). With id_field, no id twice in what pa gave. */
void h_assert_same_stream(int pa, int pb, const char *list, long long from, long long upto,
                          const char *id_field, long long killed_at);
/* The first n events of list at two daemons: n each, and not one of
 * them byte-identical to its counterpart (else it fails the test). */
void h_assert_first_events_differ(int pa, int pb, const char *list, int n);

/* ------------------------------------------------------------------ */
/* The database of a stopped or killed daemon (harness_db.c) */

/* Opens path read-write (busy timeout 5 s); fails the test unless PRAGMA
 * integrity_check says ok. */
struct sqlite3 *h_db_open_checked(const char *path);
/* The first column of the first row of sql; fails the test on an error
 * or no row. */
long long h_db_int(struct sqlite3 *db, const char *sql);
/* The highest sequence in events; fails the test unless events holds
 * sequences 1..max, each once (nothing lost in what was committed). */
long long h_db_dense_max(struct sqlite3 *db);
/* Closes db; fails the test unless it closes cleanly. */
void h_db_close(struct sqlite3 *db);

/* ------------------------------------------------------------------ */
/* Gateway (harness_gw.c) */

/* A listening socket on 127.0.0.1, a free port (into *port), backlog 64,
 * close-on-exec. The kernel completes handshakes whether or not anyone
 * accepts: unread, it is a hung upstream. Fails the test on an error. */
int h_listen_loopback(int *port);
/* The entry of svc in a gateway's /system/health answer (borrowed). */
struct cJSON *h_gw_service(const struct cJSON *health, const char *svc);
/* svc's state in the gateway's /system/health is state. */
bool h_gw_state_is(int port, const char *svc, const char *state);
/* Polls h_gw_state_is for up to ms. */
bool h_gw_wait_state(int port, const char *svc, const char *state, long ms);
/* Polls for up to ms until svc is in state with a non-empty last_error;
 * err gets the last last_error seen ("" if none). */
bool h_gw_wait_error(int port, const char *svc, const char *state, char *err, size_t errlen,
                     long ms);

/* ------------------------------------------------------------------ */
/* Contract checks through Prism (harness_prism.c)                      */

/* BM_PRISM=1: every daemon h_proc_start* starts gets a Prism proxy
 * (`prism proxy build/openapi/<daemon>.yaml`, the daemon's part of
 * openapi.yaml; BM_PRISM_BIN, else scripts/npm_tools.sh --bin prism), which h_http_req* send through (HEAD and non-JSON bodies
 * aside: Prism 5.16 cannot take them), and a response that Prism finds off
 * openapi.yaml fails the test. Raw TCP (h_raw_http) stays direct. */
bool h_prism_enabled(void);
/* Starts the proxy for daemon_port (log in dir/prism.log) and waits for
 * it to listen; 0 at once when BM_PRISM is not 1, -1 if it cannot start. */
int h_prism_attach(const char *dir, const char *daemon, int daemon_port);
/* Stops daemon_port's proxy, if any. */
void h_prism_detach(int daemon_port);
/* While on, requests go straight to the daemons: for a test that times
 * them (Prism adds its own milliseconds). Reset by h_procs_setup. */
void h_prism_bypass(bool on);
bool h_prism_bypassed(void);
/* The proxy port in front of daemon_port, 0 if none. */
int h_prism_port(int daemon_port);
/* true if the sl-violations header value names a violation located in the
 * response; out gets them ("location: message; ..."). */
bool h_prism_response_violations(const char *header, char *out, size_t len);

/* ------------------------------------------------------------------ */
/* Raw HTTP (harness_tcp.c) on one loopback TCP connection, for what   */
/* libcurl hides: slow or idle clients, the whole response head.        */

/* out (len bytes) holds a whole answer: its head and as many body bytes
 * as its Content-Length says (false without one). */
bool h_raw_complete(const char *out, size_t len);
/* The status code of the raw answer in out, 0 if it does not start with
 * a status line. */
int h_raw_status(const char *out, size_t len);
/* Connects to 127.0.0.1:port; returns the socket or -1. */
int h_tcp_connect_loopback(int port);
/* Reads an answer from fd for at most timeout_ms: until the server closes
 * (until_close), or until a whole answer is in. out gets it, NUL-terminated.
 * Returns its status code (judging what out holds if it fills), 0 if the
 * connection ended without one, -1 on timeout. */
int h_raw_read(int fd, char *out, size_t outlen, int timeout_ms, bool until_close);
/* Sends request (send "Connection: close" in it), reads the answer until
 * the server closes or Content-Length is complete, for at most
 * timeout_ms. out gets the raw answer, NUL-terminated. Returns the status
 * code, 0 if the connection ended without one, -1 on error or timeout. */
int h_raw_http(int port, const char *request, char *out, size_t outlen, int timeout_ms);

/* ------------------------------------------------------------------ */
/* Server-sent events (harness_sse.c): a client on a raw socket.        */

struct h_sse {
    int fd;
    char buf[256 * 1024];
    size_t len;
};

/* Connects and sends GET path (HTTP/1.0: the answer ends when the server
 * closes), with extra_header (one "Name: value" line, or NULL); rcvbuf > 0
 * bounds the socket's receive buffer. 0 on success. */
int h_sse_open(struct h_sse *s, int port, const char *path, const char *extra_header,
               int rcvbuf);
void h_sse_close(struct h_sse *s);
/* Reads more bytes within timeout_ms; 1 read some, 0 on EOF, -1 on
 * timeout, error or a full buffer. */
int h_sse_fill(struct h_sse *s, int timeout_ms);
/* The next message's lines (id and data, a comment, or a named event)
 * into msg, NUL-terminated; false on EOF or timeout. */
bool h_sse_next(struct h_sse *s, char *msg, size_t cap, int timeout_ms);
/* The next event's id (and its data parsed, if data is not NULL), other
 * messages skipped; -1 if none in time. */
long long h_sse_next_event(struct h_sse *s, struct cJSON **data, int timeout_ms);

#endif
