/* sse_clients.c - N concurrent server-sent-event streams on one service,
 * held by one epoll loop, for bench/run.sh's SSE rows.
 *
 *   sse_clients PORT PATH N SECONDS [HEAD_POLL_MS [HTTP_VERSION]]
 *
 * HTTP_VERSION 1.1 (the default: what EventSource and curl send; the body
 * comes chunked and is decoded here) or 1.0 (the body as it is).
 * Reads the service's head H from /health, opens N streams on
 * PATH?since=H (so every client is owed the same events), lets them warm
 * up (2 s, then until each has caught up with the newest id any has), and
 * from that id F reads them for SECONDS. Meanwhile a separate connection polls /health every
 * HEAD_POLL_MS (5) ms: the wall time the head first reached a sequence is
 * that event's commit time as a client can see it. Then the cut-off C is
 * the highest id any client received; the clients get 5 s more to reach
 * it. Each event's delivery delay is its arrival time minus
 *   ts:     the event's JSON timestamp (live at wall-clock speed with time
 *           shaping off, simulated time = wall time), which includes the
 *           writer's batch gather (up to 50 ms);
 *   commit: the head poll's first sight of its sequence (later than the
 *           commit by up to the poll interval plus a /health round trip).
 * Prints one line of key=value: clients, complete (clients with every
 * event F+1..C, no gap, no duplicate, no overflow), events (C-F), overflow, gaps,
 * p50/p99/max of both delays in ms, and failed (connections lost).
 * Exit 0 if the run could be measured, 1 on a setup failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN (64 * 1024)
#define MAX_EVENTS   (1 << 20) /* events tracked per run */

enum chunk_state { CH_SIZE, CH_DATA, CH_CRLF, CH_DONE };

struct client {
    int fd;
    bool in_body, dead;
    bool chunked;          /* the response said Transfer-Encoding: chunked */
    enum chunk_state ch;
    uint64_t ch_left;      /* bytes left in the current chunk */
    char *line;
    size_t len;
    uint64_t id;   /* of the message being read */
    int64_t ts_ms; /* its timestamp, -1 if none */
    uint64_t last; /* last id received */
    uint64_t got;  /* events received up to the cut-off */
    uint64_t gaps, dups;
    bool overflow;
};

static int64_t now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" -> ms since the epoch, -1 if not that. */
static int64_t iso_ms(const char *s)
{
    int y, mo, d, h, mi, se, ms;

    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se) || s[19] != '.' ||
        !digits(s + 20, 3, &ms))
        return -1;
    return ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + se * 1000 + ms;
}

static uint64_t u64(const char *s)
{
    uint64_t v = 0;

    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static int connect_to(int port, bool nonblock)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    int one = 1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        s += k;
        n -= (size_t)k;
    }
    return true;
}

/* The head_sequence of a blocking GET /health, -1 on failure. */
static int64_t health_head(int port)
{
    static const char req[] = "GET /health HTTP/1.0\r\nHost: x\r\n\r\n";
    char buf[8192];
    size_t n = 0;
    ssize_t k;
    const char *p;
    int fd = connect_to(port, false);

    if (fd < 0)
        return -1;
    if (!send_all(fd, req, sizeof(req) - 1)) {
        close(fd);
        return -1;
    }
    while (n < sizeof(buf) - 1 && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)k;
    close(fd);
    buf[n] = '\0';
    p = strstr(buf, "\"head_sequence\":");
    return p ? (int64_t)u64(p + 16) : -1;
}

/* Per-sequence times, indexed by seq - base - 1, and the delays as
 * histograms of 0.1 ms buckets up to 10 s (the last bucket: beyond). */
#define HIST_N 100001
static uint64_t base, from_seq = UINT64_MAX, cutoff; /* nothing counts before the window */
static int64_t *seen_us; /* the head poll's first sight; written by the poll thread */
struct hist {
    uint64_t b[HIST_N];
    uint64_t n;
    double max;
};
static struct hist h_ts, h_commit, h_rtt; /* h_rtt: the poll thread's */

static void hist_add(struct hist *h, double ms)
{
    long k = ms <= 0 ? 0 : (long)(ms * 10.0);

    h->b[k < HIST_N - 1 ? k : HIST_N - 1]++;
    h->n++;
    if (ms > h->max)
        h->max = ms;
}

/* The p-quantile (nearest rank) in ms, -1 if empty. */
static double hist_pct(const struct hist *h, double p)
{
    uint64_t want = (uint64_t)(p * (double)h->n + 0.5), acc = 0;

    if (!h->n)
        return -1;
    if (want < 1)
        want = 1;
    for (long k = 0; k < HIST_N; k++) {
        acc += h->b[k];
        if (acc >= want)
            return (double)k / 10.0;
    }
    return h->max;
}

static void record(struct client *c, int64_t at)
{
    uint64_t i;

    if (c->id <= c->last) {
        c->dups++;
        return;
    }
    if (c->id != c->last + 1)
        c->gaps++;
    c->last = c->id;
    if (c->id <= from_seq || (cutoff && c->id > cutoff))
        return;
    c->got++;
    i = c->id - base - 1;
    if (c->ts_ms >= 0)
        hist_add(&h_ts, (double)(at - c->ts_ms * 1000) / 1000.0);
    if (i < MAX_EVENTS) {
        int64_t t = __atomic_load_n(&seen_us[i], __ATOMIC_RELAXED);
        if (t)
            hist_add(&h_commit, (double)(at - t) / 1000.0);
    }
}

/* One line of the body (without its LF), NUL-terminated. */
static void on_line(struct client *c, char *s, size_t n, int64_t at)
{
    const char *p;

    if (n && s[n - 1] == '\r')
        s[--n] = '\0';
    if (n == 0) {
        if (c->id)
            record(c, at);
        c->id = 0;
        c->ts_ms = -1;
        return;
    }
    if (strncmp(s, "id: ", 4) == 0) {
        c->id = u64(s + 4);
    } else if (strncmp(s, "data: ", 6) == 0) {
        p = strstr(s, "\"timestamp\":\"");
        c->ts_ms = p ? iso_ms(p + 13) : -1;
    } else if (strncmp(s, "event: overflow", 15) == 0) {
        c->overflow = true;
    }
}

static void on_text(struct client *c, char *line, size_t n, int64_t at)
{
    line[n] = '\0';
    if (!c->in_body) {
        /* the response head ends at an empty line */
        if (n == 0 || (n == 1 && line[0] == '\r'))
            c->in_body = true;
        else if (strncasecmp(line, "Transfer-Encoding: chunked", 26) == 0)
            c->chunked = true;
        return;
    }
    on_line(c, line, n, at);
}

/* Lines are handled in place; a partial one waits in c->line. */
static void on_lines(struct client *c, char *p, size_t n, int64_t at)
{
    char *end = p + n, *nl;

    if (c->len) {
        nl = memchr(p, '\n', n);
        size_t k = (size_t)((nl ? nl : end) - p);
        if (c->len + k < LINE_MAX_LEN) {
            memcpy(c->line + c->len, p, k);
            c->len += k;
        }
        if (!nl)
            return;
        on_text(c, c->line, c->len, at);
        c->len = 0;
        p = nl + 1;
    }
    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        char keep = *nl;
        on_text(c, p, (size_t)(nl - p), at);
        *nl = keep;
        p = nl + 1;
    }
    if (p < end) {
        size_t k = (size_t)(end - p);
        if (k >= LINE_MAX_LEN)
            k = LINE_MAX_LEN - 1;
        memcpy(c->line, p, k);
        c->len = k;
    }
}

/* The chunked body's payload to on_lines: sizes in hex on their own
 * line, each chunk followed by CRLF, the last of size 0. */
static void dechunk(struct client *c, char *p, size_t n, int64_t at)
{
    char *end = p + n;

    while (p < end) {
        switch (c->ch) {
        case CH_SIZE: {
            char ch = *p++;
            int v = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (v >= 0)
                c->ch_left = c->ch_left * 16 + (uint64_t)v;
            else if (ch == '\n')
                c->ch = c->ch_left ? CH_DATA : CH_DONE;
            break;
        }
        case CH_DATA: {
            size_t k = (size_t)(end - p) < c->ch_left ? (size_t)(end - p) : (size_t)c->ch_left;
            on_lines(c, p, k, at);
            p += k;
            c->ch_left -= k;
            if (!c->ch_left)
                c->ch = CH_CRLF;
            break;
        }
        case CH_CRLF:
            if (*p++ == '\n')
                c->ch = CH_SIZE;
            break;
        case CH_DONE:
            return;
        }
    }
}

/* A read's bytes: the head line by line, then the body (dechunked). */
static void on_bytes(struct client *c, char *p, size_t n, int64_t at)
{
    char *end = p + n;

    while (!c->in_body && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t k = (size_t)((nl ? nl : end) - p);
        if (c->len + k < LINE_MAX_LEN) {
            memcpy(c->line + c->len, p, k);
            c->len += k;
        }
        if (!nl)
            return;
        on_text(c, c->line, c->len, at);
        c->len = 0;
        p = nl + 1;
    }
    if (p == end)
        return;
    if (c->chunked)
        dechunk(c, p, (size_t)(end - p), at);
    else
        on_lines(c, p, (size_t)(end - p), at);
}

/* The head poll, on its own thread so a /health round trip never holds
 * up the streams' reads. */
struct poller {
    int port, poll_ms;
    atomic_bool stop;
};

static void *poll_head(void *ud)
{
    struct poller *p = ud;
    uint64_t seen = base;

    while (!atomic_load(&p->stop)) {
        int64_t sent = now_us(), h = health_head(p->port), at = now_us();
        struct timespec ts = { 0, (long)p->poll_ms * 1000000L };

        for (int64_t s = (int64_t)seen + 1; h > 0 && s <= h; s++)
            if ((uint64_t)s - base - 1 < MAX_EVENTS)
                __atomic_store_n(&seen_us[(uint64_t)s - base - 1], at, __ATOMIC_RELAXED);
        if (h > (int64_t)seen)
            seen = (uint64_t)h;
        if (__atomic_load_n(&from_seq, __ATOMIC_RELAXED) != UINT64_MAX)
            hist_add(&h_rtt, (double)(at - sent) / 1000.0);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Reads every ready stream until deadline_us; with want, stops early once
 * every live client has reached it. */
static void pump(int ep, struct client *cl, int n, int64_t deadline_us, uint64_t want,
                 uint64_t *max_seen)
{
    struct epoll_event evs[256];
    static char buf[65536];

    while (now_us() < deadline_us) {
        int k;
        if (want) {
            bool all = true;
            for (int i = 0; i < n && all; i++)
                all = cl[i].dead || cl[i].overflow || cl[i].last >= want;
            if (all)
                return;
        }
        k = epoll_wait(ep, evs, 256, 20);
        for (int i = 0; i < k; i++) {
            struct client *c = &cl[evs[i].data.u32];
            ssize_t r = read(c->fd, buf, sizeof(buf));
            int64_t at = now_us();
            if (r > 0) {
                on_bytes(c, buf, (size_t)r, at);
                if (c->last > *max_seen)
                    *max_seen = c->last;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                c->dead = true;
                (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    struct client *cl;
    int port, n, secs, poll_ms = 5, ep, complete = 0, overflow = 0, failed = 0;
    const char *ver = "1.1";
    uint64_t gaps = 0, max_seen = 0;
    struct poller pl;
    pthread_t th;
    int64_t h;
    char req[1024];

    if (argc < 5) {
        fprintf(stderr, "usage: sse_clients PORT PATH N SECONDS [HEAD_POLL_MS [1.1|1.0]]\n");
        return 1;
    }
    port = (int)u64(argv[1]);
    n = (int)u64(argv[3]);
    secs = (int)u64(argv[4]);
    if (argc > 5)
        poll_ms = (int)u64(argv[5]);
    if (argc > 6)
        ver = argv[6];
    if (strcmp(ver, "1.1") != 0 && strcmp(ver, "1.0") != 0)
        return 1;
    if (port <= 0 || n <= 0 || secs <= 0 || poll_ms <= 0)
        return 1;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    h = health_head(port);
    if (h < 0) {
        fprintf(stderr, "sse_clients: no /health on port %d\n", port);
        return 1;
    }
    base = (uint64_t)h;
    cl = calloc((size_t)n, sizeof(*cl));
    seen_us = calloc(MAX_EVENTS, sizeof(*seen_us));
    ep = epoll_create1(0);
    if (!cl || !seen_us || ep < 0)
        return 1;
    snprintf(req, sizeof(req),
             "GET %s%csince=%llu HTTP/%s\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
             argv[2], strchr(argv[2], '?') ? '&' : '?', (unsigned long long)base, ver);
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = { .events = EPOLLIN };
        int fd = connect_to(port, false);
        cl[i].fd = fd;
        cl[i].last = base;
        cl[i].ts_ms = -1;
        cl[i].line = malloc(LINE_MAX_LEN);
        if (fd < 0 || !cl[i].line || !send_all(fd, req, strlen(req))) {
            fprintf(stderr, "sse_clients: stream %d: %s\n", i, strerror(errno));
            return 1;
        }
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            return 1;
    }
    pl.port = port;
    pl.poll_ms = poll_ms;
    atomic_init(&pl.stop, false);
    if (pthread_create(&th, NULL, poll_head, &pl) != 0)
        return 1;
    /* warm-up: every stream open and caught up before the window opens */
    pump(ep, cl, n, now_us() + 2000000, 0, &max_seen);
    pump(ep, cl, n, now_us() + 10000000, max_seen, &max_seen);
    __atomic_store_n(&from_seq, max_seen, __ATOMIC_RELAXED);
    pump(ep, cl, n, now_us() + (int64_t)secs * 1000000, 0, &max_seen);
    cutoff = max_seen;
    pump(ep, cl, n, now_us() + 5000000, cutoff, &max_seen);
    atomic_store(&pl.stop, true);
    pthread_join(th, NULL);
    for (int i = 0; i < n; i++) {
        gaps += cl[i].gaps + cl[i].dups;
        overflow += cl[i].overflow;
        failed += cl[i].dead && !cl[i].overflow;
        complete += !cl[i].gaps && !cl[i].dups && !cl[i].overflow && cl[i].got == cutoff - from_seq;
        close(cl[i].fd);
        free(cl[i].line);
    }
    printf("clients=%d complete=%d events=%llu overflow=%d gaps=%llu failed=%d "
           "ts_p50=%.1f ts_p99=%.1f ts_max=%.1f commit_p50=%.1f commit_p99=%.1f "
           "commit_max=%.1f samples=%zu poll_rtt_p99=%.1f\n",
           n, complete, (unsigned long long)(cutoff - from_seq), overflow,
           (unsigned long long)gaps, failed, hist_pct(&h_ts, 0.5), hist_pct(&h_ts, 0.99),
           h_ts.max, hist_pct(&h_commit, 0.5), hist_pct(&h_commit, 0.99), h_commit.max,
           (size_t)h_ts.n, hist_pct(&h_rtt, 0.99));
    free(cl);
    free(seen_us);
    close(ep);
    return 0;
}
