/* stream.c - the SSE hub (see stream.h). */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "stream.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "query.h"
#include "timefmt.h"

#define SLOT_BYTES    256        /* one slot per this many ring bytes */
#define READ_MAX      1024       /* events per read by the hub thread */
#define CATCHUP_MAX   32         /* events per catch-up read from the source */
#define STREAM_SNDBUF (64 * 1024) /* kernel send buffer of a stream socket */
#define DIRECT_MAX    (32 * 1024) /* bytes of the ring per send to a client */
#define DIRECT_IOV    64          /* messages per send */
#define TYPES_MAX     32
#define SENDERS       2           /* threads that write to the clients */
#define STEPS_MAX     8           /* sends per client per pass; more on the next */
#define SENDER_WAIT_MS 1000       /* a sender looks at its clients at least this often */
#define TRIM_AFTER_US (500 * 1000) /* a quiet spell after clients come or go */
#define JUNK_MAX      (16 * 1024)  /* bytes a client may send at once (dropped) */

/* One message in the ring: "id: <seq>\ndata: <json>\n\n" at bytes[off]. */
struct slot {
    uint64_t seq;
    int64_t ts_ms;
    const char *atype; /* interned; NULL: normal */
    uint32_t off, len;
    uint32_t body_off, body_len;
};

/* A client: its socket (taken from the HTTP server once the head is
 * sent), its filter and a cursor into the ring. Owned by one sender
 * thread from the moment it is handed over; nothing here is shared. */
struct stream_client {
    struct stream_client *prev, *next; /* its sender's list (or inbox) */
    struct stream_hub *hub;
    struct http_server *srv;
    int fd;
    struct db_list_query q;
    uint64_t cursor;    /* every event up to here has been examined */
    uint64_t last_sent; /* the id of the last event sent (or the start) */
    bool live;          /* reading from the ring (else catching up) */
    bool overflowed;    /* the ring overtook it: report, then end */
    bool finished;      /* end once carry is out */
    bool full;          /* the socket took less than offered: wait for EPOLLOUT */
    bool gone;          /* to be closed: error, hang-up, stall, end */
    bool wrote;         /* something went out in this pass */
    int64_t last_write_us, full_since_us;
    /* the rest of the one message a full socket cut (the ring may reuse
     * its bytes before the socket drains); NULL when none */
    char *carry;
    size_t carry_len, carry_off;
};

/* A thread that writes to its share of the clients: woken by the hub when
 * new events are in the ring, by the kernel when a full socket drains or
 * a client hangs up, and by its own timer for heartbeats and stalls. */
struct sender {
    struct stream_hub *hub;
    pthread_t thread;
    bool running;
    int ep_fd, wake_fd;
    pthread_mutex_t lock;          /* guards inbox and closed */
    struct stream_client *inbox;   /* handed over, not yet taken in */
    bool closed;                   /* stopped: hand nothing more over */
    struct stream_client *clients; /* the sender thread's own */
    struct buf scratch;            /* catch-up messages, formatted */
    int64_t trim_at_us;            /* when to give the heap's free pages back (0: no) */
};

struct stream_hub {
    struct stream_source src;
    int64_t heartbeat_us, tick_us, stall_us;
    pthread_t thread;
    bool running;
    atomic_bool stopping;
    atomic_bool kick; /* stream_hub_notify: look now */
    atomic_ullong overflows;
    atomic_ullong resumes; /* passes in which a waiting stream had something new */
    atomic_uint next_sender;
    struct sender senders[SENDERS];
    unsigned nsenders; /* started */

    pthread_mutex_t lock; /* guards nclients; the hub's idle check */
    pthread_cond_t wake;  /* shutdown and notify wake the hub thread */
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
/* The ring (the hub thread writes, the senders read)                  */

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

/* ------------------------------------------------------------------ */
/* Writing to a client (its sender thread)                              */

/* Offers total bytes to the socket without waiting: what it took. A
 * short write marks the client full (it waits for EPOLLOUT); an error
 * marks it gone. */
static size_t send_now(struct stream_client *c, struct iovec *iov, size_t n, size_t total)
{
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
    ssize_t w;

    do
        w = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->gone = true;
            return 0;
        }
        w = 0;
    }
    if (w > 0)
        c->wrote = true;
    if ((size_t)w < total) {
        c->full = true;
        c->full_since_us = time_mono_us();
    }
    return (size_t)w;
}

/* Keeps the n bytes at p that the socket did not take. */
static void carry_keep(struct stream_client *c, const char *p, size_t n)
{
    c->carry = malloc(n);
    if (!c->carry) {
        c->gone = true; /* cut rather than send half a message */
        return;
    }
    memcpy(c->carry, p, n);
    c->carry_len = n;
    c->carry_off = 0;
}

static void carry_send(struct stream_client *c)
{
    struct iovec v = { c->carry + c->carry_off, c->carry_len - c->carry_off };

    c->carry_off += send_now(c, &v, 1, v.iov_len);
    if (c->carry_off == c->carry_len) {
        free(c->carry);
        c->carry = NULL;
        c->carry_len = c->carry_off = 0;
    }
}

/* One whole message (a heartbeat, an overflow, a gap): what the socket
 * does not take is carried. */
static void send_msg(struct stream_client *c, const char *msg, size_t len)
{
    struct iovec v = { (void *)(uintptr_t)msg, len };
    size_t w = send_now(c, &v, 1, len);

    if (w < len && !c->gone)
        carry_keep(c, msg + w, len - w);
}

/* After a send of the messages iov[0..n) (seqs: each one's event) of
 * which the socket took w bytes: the cursor and last_sent move to the
 * last message begun, the rest of a message cut short is carried, the
 * messages not begun are offered again next time (from the ring or the
 * source). All taken: the cursor moves to examined. */
static void account(struct stream_client *c, const struct iovec *iov, const uint64_t *seqs,
                    size_t n, size_t w, uint64_t examined)
{
    size_t i;

    for (i = 0; i < n && w >= iov[i].iov_len; i++)
        w -= iov[i].iov_len;
    if (i == n) {
        c->cursor = examined;
        c->last_sent = seqs[n - 1];
    } else if (w > 0) { /* message i was cut */
        carry_keep(c, (const char *)iov[i].iov_base + w, iov[i].iov_len - w);
        c->cursor = c->last_sent = seqs[i];
    } else if (i > 0) {
        c->cursor = c->last_sent = seqs[i - 1];
    }
}

/* The outcomes of a look at the ring for one client. */
enum ring_rc { RING_NONE, RING_SENT, RING_FULL, RING_BEHIND };

/* Sends the client's next messages straight from the ring to its socket:
 * one non-blocking sendmsg of up to DIRECT_MAX bytes, no copy. The ring's
 * read lock is held across it (the hub's write lock waits for at most one
 * such send per sender: the lock prefers writers). */
static enum ring_rc ring_send(struct stream_client *c)
{
    struct stream_hub *h = c->hub;
    struct iovec iov[DIRECT_IOV];
    uint64_t seqs[DIRECT_IOV];
    size_t niov = 0, total = 0, i, w;
    uint64_t examined;

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
            iov[niov].iov_len = s->len;
            total += s->len;
            seqs[niov++] = s->seq;
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
    w = send_now(c, iov, niov, total);
    if (w == 0) {
        pthread_rwlock_unlock(&h->ring_lock);
        return RING_FULL;
    }
    account(c, iov, seqs, niov, w, examined);
    pthread_rwlock_unlock(&h->ring_lock);
    return RING_SENT;
}

/* Catch-up messages are formatted into the sender's scratch, then sent. */
struct catchup {
    struct stream_client *c;
    struct buf *out;
    size_t n;
    size_t ends[CATCHUP_MAX]; /* each message's end in out (which may move) */
    uint64_t seqs[CATCHUP_MAX];
    bool failed;
};

static bool catchup_emit(void *ud, uint64_t seq, int64_t ts_ms, const char *atype,
                         const char *body, size_t len)
{
    struct catchup *k = ud;
    char head[32];
    int hl = snprintf(head, sizeof(head), "id: %llu\ndata: ", (unsigned long long)seq);

    (void)ts_ms;
    (void)atype;
    if (hl < 0 || k->n == CATCHUP_MAX || buf_append(k->out, head, (size_t)hl) != BM_OK ||
        buf_append(k->out, body, len) != BM_OK || buf_append(k->out, "\n\n", 2) != BM_OK) {
        k->failed = true;
        return false;
    }
    k->ends[k->n] = k->out->len;
    k->seqs[k->n++] = seq;
    return true;
}

/* Reads the gap between the client's cursor and the ring from the source
 * and sends it. false: nothing more to do now (full, gone, or an error). */
static bool catch_up_send(struct sender *sd, struct stream_client *c)
{
    struct stream_hub *h = c->hub;
    struct catchup k = { .c = c, .out = &sd->scratch };
    uint64_t examined = c->cursor, before = c->cursor;
    struct iovec iov[CATCHUP_MAX];
    size_t w;
    enum bm_rc rc;

    buf_reset(&sd->scratch);
    rc = h->src.read(h->src.ctx, &c->q, c->cursor, CATCHUP_MAX, catchup_emit, &k, &examined);
    if (rc == BM_ERANGE && examined > c->cursor) {
        /* the source no longer has the events after the cursor: say so */
        char msg[128];
        int ml = snprintf(msg, sizeof(msg),
                          "event: gap\ndata: {\"last_sequence\":%llu,\"oldest_sequence\":%llu}"
                          "\n\n",
                          (unsigned long long)c->cursor, (unsigned long long)examined + 1);
        c->cursor = examined;
        if (ml > 0)
            send_msg(c, msg, (size_t)ml);
        return !c->full && !c->gone;
    }
    if (rc != BM_OK || k.failed) {
        log_warn("stream: catching a client up: %s", k.failed ? "no memory" : bm_rc_str(rc));
        c->gone = true;
        return false;
    }
    if (k.n == 0) {
        if (examined > c->cursor)
            c->cursor = examined;
        return c->cursor != before;
    }
    for (size_t i = 0, start = 0; i < k.n; start = k.ends[i++]) {
        iov[i].iov_base = sd->scratch.data + start;
        iov[i].iov_len = k.ends[i] - start;
    }
    w = send_now(c, iov, k.n, sd->scratch.len);
    if (w == 0)
        return false;
    account(c, iov, k.seqs, k.n, w, examined);
    return !c->full && !c->gone;
}

/* One step of what the client is owed; true: there may be more now. */
static bool client_step(struct sender *sd, struct stream_client *c)
{
    struct stream_hub *h = c->hub;

    if (c->carry) {
        carry_send(c);
        return !c->full && !c->gone;
    }
    if (c->finished || atomic_load(&h->stopping)) {
        c->gone = true;
        return false;
    }
    if (!c->overflowed) {
        switch (ring_send(c)) {
        case RING_SENT:
            return !c->full && !c->gone;
        case RING_FULL:
            return false;
        case RING_BEHIND:
            return catch_up_send(sd, c);
        case RING_NONE:
            break;
        }
    }
    if (c->overflowed) {
        char msg[96];
        int ml = snprintf(msg, sizeof(msg), "event: overflow\ndata: {\"last_sequence\":%llu}\n\n",
                          (unsigned long long)c->last_sent);
        c->finished = true;
        if (ml > 0)
            send_msg(c, msg, (size_t)ml);
        return !c->full && !c->gone;
    }
    return false;
}

/* A pass over one client: what it is owed, up to STEPS_MAX sends (more:
 * there may be more), a heartbeat if nothing went out for long. */
static void client_serve(struct sender *sd, struct stream_client *c, int64_t now, bool *more)
{
    struct stream_hub *h = c->hub;
    int k;

    if (c->full || c->gone)
        return;
    c->wrote = false;
    for (k = 0; k < STEPS_MAX; k++)
        if (!client_step(sd, c))
            break;
    if (k == STEPS_MAX)
        *more = true;
    if (!c->wrote && !c->full && !c->gone && !c->finished &&
        now - c->last_write_us >= h->heartbeat_us)
        send_msg(c, ": heartbeat\n\n", 13);
    if (c->wrote) {
        c->last_write_us = now;
        atomic_fetch_add(&h->resumes, 1);
    }
}

/* ------------------------------------------------------------------ */
/* Clients coming and going                                             */

static void client_free(struct stream_client *c)
{
    struct stream_hub *h = c->hub;

    if (c->fd >= 0)
        http_taken_close(c->srv, c->fd);
    free(c->carry);
    pthread_mutex_lock(&h->lock);
    h->nclients--;
    pthread_mutex_unlock(&h->lock);
    free(c);
}

static void sender_wake(struct sender *sd)
{
    uint64_t one = 1;

    if (sd->wake_fd >= 0 && write(sd->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("stream: waking a sender: %s", strerror(errno));
}

/* The HTTP server hands a client's socket over (its worker thread), or -1
 * if the connection ended first. */
static void client_taken(void *ud, struct http_server *srv, int fd)
{
    struct stream_client *c = ud;
    struct stream_hub *h = c->hub;
    struct sender *sd;

    c->srv = srv;
    c->fd = fd;
    if (fd < 0 || h->nsenders == 0) {
        client_free(c);
        return;
    }
    sd = &h->senders[atomic_fetch_add(&h->next_sender, 1) % h->nsenders];
    pthread_mutex_lock(&sd->lock);
    if (sd->closed) {
        pthread_mutex_unlock(&sd->lock);
        client_free(c);
        return;
    }
    c->next = sd->inbox;
    sd->inbox = c;
    pthread_mutex_unlock(&sd->lock);
    sender_wake(sd);
}

/* A stream's connection leaves the HTTP server's memory pool (16 KiB) to
 * the heap when it is handed over, and a client its own when it goes:
 * after a burst of them (a thousand clients connecting at once) that is
 * megabytes of free heap in the HTTP workers' arenas, which glibc keeps.
 * Once things are quiet the senders give those pages back. */
static void trim_later(struct sender *sd)
{
    sd->trim_at_us = time_mono_us() + TRIM_AFTER_US;
}

static void trim_if_due(struct sender *sd, int64_t now, int64_t *next)
{
    if (!sd->trim_at_us)
        return;
    if (now < sd->trim_at_us) {
        if (sd->trim_at_us < *next)
            *next = sd->trim_at_us;
        return;
    }
    sd->trim_at_us = 0;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    malloc_trim(0); /* glibc's heap; a sanitizer's allocator is its own */
#endif
}

/* Takes the handed-over clients into the sender's list and its epoll set:
 * readable (a hang-up, or bytes to discard) and writable, edge-triggered. */
static void sender_take_in(struct sender *sd)
{
    struct stream_client *c, *next;

    pthread_mutex_lock(&sd->lock);
    c = sd->inbox;
    sd->inbox = NULL;
    pthread_mutex_unlock(&sd->lock);
    for (; c; c = next) {
        struct stream_client *moved = malloc(sizeof(*moved));
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };

        next = c->next;
        /* Moved to this thread's heap: allocated on an HTTP worker, the
         * client sat between its connection's freed pool and state, and
         * kept their pages in RSS (~4 KiB a stream); here the clients sit
         * side by side. */
        if (moved) {
            *moved = *c;
            free(c);
            c = moved;
        }
        ev.data.ptr = c;
        if (epoll_ctl(sd->ep_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            log_warn("stream: watching a client's socket: %s", strerror(errno));
            client_free(c);
            continue;
        }
        c->prev = NULL;
        c->next = sd->clients;
        if (sd->clients)
            sd->clients->prev = c;
        sd->clients = c;
        trim_later(sd);
    }
}

static void sender_drop(struct sender *sd, struct stream_client *c)
{
    trim_later(sd);
    if (c->prev)
        c->prev->next = c->next;
    else
        sd->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    (void)epoll_ctl(sd->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
    client_free(c);
}

/* What the kernel says of a client's socket. A client sends nothing after
 * its request: bytes are read and dropped (more than JUNK_MAX at once ends
 * the stream, so no client keeps its sender reading), and the end of its
 * side, or an error, ends the stream. */
static void client_event(struct stream_client *c, uint32_t events)
{
    if (events & EPOLLOUT)
        c->full = false;
    if (events & (EPOLLERR | EPOLLHUP)) {
        c->gone = true;
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP)) {
        char junk[1024];
        size_t got = 0;
        for (;;) {
            ssize_t r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
            if (r > 0) {
                got += (size_t)r;
                if (got <= JUNK_MAX)
                    continue;
                c->gone = true; /* a stream is not for sending to */
                break;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                c->gone = true;
            if (r == 0 || errno != EINTR)
                break;
        }
    }
}

/* A pass over every client; the ms to wait before the next. */
static int sender_pass(struct sender *sd, int64_t now)
{
    struct stream_hub *h = sd->hub;
    int64_t next = now + (int64_t)SENDER_WAIT_MS * 1000;
    struct stream_client *c, *after;
    bool more = false;

    for (c = sd->clients; c; c = after) {
        after = c->next;
        client_serve(sd, c, now, &more);
        if (c->full && !c->gone && now - c->full_since_us >= h->stall_us) {
            log_debug("stream: a client took nothing for %lld ms: closed",
                      (long long)(h->stall_us / 1000));
            c->gone = true;
        }
        if (c->gone) {
            sender_drop(sd, c);
            continue;
        }
        if (c->full) {
            if (c->full_since_us + h->stall_us < next)
                next = c->full_since_us + h->stall_us;
        } else if (c->last_write_us + h->heartbeat_us < next) {
            next = c->last_write_us + h->heartbeat_us;
        }
    }
    trim_if_due(sd, now, &next);
    if (more || next <= now)
        return 0;
    return (int)((next - now + 999) / 1000);
}

static void *sender_main(void *arg)
{
    struct sender *sd = arg;
    struct stream_hub *h = sd->hub;
    struct epoll_event ev[64];
    int wait_ms = 0;

    while (!atomic_load(&h->stopping)) {
        int n = epoll_wait(sd->ep_fd, ev, 64, wait_ms);
        for (int i = 0; i < n; i++) {
            uint64_t v;
            if (ev[i].data.ptr == sd) {
                if (read(sd->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    log_warn("stream: a sender's wake descriptor: %s", strerror(errno));
            } else {
                client_event(ev[i].data.ptr, ev[i].events);
            }
        }
        sender_take_in(sd);
        wait_ms = sender_pass(sd, time_mono_us());
    }
    /* stopping: nothing more is handed over, every stream ends */
    pthread_mutex_lock(&sd->lock);
    sd->closed = true;
    pthread_mutex_unlock(&sd->lock);
    sender_take_in(sd);
    while (sd->clients)
        sender_drop(sd, sd->clients);
    return NULL;
}

static void sender_init(struct stream_hub *h, struct sender *sd)
{
    sd->hub = h;
    sd->ep_fd = sd->wake_fd = -1;
    pthread_mutex_init(&sd->lock, NULL);
    buf_init(&sd->scratch, 16u * 1024 * 1024);
}

static bool sender_start(struct sender *sd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = sd };

    sd->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    sd->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sd->ep_fd < 0 || sd->wake_fd < 0 ||
        epoll_ctl(sd->ep_fd, EPOLL_CTL_ADD, sd->wake_fd, &ev) != 0) {
        log_error("stream: a sender's descriptors: %s", strerror(errno));
        return false;
    }
    if (pthread_create(&sd->thread, NULL, sender_main, sd) != 0)
        return false;
    sd->running = true;
    return true;
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
    c->fd = -1;
    c->q = *q;
    c->cursor = from_now ? h->src.head(h->src.ctx) : after;
    c->last_sent = c->cursor;
    c->last_write_us = time_mono_us();
    /* counted from here: the hub reads events for it (idle_skip) */
    pthread_mutex_lock(&h->lock);
    h->nclients++;
    pthread_mutex_unlock(&h->lock);
    http_req_sndbuf(req, STREAM_SNDBUF);
    http_add_header(req, "Cache-Control", "no-cache");
    http_add_header(req, "X-Accel-Buffering", "no");
    http_send_stream_taken(req, 200, "text/event-stream; charset=utf-8", client_taken, c);
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
        if (poll_source(h, st))
            for (unsigned i = 0; i < h->nsenders; i++)
                sender_wake(&h->senders[i]);
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
    h->stall_us = (o->stall_ms > 0 ? o->stall_ms : 15000) * 1000;
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
    for (unsigned i = 0; i < SENDERS; i++)
        sender_init(h, &h->senders[i]);
    for (unsigned i = 0; i < SENDERS; i++) {
        if (!sender_start(&h->senders[i]))
            break;
        h->nsenders++;
    }
    if (h->nsenders < SENDERS || pthread_create(&h->thread, NULL, hub_main, h) != 0) {
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
    pthread_mutex_unlock(&h->lock);
    if (h->running)
        pthread_join(h->thread, NULL);
    h->running = false;
    for (unsigned i = 0; i < SENDERS; i++) {
        struct sender *sd = &h->senders[i];
        sender_wake(sd);
        if (sd->running)
            pthread_join(sd->thread, NULL);
        sd->running = false;
    }
}

void stream_hub_free(struct stream_hub *h)
{
    if (!h)
        return;
    stream_hub_shutdown(h);
    for (int i = 0; i < h->ntypes; i++)
        free((void *)(uintptr_t)h->types[i]);
    for (unsigned i = 0; i < SENDERS; i++) {
        struct sender *sd = &h->senders[i];
        if (sd->ep_fd >= 0)
            close(sd->ep_fd);
        if (sd->wake_fd >= 0)
            close(sd->wake_fd);
        buf_free(&sd->scratch);
        pthread_mutex_destroy(&sd->lock);
    }
    pthread_rwlock_destroy(&h->ring_lock);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h->bytes);
    free(h->slots);
    free(h);
}
