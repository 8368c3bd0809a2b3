/* harness_sse.c - a server-sent events client on a raw socket, for the
 * services' and the gateway's streams. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "harness.h"

/* An SSE client on a raw socket: open sends the request; next_event
 * reads one message (id and data, or a comment / named event). */

int h_sse_open(struct h_sse *s, int port, const char *path, const char *extra_header,
                    int rcvbuf)
{
    char req[1024];
    int n;

    memset(s, 0, sizeof(*s));
    s->fd = h_tcp_connect_loopback(port);
    if (s->fd < 0)
        return -1;
    /* after connect: still bounds the window it advertises from now on */
    if (rcvbuf > 0)
        (void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\nAccept: text/event-stream\r\n%s%s\r\n",
                 path, extra_header ? extra_header : "", extra_header ? "\r\n" : "");
    if (write(s->fd, req, (size_t)n) != n)
        return -1;
    return 0;
}

void h_sse_close(struct h_sse *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* Reads more bytes within timeout_ms; 0 on EOF, -1 on timeout/error. */
int h_sse_fill(struct h_sse *s, int timeout_ms)
{
    struct pollfd pfd = { s->fd, POLLIN, 0 };
    ssize_t n;

    if (s->len == sizeof(s->buf))
        return -1;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -1;
    n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
    if (n <= 0)
        return (int)n;
    s->len += (size_t)n;
    return 1;
}

/* Next message's lines into msg (NUL-terminated); false on EOF/timeout. */
bool h_sse_next(struct h_sse *s, char *msg, size_t cap, int timeout_ms)
{
    long until = h_now_ms() + timeout_ms;

    for (;;) {
        char *start = s->buf, *end;
        /* HTTP/1.0: no chunks; skip the response head */
        for (;;) {
            char *nl = memchr(start, '\n', s->len - (size_t)(start - s->buf));
            if (!nl)
                break;
            if (strncmp(start, "id: ", 4) == 0 || strncmp(start, "data: ", 6) == 0 ||
                strncmp(start, "event: ", 7) == 0 || start[0] == ':')
                break;
            start = nl + 1;
        }
        end = NULL;
        {
            size_t left = s->len - (size_t)(start - s->buf);
            for (size_t i = 0; i + 1 < left; i++)
                if (start[i] == '\n' && start[i + 1] == '\n') {
                    end = start + i + 2;
                    break;
                }
        }
        if (end && (start[0] == 'i' || start[0] == 'd' || start[0] == 'e' || start[0] == ':')) {
            size_t m = (size_t)(end - start);
            size_t c = m < cap - 1 ? m : cap - 1;
            memcpy(msg, start, c);
            msg[c] = '\0';
            memmove(s->buf, end, s->len - (size_t)(end - s->buf));
            s->len -= (size_t)(end - s->buf);
            return true;
        }
        if (start != s->buf) {
            memmove(s->buf, start, s->len - (size_t)(start - s->buf));
            s->len -= (size_t)(start - s->buf);
        }
        if (h_now_ms() > until || h_sse_fill(s, (int)(until - h_now_ms()) + 1) <= 0)
            return false;
    }
}

/* Next event's id (and its data's JSON, if wanted); -1 if none in time. */
long long h_sse_next_event(struct h_sse *s, cJSON **data, int timeout_ms)
{
    char msg[8192];

    while (h_sse_next(s, msg, sizeof(msg), timeout_ms)) {
        const char *d;
        if (strncmp(msg, "id: ", 4) != 0)
            continue;
        if (data) {
            d = strstr(msg, "\ndata: ");
            *data = d ? cJSON_Parse(d + 7) : NULL;
        }
        {
            long id;
            return h_num_at(msg + 4, &id) ? id : -1;
        }
    }
    return -1;
}

