/*
 * A hung upstream for bench/run.sh (SPEC §9 "gateway with one service
 * hung"): listens on 127.0.0.1, accepts every connection, reads and discards
 * whatever the client sends, and never answers. A client sees a completed
 * TCP handshake and a request that was taken, then nothing: only its own
 * timeout ends the wait. A connection is closed once the client closes it.
 *
 *   hang_server PORT      (PORT 0 picks a free port)
 *
 * Prints "listening port N" once accepting; SIGINT or SIGTERM stops it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Past this many held connections new ones wait in the kernel backlog,
 * which is just as hung from the client's side. */
#define MAX_CONNS 1024

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int parse_port(const char *s, unsigned short *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 65535 || s[0] == '-')
        return -1;
    *out = (unsigned short)v;
    return 0;
}

static int listen_on(unsigned short port, unsigned short *bound)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* Reads what a client sent; false once it has closed (or failed). */
static int drain(int fd)
{
    char sink[4096];
    ssize_t n = read(fd, sink, sizeof(sink));

    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

int main(int argc, char **argv)
{
    static struct pollfd fds[MAX_CONNS + 1];
    struct sigaction sa;
    unsigned short port, bound = 0;
    nfds_t n = 1;

    if (argc != 2 || parse_port(argv[1], &port) != 0) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fds[0].fd = listen_on(port, &bound);
    if (fds[0].fd < 0) {
        fprintf(stderr, "hang_server: cannot listen on 127.0.0.1:%u: %s\n", port,
                strerror(errno));
        return 1;
    }
    fds[0].events = POLLIN;
    printf("listening port %u\n", bound);
    fflush(stdout);

    while (!stop_flag) {
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("hang_server: poll");
            break;
        }
        for (nfds_t i = n; i-- > 1;) {
            if (!fds[i].revents || drain(fds[i].fd))
                continue;
            close(fds[i].fd);
            fds[i] = fds[--n]; /* i walks down, so the moved entry was seen */
        }
        /* At the cap the listener is left out of the poll set. */
        if ((fds[0].revents & POLLIN) && n <= MAX_CONNS) {
            int c = accept(fds[0].fd, NULL, NULL);
            if (c >= 0) {
                fds[n].fd = c;
                fds[n].events = POLLIN;
                fds[n].revents = 0;
                n++;
            }
        }
        fds[0].events = n <= MAX_CONNS ? POLLIN : 0;
    }
    for (nfds_t i = 0; i < n; i++)
        close(fds[i].fd);
    return 0;
}
