/* stream.c - the SSE hub (see stream.h). */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "query.h"
#include "timefmt.h"

#define SLOT_BYTES  256        /* one slot per this many ring bytes */
#define READ_MAX    1024       /* events per read by the hub thread */
#define CATCHUP_MAX 32         /* events per catch-up read by a worker */
#define CARRY_MAX   (256 * 1024)
#define STREAM_SNDBUF (64 * 1024) /* kernel send buffer of a stream socket */
#define DIRECT_MAX  (32 * 1024) /* bytes of the ring per send to a client */
#define DIRECT_IOV  64          /* messages per send */
#define TYPES_MAX   32

/* One message in the ring: "id: <seq>\ndata: <json>\n\n" at bytes[off]. */
struct slot {
    uint64_t seq;
    int64_t ts_ms;
    const char *atype; /* interned; NULL: normal */
    uint32_t off, len;
    uint32_t body_off, body_len;
};

struct stream_client {
    struct stream_client *prev, *next; /* hub->clients, under hub->lock */
    struct stream_hub *hub;
    struct http_conn *conn;
    struct db_list_query q;
    uint64_t cursor;    /* every event up to here has been examined */
    uint64_t last_sent; /* the id of the last event sent (or the start) */
    bool live;          /* reading from the ring (else catching up) */
    bool overflowed, finished;
    bool suspended;     /* under hub->lock; while set the hub may move cursor */
    int fd;             /* the socket, written to directly (no copy) */
    _Atomic int64_t last_write_us;
    struct buf carry;   /* a message that did not fit the last chunk */
    size_t carry_off;
};

struct stream_hub {
    struct stream_source src;
    int64_t heartbeat_us, tick_us;
    pthread_t thread;
    bool running;
    atomic_bool stopping;
    atomic_bool kick; /* stream_hub_notify: look now */
    atomic_ullong overflows;
    atomic_ullong resumes; /* suspended streams woken */

    pthread_mutex_t lock; /* guards clients, nclients, each client's suspended */
    pthread_cond_t wake;  /* shutdown wakes the hub thread */
    struct stream_client *clients;
    uint64_t nclients;

    pthread_rwlock_t ring_lock; /* guards the ring: bytes, slots, first, n, wpos, polled */
    char *bytes;
    size_t nbytes;
    struct slot *slots;
    size_t nslots, first, n, wpos;
    _Atomic uint64_t polled; /* newest sequence read into the ring */
    const char *types[TYPES_MAX];
    int ntypes;
};

/* ------------------------------------------------------------------ */
/* The ring (hub thread writes, workers read)                           */

static struct slot *slot_at(struct stream_hub *h, size_t i)
{
    return &h->slots[(h->first + i) % h->nslots];
}

static const char *intern_type(struct stream_hub *h, const char *t)
{
    if (!t)
        return NULL;
    for (int i = 0; i < h->ntypes; i++)
        if (strcmp(h->types[i], t) == 0)
            return h->types[i];
    if (h->ntypes == TYPES_MAX)
        return "other";
    h->types[h->ntypes] = strdup(t);
    return h->types[h->ntypes] ? h->types[h->ntypes++] : "other";
}

static void evict_oldest(struct stream_hub *h)
{
    h->first = (h->first + 1) % h->nslots;
    h->n--;
}

/* Room for len bytes at wpos, evicting the oldest messages in the way.
 * Messages are never split: one that does not fit before the end starts
 * again at 0, after the ones between wpos and the end (the oldest) go. */
static size_t ring_room(struct stream_hub *h, size_t len)
{
    if (h->wpos + len > h->nbytes) {
        while (h->n && slot_at(h, 0)->off >= h->wpos)
            evict_oldest(h);
        h->wpos = 0;
    }
    while (h->n && (h->n == h->nslots ||
                    (slot_at(h, 0)->off < h->wpos + len &&
                     slot_at(h, 0)->off + slot_at(h, 0)->len > h->wpos)))
        evict_oldest(h);
    return h->wpos;
}

static bool ring_add(void *ud, uint64_t seq, int64_t ts_ms, const char *atype, const char *body,
                     size_t len)
{
    struct stream_hub *h = ud;
    char head[32];
    int hl = snprintf(head, sizeof(head), "id: %llu\ndata: ", (unsigned long long)seq);
    size_t total = (size_t)hl + len + 2, off;
    struct slot *s;

    if (hl < 0 || total > h->nbytes / 4) {
        log_warn("stream: event %llu too large for the ring, skipped", (unsigned long long)seq);
        atomic_store(&h->polled, seq);
        return true;
    }
    off = ring_room(h, total);
    memcpy(h->bytes + off, head, (size_t)hl);
    memcpy(h->bytes + off + hl, body, len);
    memcpy(h->bytes + off + (size_t)hl + len, "\n\n", 2);
    s = &h->slots[(h->first + h->n) % h->nslots];
    h->n++;
    s->seq = seq;
    s->ts_ms = ts_ms;
    s->atype = intern_type(h, atype);
    s->off = (uint32_t)off;
    s->len = (uint32_t)total;
    s->body_off = (uint32_t)(off + (size_t)hl);
    s->body_len = (uint32_t)len;
    h->wpos = off + total;
    atomic_store(&h->polled, seq);
    return true;
}

/* Index of the first slot after seq (h->n if none); the ring is ordered. */
static size_t ring_after(struct stream_hub *h, uint64_t seq)
{
    size_t lo = 0, hi = h->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slot_at(h, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ------------------------------------------------------------------ */
/* A client's stream (its connection's MHD worker)                      */

static size_t put(struct stream_client *c, char *out, size_t room, const char *msg, size_t len)
{
    size_t n = len < room ? len : room;

    memcpy(out, msg, n);
    if (n < len && buf_append(&c->carry, msg + n, len - n) != BM_OK)
        c->finished = true; /* cannot happen within CARRY_MAX; end rather than corrupt */
    return n;
}

static void carry_consume(struct stream_client *c, size_t n)
{
    c->carry_off += n;
    if (c->carry_off == c->carry.len) {
        buf_free(&c->carry);
        buf_init(&c->carry, CARRY_MAX);
        c->carry_off = 0;
    }
}

static size_t carry_drain(struct stream_client *c, char *out, size_t max)
{
    size_t left = c->carry.len - c->carry_off, n = left < max ? left : max;

    memcpy(out, c->carry.data + c->carry_off, n);
    carry_consume(c, n);
    return n;
}

/* Writes to the client's socket what it takes now, without waiting:
 * bytes sent (0 if it is full), -1 on error. */
static ssize_t send_iov(const struct stream_client *c, struct iovec *iov, size_t n)
{
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
    ssize_t w;

    do
        w = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return w;
}

/* Sends what it can of the carried bytes; false on a socket error. */
static bool carry_send(struct stream_client *c)
{
    struct iovec v = { c->carry.data + c->carry_off, c->carry.len - c->carry_off };
    ssize_t w = send_iov(c, &v, 1);

    if (w < 0)
        return false;
    carry_consume(c, (size_t)w);
    return true;
}

/* Catch-up messages are formatted here (one worker thread's), then sent. */
#define SCRATCH (32 * 1024)
static _Thread_local char scratch[SCRATCH];

struct catchup {
    struct stream_client *c;
    char *out;
    size_t room, n;
};

static bool catchup_emit(void *ud, uint64_t seq, int64_t ts_ms, const char *atype,
                         const char *body, size_t len)
{
    struct catchup *k = ud;
    char head[32];
    int hl = snprintf(head, sizeof(head), "id: %llu\ndata: ", (unsigned long long)seq);

    (void)ts_ms;
    (void)atype;
    if (hl < 0)
        return false;
    k->n += put(k->c, k->out + k->n, k->room - k->n, head, (size_t)hl);
    k->n += put(k->c, k->out + k->n, k->room - k->n, body, len);
    k->n += put(k->c, k->out + k->n, k->room - k->n, "\n\n", 2);
    k->c->last_sent = seq;
    return true;
}

/* Reads the gap between the client's cursor and the ring from the source
 * into out; bytes, -1 on error. */
static long catch_up(struct stream_client *c, char *out, size_t max)
{
    struct stream_hub *h = c->hub;
    struct catchup k = { c, out, max, 0 };
    uint64_t examined = c->cursor;
    int64_t rows = (int64_t)(max / 512) + 1;

    enum bm_rc rc = h->src.read(h->src.ctx, &c->q, c->cursor,
                                rows > CATCHUP_MAX ? CATCHUP_MAX : rows, catchup_emit, &k,
                                &examined);

    if (rc == BM_ERANGE && examined > c->cursor) {
        /* the source no longer has the events after the cursor: say so */
        char msg[128];
        int ml = snprintf(msg, sizeof(msg),
                          "event: gap\ndata: {\"last_sequence\":%llu,\"oldest_sequence\":%llu}"
                          "\n\n",
                          (unsigned long long)c->cursor, (unsigned long long)examined + 1);
        c->cursor = examined;
        return ml > 0 ? (long)put(c, out, max, msg, (size_t)ml) : -1;
    }
    if (rc != BM_OK)
        return -1;
    if (examined > c->cursor)
        c->cursor = examined;
    return (long)k.n;
}

static bool slot_matches(const struct stream_hub *h, const struct stream_client *c,
                         const struct slot *s)
{
    return query_matches(&c->q, s->ts_ms, s->atype, h->bytes + s->body_off, s->body_len);
}

/* The lowest sequence the ring holds (past the mark when it is empty).
 * Under ring_lock. */
static uint64_t ring_low(struct stream_hub *h)
{
    return h->n ? slot_at(h, 0)->seq : atomic_load(&h->polled) + 1;
}

/* Under ring_lock: is the client behind the ring? A live one has
 * overflowed then (counted here). */
static bool ring_behind(struct stream_client *c)
{
    struct stream_hub *h = c->hub;

    if (c->cursor + 1 >= ring_low(h))
        return false;
    if (c->live && !c->overflowed) {
        c->overflowed = true;
        atomic_fetch_add(&h->overflows, 1);
    }
    return true;
}

/* The outcomes of a look at the ring for one client. */
enum ring_rc { RING_NONE, RING_SENT, RING_FULL, RING_BEHIND, RING_ERROR };

/* Sends the client's next messages straight from the ring to its socket:
 * one non-blocking sendmsg of up to DIRECT_MAX bytes, no copy and no
 * buffer of the client's. The ring's read lock is held across it (the
 * hub's write lock waits for at most one such send per worker: the lock
 * prefers writers); what the socket did not take goes to carry. */
static enum ring_rc ring_send(struct stream_client *c)
{
    struct stream_hub *h = c->hub;
    struct iovec iov[DIRECT_IOV];
    size_t niov = 0, total = 0, i;
    uint64_t examined, last = 0;
    ssize_t w;

    pthread_rwlock_rdlock(&h->ring_lock);
    if (ring_behind(c)) {
        pthread_rwlock_unlock(&h->ring_lock);
        return c->live ? RING_NONE : RING_BEHIND;
    }
    c->live = true;
    examined = c->cursor;
    for (i = ring_after(h, c->cursor); i < h->n && niov < DIRECT_IOV; i++) {
        const struct slot *s = slot_at(h, i);
        if (slot_matches(h, c, s)) {
            if (niov && total + s->len > DIRECT_MAX)
                break;
            iov[niov].iov_base = h->bytes + s->off;
            iov[niov++].iov_len = s->len;
            total += s->len;
            last = s->seq;
        }
        examined = s->seq;
    }
    if (h->n == 0 && atomic_load(&h->polled) > examined)
        examined = atomic_load(&h->polled);
    if (niov == 0) {
        pthread_rwlock_unlock(&h->ring_lock);
        c->cursor = examined;
        return RING_NONE;
    }
    w = send_iov(c, iov, niov);
    if (w <= 0) {
        pthread_rwlock_unlock(&h->ring_lock);
        return w == 0 ? RING_FULL : RING_ERROR;
    }
    for (i = 0; i < niov && (size_t)w >= iov[i].iov_len; i++)
        w -= (ssize_t)iov[i].iov_len;
    for (; i < niov; i++, w = 0)
        if (buf_append(&c->carry, (const char *)iov[i].iov_base + w,
                       iov[i].iov_len - (size_t)w) != BM_OK)
            c->finished = true; /* within CARRY_MAX: cannot happen */
    pthread_rwlock_unlock(&h->ring_lock);
    c->cursor = examined;
    c->last_sent = last;
    return RING_SENT;
}

/* Copies the client's messages from the ring into out (MHD's buffer: the
 * socket was full, MHD sends them when it is writable). */
static long ring_copy(struct stream_client *c, char *out, size_t max)
{
    struct stream_hub *h = c->hub;
    size_t n = 0, i;

    pthread_rwlock_rdlock(&h->ring_lock);
    if (ring_behind(c)) {
        pthread_rwlock_unlock(&h->ring_lock);
        return 0;
    }
    for (i = ring_after(h, c->cursor); i < h->n && n < max && c->carry.len == 0; i++) {
        const struct slot *s = slot_at(h, i);
        if (slot_matches(h, c, s)) {
            if (s->len > max - n && n > 0)
                break;
            n += put(c, out + n, max - n, h->bytes + s->off, s->len);
            c->last_sent = s->seq;
        }
        c->cursor = s->seq;
    }
    pthread_rwlock_unlock(&h->ring_lock);
    return (long)n;
}

static bool heartbeat_due(const struct stream_client *c)
{
    return time_mono_us() - atomic_load(&c->last_write_us) >= c->hub->heartbeat_us;
}

/* Nothing to send: suspend until the hub wakes us. false (and no
 * suspend) if something came in meanwhile: look again. Never return 0
 * without suspending: MHD's epoll loop would not call again by itself. */
static bool park(struct stream_client *c)
{
    struct stream_hub *h = c->hub;
    bool parked = false;

    pthread_mutex_lock(&h->lock);
    if (!atomic_load(&h->stopping) && atomic_load(&h->polled) <= c->cursor) {
        c->suspended = true;
        http_conn_suspend(c->conn);
        parked = true;
    }
    pthread_mutex_unlock(&h->lock);
    return parked;
}

/* Sends what the client is owed from the source (catching up) directly;
 * what the socket does not take goes to carry. false on error. */
static bool catch_up_send(struct stream_client *c)
{
    long k = catch_up(c, scratch, sizeof(scratch));
    struct iovec v = { scratch, k > 0 ? (size_t)k : 0 };
    ssize_t w;

    if (k <= 0)
        return k == 0;
    w = send_iov(c, &v, 1);
    if (w < 0)
        return false;
    if (w < k && buf_append(&c->carry, scratch + w, (size_t)(k - w)) != BM_OK)
        return false;
    return true;
}

/* One look at what the client has to be sent. Most of it goes straight
 * to the socket (*sent set); what must wait for a full socket to drain
 * is copied into out for MHD to send (returned). 0 and !*sent: nothing
 * now. */
static long client_fill(struct stream_client *c, char *out, size_t max, bool *sent)
{
    struct stream_hub *h = c->hub;
    size_t n = 0;

    *sent = false;
    if (c->carry.len) {
        size_t before = c->carry.len - c->carry_off;
        if (!carry_send(c))
            return HTTP_STREAM_ERROR;
        *sent = c->carry.len == 0 || c->carry.len - c->carry_off < before;
        if (c->carry.len)
            return *sent ? 0 : (long)carry_drain(c, out, max); /* full: MHD waits */
    }
    if (c->finished || atomic_load(&h->stopping))
        return HTTP_STREAM_END;
    if (!c->overflowed) {
        switch (ring_send(c)) {
        case RING_SENT:
            *sent = true;
            return 0;
        case RING_FULL:
            n = (size_t)ring_copy(c, out, max);
            if (n)
                return (long)n;
            break;
        case RING_BEHIND:
            if (!catch_up_send(c))
                return HTTP_STREAM_ERROR;
            *sent = true;
            return 0;
        case RING_ERROR:
            return HTTP_STREAM_ERROR;
        case RING_NONE:
            break;
        }
    }
    if (c->overflowed) {
        char msg[96];
        int ml = snprintf(msg, sizeof(msg), "event: overflow\ndata: {\"last_sequence\":%llu}\n\n",
                          (unsigned long long)c->last_sent);
        n = put(c, out, max, msg, (size_t)ml);
        c->finished = true;
    }
    if (n == 0 && heartbeat_due(c))
        n = put(c, out, max, ": heartbeat\n\n", 13);
    return (long)n;
}

static long client_read(void *ud, char *out, size_t max)
{
    struct stream_client *c = ud;

    if (c->fd < 0)
        c->fd = http_conn_fd(c->conn);
    for (;;) {
        bool sent;
        long n = client_fill(c, out, max, &sent);
        if (n > 0 || sent)
            atomic_store(&c->last_write_us, time_mono_us());
        if (n != 0)
            return n;
        if (sent)
            continue;
        if (atomic_load(&c->hub->stopping))
            return HTTP_STREAM_END;
        if (park(c))
            return 0;
    }
}

static void client_done(void *ud)
{
    struct stream_client *c = ud;
    struct stream_hub *h = c->hub;

    pthread_mutex_lock(&h->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nclients--;
    pthread_mutex_unlock(&h->lock);
    buf_free(&c->carry);
    free(c);
}

void stream_serve(struct stream_hub *h, struct http_req *req, const struct db_list_query *q,
                  bool from_now, uint64_t after)
{
    struct stream_client *c;

    if (!h || atomic_load(&h->stopping)) {
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "not streaming now");
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        http_send_error(req, API_UNAVAIL, "", "out of memory");
        return;
    }
    c->hub = h;
    c->conn = http_req_conn(req);
    c->fd = -1;
    c->q = *q;
    if (c->q.anomaly_type) /* the ring's types are interned: compare by text */
        c->q.anomaly_type = q->anomaly_type;
    c->cursor = from_now ? h->src.head(h->src.ctx) : after;
    c->last_sent = c->cursor;
    buf_init(&c->carry, CARRY_MAX);
    atomic_init(&c->last_write_us, time_mono_us());
    pthread_mutex_lock(&h->lock);
    c->next = h->clients;
    if (h->clients)
        h->clients->prev = c;
    h->clients = c;
    h->nclients++;
    pthread_mutex_unlock(&h->lock);
    http_req_sndbuf(req, STREAM_SNDBUF);
    http_add_header(req, "Cache-Control", "no-cache");
    http_add_header(req, "X-Accel-Buffering", "no");
    http_send_stream_direct(req, 200, "text/event-stream; charset=utf-8", client_read,
                            client_done, c);
}

void stream_counts(struct stream_hub *h, struct stream_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    out->open = h->nclients;
    pthread_mutex_unlock(&h->lock);
    out->overflows = atomic_load(&h->overflows);
    out->resumes = atomic_load(&h->resumes);
}

enum bm_rc stream_metrics(struct stream_hub *h, const char *service, struct buf *out)
{
    struct stream_stats st;

    stream_counts(h, &st);
    return buf_printf(
        out,
        "# HELP bankmock_streams_open Event streams (SSE) open.\n"
        "# TYPE bankmock_streams_open gauge\nbankmock_streams_open{service=\"%s\"} %llu\n"
        "# HELP bankmock_stream_overflows_total Event streams ended by an overflow.\n"
        "# TYPE bankmock_stream_overflows_total counter\n"
        "bankmock_stream_overflows_total{service=\"%s\"} %llu\n"
        "# HELP bankmock_stream_resumes_total Times a waiting event stream was woken "
        "(only with something new for it).\n"
        "# TYPE bankmock_stream_resumes_total counter\n"
        "bankmock_stream_resumes_total{service=\"%s\"} %llu\n",
        service, (unsigned long long)st.open, service, (unsigned long long)st.overflows,
        service, (unsigned long long)st.resumes);
}

/* ------------------------------------------------------------------ */
/* The hub thread                                                       */

/* The hub thread reads into this first and takes the ring's lock only
 * to copy in, so no worker waits for the database. */
struct staged {
    uint64_t seq;
    int64_t ts_ms;
    char atype[32];
    size_t off, len;
};

struct stage {
    struct staged ev[READ_MAX];
    size_t n;
    struct buf bodies;
};

static bool stage_add(void *ud, uint64_t seq, int64_t ts_ms, const char *atype, const char *body,
                      size_t len)
{
    struct stage *st = ud;
    struct staged *e = &st->ev[st->n];

    if (st->n == READ_MAX)
        return false;
    e->seq = seq;
    e->ts_ms = ts_ms;
    snprintf(e->atype, sizeof(e->atype), "%s", atype ? atype : "");
    e->off = st->bodies.len;
    e->len = len;
    if (buf_append(&st->bodies, body, len) != BM_OK)
        return false;
    st->n++;
    return true;
}

/* With no client open, the hub reads nothing: it empties the ring and
 * moves its mark to the head, so that a stream opened later catches up
 * from the source up to the mark and then reads the ring, which holds
 * what came after it with no gap. Reading every event into a ring nobody
 * reads cost a backfill half its speed on two cores, and its pages in
 * RSS. Under h->lock: a client registers either before (and the hub
 * reads) or after (and finds the empty ring and the mark). */
static bool idle_skip(struct stream_hub *h, uint64_t head)
{
    bool idle;

    pthread_mutex_lock(&h->lock);
    idle = h->nclients == 0;
    if (idle) {
        pthread_rwlock_wrlock(&h->ring_lock);
        h->first = h->n = h->wpos = 0;
        if (head > atomic_load(&h->polled))
            atomic_store(&h->polled, head);
        pthread_rwlock_unlock(&h->ring_lock);
    }
    pthread_mutex_unlock(&h->lock);
    return idle;
}

static bool poll_source(struct stream_hub *h, struct stage *st)
{
    uint64_t head = h->src.head(h->src.ctx), before = atomic_load(&h->polled);

    if (idle_skip(h, head))
        return false;

    while (atomic_load(&h->polled) < head) {
        uint64_t from = atomic_load(&h->polled), examined = from;
        st->n = 0;
        buf_reset(&st->bodies);
        if (h->src.read(h->src.ctx, NULL, from, READ_MAX, stage_add, st, &examined) != BM_OK)
            break;
        pthread_rwlock_wrlock(&h->ring_lock);
        for (size_t i = 0; i < st->n; i++) {
            const struct staged *e = &st->ev[i];
            (void)ring_add(h, e->seq, e->ts_ms, e->atype[0] ? e->atype : NULL,
                           st->bodies.data + e->off, e->len);
        }
        pthread_rwlock_unlock(&h->ring_lock);
        if (st->n == 0) {
            /* pruned or not yet visible: skip past what was examined */
            if (examined > from)
                atomic_store(&h->polled, examined);
            break;
        }
    }
    return atomic_load(&h->polled) != before;
}

/* Whether a suspended client has something new: a message its filter
 * takes, an overflow to report, or a heartbeat due. If not, its cursor
 * moves past what the hub has read (it is suspended: the hub's to move),
 * so the next look starts there. Under h->lock. */
static bool wants_wake(struct stream_hub *h, struct stream_client *c, int64_t now)
{
    bool want = false;
    size_t i;

    if (now - atomic_load(&c->last_write_us) >= h->heartbeat_us)
        return true;
    if (atomic_load(&h->polled) <= c->cursor)
        return false;
    pthread_rwlock_rdlock(&h->ring_lock);
    if (c->cursor + 1 < ring_low(h)) {
        want = true; /* behind the ring: catch up, or report the overflow */
    } else {
        for (i = ring_after(h, c->cursor); i < h->n && !want; i++)
            want = slot_matches(h, c, slot_at(h, i));
        if (!want)
            c->cursor = h->n ? slot_at(h, h->n - 1)->seq : atomic_load(&h->polled);
    }
    pthread_rwlock_unlock(&h->ring_lock);
    return want;
}

#define WAKE_BATCH 256

/* Resumes the suspended clients that have something new, in batches (one
 * wake per worker thread per batch). */
static void wake_clients(struct stream_hub *h)
{
    struct http_conn *batch[WAKE_BATCH];
    size_t n = 0;
    int64_t now = time_mono_us();

    pthread_mutex_lock(&h->lock);
    for (struct stream_client *c = h->clients; c; c = c->next) {
        if (!c->suspended || !wants_wake(h, c, now))
            continue;
        c->suspended = false;
        batch[n++] = c->conn;
        if (n == WAKE_BATCH) {
            http_conns_resume(batch, n);
            atomic_fetch_add(&h->resumes, n);
            n = 0;
        }
    }
    http_conns_resume(batch, n);
    atomic_fetch_add(&h->resumes, n);
    pthread_mutex_unlock(&h->lock);
}

static void *hub_main(void *arg)
{
    struct stream_hub *h = arg;
    struct stage *st = calloc(1, sizeof(*st));

    if (!st) {
        log_error("stream: no memory for the hub");
        return NULL;
    }
    buf_init(&st->bodies, 64u * 1024 * 1024);

    while (!atomic_load(&h->stopping)) {
        struct timespec ts;
        int64_t until = time_mono_us() + h->tick_us;
        pthread_mutex_lock(&h->lock);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(h->tick_us / 1000000);
        ts.tv_nsec += (long)(h->tick_us % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!atomic_load(&h->stopping) && !atomic_load(&h->kick) && time_mono_us() < until)
            if (pthread_cond_timedwait(&h->wake, &h->lock, &ts) != 0)
                break;
        pthread_mutex_unlock(&h->lock);
        if (atomic_load(&h->stopping))
            break;
        atomic_store(&h->kick, false);
        (void)poll_source(h, st);
        wake_clients(h);
    }
    buf_free(&st->bodies);
    free(st);
    return NULL;
}

enum bm_rc stream_hub_start(const struct stream_hub_opts *o, struct stream_hub **out)
{
    struct stream_hub *h = calloc(1, sizeof(*h));
    pthread_condattr_t ca;
    pthread_rwlockattr_t ra;

    if (!h)
        return BM_ENOMEM;
    h->src = o->src;
    h->heartbeat_us = o->heartbeat_ms * 1000;
    h->tick_us = (o->tick_ms > 0 ? o->tick_ms : 10) * 1000;
    h->nbytes = (size_t)o->ring_bytes;
    h->nslots = h->nbytes / SLOT_BYTES + 1;
    h->bytes = malloc(h->nbytes);
    h->slots = calloc(h->nslots, sizeof(*h->slots));
    if (!h->bytes || !h->slots) {
        free(h->bytes);
        free(h->slots);
        free(h);
        return BM_ENOMEM;
    }
    atomic_init(&h->stopping, false);
    atomic_init(&h->kick, false);
    atomic_init(&h->overflows, 0);
    atomic_init(&h->resumes, 0);
    atomic_init(&h->polled, h->src.head(h->src.ctx));
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_rwlockattr_init(&ra);
    /* workers send from the ring under its read lock, back to back: with
     * glibc's default (readers first) the hub could wait for ever */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->ring_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
        stream_hub_free(h);
        return BM_EIO;
    }
    h->running = true;
    *out = h;
    return BM_OK;
}

void stream_hub_notify(struct stream_hub *h)
{
    if (!h || atomic_exchange(&h->kick, true))
        return; /* already kicked: the hub looks before it waits again */
    pthread_mutex_lock(&h->lock);
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
}

void stream_hub_shutdown(struct stream_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->stopping, true);
    pthread_cond_signal(&h->wake);
    for (struct stream_client *c = h->clients; c; c = c->next)
        if (c->suspended) {
            c->suspended = false;
            http_conn_resume(c->conn);
        }
    pthread_mutex_unlock(&h->lock);
    if (h->running)
        pthread_join(h->thread, NULL);
    h->running = false;
}

void stream_hub_free(struct stream_hub *h)
{
    if (!h)
        return;
    stream_hub_shutdown(h);
    for (int i = 0; i < h->ntypes; i++)
        free((void *)(uintptr_t)h->types[i]);
    pthread_rwlock_destroy(&h->ring_lock);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h->bytes);
    free(h->slots);
    free(h);
}
