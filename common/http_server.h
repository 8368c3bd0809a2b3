/* http_server.h - the HTTP layer over libmicrohttpd: route tables, limits,
 * request context, the one error-body builder and the access log. Only
 * http_server.c includes <microhttpd.h>. */
#ifndef BM_COMMON_HTTP_SERVER_H
#define BM_COMMON_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_errors.h"
#include "buf.h"
#include "rc.h"

#define HTTP_BODY_MAX (64 * 1024)
/* The body limit of an R_BIG_BODY route: 100,000 scoring detections. */
#define HTTP_BIG_BODY_MAX (16 * 1024 * 1024)
/* Each connection's MHD memory pool: it holds the request line, the
 * headers and the response's header block (a body streams through it).
 * MHD zeroes the whole pool between the requests of a kept-alive
 * connection, so its size is paid on every request: 32 KiB (MHD's
 * default) cost about 1 us of memset per request here. A first request's
 * head is held to HTTP_HEAD_MAX, which fits. */
#define HTTP_CONN_POOL (16 * 1024)
#define HTTP_CT_JSON  "application/json; charset=utf-8"
#define HTTP_CT_TEXT  "text/plain; version=0.0.4; charset=utf-8"

struct http_req;
struct http_server;

typedef void (*http_handler)(struct http_req *req);

enum route_flags {
    R_JSON_BODY = 1u << 0, /* body must be application/json */
    R_PREFIX = 1u << 1,    /* path matches as a prefix ("/services/") */
    R_ANY_METHOD = 1u << 2, /* method "*" : every method (proxy) */
    R_BIG_BODY = 1u << 3    /* body up to HTTP_BIG_BODY_MAX (POST /score) */
};

struct route {
    const char *method; /* "GET", "POST"; "*" with R_ANY_METHOD */
    const char *path;
    http_handler fn;
    unsigned flags;
};

struct http_server_opts {
    const char *bind;          /* IPv4 address */
    uint16_t port;             /* 0 = any free port */
    const struct route *routes;
    size_t nroutes;
    void *app;                 /* handed to handlers via http_req_app() */
    const char *admin_token;   /* "" or NULL: POSTs are open */
    unsigned max_conns;        /* connections served at once; more get a quick 503.
                                  0: RLIMIT_NOFILE's soft limit (raised to the hard
                                  one) less HTTP_FD_RESERVE */
    unsigned threads;          /* worker threads */
    bool allow_defer;          /* handlers may answer later (http_req_defer), from
                                  another thread, without blocking a worker */
    unsigned conn_timeout_s;   /* kept-alive connection: idle limit, and the time it has
                                  to send its next request whole (0: 15) */
    unsigned header_timeout_s; /* new connection: the time it has to send its first
                                  request whole (0: 5) */
    const char *cors_origins;  /* "", "*" or a comma-separated list of origins that
                                  may read answers (Access-Control-Allow-Origin) */
};

/* File descriptors kept out of the connection cap: the database and its
 * readers, the log, epoll and wake-up descriptors, a gateway's upstream
 * sockets. */
#define HTTP_FD_RESERVE 256
/* The longest request line (method, target, version) taken; longer gets a
 * JSON 414. */
#define HTTP_LINE_MAX (8 * 1024)
/* The longest request head (line and headers) taken, each line counted
 * 64 bytes longer; longer gets a JSON 431. Below HTTP_CONN_POOL, which
 * also holds MHD's record of each header. */
#define HTTP_HEAD_MAX (14 * 1024)

enum bm_rc http_server_start(const struct http_server_opts *o, struct http_server **out) BM_WUR;
uint16_t http_server_port(const struct http_server *s);
/* Stop serving: requests that begin from now on get a 503 "shutting down";
 * waits up to max_ms for those in flight to complete. */
void http_server_drain(struct http_server *s, int64_t max_ms);
/* How long a daemon lets in-flight requests finish when told to stop: the
 * rest of the 2 s stop budget is for the writer's last commit. */
#define HTTP_DRAIN_MS 1000
/* Finish in-flight requests, close everything, free. */
void http_server_stop(struct http_server *s);

void *http_req_app(const struct http_req *req);
const char *http_req_method(const struct http_req *req);
const char *http_req_path(const struct http_req *req);
const char *http_req_id(const struct http_req *req);
const char *http_req_header(const struct http_req *req, const char *name);
/* Calls fn for every request header, in the order received. */
typedef void (*http_header_fn)(void *ud, const char *name, const char *value);
void http_req_headers_each(const struct http_req *req, http_header_fn fn, void *ud);
/* Body bytes (NUL-terminated copy); len may be NULL. */
const char *http_req_body(const struct http_req *req, size_t *len);
/* Query arguments. Valid after http_req_args_check(). */
const char *http_req_arg(const struct http_req *req, const char *name);
bool http_req_has_arg(const struct http_req *req, const char *name);
/* Rejects (answers 400, returns false) unknown or repeated arguments. */
bool http_req_args_check(struct http_req *req, const char *const *allowed);
/* Appends the query string (without '?'), re-encoded, for the proxy. */
enum bm_rc http_req_query(const struct http_req *req, struct buf *out) BM_WUR;
/* Percent-decodes the NUL-terminated s in place, as the server does each
 * query key and value ("%00" stays literal); returns the new length.
 * Public for tests/fuzz. */
size_t http_unescape(char *s);
/* true if Accept-Encoding names gzip (with a q above 0). */
bool http_req_wants_gzip(const struct http_req *req);
/* Answering later, without holding a worker thread: a handler (of a
 * server started with allow_defer) calls http_req_defer and returns
 * without an answer; the server suspends the connection, then calls
 * start(req, ctx) on the worker thread. From then on the request belongs
 * to whoever answers it: from any thread, http_add_header and one
 * http_send* (the answer is held), then http_req_resume, after which req
 * must not be touched (the worker sends the held answer and frees req).
 * The request's accessors (body, headers, arguments) stay valid until
 * then. A server must not be stopped with a request deferred and not
 * resumed. */
typedef void (*http_deferred_fn)(struct http_req *req, void *ctx);
void http_req_defer(struct http_req *req, http_deferred_fn start, void *ctx);
void http_req_resume(struct http_req *req);

/* Extra response header for the next send (e.g. Allow, Retry-After). */
void http_add_header(struct http_req *req, const char *name, const char *value);
/* Send a body; the bytes are copied. */
void http_send(struct http_req *req, int status, const char *ctype, const char *body,
               size_t len);
/* Send a buffer's content; the buffer is emptied (ownership moves). */
void http_send_buf(struct http_req *req, int status, const char *ctype, struct buf *b);
/* http_send_buf, gzip-compressed when the client accepts it (and the body
 * is worth it); adds Vary: Accept-Encoding either way. */
void http_send_buf_gz(struct http_req *req, int status, const char *ctype, struct buf *b);

/* A body produced while it is sent (chunked): fn fills out with up to max
 * bytes and returns how many, HTTP_STREAM_END when done, HTTP_STREAM_ERROR
 * to cut the connection. fn runs on the connection's worker thread;
 * done(ud) runs once when the response is finished with, sent or not.
 * gzip: compress it. */
#define HTTP_STREAM_END   (-1)
#define HTTP_STREAM_ERROR (-2)
typedef long (*http_stream_fn)(void *ud, char *out, size_t max);
void http_send_stream(struct http_req *req, int status, const char *ctype, bool gzip,
                      http_stream_fn fn, void (*done)(void *ud), void *ud);
/* An event stream's answer, which leaves libmicrohttpd once its head is
 * sent: take(ud, server, fd) then gets a descriptor of its own for the
 * connection's socket (Nagle off) and writes the body itself, to the
 * close (never chunked: HTTP/1.1 allows a body that ends with the
 * connection); it closes the socket with http_taken_close. Until then the
 * connection counts under the server's cap. fd is -1 if the connection
 * ended before its head was sent (take still runs exactly once). Runs on
 * the connection's worker thread. A stream held this way costs its
 * taker's memory only, not a connection's pool (16 KiB) and state. */
typedef void (*http_take_fn)(void *ud, struct http_server *s, int fd);
void http_send_stream_taken(struct http_req *req, int status, const char *ctype,
                            http_take_fn take, void *ud);
/* Closes a taken stream's socket and frees its place under the cap. */
void http_taken_close(struct http_server *s, int fd);
/* Caps the kernel's send buffer of the request's connection, so a client
 * that stops reading holds at most this much there. */
void http_req_sndbuf(const struct http_req *req, int bytes);
/* The only writer of error bodies:
 * {"error":{"code":..,"message":..,"field":..}} */
void http_send_error(struct http_req *req, enum api_err err, const char *field,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void http_send_fail(struct http_req *req, const struct api_fail *f);

/* Appends the server's connection figures to a /metrics answer in out:
 * with text false, out holds a JSON object and gains a "connections"
 * member (open, pending, cap, the RLIMIT_NOFILE soft and hard limits, the
 * timeouts, and counts of connections refused over the cap and cut by the
 * header timeout); with text true, Prometheus samples labelled with
 * service. */
enum bm_rc http_server_limits(const struct http_req *req, bool text, const char *service,
                              struct buf *out) BM_WUR;

/* Durations of the requests served so far as a cumulative histogram:
 * cum[k] counts those shorter than http_duration_bound_s(k), which is
 * 2^(k+4) us (16 us, 32 us, ... 8.39 s); count is all of them (the +Inf
 * bucket) and sum_s their total in seconds. */
#define HTTP_DUR_BOUNDS 20
struct http_durations {
    uint64_t cum[HTTP_DUR_BOUNDS];
    uint64_t count;
    double sum_s;
};
void http_durations(struct http_durations *d);
double http_duration_bound_s(unsigned k);

/* Latency of requests served so far, in ms (p50, p99). */
void http_latency(double *p50, double *p99);
/* Requests served and how many were 5xx / 4xx. */
void http_counts(uint64_t *total, uint64_t *c4xx, uint64_t *c5xx);

/* Two busy workers sharing a CPU (a t2.micro has one) switch only at the
 * scheduler tick, 4 ms at HZ=250 on a kernel without forced preemption,
 * and the connections of the one waiting wait that long: /health p99 went
 * from ~1 ms to ~5 ms once the CPU saturated. So a worker that served
 * HTTP_YIELD_EVERY requests without once waiting (its count of voluntary
 * context switches unchanged) offers the CPU with sched_yield, which
 * returns at once when nothing else is runnable. */
#define HTTP_YIELD_EVERY 32
struct http_yield {
    unsigned served; /* requests since the last decision */
    long waits;      /* voluntary context switches then; -1 at first */
};
/* Counts one request; every HTTP_YIELD_EVERY-th it reads waits() (the
 * thread's voluntary context switches, -1 if unknown) and is true when
 * that count has not moved since the last time. */
bool http_yield_due(struct http_yield *y, long (*waits)(void));

#endif
