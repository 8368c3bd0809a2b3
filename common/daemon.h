/* daemon.h - a service's life: parse, open the database, start the
 * generator and HTTP server, wait for a signal, drain, stop. Its common
 * endpoints are endpoints.h. */
#ifndef BM_COMMON_DAEMON_H
#define BM_COMMON_DAEMON_H

struct service_def;

int daemon_run(const struct service_def *def, int argc, char **argv);

/* For processes with their own lifecycle (the gateway). Call before any
 * thread starts: SIGINT/SIGTERM are blocked in every thread and the wait
 * (main thread) returns when one arrives; SIGPIPE and SIGXFSZ are ignored. */
void daemon_install_signals(void);
void daemon_wait_for_signal(void);

#endif
