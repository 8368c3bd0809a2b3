/* harness.h - run a real daemon on a free loopback port with a temporary
 * database, and talk to it over HTTP with libcurl. */
#ifndef BM_TESTS_INTEGRATION_HARNESS_H
#define BM_TESTS_INTEGRATION_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int port;
    char dir[256];      /* temporary directory, removed by proc_cleanup */
    char db[320];       /* database path inside dir */
    char log[320];      /* the daemon's stdout+stderr */
    char config[320];   /* config file in dir (written by proc_write_config) */
};

struct resp {
    long status;
    char *body;         /* NUL-terminated, malloc'ed */
    size_t len;
    char ctype[128];
    char request_id[96];
    char allow[96];
};

/* Makes a temporary directory; db and log paths inside it. */
void proc_init(struct proc *p, const char *tag);
/* Writes text as p->config. */
void proc_write_config(struct proc *p, const char *json);
/* Starts build/bin/<binary> --port 0 --bind 127.0.0.1 --db p->db
 * [--config p->config if written] + args (NULL-terminated). Waits for the
 * "listening" log line (up to 10 s). Returns 0 on success. */
int proc_start(struct proc *p, const char *binary, const char *const *args);
/* Same for build/bin/api-gateway, which takes no --db. */
int proc_start_gateway(struct proc *p, const char *const *args);
/* Runs the binary to completion with args, returns its exit status;
 * output captured into out (may be NULL). */
int proc_run(const char *binary, const char *const *args, char *out, size_t outlen);
/* SIGTERM, wait up to 5 s; returns exit status or -1; *ms = time taken. */
int proc_stop(struct proc *p, long *ms);
void proc_kill9(struct proc *p);
/* Removes the temporary directory. */
void proc_cleanup(struct proc *p);

/* One request; headers is NULL or a NULL-terminated list of "Name: value". */
int http_req(int port, const char *method, const char *path, const char *body,
             const char *const *headers, struct resp *r);
void resp_free(struct resp *r);
/* GET and parse JSON; returns a cJSON tree (caller deletes) or NULL. */
struct cJSON *http_get_json(int port, const char *path, long *status);
/* Polls GET /health until pred(status string) or timeout_ms. */
bool wait_health_status(int port, const char *status, int timeout_ms);

/* Scale factor: BM_TEST_SCALE=small shrinks long tests (sanitizers). */
bool test_scale_small(void);

/* Raw HTTP on one loopback TCP connection, for what libcurl hides: slow
 * or idle clients, the whole response head. */
/* Connects to 127.0.0.1:port; returns the socket or -1. */
int tcp_connect_loopback(int port);
/* Sends request (send "Connection: close" in it), reads the answer until
 * the server closes or Content-Length is complete, for at most
 * timeout_ms. out gets the raw answer, NUL-terminated. Returns the status
 * code, 0 if the connection ended without one, -1 on error or timeout. */
int raw_http(int port, const char *request, char *out, size_t outlen, int timeout_ms);

#endif
