/* log.c - JSON-lines logger. Each line is built in a stack buffer and
 * written whole under one lock, so lines from different threads never
 * interleave; access lines are gathered and written in batches. */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "timefmt.h"

#define LOG_LINE_MAX 4096 /* PIPE_BUF on Linux: atomic on pipes */
#define LOG_MSG_MAX 2048
#define LOG_EXTRA_MAX 2048
#define LOG_PATH_MAX 1024 /* request path share of the access line */

const char *const log_level_names[] = { "debug", "info", "warn", "error", NULL };

/* Written by log_init before any thread starts; read-only afterwards. */
static char log_service[64];
/* Atomics: tests and POST /config change these while threads log. */
static atomic_int log_min = LOG_INFO;
static atomic_int log_fd = 1;

void log_init(const char *service, enum log_level min)
{
    size_t n = service ? strlen(service) : 0;

    if (n >= sizeof(log_service))
        n = sizeof(log_service) - 1;
    if (n)
        memcpy(log_service, service, n);
    log_service[n] = '\0';
    log_set_level(min);
}

void log_set_level(enum log_level min)
{
    atomic_store(&log_min, (int)min);
}

bool log_enabled(enum log_level lvl)
{
    return (int)lvl >= atomic_load(&log_min);
}

void log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

/* A bounded text under construction; appends that do not fit are cut. */
struct line {
    char *p;
    size_t len, cap;
};

static void line_raw(struct line *l, const char *s, size_t n)
{
    if (n > l->cap - l->len)
        n = l->cap - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void line_str(struct line *l, const char *s)
{
    line_raw(l, s, strlen(s));
}

/* Appends s as JSON string content, stopping before `limit` bytes of the
 * line are used; never splits an escape or a character. Invalid UTF-8
 * (e.g. in a client's path) becomes U+FFFD so the line stays valid JSON. */
static void line_esc(struct line *l, const char *s, size_t limit)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;

    if (limit > l->cap)
        limit = l->cap;
    if (l->len >= limit)
        return;
    while (*u) {
        char tmp[8];
        const char *piece = tmp;
        size_t n = 1;
        const unsigned char *run = u;

        /* Fast path: a run of bytes that need no escape goes in one copy. */
        while (*u >= 0x20 && *u < 0x80 && *u != '"' && *u != '\\')
            u++;
        if (u != run) {
            size_t r = (size_t)(u - run);

            if (r > limit - l->len)
                r = limit - l->len;
            memcpy(l->p + l->len, run, r);
            l->len += r;
            if (run + r != u || !*u)
                return;
        }
        tmp[0] = (char)*u;
        switch (*u) {
        case '"':  piece = "\\\""; n = 2; break;
        case '\\': piece = "\\\\"; n = 2; break;
        case '\n': piece = "\\n"; n = 2; break;
        case '\r': piece = "\\r"; n = 2; break;
        case '\t': piece = "\\t"; n = 2; break;
        default:
            if (*u < 0x20) {
                memcpy(tmp, "\\u00", 4);
                tmp[4] = hex[*u >> 4];
                tmp[5] = hex[*u & 0xf];
                n = 6;
            } else if (*u >= 0x80) {
                n = buf_utf8_len((const char *)u, 4);
                piece = (const char *)u;
                if (n == 0) {
                    piece = "\\ufffd";
                    n = 6;
                }
            }
        }
        if (n > limit - l->len)
            return;
        memcpy(l->p + l->len, piece, n);
        l->len += n;
        /* An invalid byte is replaced alone; a valid sequence is used whole. */
        u += piece == (const char *)u ? n : 1;
    }
}

static void log_write(const char *p, size_t n)
{
    int fd = atomic_load(&log_fd);

    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Access lines come one per request, tens of thousands a second under
 * load: a write(2) each would cost as much as answering the request. So
 * they gather in the filling half of a double buffer. The request thread
 * whose line takes it past ACCESS_HIGH swaps the halves and writes the
 * full one while the others go on filling the other half; nobody waits
 * for that write unless the second half fills up too (back-pressure
 * rather than lost lines). A flusher thread, started with the first
 * access line, writes what is pending every ACCESS_FLUSH_MS while lines
 * come, and sleeps without a timer once they stop. Any other line first
 * writes what is pending, so the order holds. A crash loses at most the
 * pending access lines; other lines go out at once.
 *
 * Locks: wr_mu is held by whoever writes to the fd, and only that thread
 * swaps, so a half being written is never the filling one. acc_mu guards
 * the filling half. Order: wr_mu, then acc_mu. */
#define ACCESS_BUF (64 * 1024) /* each half */
#define ACCESS_HIGH (32 * 1024)
#define ACCESS_FLUSH_MS 50

static pthread_mutex_t wr_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t acc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t acc_cv = PTHREAD_COND_INITIALIZER; /* wakes an idle flusher */
static char acc_half[2][ACCESS_BUF]; /* the filling one guarded by acc_mu */
static int acc_fill;                 /* index of the filling half; acc_mu */
static size_t acc_len;               /* bytes in it; acc_mu */
static bool acc_idle;                /* the flusher waits for a line; acc_mu */
static pthread_once_t acc_once = PTHREAD_ONCE_INIT;
static bool acc_start_failed; /* written in acc_once, read after it */

/* Called with wr_mu held: writes out what the filling half holds. */
static void acc_swap_write_locked(void)
{
    const char *p;
    size_t n;

    pthread_mutex_lock(&acc_mu);
    p = acc_half[acc_fill];
    n = acc_len;
    acc_fill ^= 1;
    acc_len = 0;
    pthread_mutex_unlock(&acc_mu);
    if (n)
        log_write(p, n);
}

void log_flush(void)
{
    pthread_mutex_lock(&wr_mu);
    acc_swap_write_locked();
    pthread_mutex_unlock(&wr_mu);
}

static void *acc_flusher(void *arg)
{
    struct timespec ts = { 0, ACCESS_FLUSH_MS * 1000000L };

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&acc_mu);
        while (acc_len == 0) {
            acc_idle = true;
            pthread_cond_wait(&acc_cv, &acc_mu);
        }
        acc_idle = false;
        pthread_mutex_unlock(&acc_mu);
        nanosleep(&ts, NULL);
        log_flush();
    }
    return NULL;
}

static void acc_start(void)
{
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* signals stay with the threads that wait for them */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (pthread_create(&t, &attr, acc_flusher, NULL) != 0)
        acc_start_failed = true;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* Copies an access line into the filling half; false if it is full. */
static bool acc_append(const char *p, size_t n)
{
    bool wake, high;

    pthread_mutex_lock(&acc_mu);
    if (acc_len + n > ACCESS_BUF) {
        pthread_mutex_unlock(&acc_mu);
        return false;
    }
    memcpy(acc_half[acc_fill] + acc_len, p, n);
    acc_len += n;
    wake = acc_idle;
    acc_idle = false;
    high = acc_len >= ACCESS_HIGH;
    pthread_mutex_unlock(&acc_mu);
    if (wake)
        pthread_cond_signal(&acc_cv);
    /* If another thread is writing, the next line past ACCESS_HIGH
     * tries again. */
    if (high && pthread_mutex_trylock(&wr_mu) == 0) {
        acc_swap_write_locked();
        pthread_mutex_unlock(&wr_mu);
    }
    return true;
}

/* Out goes one whole line: buffered for access lines, else at once. */
static void log_out(const char *p, size_t n, bool access)
{
    if (access) {
        pthread_once(&acc_once, acc_start);
        if (!acc_start_failed) {
            while (!acc_append(p, n))
                log_flush(); /* both halves full: wait for the write */
            return;
        }
    }
    pthread_mutex_lock(&wr_mu);
    acc_swap_write_locked();
    log_write(p, n);
    pthread_mutex_unlock(&wr_mu);
}

/* Starts a line: the members every line has, up to the opening quote of
 * "msg"'s value. */
static void line_open(struct line *l, int level)
{
    char ts[TIMEFMT_ISO_LEN + 1];

    timefmt_iso(time_now_ms(), ts);
    line_str(l, "{\"ts\":\"");
    line_raw(l, ts, TIMEFMT_ISO_LEN);
    line_str(l, "\",\"level\":\"");
    line_str(l, log_level_names[level]);
    line_str(l, "\",\"service\":\"");
    line_esc(l, log_service, l->cap);
    line_str(l, "\",\"msg\":\"");
}

__attribute__((format(printf, 3, 0)))
static void log_vemit(enum log_level lvl, const char *extra, const char *fmt, va_list ap)
{
    char buf[LOG_LINE_MAX], msg[LOG_MSG_MAX];
    struct line l = { buf, 0, sizeof(buf) };
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t tail;
    int saved = errno; /* callers log and then inspect errno */
    int li = (int)lvl;

    if (li < LOG_DEBUG || li > LOG_ERROR)
        li = LOG_ERROR;
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    line_open(&l, li);
    /* Reserve the closing text; drop extra members that cannot fit. */
    tail = 3 + (extra_len ? extra_len + 1 : 0);
    if (extra_len > LOG_EXTRA_MAX || l.len + tail > l.cap) {
        extra_len = 0;
        tail = 3;
    }
    line_esc(&l, msg, l.cap - tail);
    line_raw(&l, "\"", 1);
    if (extra_len) {
        line_raw(&l, ",", 1);
        line_raw(&l, extra, extra_len);
    }
    line_raw(&l, "}\n", 2);
    log_out(buf, l.len, false);
    errno = saved;
}

void log_emit(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(lvl))
        return;
    va_start(ap, fmt);
    log_vemit(lvl, NULL, fmt, ap);
    va_end(ap);
}

void log_emit_fields(enum log_level lvl, const char *extra, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(lvl))
        return;
    va_start(ap, fmt);
    log_vemit(lvl, extra, fmt, ap);
    va_end(ap);
}

static void line_json_str_or_null(struct line *l, const char *s, size_t limit)
{
    if (!s) {
        line_str(l, "null");
        return;
    }
    line_raw(l, "\"", 1);
    line_esc(l, s, limit);
    line_raw(l, "\"", 1);
}

/* Appends v in decimal; at least `width` digits. */
static void line_uint(struct line *l, unsigned long long v, int width)
{
    char tmp[24];
    int i = (int)sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
        width--;
    } while (v || width > 0);
    line_raw(l, tmp + i, sizeof(tmp) - (size_t)i);
}

/* The access line is the hot one, so it is put together here directly,
 * byte for byte what log_emit_fields(LOG_INFO, extra, "request") would
 * write, without a format pass (line_open starts both). */
void log_request(const char *method, const char *path, int status,
                 double duration_ms, const char *request_id)
{
    char buf[LOG_LINE_MAX];
    struct line l = { buf, 0, sizeof(buf) };
    int saved = errno;

    if (!log_enabled(LOG_INFO))
        return;
    line_open(&l, LOG_INFO);
    line_str(&l, "request\",\"method\":");
    line_json_str_or_null(&l, method, l.len + 32);
    line_str(&l, ",\"path\":");
    line_json_str_or_null(&l, path, l.len + LOG_PATH_MAX);
    line_str(&l, ",\"status\":");
    if (status < 0) {
        line_raw(&l, "-", 1);
        line_uint(&l, (unsigned long long)-(long long)status, 1);
    } else {
        line_uint(&l, (unsigned long long)status, 1);
    }
    line_str(&l, ",\"duration_ms\":");
    if (isfinite(duration_ms) && duration_ms >= 0 && duration_ms < 1e12) {
        unsigned long long us = (unsigned long long)(duration_ms * 1000.0 + 0.5);

        line_uint(&l, us / 1000, 1);
        line_raw(&l, ".", 1);
        line_uint(&l, us % 1000, 3);
    } else {
        line_str(&l, "null");
    }
    line_str(&l, ",\"request_id\":");
    line_json_str_or_null(&l, request_id, l.len + 128);
    line_raw(&l, "}\n", 2);
    log_out(buf, l.len, true);
    errno = saved;
}
