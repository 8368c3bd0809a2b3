/* signals.h - how every bankmock process stops: no work in a signal
 * handler. SIGINT and SIGTERM are blocked before any thread starts, so
 * every thread inherits the mask and only the main thread takes them,
 * with sigwait; SIGPIPE and SIGXFSZ are ignored. */
#ifndef BM_COMMON_SIGNALS_H
#define BM_COMMON_SIGNALS_H

/* Call on the main thread before any other thread exists. */
void sig_block_stop(void);

/* Returns when SIGINT or SIGTERM arrives (main thread, after
 * sig_block_stop). */
void sig_wait_stop(void);

/* The stop signal pending now (SIGINT or SIGTERM), taken; 0 if none.
 * Never waits: for a single-threaded loop that checks between units of
 * work (bankmock-generate between events), after sig_block_stop. */
int sig_poll_stop(void);

#endif
