/* harness_tcp.c - raw HTTP on one loopback TCP connection. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

int h_tcp_connect_loopback(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool h_raw_complete(const char *out, size_t len)
{
    const char *end = strstr(out, "\r\n\r\n"), *cl;
    long body;

    if (!end)
        return false;
    cl = strstr(out, "Content-Length:");
    if (!cl || cl > end || !h_num_at(cl + 15, &body) || body < 0)
        return false;
    return len >= (size_t)(end + 4 - out) + (size_t)body;
}

int h_raw_status(const char *out, size_t len)
{
    long status;

    if (len > 12 && strncmp(out, "HTTP/1.", 7) == 0 && h_num_at(out + 9, &status) &&
        status >= 100 && status <= 999)
        return (int)status;
    return 0;
}

int h_raw_read(int fd, char *out, size_t outlen, int timeout_ms, bool until_close)
{
    long deadline = h_now_ms() + timeout_ms;
    size_t len = 0;

    out[0] = '\0';
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        long left = deadline - h_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1; /* timed out */
        if (len + 1 >= outlen)
            break; /* out is full: judge what it holds */
        n = recv(fd, out + len, outlen - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = '\0';
        if (!until_close && h_raw_complete(out, len))
            break;
    }
    return h_raw_status(out, len);
}

int h_raw_http(int port, const char *request, char *out, size_t outlen, int timeout_ms)
{
    size_t sent = 0, total = strlen(request);
    int fd = h_tcp_connect_loopback(port), status = -1;

    out[0] = '\0';
    if (fd < 0)
        return -1;
    while (sent < total) {
        ssize_t n = send(fd, request + sent, total - sent, MSG_NOSIGNAL);
        if (n <= 0)
            goto out;
        sent += (size_t)n;
    }
    status = h_raw_read(fd, out, outlen, timeout_ms, false);
out:
    close(fd);
    return status;
}
