/* http_client.h - the libcurl wrapper: a blocking request, a batch of
 * parallel GETs on one multi handle for the poller, and an engine (a
 * thread with its own multi handle) that runs requests handed to it and
 * calls back when each ends, for the proxy. Only http_client.c includes
 * <curl/curl.h>. */
#ifndef BM_COMMON_HTTP_CLIENT_H
#define BM_COMMON_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "rc.h"

enum hc_result {
    HC_OK = 0,   /* an HTTP answer arrived (any status) */
    HC_CONNECT,  /* could not connect / resolve */
    HC_TIMEOUT,  /* no complete answer in time */
    HC_TOOBIG,   /* body over the cap */
    HC_CANCELLED, /* hc_cancel_all() was called */
    HC_ERROR     /* anything else */
};

struct hc_resp {
    enum hc_result result;
    long status;
    char ctype[128];
    struct buf body;  /* capped at the request's max_body */
    char error[160];  /* curl's message when result != HC_OK */
    struct buf headers; /* with hc_request.want_headers: "Name: value\n" lines
                         * of the final response, status line excluded */
    size_t wire_len;    /* body bytes as received: less than body.len when the
                         * server compressed them (hc_multi_get asks for gzip) */
};

/* Bytes of response bodies held at once by every request that shares it. */
struct hc_budget {
    atomic_size_t used;
    size_t max;
};

struct hc_request {
    const char *method;          /* "GET" etc. */
    const char *url;
    const char *body;            /* NULL: none */
    size_t body_len;
    const char *const *headers;  /* NULL-terminated "Name: value" list, or NULL */
    long timeout_ms;             /* whole request */
    size_t max_body;
    bool want_headers;           /* fill hc_resp.headers */
    struct hc_budget *budget;    /* NULL, or the body counts against it until
                                  * hc_budget_release(budget, body.len) */
    const char *aws_sigv4;       /* NULL, or "aws:amz:REGION:SERVICE": libcurl
                                  * signs the request (AWS Signature V4) */
    const char *userpwd;         /* with aws_sigv4: "ACCESS_KEY:SECRET" */
    const atomic_bool *cancel;   /* NULL, or the request ends with HC_CANCELLED
                                  * soon after it turns true */
};

/* Once, before any thread starts. */
enum bm_rc http_client_global_init(void) BM_WUR;
void http_client_global_cleanup(void);

/* Makes every transfer in progress, and every later one, end at once
 * with HC_CANCELLED: for shutdown. Safe from any thread. */
void hc_cancel_all(void);

void hc_resp_init(struct hc_resp *r, size_t max_body);
void hc_resp_free(struct hc_resp *r);

void hc_budget_release(struct hc_budget *b, size_t n);

/* Blocking request on a fresh easy handle; fills r (initialised here). */
void hc_request(const struct hc_request *rq, struct hc_resp *r);

/* One easy handle kept by one thread across requests, so its
 * connection is reused (the Kinesis sink's). */
struct hc_conn;
enum bm_rc hc_conn_new(struct hc_conn **out) BM_WUR;
void hc_conn_free(struct hc_conn *c); /* NULL is a no-op */
/* As hc_request, on c's handle. */
void hc_conn_request(struct hc_conn *c, const struct hc_request *rq, struct hc_resp *r);

/* A multi handle owned by one thread. */
struct hc_multi;
enum bm_rc hc_multi_new(struct hc_multi **out) BM_WUR;
void hc_multi_free(struct hc_multi *m);
/* Runs the n GETs in parallel and returns when all have finished (each
 * bounded by its own timeout). Responses are initialised here. */
void hc_multi_get(struct hc_multi *m, const char *const *urls, size_t n, long timeout_ms,
                  size_t max_body, struct hc_resp *resps);

/* The asynchronous engine: one thread drives every request handed to it
 * on one multi handle, so a request that waits for its upstream holds no
 * thread. */
struct hc_async;
/* Called on the engine's thread (or, once the engine is cancelled, on the
 * submitting one) when the request ended: r is filled, and freed by the
 * engine once this returns (the callee may buf_take its body). */
typedef void (*hc_done_fn)(void *ud, struct hc_resp *r);

enum bm_rc hc_async_start(struct hc_async **out) BM_WUR;
/* Hands rq to the engine; its strings and header lines are copied, its
 * body is not: it must stay valid until done is called. done is called
 * exactly once, with HC_CANCELLED if the engine was cancelled. Safe from
 * any thread, the engine's own (from a done callback) included. */
void hc_async_submit(struct hc_async *a, const struct hc_request *rq, hc_done_fn done,
                     void *ud);
/* Ends every request in progress and queued with HC_CANCELLED (each done
 * called before this returns) and stops the thread; later submissions
 * end at once the same way. */
void hc_async_cancel(struct hc_async *a);
/* Requests running or queued. */
unsigned hc_async_pending(struct hc_async *a);
/* After hc_async_cancel. NULL is a no-op. */
void hc_async_free(struct hc_async *a);

#endif
