/* daemon.h - a service's life: parse, open the database, start the
 * generator and HTTP server, wait for a signal, drain, stop. */
#ifndef BM_COMMON_DAEMON_H
#define BM_COMMON_DAEMON_H

#include "http_server.h"
#include "service.h"

int daemon_run(const struct service_def *def, int argc, char **argv);

/* For processes with their own lifecycle (the gateway). Call before any
 * thread starts: SIGINT/SIGTERM are blocked in every thread and the wait
 * (main thread) returns when one arrives; SIGPIPE and SIGXFSZ are ignored. */
void daemon_install_signals(void);
void daemon_wait_for_signal(void);

/* The request body parsed as JSON (the caller deletes it); on an empty
 * or invalid body answers the 400 itself and returns NULL. */
struct cJSON *daemon_body_json(struct http_req *req);

/* Common handlers (also used by tests). */
void daemon_h_health(struct http_req *req);
void daemon_h_metrics(struct http_req *req);
void daemon_h_config_get(struct http_req *req);
void daemon_h_config_set(struct http_req *req);
void daemon_h_events(struct http_req *req);

#endif
