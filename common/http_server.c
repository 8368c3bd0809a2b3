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
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <microhttpd.h>
#include <zlib.h>

#include "log.h"
#include "parse.h"
#include "rng.h"
#include "timefmt.h"
#include "token.h"

#define MAX_ARGS    16
#define MAX_HEADERS 24 /* response headers a handler adds (the proxy forwards a service's) */
#define RID_MAX     64

/* A connection MHD serves, on its socket context. waiting_since_us is
 * when it began owing us a request (handed to MHD with its first head, or
 * its last answer went out), 0 while a whole request is in and being
 * answered; first until its first request is in whole. */
struct conn_track {
    struct conn_track *prev, *next;
    struct http_worker *w; /* the worker whose daemon serves it */
    int fd;
    _Atomic int64_t waiting_since_us;
    atomic_bool first;
    atomic_bool taken; /* its socket went to a stream's taker: owes nothing */
};

/* A connection the front door holds: accepted, its first request head not
 * yet in whole (pending), or answered by the door itself and read until
 * the client closes or the linger time ends (lingering). Each list is in
 * order of its deadline, oldest first. */
struct door_conn {
    struct door_conn *prev, *next;
    int fd;
    bool lingering;
    int64_t since_us; /* accepted, or answered */
    struct sockaddr_in addr;
};

struct door_list {
    struct door_conn *head, *tail;
    unsigned n;
};

/* One thread and its own MHD daemon (see "Workers" below). */
struct http_worker {
    struct http_server *s;
    struct MHD_Daemon *d;
    pthread_t th;
    bool running;
    int ep_fd, wake_fd;            /* MHD's epoll descriptor and wake_fd, in ours */
    atomic_bool stop;
    pthread_mutex_t lock;          /* guards the queue */
    struct door_conn *q_head, *q_tail; /* handed over by the door, not yet added */
};

struct http_server {
    struct http_worker *workers;
    unsigned nworkers;
    unsigned next_worker;          /* door thread: where the next hand-over goes */
    const struct route *routes;
    size_t nroutes;
    void *app;
    char token[256];
    char cors[512];                /* cors_origins: "", "*" or a list */
    unsigned max_conns;
    atomic_uint open_conns;        /* connections MHD serves */
    atomic_uint pending_conns;     /* connections the front door holds */
    atomic_uint inflight;          /* requests begun and not yet completed */
    atomic_bool draining;          /* stopping: new requests get 503 */
    uint16_t port;
    int64_t header_deadline_us;    /* a first request must be in whole this long after
                                      it is owed (accepted; its head handed to MHD) */
    int64_t idle_deadline_us;      /* the same for a kept-alive connection's next */
    int64_t next_sweep_us;         /* when late requests are looked for next (door thread) */
    pthread_mutex_t conns_lock;    /* guards conns and its links */
    struct conn_track *conns;
    /* the front door: listen socket, accept thread */
    int listen_fd, ep_fd, wake_fd, spare_fd;
    pthread_t door;
    bool door_running;
    bool allow_defer;              /* MHD started with suspend/resume */
    struct door_list pending, lingering;
    atomic_ullong refused;         /* connections answered 503 over the cap */
    atomic_ullong header_timeouts; /* connections cut for a late first request */
    atomic_ullong heads_refused;   /* 414 and 431 answered by the door */
    char peek[HTTP_HEAD_MAX + 1];  /* the door thread's view of a head */
};

/* The worker running on this thread (NULL elsewhere). */
static _Thread_local struct http_worker *cur_worker;

static void conn_resume(struct MHD_Connection *conn);
static struct conn_track *track_of(struct MHD_Connection *conn);
static void worker_wake(struct http_worker *w);

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
    /* deferred answers (http_req_defer) */
    http_deferred_fn defer_fn;
    void *defer_ctx;
    bool suspended;               /* an answer is held in held, not queued */
    bool resumed;                 /* back from another thread: send what is held */
    struct MHD_Response *held;
};

/* Request counters and a latency histogram: log-spaced buckets from
 * 1 us upward, 8 per doubling, so percentiles are within ~9%. */
#define LAT_BUCKETS 200
static atomic_ullong lat_hist[LAT_BUCKETS];
static atomic_ullong lat_sum_us; /* for the Prometheus histogram's _sum */
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

static void lat_record(int64_t us)
{
    atomic_fetch_add_explicit(&lat_hist[lat_bucket(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lat_sum_us, us > 0 ? (unsigned long long)us : 0,
                              memory_order_relaxed);
}

double http_duration_bound_s(unsigned k)
{
    return (double)(16ull << k) / 1e6;
}

/* Bound k, 2^(k+4) us, is where internal bucket 8 * (k + 4) begins: the
 * cumulative counts are exact, not interpolated. */
void http_durations(struct http_durations *d)
{
    unsigned long long acc = 0;
    unsigned k = 0;

    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        while (k < HTTP_DUR_BOUNDS && i == 8 * (k + 4))
            d->cum[k++] = acc;
        acc += atomic_load_explicit(&lat_hist[i], memory_order_relaxed);
    }
    while (k < HTTP_DUR_BOUNDS)
        d->cum[k++] = acc;
    d->count = acc;
    d->sum_s = (double)atomic_load_explicit(&lat_sum_us, memory_order_relaxed) / 1e6;
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

/* Whether origin is one of the comma-separated list. */
static bool origin_listed(const char *list, const char *origin)
{
    size_t n = strlen(origin);

    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len == n && strncmp(p, origin, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* Content type, request id, the handler's headers, CORS. */
static void add_headers(struct http_req *req, struct MHD_Response *r, const char *ctype)
{
    const char *cors = req->srv->cors;
    const char *origin = http_req_header(req, "Origin");

    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "X-Request-ID", req->rid);
    for (size_t i = 0; i < req->nhdr; i++)
        MHD_add_response_header(r, req->hdr_name[i], req->hdr_val[i]);
    if (!cors[0])
        return;
    if (strcmp(cors, "*") != 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    if (!origin)
        return;
    if (strcmp(cors, "*") == 0)
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    else if (origin_listed(cors, origin))
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
    else
        return;
    MHD_add_response_header(r, "Access-Control-Expose-Headers",
                            "X-Request-ID, X-Next-Since, X-Oldest-Sequence, Retry-After");
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
    add_headers(req, r, ctype);
    if (status == 503 || status == 413)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    req->answered = true;
    req->status = status;
    if (req->suspended) {
        /* another thread's answer: queued by the worker once resumed */
        req->held = r;
        return;
    }
    (void)MHD_queue_response(req->conn, (unsigned)status, r);
    MHD_destroy_response(r);
}

void http_req_defer(struct http_req *req, http_deferred_fn start, void *ctx)
{
    req->defer_fn = start;
    req->defer_ctx = ctx;
}

void http_req_resume(struct http_req *req)
{
    struct MHD_Connection *conn = req->conn;

    req->suspended = false;
    req->resumed = true;
    /* MHD's lock hands what was written here to the worker thread; req
     * may be gone as soon as this returns */
    conn_resume(conn);
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

/* A q-value of zero ("0", "0.0", "0.000") refuses a coding. */
static bool q_zero(const char *p)
{
    while (*p == ' ' || *p == ';')
        p++;
    if (strncasecmp(p, "q=", 2) != 0)
        return false;
    p += 2;
    if (*p != '0')
        return false;
    p++;
    if (*p == '.')
        p += strspn(p + 1, "0") + 1;
    return *p == '\0' || *p == ',' || *p == ' ';
}

bool http_req_wants_gzip(const struct http_req *req)
{
    const char *ae = http_req_header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING);

    for (const char *p = ae; p && *p;) {
        p += strspn(p, " ,");
        if (strncasecmp(p, "gzip", 4) == 0 && (p[4] == '\0' || strchr(",; ", p[4])))
            return !q_zero(p + 4);
        p = strchr(p, ',');
    }
    return false;
}

/* Below this a gzip header and trailer cost more than they save. */
#define GZIP_MIN 256

static enum bm_rc gzip_buf(const char *in, size_t len, struct buf *out)
{
    z_stream z;
    enum bm_rc rc = BM_OK;
    int zr;

    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip wrapper; level 1: lists go out as fast as they read */
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return BM_ENOMEM;
    if (buf_reserve(out, deflateBound(&z, (uLong)len)) != BM_OK) {
        deflateEnd(&z);
        return BM_ETOOBIG;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)(out->cap - out->len);
    zr = deflate(&z, Z_FINISH);
    if (zr != Z_STREAM_END)
        rc = BM_ETOOBIG;
    else
        out->len += z.total_out;
    deflateEnd(&z);
    return rc;
}

void http_send_buf_gz(struct http_req *req, int status, const char *ctype, struct buf *b)
{
    struct buf z;

    http_add_header(req, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (b->len < GZIP_MIN || !http_req_wants_gzip(req)) {
        http_send_buf(req, status, ctype, b);
        return;
    }
    buf_init(&z, b->max + 1024);
    if (gzip_buf(b->data, b->len, &z) != BM_OK) {
        buf_free(&z);
        http_send_buf(req, status, ctype, b);
        return;
    }
    http_add_header(req, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    http_send_buf(req, status, ctype, &z);
    buf_free(&z);
}

/* ------------------------------------------------------------------ */
/* Streamed bodies                                                      */

/* A stream's output per call: MHD hands the callback the whole free part
 * of the connection's 16 KiB pool and sends each chunk from its start, so
 * writing at most this much keeps most of that pool's pages untouched
 * (exports held open by slow clients stay small). */
#define STREAM_CHUNK (8 * 1024)
#define GZ_RAW       (8 * 1024)

struct stream_resp {
    http_stream_fn fn;
    void (*done)(void *ud);
    void *ud;
    /* a taken stream's: who gets the socket, and from where */
    http_take_fn take;
    struct http_server *srv;
    struct MHD_Connection *conn;
    bool taken;
    bool gzip, eof, zdone;
    z_stream z;
    char *raw; /* gzip: fn's output not yet compressed */
};

static ssize_t stream_plain(struct stream_resp *st, char *buf, size_t max)
{
    long n = st->fn(st->ud, buf, max < STREAM_CHUNK ? max : STREAM_CHUNK);

    if (n == HTTP_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static ssize_t stream_gzip(struct stream_resp *st, char *buf, size_t max)
{
    size_t cap = max < STREAM_CHUNK ? max : STREAM_CHUNK;

    if (st->zdone)
        return MHD_CONTENT_READER_END_OF_STREAM;
    st->z.next_out = (Bytef *)buf;
    st->z.avail_out = (uInt)cap;
    while (st->z.avail_out > 0) {
        int zr;
        if (st->z.avail_in == 0 && !st->eof) {
            long n = st->fn(st->ud, st->raw, GZ_RAW);
            if (n == HTTP_STREAM_END)
                st->eof = true;
            else if (n < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            st->z.next_in = (Bytef *)st->raw;
            st->z.avail_in = n > 0 ? (uInt)n : 0;
        }
        zr = deflate(&st->z, st->eof ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            st->zdone = true;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (cap == st->z.avail_out && st->zdone)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)(cap - st->z.avail_out);
}

/* A taken stream's one call: MHD has sent the head (it asks for body
 * only then), so the socket goes to st->take under a descriptor of its
 * own and MHD ends the response. The body is close-delimited, so the end
 * only closes MHD's descriptor: with MHD_USE_TURBO, libmicrohttpd 0.9.75
 * does not shut the socket down first (MHD_connection_mark_closed_), and
 * it takes the descriptor out of its epoll set before it closes it. */
static ssize_t stream_take(struct stream_resp *st)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
    struct conn_track *t;

    if (fd < 0) {
        log_warn("handing a stream's socket over: %s", ci ? strerror(errno) : "no socket");
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    /* held under the cap until http_taken_close */
    atomic_fetch_add(&st->srv->open_conns, 1);
    st->taken = true;
    t = track_of(st->conn);
    if (t)
        atomic_store(&t->taken, true); /* the door's sweep must not cut it */
    /* MHD closes its side now but frees it (and closes its descriptor) on
     * a later run, from its timeout lists: the normal one is scanned from
     * the connection touched longest ago and stops at the first still
     * open, so one idle keep-alive connection could hold this one (and
     * the socket: no FIN when the taker closes) for the idle timeout.
     * Connections with a timeout of their own (here 0: none) are all
     * looked at on every run, and the worker runs again at once. */
    (void)MHD_set_connection_option(st->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    worker_wake(cur_worker);
    st->take(st->ud, st->srv, fd);
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream_resp *st = cls;

    (void)pos;
    if (st->take)
        return st->taken ? MHD_CONTENT_READER_END_OF_STREAM : stream_take(st);
    return st->gzip ? stream_gzip(st, buf, max) : stream_plain(st, buf, max);
}

static void stream_free(void *cls)
{
    struct stream_resp *st = cls;

    if (st->gzip)
        deflateEnd(&st->z);
    free(st->raw);
    if (st->take) {
        if (!st->taken)
            st->take(st->ud, st->srv, -1);
    } else {
        st->done(st->ud);
    }
    free(st);
}

static void send_stream(struct http_req *req, int status, const char *ctype, bool gzip,
                        http_take_fn take, http_stream_fn fn, void (*done)(void *ud), void *ud)
{
    struct stream_resp *st = calloc(1, sizeof(*st));
    struct MHD_Response *r = NULL;
    bool direct = take != NULL;

    if (req->answered || !st)
        goto fail;
    st->fn = fn;
    st->done = done;
    st->ud = ud;
    st->take = take;
    st->srv = req->srv;
    st->conn = req->conn;
    if (gzip) {
        st->raw = malloc(GZ_RAW);
        if (!st->raw || deflateInit2(&st->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
                            Z_OK) {
            free(st->raw);
            goto fail;
        }
        st->gzip = true;
    }
    /* block size: advisory; a chunked body is read straight into the
     * connection's buffer */
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_read, st, stream_free);
    if (!r) {
        if (st->gzip)
            deflateEnd(&st->z);
        free(st->raw);
        goto fail;
    }
    if (gzip)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (direct) {
        /* no chunk framing: the body is what the taker writes, to the close */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int one = 1;
        (void)MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
        if (ci)
            (void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    add_headers(req, r, ctype);
    req->answered = true;
    req->status = status;
    (void)MHD_queue_response(req->conn, (unsigned)status, r);
    MHD_destroy_response(r); /* stream_free runs when MHD lets go of it */
    return;
fail:
    free(st);
    if (take)
        take(ud, req->srv, -1);
    else
        done(ud);
    http_send_error(req, API_INTERNAL, "", "cannot start the stream");
}

void http_send_stream(struct http_req *req, int status, const char *ctype, bool gzip,
                      http_stream_fn fn, void (*done)(void *ud), void *ud)
{
    send_stream(req, status, ctype, gzip, NULL, fn, done, ud);
}

void http_send_stream_taken(struct http_req *req, int status, const char *ctype,
                           http_take_fn take, void *ud)
{
    send_stream(req, status, ctype, false, take, NULL, NULL, ud);
}

void http_taken_close(struct http_server *s, int fd)
{
    if (fd < 0)
        return;
    close(fd);
    atomic_fetch_sub(&s->open_conns, 1);
}

void http_req_sndbuf(const struct http_req *req, int bytes)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    if (ci)
        (void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

/* {"error":{"code":..,"message":..,"field":..}} into b. */
static enum bm_rc error_body(struct buf *b, enum api_err err, const char *field,
                             const char *msg)
{
    if (buf_puts(b, "{\"error\":{\"code\":") != BM_OK ||
        buf_put_json_str(b, api_error_table[err].code) != BM_OK ||
        buf_puts(b, ",\"message\":") != BM_OK || buf_put_json_str(b, msg) != BM_OK ||
        buf_puts(b, ",\"field\":") != BM_OK ||
        buf_put_json_str_or_null(b, field && *field ? field : NULL) != BM_OK ||
        buf_puts(b, "}}") != BM_OK)
        return BM_ETOOBIG;
    return BM_OK;
}

static void send_error_v(struct http_req *req, enum api_err err, const char *field,
                         const char *fmt, va_list ap)
{
    char msg[256];
    struct buf b;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    buf_init(&b, 1024);
    if (error_body(&b, err, field, msg) == BM_OK)
        http_send_buf(req, api_error_table[err].status, HTTP_CT_JSON, &b);
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

/* OPTIONS on a known path: what a browser asks before a cross-origin
 * request (CORS preflight), answered from the route table. */
static void preflight(struct http_req *req, const char *allow)
{
    char *empty = malloc(1);

    http_add_header(req, MHD_HTTP_HEADER_ALLOW, allow);
    if (req->srv->cors[0]) {
        http_add_header(req, "Access-Control-Allow-Methods", allow);
        http_add_header(req, "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Accept, Accept-Encoding, X-Request-ID, "
                        "Last-Event-ID");
        http_add_header(req, "Access-Control-Max-Age", "600");
    }
    if (empty)
        send_owned(req, 204, NULL, empty, 0);
}

/* Finds the route; answers 404/405 (and OPTIONS) itself and returns NULL. */
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
        if (strstr(allow, "GET") && !strstr(allow, "HEAD") && alen + 6 < sizeof(allow)) {
            memcpy(allow + alen, ", HEAD", 7);
            alen += 6;
        }
        if (alen + 9 < sizeof(allow))
            memcpy(allow + alen, ", OPTIONS", 10);
        if (strcmp(req->method, "OPTIONS") == 0) {
            preflight(req, allow);
            return NULL;
        }
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

static void new_rid(char out[RID_MAX + 1])
{
    if (!rid_rng_ready) {
        rng_seed(&rid_rng, rng_os_u64());
        rid_rng_ready = true;
    }
    rng_uuid4(&rid_rng, out);
}

static void make_rid(struct http_req *req)
{
    const char *given = http_req_header(req, "X-Request-ID");

    if (rid_valid(given)) {
        memcpy(req->rid, given, strlen(given) + 1);
        return;
    }
    new_rid(req->rid);
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
    if (r->flags & R_BIG_BODY)
        buf_init(&req->body, HTTP_BIG_BODY_MAX); /* nothing read yet */
    cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        int64_t n;
        if (parse_i64(cl, 0, (int64_t)req->body.max, &n) != BM_OK) {
            http_send_error(req, API_TOO_LARGE, "", "body larger than %zu bytes", req->body.max);
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
 * ever. The front door holds a new connection until its first head is in
 * whole (header timeout); here a connection MHD serves is cut when its
 * request (a first one's body, or a kept-alive one's next request) is not
 * in whole within the header or the idle timeout of being owed, however
 * it trickles. The door thread sweeps twice a second; the list holds only
 * connections that sent a whole head, not an idle flood. */

static struct conn_track *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static void worker_wake(struct http_worker *w)
{
    uint64_t one = 1;

    if (w && write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("waking an HTTP worker: %s", strerror(errno));
}

/* MHD_resume_connection signals MHD's own channel, but a worker's MHD_run
 * may clear that signal before it looks for resumed connections, so the
 * worker is woken on ours as well. The worker is read first: a resumed
 * connection may be answered and gone at once; a suspended one stays. */
static void conn_resume(struct MHD_Connection *conn)
{
    struct conn_track *t = track_of(conn);
    struct http_worker *w = t ? t->w : NULL;

    MHD_resume_connection(conn);
    worker_wake(w);
}

static void track_owed(struct MHD_Connection *conn, bool owed)
{
    struct conn_track *t = track_of(conn);

    if (!t || (owed && atomic_load(&t->taken)))
        return;
    if (!owed)
        atomic_store_explicit(&t->first, false, memory_order_relaxed);
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
    t->w = cur_worker;
    atomic_init(&t->waiting_since_us, time_mono_us());
    atomic_init(&t->first, true);
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

#define SWEEP_EVERY_US 500000

/* Door thread only. */
static void sweep_late(struct http_server *s, int64_t now)
{
    unsigned cut = 0;

    if (now < s->next_sweep_us)
        return;
    s->next_sweep_us = now + SWEEP_EVERY_US;
    /* Under the lock: MHD reports a connection closed before it closes
     * the socket, and that report waits for the lock, so every fd listed
     * here is still the connection's own. shutdown() makes MHD see EOF
     * and close the connection on its own thread. */
    pthread_mutex_lock(&s->conns_lock);
    for (struct conn_track *t = s->conns; t; t = t->next) {
        int64_t since = atomic_load_explicit(&t->waiting_since_us, memory_order_relaxed);
        int64_t limit = atomic_load_explicit(&t->first, memory_order_relaxed)
                            ? s->header_deadline_us
                            : s->idle_deadline_us;
        if (since && now - since > limit) {
            atomic_store_explicit(&t->waiting_since_us, 0, memory_order_relaxed);
            (void)shutdown(t->fd, SHUT_RDWR);
            cut++;
        }
    }
    pthread_mutex_unlock(&s->conns_lock);
    if (cut)
        log_warn("closed %u connections that sent no whole request in time", cut);
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
    if (req->resumed) {
        /* a deferred request is back: its answer was held for us */
        struct MHD_Response *r = req->held;
        req->resumed = false;
        req->held = NULL;
        if (!r) {
            req->answered = false;
            http_send_error(req, API_INTERNAL, "", "handler produced no response");
            return MHD_YES;
        }
        (void)MHD_queue_response(conn, (unsigned)req->status, r);
        MHD_destroy_response(r);
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    if (req->too_big) {
        http_send_error(req, API_TOO_LARGE, "", "body larger than %zu bytes", req->body.max);
        return MHD_YES;
    }
    req->route->fn(req);
    if (req->defer_fn && !req->answered && req->srv->allow_defer) {
        http_deferred_fn start = req->defer_fn;
        req->defer_fn = NULL;
        req->suspended = true;
        /* suspended before start hands req on: a resume may come at once */
        MHD_suspend_connection(conn);
        start(req, req->defer_ctx);
        return MHD_YES;
    }
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
    lat_record(dur);
    atomic_fetch_add_explicit(&req_total, 1, memory_order_relaxed);
    if (req->status >= 500)
        atomic_fetch_add_explicit(&req_5xx, 1, memory_order_relaxed);
    else if (req->status >= 400)
        atomic_fetch_add_explicit(&req_4xx, 1, memory_order_relaxed);
    if (log_enabled(LOG_INFO))
        log_request(req->method, req->path, req->status, (double)dur / 1000.0, req->rid);
    for (size_t i = 0; i < req->nhdr; i++)
        free(req->hdr_name[i]);
    if (req->held)
        MHD_destroy_response(req->held);
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
    } else {
        atomic_fetch_sub(&s->open_conns, 1);
        track_remove(s, *socket_ctx);
        *socket_ctx = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Workers                                                              */

/* Each worker is a thread of ours with an MHD daemon of its own, whose
 * event loop it runs (MHD_run) and whose waiting it does itself: on MHD's
 * epoll descriptor and its own wake_fd, no longer than MHD_get_timeout
 * says. Not MHD's thread pool: in libmicrohttpd 0.9.75 a pool thread
 * that gets exactly 128 events (its batch) from one epoll_wait calls
 * epoll_wait again with its full timeout before it serves them, so 128
 * ready connections can wait for an unrelated event, up to the idle
 * timeout (seen: of 256 connections a client closed, 128 were still
 * open 2 s later). MHD_run never waits. MHD_add_connection is safe only on
 * the thread that runs the daemon, so the door queues a connection for a
 * worker and wakes it. */

#define WORKER_MAX_WAIT_MS 1000 /* a bound on the wait, whatever MHD says */

static void worker_give(struct http_server *s, struct door_conn *c)
{
    struct http_worker *w = &s->workers[s->next_worker++ % s->nworkers];

    c->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->q_tail)
        w->q_tail->next = c;
    else
        w->q_head = c;
    w->q_tail = c;
    pthread_mutex_unlock(&w->lock);
    worker_wake(w);
}

/* The queue, taken whole (all of it when add is false: closed). */
static void worker_take(struct http_worker *w, bool add)
{
    struct door_conn *c, *next;

    pthread_mutex_lock(&w->lock);
    c = w->q_head;
    w->q_head = w->q_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    for (; c; c = next) {
        next = c->next;
        /* MHD closes the socket itself if it cannot take it */
        if (!add)
            close(c->fd);
        else if (MHD_add_connection(w->d, c->fd, (const struct sockaddr *)&c->addr,
                                    sizeof(c->addr)) != MHD_YES)
            log_warn("libmicrohttpd refused a connection: %s", strerror(errno));
        free(c);
    }
}

static void *worker_main(void *arg)
{
    struct http_worker *w = arg;
    struct epoll_event ev[2];

    cur_worker = w;
    while (!atomic_load(&w->stop)) {
        MHD_UNSIGNED_LONG_LONG to;
        int ms = WORKER_MAX_WAIT_MS, n;

        worker_take(w, true);
        (void)MHD_run(w->d);
        if (MHD_get_timeout(w->d, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)ms)
            ms = (int)to;
        n = epoll_wait(w->ep_fd, ev, 2, ms);
        for (int i = 0; i < n; i++) {
            uint64_t v;

            if (ev[i].data.ptr == w && read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("reading an HTTP worker's wake descriptor: %s", strerror(errno));
        }
    }
    return NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap);
static size_t unescape(void *cls, struct MHD_Connection *c, char *s);

static struct MHD_Daemon *worker_daemon(struct http_server *s, unsigned idle_s)
{
    return MHD_start_daemon(
        MHD_USE_ITC | MHD_USE_ERROR_LOG |
            /* suspend/resume: the gateway's proxied requests wait for
             * their upstream */
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            /* among others: MHD closes a connection without shutting its
             * socket down first, which a taken stream needs (its socket
             * lives on under another descriptor) */
            MHD_USE_TURBO,
        0, NULL, NULL, on_request, s,
        /* First: MHD reports on the options as it parses them, and only
         * through the logger it already has; later, its default writes
         * plain text to stderr. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        /* the door keeps the cap; MHD never refuses what it let in */
        MHD_OPTION_CONNECTION_LIMIT, s->max_conns + 64,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, s,
        MHD_OPTION_END);
}

/* Stops and frees every worker that started (all of them if a start failed
 * half way): threads first, then the daemons, which report every
 * connection closed on this thread. */
static void workers_stop(struct http_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct http_worker *w = &s->workers[i];

        atomic_store(&w->stop, true);
        worker_wake(w);
        if (w->running)
            pthread_join(w->th, NULL);
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct http_worker *w = &s->workers[i];

        worker_take(w, false);
        if (w->d)
            MHD_stop_daemon(w->d);
        if (w->ep_fd >= 0)
            close(w->ep_fd);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        pthread_mutex_destroy(&w->lock);
    }
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
}

static bool workers_start(struct http_server *s, unsigned n, unsigned idle_s)
{
    s->workers = calloc(n, sizeof(*s->workers));
    if (!s->workers)
        return false;
    s->nworkers = n;
    for (unsigned i = 0; i < n; i++) {
        struct http_worker *w = &s->workers[i];

        w->s = s;
        w->ep_fd = w->wake_fd = -1;
        atomic_init(&w->stop, false);
        pthread_mutex_init(&w->lock, NULL);
    }
    for (unsigned i = 0; i < n; i++) {
        struct http_worker *w = &s->workers[i];
        const union MHD_DaemonInfo *di;
        struct epoll_event mev = { .events = EPOLLIN }, wev = { .events = EPOLLIN };

        w->d = worker_daemon(s, idle_s);
        di = w->d ? MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
        w->ep_fd = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        mev.data.ptr = NULL;
        wev.data.ptr = w;
        if (!di || w->ep_fd < 0 || w->wake_fd < 0 ||
            epoll_ctl(w->ep_fd, EPOLL_CTL_ADD, di->epoll_fd, &mev) != 0 ||
            epoll_ctl(w->ep_fd, EPOLL_CTL_ADD, w->wake_fd, &wev) != 0) {
            log_error("starting HTTP worker %u: %s", i, strerror(errno));
            workers_stop(s);
            return false;
        }
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            log_error("starting HTTP worker %u: thread", i);
            workers_stop(s);
            return false;
        }
        w->running = true;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* The front door                                                       */

/* Our own listen socket and accept thread, ahead of MHD. MHD on its own
 * gives a connection its memory pool and a place in a worker's epoll set
 * as it accepts it, answers a request line longer than that pool with an
 * HTML page, and at its connection limit stops accepting: new clients
 * then wait unanswered in the listen backlog (2,000 idle connections
 * made /health hang for 5 s). The door accepts whatever comes at once.
 * Over the cap it answers 503 itself. Otherwise it holds the connection
 * (a few dozen bytes here and an epoll entry) until its first request
 * head is in whole, peeking without reading, and then hands it to MHD
 * (MHD_add_connection), which reads it from the start. An overlong
 * request line or head it answers 414 or 431 in JSON; a head not whole
 * within the header timeout, 408. After its own answer it reads and drops
 * what the client still sends for a moment before closing, so that a
 * client still sending (a 100 KiB query) reads the answer rather than a
 * reset. */

#define DOOR_EVENTS  128
#define ACCEPT_BATCH 256
#define LINGER_US    500000 /* reading what a client sends after the door's answer */
#define LINGER_MAX   128    /* more lingering than this are closed at once (they
                                 hold descriptors beyond the cap) */

static void dl_push(struct door_list *l, struct door_conn *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static void dl_unlink(struct door_list *l, struct door_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    l->n--;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* Copies the first space-delimited word of the peeked head after skip
 * words into out (for the access log); "" if none. */
static void head_word(const char *p, size_t n, int skip, char *out, size_t outlen)
{
    size_t i = 0, o = 0;

    for (; skip > 0; skip--) {
        while (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
            i++;
        if (i >= n || p[i] != ' ')
            break;
        i++;
    }
    if (skip == 0)
        while (i < n && o + 1 < outlen && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
            out[o++] = p[i++];
    out[o] = '\0';
}

/* Writes a JSON error answer with Connection: close straight to the
 * socket, before MHD has it. A request (logged and counted like MHD's)
 * unless it is the 408 of a client that never sent one. */
static void door_answer(struct http_server *s, int fd, enum api_err err, const char *msg,
                        size_t peeked)
{
    int status = api_error_table[err].status;
    char head[512], rid[RID_MAX + 1], date[64] = "", method[32], path[128];
    struct buf b;
    struct tm tm;
    time_t now = time(NULL);
    int64_t t0 = time_mono_us();
    int n;

    buf_init(&b, 1024);
    if (error_body(&b, err, NULL, msg) != BM_OK) {
        buf_free(&b);
        return;
    }
    new_rid(rid);
    if (gmtime_r(&now, &tm))
        (void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "X-Request-ID: %s\r\n%sConnection: close\r\n\r\n",
                 status, reason_phrase(status), date, HTTP_CT_JSON, b.len, rid,
                 status == 503 ? "Retry-After: 1\r\n" : "");
    if (n > 0 && (size_t)n < sizeof(head)) {
        struct iovec iov[2] = { { head, (size_t)n }, { b.data, b.len } };
        struct msghdr mh;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        (void)sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    buf_free(&b);
    if (status == 408)
        return;
    head_word(s->peek, peeked, 0, method, sizeof(method));
    head_word(s->peek, peeked, 1, path, sizeof(path));
    lat_record(time_mono_us() - t0);
    atomic_fetch_add_explicit(&req_total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(status >= 500 ? &req_5xx : &req_4xx, 1, memory_order_relaxed);
    if (log_enabled(LOG_INFO))
        log_request(method[0] ? method : NULL, path[0] ? path : NULL, status,
                    (double)(time_mono_us() - t0) / 1000.0, rid);
}

static void door_close(struct door_conn *c)
{
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

/* After the door's answer: no more from us; read and drop what comes for
 * LINGER_US. c is in no list; registered: its fd is in the epoll set. */
static void door_linger(struct http_server *s, struct door_conn *c, bool registered)
{
    (void)shutdown(c->fd, SHUT_WR);
    if (s->lingering.n >= LINGER_MAX) {
        door_close(c);
        return;
    }
    if (!registered) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c };
        if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            door_close(c);
            return;
        }
    }
    c->lingering = true;
    c->since_us = time_mono_us();
    dl_push(&s->lingering, c);
}

/* A lingering connection is readable: drop what it sent; true once it
 * has closed its side (or failed). */
static bool door_drain(struct http_server *s, struct door_conn *c)
{
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(c->fd, s->peek, sizeof(s->peek), 0);
        if (n > 0)
            continue;
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return false; /* more than 64 reads' worth: the linger time ends it */
}

enum door_verdict { DV_WAIT, DV_CLOSE, DV_HANDOFF, DV_LINE_LONG, DV_HEAD_LONG };

/* What a head of len bytes and lines lines costs in MHD's pool: MHD keeps
 * a record of each header line beside the text (about 62 bytes each,
 * measured: 191 lines of 3.7 KB and 33 of 13.5 KB both just fit). */
#define HEAD_LINE_COST 64

/* Looks at what a held connection has sent so far (without reading it). */
static enum door_verdict door_examine(struct http_server *s, int fd, size_t *peeked)
{
    ssize_t n = recv(fd, s->peek, sizeof(s->peek), MSG_PEEK);
    const char *p = s->peek, *nl, *end;
    size_t line, lines = 0, len;

    *peeked = 0;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? DV_WAIT : DV_CLOSE;
    if (n == 0)
        return DV_CLOSE; /* closed before a whole head */
    *peeked = (size_t)n;
    nl = memchr(p, '\n', (size_t)n);
    line = nl ? (size_t)(nl - p) : (size_t)n;
    if (line > HTTP_LINE_MAX)
        return DV_LINE_LONG;
    /* the head ends at the first empty line after the request line */
    end = NULL;
    for (const char *q = nl; q && !end; q = memchr(q + 1, '\n', (size_t)(p + n - q - 1))) {
        lines++;
        if (q + 1 < p + n && q[1] == '\n')
            end = q + 2;
        else if (q + 2 < p + n && q[1] == '\r' && q[2] == '\n')
            end = q + 3;
    }
    len = end ? (size_t)(end - p) : (size_t)n;
    if (len + lines * HEAD_LINE_COST > HTTP_HEAD_MAX)
        return DV_HEAD_LONG;
    return end ? DV_HANDOFF : DV_WAIT;
}

/* Acts on a verdict for c (in no list; registered: in the epoll set).
 * Returns false if c is still to be held. */
static bool door_act(struct http_server *s, struct door_conn *c, enum door_verdict v,
                     size_t peeked, bool registered)
{
    char msg[96];

    switch (v) {
    case DV_WAIT:
        return false;
    case DV_CLOSE:
        door_close(c);
        return true;
    case DV_HANDOFF:
        if (registered)
            (void)epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
        worker_give(s, c);
        return true;
    case DV_LINE_LONG:
        snprintf(msg, sizeof(msg), "request line longer than %d bytes", HTTP_LINE_MAX);
        atomic_fetch_add(&s->heads_refused, 1);
        door_answer(s, c->fd, API_URI_TOO_LONG, msg, peeked);
        break;
    case DV_HEAD_LONG:
        snprintf(msg, sizeof(msg), "request head longer than %d bytes", HTTP_HEAD_MAX);
        atomic_fetch_add(&s->heads_refused, 1);
        door_answer(s, c->fd, API_HEAD_TOO_LARGE, msg, peeked);
        break;
    }
    door_linger(s, c, registered);
    return true;
}

static void door_admit(struct http_server *s, int fd, const struct sockaddr_in *addr)
{
    struct door_conn *c = calloc(1, sizeof(*c));
    enum door_verdict v;
    size_t peeked;

    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->addr = *addr;
    c->since_us = time_mono_us();
    if (atomic_load(&s->open_conns) + s->pending.n >= s->max_conns) {
        atomic_fetch_add(&s->refused, 1);
        door_answer(s, fd, API_UNAVAIL, "too many connections", 0);
        door_linger(s, c, false);
        return;
    }
    /* a client usually sends its request with the handshake: often it is
     * here already */
    v = door_examine(s, fd, &peeked);
    if (door_act(s, c, v, peeked, false))
        return;
    {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c };
        if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            door_close(c);
            return;
        }
    }
    dl_push(&s->pending, c);
    atomic_store_explicit(&s->pending_conns, s->pending.n, memory_order_relaxed);
}

static void door_accept(struct http_server *s)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in a;
        socklen_t al = sizeof(a);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            door_admit(s, fd, &a);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EMFILE && errno != ENFILE)
            return; /* EAGAIN: all taken */
        /* Out of descriptors (the reserve used up): give up the spare one
         * to tell a client so, rather than leave it in the backlog. */
        if (s->spare_fd < 0) {
            struct timespec ts = { 0, 10 * 1000000L };
            (void)nanosleep(&ts, NULL);
        } else {
            close(s->spare_fd);
            fd = accept4(s->listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                atomic_fetch_add(&s->refused, 1);
                door_answer(s, fd, API_UNAVAIL, "too many connections", 0);
                close(fd);
            }
        }
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->spare_fd < 0)
            return;
    }
}

/* An epoll event on a held or lingering connection. */
static void door_event(struct http_server *s, struct door_conn *c, uint32_t events)
{
    enum door_verdict v;
    size_t peeked;

    if (c->lingering) {
        if (door_drain(s, c)) {
            dl_unlink(&s->lingering, c);
            door_close(c);
        }
        return;
    }
    v = door_examine(s, c->fd, &peeked);
    if (v == DV_WAIT && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        v = DV_CLOSE; /* half a head, and no more to come */
    if (v == DV_WAIT)
        return;
    dl_unlink(&s->pending, c);
    atomic_store_explicit(&s->pending_conns, s->pending.n, memory_order_relaxed);
    (void)door_act(s, c, v, peeked, true);
}

/* Ends held connections past the header timeout, and lingering ones
 * past theirs: each list is oldest first, so only the expired are
 * visited. */
static void door_expire(struct http_server *s, int64_t now)
{
    struct door_conn *c;
    char msg[96];

    while ((c = s->pending.head) && now - c->since_us >= s->header_deadline_us) {
        dl_unlink(&s->pending, c);
        atomic_fetch_add(&s->header_timeouts, 1);
        snprintf(msg, sizeof(msg), "no whole request within %lld s",
                 (long long)(s->header_deadline_us / 1000000));
        door_answer(s, c->fd, API_REQ_TIMEOUT, msg, 0);
        door_linger(s, c, true);
    }
    atomic_store_explicit(&s->pending_conns, s->pending.n, memory_order_relaxed);
    while ((c = s->lingering.head) && now - c->since_us >= LINGER_US) {
        dl_unlink(&s->lingering, c);
        door_close(c);
    }
}

static int64_t door_next_due(const struct http_server *s)
{
    int64_t due = s->next_sweep_us;

    if (s->pending.head && s->pending.head->since_us + s->header_deadline_us < due)
        due = s->pending.head->since_us + s->header_deadline_us;
    if (s->lingering.head && s->lingering.head->since_us + LINGER_US < due)
        due = s->lingering.head->since_us + LINGER_US;
    return due;
}

static void *door_main(void *arg)
{
    struct http_server *s = arg;
    struct epoll_event ev[DOOR_EVENTS];

    for (;;) {
        int64_t now = time_mono_us(), due = door_next_due(s);
        int timeout = due <= now ? 0 : (int)((due - now + 999) / 1000);
        int n = epoll_wait(s->ep_fd, ev, DOOR_EVENTS, timeout);

        if (n < 0 && errno != EINTR) {
            log_error("front door: epoll_wait: %s", strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &s->wake_fd)
                return NULL;
            if (p == &s->listen_fd)
                door_accept(s);
            else
                door_event(s, p, ev[i].events);
        }
        now = time_mono_us();
        door_expire(s, now);
        sweep_late(s, now);
    }
}

/* Raises RLIMIT_NOFILE's soft limit to the hard one and returns the
 * connection cap: want (0: as many as fit), within the soft limit less
 * HTTP_FD_RESERVE. */
static unsigned conn_cap(unsigned want)
{
    struct rlimit rl;
    rlim_t soft, avail;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want ? want : 256;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    soft = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
    avail = soft > HTTP_FD_RESERVE + 32 ? soft - HTTP_FD_RESERVE : 32;
    if (avail > (rlim_t)1 << 24)
        avail = (rlim_t)1 << 24;
    if (want && want <= avail)
        return want;
    if (want)
        log_warn("max_connections %u is more than RLIMIT_NOFILE allows: %llu", want,
                 (unsigned long long)avail);
    return (unsigned)avail;
}

static int listen_on(const struct sockaddr_in *addr, unsigned backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        listen(fd, (int)(backlog < 65535 ? backlog : 65535)) != 0) {
        log_error("cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void door_fds_close(struct http_server *s)
{
    int *fds[] = { &s->listen_fd, &s->ep_fd, &s->wake_fd, &s->spare_fd };

    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* The door's descriptors and thread; false (all undone) on failure. */
static bool door_open(struct http_server *s, const struct sockaddr_in *addr)
{
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &s->listen_fd };
    struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &s->wake_fd };
    struct sockaddr_in bound;
    socklen_t blen = sizeof(bound);

    s->listen_fd = listen_on(addr, s->max_conns);
    s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->listen_fd < 0 || s->ep_fd < 0 || s->wake_fd < 0 ||
        epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->listen_fd, &lev) != 0 ||
        epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->wake_fd, &wev) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&bound, &blen) != 0)
        goto fail;
    s->port = ntohs(bound.sin_port);
    s->next_sweep_us = time_mono_us() + SWEEP_EVERY_US;
    if (pthread_create(&s->door, NULL, door_main, s) != 0)
        goto fail;
    s->door_running = true;
    return true;
fail:
    door_fds_close(s);
    return false;
}

static void door_close_all(struct door_list *l)
{
    struct door_conn *c;

    while ((c = l->head)) {
        dl_unlink(l, c);
        door_close(c);
    }
}

/* Stops the door thread and closes everything it holds. */
static void door_shut(struct http_server *s)
{
    if (!s->door_running)
        return;
    {
        uint64_t one = 1;
        ssize_t w = write(s->wake_fd, &one, sizeof(one));
        (void)w;
    }
    pthread_join(s->door, NULL);
    s->door_running = false;
    door_close_all(&s->pending);
    door_close_all(&s->lingering);
    atomic_store(&s->pending_conns, 0);
    door_fds_close(s);
}

enum bm_rc http_server_limits(const struct http_req *req, bool text, const char *service,
                              struct buf *out)
{
    const struct http_server *s = req->srv;
    struct rlimit rl;
    unsigned long long soft = 0, hard = 0;
    unsigned long long open = atomic_load(&s->open_conns), pend = atomic_load(&s->pending_conns);
    unsigned long long refused = atomic_load(&s->refused);
    unsigned long long cut = atomic_load(&s->header_timeouts);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        soft = rl.rlim_cur == RLIM_INFINITY ? 0 : (unsigned long long)rl.rlim_cur;
        hard = rl.rlim_max == RLIM_INFINITY ? 0 : (unsigned long long)rl.rlim_max;
    }
    if (!text) {
        if (out->len == 0 || out->data[out->len - 1] != '}')
            return BM_EINVAL;
        out->len--;
        return buf_printf(out,
                          ",\"connections\":{\"open\":%llu,\"pending\":%llu,\"cap\":%u,"
                          "\"nofile_soft\":%llu,\"nofile_hard\":%llu,"
                          "\"header_timeout_s\":%lld,\"idle_timeout_s\":%lld,"
                          "\"refused_over_cap\":%llu,\"header_timeouts\":%llu}}",
                          open + pend, pend, s->max_conns, soft, hard,
                          (long long)(s->header_deadline_us / 1000000),
                          (long long)(s->idle_deadline_us / 1000000), refused, cut);
    }
    return buf_printf(
        out,
        "# HELP bankmock_connections_open Open connections (held for their first head or "
        "served).\n# TYPE bankmock_connections_open gauge\n"
        "bankmock_connections_open{service=\"%s\"} %llu\n"
        "# HELP bankmock_connections_cap Connections served at once; more get 503.\n"
        "# TYPE bankmock_connections_cap gauge\nbankmock_connections_cap{service=\"%s\"} %u\n"
        "# HELP bankmock_open_files_limit RLIMIT_NOFILE.\n# TYPE bankmock_open_files_limit gauge\n"
        "bankmock_open_files_limit{service=\"%s\",kind=\"soft\"} %llu\n"
        "bankmock_open_files_limit{service=\"%s\",kind=\"hard\"} %llu\n"
        "# HELP bankmock_connections_refused_total Connections answered 503 over the cap.\n"
        "# TYPE bankmock_connections_refused_total counter\n"
        "bankmock_connections_refused_total{service=\"%s\"} %llu\n"
        "# HELP bankmock_header_timeouts_total Connections cut for no whole first request "
        "in time.\n# TYPE bankmock_header_timeouts_total counter\n"
        "bankmock_header_timeouts_total{service=\"%s\"} %llu\n",
        service, open + pend, service, s->max_conns, service, soft, service, hard, service,
        refused, service, cut);
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
    unsigned int pool, idle_s, header_s;

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
    s->max_conns = conn_cap(o->max_conns);
    s->allow_defer = o->allow_defer;
    if (o->admin_token)
        snprintf(s->token, sizeof(s->token), "%s", o->admin_token);
    if (o->cors_origins)
        snprintf(s->cors, sizeof(s->cors), "%s", o->cors_origins);
    atomic_init(&s->open_conns, 0);
    atomic_init(&s->pending_conns, 0);
    atomic_init(&s->inflight, 0);
    atomic_init(&s->draining, false);
    atomic_init(&s->refused, 0);
    atomic_init(&s->header_timeouts, 0);
    atomic_init(&s->heads_refused, 0);
    idle_s = o->conn_timeout_s ? o->conn_timeout_s : 15;
    header_s = o->header_timeout_s ? o->header_timeout_s : 5;
    s->idle_deadline_us = (int64_t)idle_s * 1000000;
    s->header_deadline_us = (int64_t)header_s * 1000000;
    s->listen_fd = s->ep_fd = s->wake_fd = s->spare_fd = -1;
    pthread_mutex_init(&s->conns_lock, NULL);

    /* A few epoll workers, each serving many connections; a handler that
     * would wait (the gateway's proxy) defers its answer instead of
     * blocking one. The front door accepts and hands over whole heads:
     * MHD listens on nothing. */
    pool = o->threads ? o->threads : 2;
    MHD_set_panic_func(on_mhd_panic, NULL);
    if (!workers_start(s, pool, idle_s) || !door_open(s, &addr)) {
        workers_stop(s);
        pthread_mutex_destroy(&s->conns_lock);
        free(s);
        return BM_EIO;
    }
    log_debug("connection cap %u, header timeout %u s, idle timeout %u s", s->max_conns,
              header_s, idle_s);
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
    door_shut(s);    /* no more hand-overs, */
    workers_stop(s); /* then MHD's own */
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}
