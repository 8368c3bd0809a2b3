/*
 * A connection flood for bench/run.sh: holds N idle TCP connections to
 * 127.0.0.1:PORT (connected, nothing sent) while on, and opens a new one
 * for each the server closes (a header timeout, a 503 over the cap), as a
 * flood that does not let up would. At most BATCH handshakes are under way
 * at once, so that the listen backlog does not overflow.
 *
 *   flood PORT N
 *
 * Starts off. SIGUSR1 turns it on, SIGUSR2 off (closes every connection),
 * SIGTERM or SIGINT ends it. Raises its RLIMIT_NOFILE soft limit to the
 * hard one, and holds fewer than N (saying so on stderr) if that is short.
 * Prints "flood N" on stdout once started. Its connections end with a
 * reset, not a FIN: thousands of them in TIME_WAIT would fill the kernel's
 * connection tracking table for two minutes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 256 /* handshakes under way at once */

static struct sockaddr_in target;
static int ep;
static int open_n, connecting;

static void open_one(void)
{
    static const struct linger rst = { 1, 0 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP };

    if (fd < 0)
        return;
    /* closed with a reset: no TIME_WAIT left behind for each of thousands */
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
    ev.data.u64 = ((uint64_t)1 << 32) | (uint32_t)fd; /* high bit: connecting */
    if ((connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0 && errno != EINPROGRESS) ||
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return;
    }
    open_n++;
    connecting++;
}

/* argv's decimal number in [min, max]. */
static bool arg_num(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    struct epoll_event ev, evs[256];
    sigset_t sigs;
    int sfd, want;
    long n, port;
    int on = 0;

    if (argc != 3 || !arg_num(argv[2], 1, 1000000, &n) || !arg_num(argv[1], 1, 65535, &port)) {
        fprintf(stderr, "usage: flood PORT N\n");
        return 2;
    }
    want = (int)n;
    memset(&target, 0, sizeof(target));
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)want + 64 : rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want + 64) {
            fprintf(stderr, "flood: RLIMIT_NOFILE %llu: holding %llu connections, not %d\n",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_cur - 64, want);
            want = (int)rl.rlim_cur - 64;
        }
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0 ||
        (sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("flood");
        return 1;
    }
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) != 0) {
        perror("flood: epoll_ctl");
        return 1;
    }
    printf("flood %d\n", want);
    fflush(stdout);
    for (;;) {
        int k;

        while (on && open_n < want && connecting < BATCH)
            open_one();
        k = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < k; i++) {
            uint64_t d = evs[i].data.u64;
            int fd = (int)(uint32_t)d;

            if (d == UINT64_MAX) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) != sizeof(si))
                    continue;
                if (si.ssi_signo == SIGUSR1) {
                    on = 1;
                } else {
                    /* off, or the end: close them all (what is in the
                     * epoll set besides the signalfd) */
                    struct epoll_event none;
                    on = 0;
                    for (int f = 3; f < want + 64; f++)
                        if (f != sfd && f != ep && epoll_ctl(ep, EPOLL_CTL_DEL, f, &none) == 0)
                            close(f);
                    open_n = connecting = 0;
                    if (si.ssi_signo != SIGUSR2)
                        return 0;
                }
                continue;
            }
            if ((d >> 32) && (evs[i].events & EPOLLOUT) &&
                !(evs[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP | EPOLLIN))) {
                /* connected: now only the server's close matters */
                struct epoll_event held = { .events = EPOLLIN | EPOLLRDHUP };
                held.data.u64 = (uint32_t)fd;
                (void)epoll_ctl(ep, EPOLL_CTL_MOD, fd, &held);
                connecting--;
                continue;
            }
            /* closed by the server (or refused): open another */
            if (d >> 32)
                connecting--;
            close(fd);
            open_n--;
        }
    }
}
