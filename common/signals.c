/* signals.c - block the stop signals everywhere, take them on one thread. */
#include "signals.h"

#include <signal.h>
#include <string.h>
#include <time.h>

/* Written once by sig_block_stop, before any thread starts. */
static sigset_t stop_signals;

void sig_block_stop(void)
{
    struct sigaction sa;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    /* Past RLIMIT_FSIZE a write must fail with EFBIG, which SQLite turns
     * into an error we answer 503 to, not kill the process. */
    sigaction(SIGXFSZ, &sa, NULL);
}

void sig_wait_stop(void)
{
    struct timespec pause = { 0, 50 * 1000000L };
    int sig;

    /* sigwait fails only on an invalid set; never spin on it */
    while (sigwait(&stop_signals, &sig) != 0)
        nanosleep(&pause, NULL);
}

int sig_poll_stop(void)
{
    struct timespec now = { 0, 0 };
    int sig = sigtimedwait(&stop_signals, NULL, &now);

    return sig > 0 ? sig : 0;
}
