/* daemon.h - a service's life: parse, open the database, start the
 * generator and HTTP server, wait for a signal, drain, stop. Its common
 * endpoints are endpoints.h. */
#ifndef BM_COMMON_DAEMON_H
#define BM_COMMON_DAEMON_H

struct service_def;

int daemon_run(const struct service_def *def, int argc, char **argv);

#endif
