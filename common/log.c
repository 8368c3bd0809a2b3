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
 * load: a write(2) each would cost as much as answering the request. They
 * gather in acc_buf and go out in one write when it fills, before any
 * other line (so the order holds), or ACCESS_FLUSH_MS after they came, by
 * a thread started with the first one. A crash loses at most that much
 * of the access log; every other line is written at once. */
#define ACCESS_BUF (32 * 1024)
#define ACCESS_FLUSH_MS 50

static pthread_mutex_t acc_mu = PTHREAD_MUTEX_INITIALIZER;
static char acc_buf[ACCESS_BUF]; /* guarded by acc_mu */
static size_t acc_len;           /* guarded by acc_mu */
static pthread_once_t acc_once = PTHREAD_ONCE_INIT;
static bool acc_start_failed; /* written in acc_once, read after it */

/* Called with acc_mu held. */
static void acc_flush_locked(void)
{
    if (acc_len) {
        log_write(acc_buf, acc_len);
        acc_len = 0;
    }
}

void log_flush(void)
{
    pthread_mutex_lock(&acc_mu);
    acc_flush_locked();
    pthread_mutex_unlock(&acc_mu);
}

static void *acc_flusher(void *arg)
{
    struct timespec ts = { 0, ACCESS_FLUSH_MS * 1000000L };

    (void)arg;
    for (;;) {
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

/* Out goes one whole line: buffered for access lines, else at once. */
static void log_out(const char *p, size_t n, bool access)
{
    if (access) {
        pthread_once(&acc_once, acc_start);
        if (!acc_start_failed) {
            pthread_mutex_lock(&acc_mu);
            if (acc_len + n > sizeof(acc_buf))
                acc_flush_locked();
            memcpy(acc_buf + acc_len, p, n);
            acc_len += n;
            pthread_mutex_unlock(&acc_mu);
            return;
        }
    }
    pthread_mutex_lock(&acc_mu);
    acc_flush_locked();
    log_write(p, n);
    pthread_mutex_unlock(&acc_mu);
}

__attribute__((format(printf, 4, 0)))
static void log_vemit(enum log_level lvl, bool access, const char *extra, const char *fmt,
                      va_list ap)
{
    char buf[LOG_LINE_MAX], msg[LOG_MSG_MAX], ts[TIMEFMT_ISO_LEN + 1];
    struct line l = { buf, 0, sizeof(buf) };
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t tail;
    int saved = errno; /* callers log and then inspect errno */
    int li = (int)lvl;

    if (li < LOG_DEBUG || li > LOG_ERROR)
        li = LOG_ERROR;
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    timefmt_iso(time_now_ms(), ts);
    line_str(&l, "{\"ts\":\"");
    line_str(&l, ts);
    line_str(&l, "\",\"level\":\"");
    line_str(&l, log_level_names[li]);
    line_str(&l, "\",\"service\":\"");
    line_esc(&l, log_service, l.cap);
    line_str(&l, "\",\"msg\":\"");
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
    log_out(buf, l.len, access);
    errno = saved;
}

void log_emit(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(lvl))
        return;
    va_start(ap, fmt);
    log_vemit(lvl, false, NULL, fmt, ap);
    va_end(ap);
}

void log_emit_fields(enum log_level lvl, const char *extra, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(lvl))
        return;
    va_start(ap, fmt);
    log_vemit(lvl, false, extra, fmt, ap);
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

__attribute__((format(printf, 2, 3)))
static void emit_access(const char *extra, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_INFO, true, extra, fmt, ap);
    va_end(ap);
}

void log_request(const char *method, const char *path, int status,
                 double duration_ms, const char *request_id)
{
    char extra[LOG_EXTRA_MAX], num[64];
    struct line l = { extra, 0, sizeof(extra) - 1 };
    int n;

    if (!log_enabled(LOG_INFO))
        return;
    line_str(&l, "\"method\":");
    line_json_str_or_null(&l, method, l.len + 32);
    line_str(&l, ",\"path\":");
    line_json_str_or_null(&l, path, l.len + LOG_PATH_MAX);
    /* Integer arithmetic, not "%.3f": this runs for every request. */
    if (isfinite(duration_ms) && duration_ms >= 0 && duration_ms < 1e12) {
        long long us = (long long)(duration_ms * 1000.0 + 0.5);
        n = snprintf(num, sizeof(num), ",\"status\":%d,\"duration_ms\":%lld.%03lld", status,
                     us / 1000, us % 1000);
    } else {
        n = snprintf(num, sizeof(num), ",\"status\":%d,\"duration_ms\":null", status);
    }
    if (n < 0 || (size_t)n >= sizeof(num))
        return; /* cannot happen: 64 bytes hold both numbers */
    line_str(&l, num);
    line_str(&l, ",\"request_id\":");
    line_json_str_or_null(&l, request_id, l.len + 128);
    extra[l.len] = '\0';
    emit_access(extra, "request");
}
