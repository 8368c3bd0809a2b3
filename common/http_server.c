/* http_server.c - libmicrohttpd wrapper.
 *
 * MHD calls the access handler several times per request: first with the
 * headers (we make the request context there and check limits), then with
 * body chunks, then once more with no data, when the route runs. The
 * context lives on *con_cls and is freed in the completion callback, which
 * also writes the access log line. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "http_server.h"

#include <ctype.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "rng.h"
#include "timefmt.h"
#include "token.h"

#define MAX_ARGS    16
#define MAX_HEADERS 24 /* response headers a handler adds (the proxy forwards a service's) */
#define RID_MAX     64

/* An open connection, on its socket context. waiting_since_us is when it
 * began owing us a request (opened, or its last answer went out), 0 while
 * a whole request is in and being answered. */
struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    _Atomic int64_t waiting_since_us;
};

struct http_server {
    struct MHD_Daemon *d;
    const struct route *routes;
    size_t nroutes;
    void *app;
    char token[256];
    unsigned max_conns;
    atomic_uint open_conns;
    atomic_uint inflight;          /* requests begun and not yet completed */
    atomic_bool draining;          /* stopping: new requests get 503 */
    uint16_t port;
    int64_t request_deadline_us;   /* a request must be in whole this long after it is owed */
    _Atomic int64_t next_sweep_us; /* when late requests are looked for next */
    pthread_mutex_t conns_lock;    /* guards conns and its links */
    struct conn_track *conns;
};

struct http_arg {
    const char *key;
    const char *val; /* NULL for "?flag" */
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const struct route *route;
    const char *method;
    const char *path;
    char rid[RID_MAX + 1];
    int64_t start_us;
    int status;
    bool answered;
    bool too_big;  /* body over the cap: discard, answer 413 at the end */
    struct buf body;
    struct http_arg args[MAX_ARGS];
    size_t nargs;
    bool args_overflow;
    bool args_dup;
    char *hdr_name[MAX_HEADERS]; /* one allocation: "name\0value" */
    const char *hdr_val[MAX_HEADERS];
    size_t nhdr;
};

/* Request counters and a latency histogram: log-spaced buckets from
 * 1 us upward, 8 per doubling, so percentiles are within ~9%. */
#define LAT_BUCKETS 200
static atomic_ullong lat_hist[LAT_BUCKETS];
static atomic_ullong req_total, req_4xx, req_5xx;

static unsigned lat_bucket(int64_t us)
{
    unsigned b = 0;
    double v = (double)(us < 1 ? 1 : us);

    /* 8 buckets per power of two */
    while (v >= 2.0 && b + 8 < LAT_BUCKETS) {
        v /= 2.0;
        b += 8;
    }
    b += (unsigned)((v - 1.0) * 8.0);
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static double lat_bucket_us(unsigned b)
{
    double base = 1.0;
    for (unsigned i = 0; i < b / 8; i++)
        base *= 2.0;
    return base * (1.0 + ((double)(b % 8) + 0.5) / 8.0);
}

void http_latency(double *p50, double *p99)
{
    unsigned long long counts[LAT_BUCKETS], total = 0, acc = 0;
    double q[2] = { 0.5, 0.99 }, res[2] = { 0, 0 };
    int qi = 0;

    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        counts[i] = atomic_load_explicit(&lat_hist[i], memory_order_relaxed);
        total += counts[i];
    }
    for (unsigned i = 0; i < LAT_BUCKETS && total && qi < 2; i++) {
        acc += counts[i];
        while (qi < 2 && (double)acc >= q[qi] * (double)total)
            res[qi++] = lat_bucket_us(i) / 1000.0;
    }
    *p50 = res[0];
    *p99 = res[1];
}

void http_counts(uint64_t *total, uint64_t *c4xx, uint64_t *c5xx)
{
    *total = atomic_load(&req_total);
    *c4xx = atomic_load(&req_4xx);
    *c5xx = atomic_load(&req_5xx);
}

/* ------------------------------------------------------------------ */
/* Request accessors                                                    */

void *http_req_app(const struct http_req *req)
{
    return req->srv->app;
}

const char *http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *http_req_id(const struct http_req *req)
{
    return req->rid;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct header_walk {
    http_header_fn fn;
    void *ud;
};

static enum MHD_Result walk_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_walk *w = cls;

    (void)kind;
    if (key && value)
        w->fn(w->ud, key, value);
    return MHD_YES;
}

void http_req_headers_each(const struct http_req *req, http_header_fn fn, void *ud)
{
    struct header_walk w = { fn, ud };

    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, walk_header, &w);
}

const char *http_req_body(const struct http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct http_req *req = cls;

    (void)kind;
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0)
            req->args_dup = true;
    if (req->nargs == MAX_ARGS) {
        req->args_overflow = true;
        return MHD_NO;
    }
    req->args[req->nargs].key = key;
    req->args[req->nargs].val = value;
    req->nargs++;
    return MHD_YES;
}

const char *http_req_arg(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, name) == 0)
            return req->args[i].val ? req->args[i].val : "";
    return NULL;
}

bool http_req_has_arg(const struct http_req *req, const char *name)
{
    return http_req_arg(req, name) != NULL;
}

bool http_req_args_check(struct http_req *req, const char *const *allowed)
{
    if (req->args_overflow) {
        http_send_error(req, API_BAD_REQUEST, "", "more than %d query parameters", MAX_ARGS);
        return false;
    }
    for (size_t i = 0; i < req->nargs; i++) {
        bool ok = false;
        for (size_t j = 0; allowed && allowed[j]; j++)
            ok = ok || strcmp(allowed[j], req->args[i].key) == 0;
        if (!ok) {
            http_send_error(req, API_BAD_PARAM, req->args[i].key,
                            "unknown query parameter \"%.40s\"", req->args[i].key);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(req->args[j].key, req->args[i].key) == 0) {
                http_send_error(req, API_BAD_PARAM, req->args[i].key,
                                "query parameter \"%.40s\" given twice", req->args[i].key);
                return false;
            }
    }
    return true;
}

static enum bm_rc put_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        enum bm_rc rc;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            rc = buf_putc(b, (char)c);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            rc = buf_append(b, e, 3);
        }
        if (rc != BM_OK)
            return rc;
    }
    return BM_OK;
}

/* MHD 0.9 hands us the query already split and decoded; rebuild a
 * canonical encoding of it. */
enum bm_rc http_req_query(const struct http_req *req, struct buf *out)
{
    for (size_t i = 0; i < req->nargs; i++) {
        if ((i && buf_putc(out, '&') != BM_OK) || put_escaped(out, req->args[i].key) != BM_OK)
            return BM_ETOOBIG;
        if (req->args[i].val &&
            (buf_putc(out, '=') != BM_OK || put_escaped(out, req->args[i].val) != BM_OK))
            return BM_ETOOBIG;
    }
    return BM_OK;
}

static bool ascii_prefix_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
            return false;
    return true;
}

bool http_req_wants_text(const struct http_req *req)
{
    const char *fmt = http_req_arg(req, "format");
    const char *acc;

    if (fmt)
        return strcmp(fmt, "prometheus") == 0 || strcmp(fmt, "text") == 0;
    acc = http_req_header(req, MHD_HTTP_HEADER_ACCEPT);
    return acc && ascii_prefix_ci(acc, "text/plain");
}

/* ------------------------------------------------------------------ */
/* Responses                                                            */

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *p;

    if (req->nhdr == MAX_HEADERS || (p = malloc(nl + vl + 2)) == NULL)
        return;
    memcpy(p, name, nl + 1);
    memcpy(p + nl + 1, value, vl + 1);
    req->hdr_name[req->nhdr] = p;
    req->hdr_val[req->nhdr++] = p + nl + 1;
}

/* Queues `body` (malloc'ed, ownership taken) as the response. */
static void send_owned(struct http_req *req, int status, const char *ctype, char *body,
                       size_t len)
{
    struct MHD_Response *r;

    if (req->answered) {
        free(body);
        return;
    }
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "X-Request-ID", req->rid);
    for (size_t i = 0; i < req->nhdr; i++)
        MHD_add_response_header(r, req->hdr_name[i], req->hdr_val[i]);
    if (status == 503 || status == 413)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    req->answered = true;
    req->status = status;
    (void)MHD_queue_response(req->conn, (unsigned)status, r);
    MHD_destroy_response(r);
}

void http_send(struct http_req *req, int status, const char *ctype, const char *body,
               size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return;
    memcpy(copy, body, len);
    copy[len] = '\0';
    send_owned(req, status, ctype, copy, len);
}

void http_send_buf(struct http_req *req, int status, const char *ctype, struct buf *b)
{
    size_t len;
    char *data = buf_take(b, &len);

    if (data)
        send_owned(req, status, ctype, data, len);
}

static void send_error_v(struct http_req *req, enum api_err err, const char *field,
                         const char *fmt, va_list ap)
{
    char msg[256];
    struct buf b;
    const struct api_error_info *e = &api_error_table[err];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    buf_init(&b, 1024);
    if (buf_puts(&b, "{\"error\":{\"code\":") != BM_OK || buf_put_json_str(&b, e->code) != BM_OK ||
        buf_puts(&b, ",\"message\":") != BM_OK || buf_put_json_str(&b, msg) != BM_OK ||
        buf_puts(&b, ",\"field\":") != BM_OK ||
        buf_put_json_str_or_null(&b, field && *field ? field : NULL) != BM_OK ||
        buf_puts(&b, "}}") != BM_OK) {
        buf_free(&b);
        return;
    }
    http_send_buf(req, e->status, HTTP_CT_JSON, &b);
    buf_free(&b);
}

void http_send_error(struct http_req *req, enum api_err err, const char *field,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    send_error_v(req, err, field, fmt, ap);
    va_end(ap);
}

void http_send_fail(struct http_req *req, const struct api_fail *f)
{
    http_send_error(req, f->err, f->field, "%s", f->msg);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */

static bool path_matches(const struct route *r, const char *path)
{
    if (r->flags & R_PREFIX)
        return strncmp(path, r->path, strlen(r->path)) == 0;
    return strcmp(path, r->path) == 0;
}

static bool method_matches(const struct route *r, const char *method)
{
    if (r->flags & R_ANY_METHOD)
        return true;
    if (strcmp(r->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Finds the route; answers 404/405 itself and returns NULL. */
static const struct route *route_find(struct http_req *req)
{
    const struct http_server *s = req->srv;
    char allow[128] = "";
    size_t alen = 0;
    bool path_seen = false;

    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *r = &s->routes[i];
        if (!path_matches(r, req->path))
            continue;
        path_seen = true;
        if (method_matches(r, req->method))
            return r;
        if (alen + strlen(r->method) + 3 < sizeof(allow)) {
            int n = snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen ? ", " : "",
                             r->method);
            if (n > 0)
                alen += (size_t)n;
        }
    }
    if (!path_seen) {
        http_send_error(req, API_NOT_FOUND, "", "no such path: %.100s", req->path);
    } else {
        if (strstr(allow, "GET") && !strstr(allow, "HEAD") && alen + 6 < sizeof(allow))
            memcpy(allow + alen, ", HEAD", 7);
        http_add_header(req, MHD_HTTP_HEADER_ALLOW, allow);
        http_send_error(req, API_BAD_METHOD, "", "method %.16s not allowed on %.100s; allowed: %s",
                        req->method, req->path, allow);
    }
    return NULL;
}

static bool rid_valid(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= RID_MAX || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

static _Thread_local struct rng rid_rng;
static _Thread_local bool rid_rng_ready;

static void make_rid(struct http_req *req)
{
    const char *given = http_req_header(req, "X-Request-ID");

    if (rid_valid(given)) {
        memcpy(req->rid, given, strlen(given) + 1);
        return;
    }
    if (!rid_rng_ready) {
        rng_seed(&rid_rng, rng_os_u64());
        rid_rng_ready = true;
    }
    rng_uuid4(&rid_rng, req->rid);
}

/* Checks done once the headers are in, before any body is read.
 * Returns false if it answered already. */
static bool precheck(struct http_req *req)
{
    const struct http_server *s = req->srv;
    const struct route *r;
    const char *cl;

    if (atomic_load(&s->draining)) {
        http_send_error(req, API_UNAVAIL, "", "shutting down");
        return false;
    }
    if (atomic_load(&req->srv->open_conns) > s->max_conns) {
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "too many connections");
        return false;
    }
    r = route_find(req);
    if (!r)
        return false;
    req->route = r;
    if (s->token[0] && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
        !(r->flags & R_PREFIX) &&
        !token_check_bearer(s->token, http_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION))) {
        http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        http_send_error(req, API_UNAUTHORIZED, "", "missing or wrong bearer token");
        return false;
    }
    cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end || n > HTTP_BODY_MAX) {
            http_send_error(req, API_TOO_LARGE, "", "body larger than %d bytes", HTTP_BODY_MAX);
            return false;
        }
    }
    if (r->flags & R_JSON_BODY) {
        const char *ct = http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!ct || !ascii_prefix_ci(ct, "application/json") ||
            (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
            http_send_error(req, API_BAD_MEDIA, "", "Content-Type must be application/json");
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Late requests                                                        */

/* MHD's connection timeout only ends idle connections: a client that
 * trickles its request a byte at a time (slowloris) keeps its socket for
 * ever, and enough of them hold the connection cap, so that everyone else
 * gets 503. So a request that is not in whole within the timeout of being
 * owed is cut, however it trickles. New connections trigger the sweep (at
 * most once a second): they are what the cap turns away. */

static struct conn_track *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static void track_owed(struct MHD_Connection *conn, bool owed)
{
    struct conn_track *t = track_of(conn);

    if (t)
        atomic_store_explicit(&t->waiting_since_us, owed ? time_mono_us() : 0,
                              memory_order_relaxed);
}

static struct conn_track *track_add(struct http_server *s, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn_track *t;

    if (!ci || !(t = calloc(1, sizeof(*t))))
        return NULL; /* untracked: only its deadline is lost */
    t->fd = ci->connect_fd;
    atomic_init(&t->waiting_since_us, time_mono_us());
    pthread_mutex_lock(&s->conns_lock);
    t->next = s->conns;
    if (s->conns)
        s->conns->prev = t;
    s->conns = t;
    pthread_mutex_unlock(&s->conns_lock);
    return t;
}

static void track_remove(struct http_server *s, struct conn_track *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&s->conns_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        s->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&s->conns_lock);
    free(t);
}

static void sweep_late(struct http_server *s)
{
    int64_t now = time_mono_us(), due = atomic_load(&s->next_sweep_us);
    unsigned cut = 0;

    if (now < due || !atomic_compare_exchange_strong(&s->next_sweep_us, &due, now + 1000000))
        return;
    /* Under the lock: MHD reports a connection closed before it closes
     * the socket, and that report waits for the lock, so every fd listed
     * here is still the connection's own. shutdown() makes MHD see EOF
     * and close the connection on its own thread. */
    pthread_mutex_lock(&s->conns_lock);
    for (struct conn_track *t = s->conns; t; t = t->next) {
        int64_t since = atomic_load_explicit(&t->waiting_since_us, memory_order_relaxed);
        if (since && now - since > s->request_deadline_us) {
            atomic_store_explicit(&t->waiting_since_us, 0, memory_order_relaxed);
            (void)shutdown(t->fd, SHUT_RDWR);
            cut++;
        }
    }
    pthread_mutex_unlock(&s->conns_lock);
    if (cut)
        log_warn("closed %u connections that sent no whole request within %lld s", cut,
                 (long long)(s->request_deadline_us / 1000000));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *req = *con_cls;

    (void)version;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->srv = s;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->status = 0;
        req->start_us = time_mono_us();
        buf_init(&req->body, HTTP_BODY_MAX);
        *con_cls = req;
        atomic_fetch_add(&s->inflight, 1);
        make_rid(req);
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, req);
        (void)precheck(req); /* answers on its own when the request fails it */
        return MHD_YES;
    }
    if (*upload_size) {
        /* Already answered (an early error): drop the body. */
        if (!req->answered && !req->too_big &&
            buf_append(&req->body, upload_data, *upload_size) != BM_OK)
            req->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    track_owed(conn, false); /* the whole request is in */
    if (req->answered)
        return MHD_YES;
    if (req->too_big) {
        http_send_error(req, API_TOO_LARGE, "", "body larger than %d bytes", HTTP_BODY_MAX);
        return MHD_YES;
    }
    req->route->fn(req);
    if (!req->answered)
        http_send_error(req, API_INTERNAL, "", "handler produced no response");
    return MHD_YES;
}

bool http_yield_due(struct http_yield *y, long (*waits)(void))
{
    long w;
    bool due;

    if (++y->served < HTTP_YIELD_EVERY)
        return false;
    y->served = 0;
    w = waits();
    due = w >= 0 && w == y->waits;
    y->waits = w;
    return due;
}

static _Thread_local struct http_yield worker_yield = { 0, -1 };

/* This thread's voluntary context switches, or -1. */
static long thread_waits(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : -1;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_req *req = *con_cls;
    int64_t dur;

    (void)toe;
    track_owed(conn, true); /* a kept-alive connection owes the next request */
    if (!req)
        return;
    dur = time_mono_us() - req->start_us;
    atomic_fetch_add_explicit(&lat_hist[lat_bucket(dur)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&req_total, 1, memory_order_relaxed);
    if (req->status >= 500)
        atomic_fetch_add_explicit(&req_5xx, 1, memory_order_relaxed);
    else if (req->status >= 400)
        atomic_fetch_add_explicit(&req_4xx, 1, memory_order_relaxed);
    if (log_enabled(LOG_INFO))
        log_request(req->method, req->path, req->status, (double)dur / 1000.0, req->rid);
    for (size_t i = 0; i < req->nhdr; i++)
        free(req->hdr_name[i]);
    buf_free(&req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
    if (http_yield_due(&worker_yield, thread_waits))
        (void)sched_yield();
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->open_conns, 1);
        *socket_ctx = track_add(s, conn);
        sweep_late(s);
    } else {
        atomic_fetch_sub(&s->open_conns, 1);
        track_remove(s, *socket_ctx);
        *socket_ctx = NULL;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding in place, like MHD's own, except that "%00" stays as
 * written: a decoded NUL would silently cut a path or a value short
 * ("/health%00x" would route to /health). Kept literal, it fails
 * validation like any other bad byte. */
size_t http_unescape(char *s)
{
    char *r = s, *w = s;

    while (*r) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return http_unescape(s);
}

/* libmicrohttpd's default panic handler prints a bare line on stderr and
 * aborts. Ours says the same in a JSON line first, so a library failure
 * reads like every other line of the daemon's log. */
static void on_mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    char what[256];

    (void)cls;
    snprintf(what, sizeof(what), "%s", reason ? reason : "");
    what[strcspn(what, "\n")] = '\0';
    log_error("libmicrohttpd panic at %s:%u: %s", file ? file : "?", line, what);
    log_flush();
    abort();
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("mhd: %s", msg);
}

enum bm_rc http_server_start(const struct http_server_opts *o, struct http_server **out)
{
    struct http_server *s = calloc(1, sizeof(*s));
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    unsigned int pool;

    if (!s)
        return BM_ENOMEM;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(o->port);
    if (inet_pton(AF_INET, o->bind, &addr.sin_addr) != 1) {
        log_error("bad bind address \"%s\"", o->bind);
        free(s);
        return BM_EINVAL;
    }
    s->routes = o->routes;
    s->nroutes = o->nroutes;
    s->app = o->app;
    s->max_conns = o->max_conns ? o->max_conns : 256;
    if (o->admin_token)
        snprintf(s->token, sizeof(s->token), "%s", o->admin_token);
    atomic_init(&s->open_conns, 0);
    atomic_init(&s->inflight, 0);
    atomic_init(&s->draining, false);
    s->request_deadline_us = (int64_t)(o->conn_timeout_s ? o->conn_timeout_s : 15) * 1000000;
    atomic_init(&s->next_sweep_us, 0);
    pthread_mutex_init(&s->conns_lock, NULL);

    /* A pool of epoll workers, each serving many connections; or a thread
     * per connection where a handler may block (the gateway's proxy). */
    pool = o->thread_per_connection ? 0 : (o->threads ? o->threads : 2);
    MHD_set_panic_func(on_mhd_panic, NULL);
    s->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
            (o->thread_per_connection ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL
                                      : MHD_USE_EPOLL),
        0, NULL, NULL, on_request, s,
        /* First: MHD reports on the options as it parses them (a pool
         * size of 0 draws a warning), and only through the logger it
         * already has; later, its default writes plain text to stderr. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, pool,
        /* MHD splits this limit between its worker threads; give each
         * room for the whole cap so our quick 503 fires before MHD starts
         * closing sockets unanswered. */
        MHD_OPTION_CONNECTION_LIMIT, (s->max_conns + 64) * (pool ? pool : 1),
        /* handlers keep big buffers on the heap; 0 = the system default */
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(o->thread_per_connection ? 512 * 1024 : 0),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->conn_timeout_s ? o->conn_timeout_s : 15),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, s,
        MHD_OPTION_END);
    if (!s->d) {
        pthread_mutex_destroy(&s->conns_lock);
        free(s);
        return BM_EIO;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    *out = s;
    return BM_OK;
}

uint16_t http_server_port(const struct http_server *s)
{
    return s->port;
}

/* Not MHD_quiesce_daemon: with the epoll thread pool it takes the listen
 * socket out of each worker's epoll set while that worker's own loop may
 * do the same, and the loser's ENOENT is an MHD panic (an abort) in
 * 0.9.x. Connections are still accepted while we drain, and their
 * requests get a quick 503 with Connection: close. */
void http_server_drain(struct http_server *s, int64_t max_ms)
{
    int64_t until;

    if (!s)
        return;
    atomic_store(&s->draining, true);
    until = time_mono_us() + max_ms * 1000;
    while (atomic_load(&s->inflight) > 0 && time_mono_us() < until) {
        struct timespec ts = { 0, 5 * 1000000L };
        (void)nanosleep(&ts, NULL);
    }
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d); /* reports every connection closed */
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}
