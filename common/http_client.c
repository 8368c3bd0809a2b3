/* http_client.c - libcurl wrapper (the only file that includes curl). */
#include "http_client.h"

#include "log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* plain prototypes: the calls below go through the table, not curl's
 * type-checking macros */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

/* libcurl is loaded when a process first needs it, not linked: a service
 * without a sink never maps it and its dependencies (libcrypto, krb5,
 * ldap, ssh2, ...: about 3.5 MB of RSS each service used to carry). The
 * table is filled once, under pthread_once, before any transfer; the
 * names below make the calls read as libcurl's own. */
static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_reset)(CURL *);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl_fn;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_loaded;

/* curl.h defines these two as themselves (to count their arguments) */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init        (*curl_fn.global_init)
#define curl_global_cleanup     (*curl_fn.global_cleanup)
#define curl_easy_init          (*curl_fn.easy_init)
#define curl_easy_setopt        (*curl_fn.easy_setopt)
#define curl_easy_perform       (*curl_fn.easy_perform)
#define curl_easy_getinfo       (*curl_fn.easy_getinfo)
#define curl_easy_reset         (*curl_fn.easy_reset)
#define curl_easy_cleanup       (*curl_fn.easy_cleanup)
#define curl_easy_strerror      (*curl_fn.easy_strerror)
#define curl_multi_init         (*curl_fn.multi_init)
#define curl_multi_add_handle   (*curl_fn.multi_add_handle)
#define curl_multi_remove_handle (*curl_fn.multi_remove_handle)
#define curl_multi_perform      (*curl_fn.multi_perform)
#define curl_multi_poll         (*curl_fn.multi_poll)
#define curl_multi_wakeup       (*curl_fn.multi_wakeup)
#define curl_multi_info_read    (*curl_fn.multi_info_read)
#define curl_multi_cleanup      (*curl_fn.multi_cleanup)
#define curl_slist_append       (*curl_fn.slist_append)
#define curl_slist_free_all     (*curl_fn.slist_free_all)

static void curl_load_once(void)
{
    /* libcurl4's soname: the ABI every libcurl 7.x and 8.x keeps */
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    bool ok = lib != NULL;

#define CURL_SYM(field, name)                                                                      \
    do {                                                                                           \
        void *sym = ok ? dlsym(lib, name) : NULL;                                                  \
        ok = ok && sym != NULL;                                                                    \
        if (ok)                                                                                    \
            memcpy(&curl_fn.field, &sym, sizeof(sym));                                             \
    } while (0)
    CURL_SYM(global_init, "curl_global_init");
    CURL_SYM(global_cleanup, "curl_global_cleanup");
    CURL_SYM(easy_init, "curl_easy_init");
    CURL_SYM(easy_setopt, "curl_easy_setopt");
    CURL_SYM(easy_perform, "curl_easy_perform");
    CURL_SYM(easy_getinfo, "curl_easy_getinfo");
    CURL_SYM(easy_reset, "curl_easy_reset");
    CURL_SYM(easy_cleanup, "curl_easy_cleanup");
    CURL_SYM(easy_strerror, "curl_easy_strerror");
    CURL_SYM(multi_init, "curl_multi_init");
    CURL_SYM(multi_add_handle, "curl_multi_add_handle");
    CURL_SYM(multi_remove_handle, "curl_multi_remove_handle");
    CURL_SYM(multi_perform, "curl_multi_perform");
    CURL_SYM(multi_poll, "curl_multi_poll");
    CURL_SYM(multi_wakeup, "curl_multi_wakeup");
    CURL_SYM(multi_info_read, "curl_multi_info_read");
    CURL_SYM(multi_cleanup, "curl_multi_cleanup");
    CURL_SYM(slist_append, "curl_slist_append");
    CURL_SYM(slist_free_all, "curl_slist_free_all");
#undef CURL_SYM
    if (ok)
        curl_loaded = true;
    else
        log_error("http_client: cannot load libcurl.so.4: %s",
                  lib ? "a symbol is missing" : dlerror());
    /* never dlclose'd: the process keeps it to its end */
}

/* libcurl loaded and its table filled (once per process). */
static bool curl_ready(void)
{
    pthread_once(&curl_once, curl_load_once);
    return curl_loaded;
}

struct hc_multi {
    CURLM *m;
};

/* Set once at shutdown; every transfer checks it. */
static atomic_bool cancelled;

#define HEADERS_MAX (16u * 1024)

enum bm_rc http_client_global_init(void)
{
    if (!curl_ready())
        return BM_EIO;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? BM_OK : BM_EIO;
}

void http_client_global_cleanup(void)
{
    if (curl_ready())
        curl_global_cleanup();
}

void hc_cancel_all(void)
{
    atomic_store(&cancelled, true);
}

void hc_resp_init(struct hc_resp *r, size_t max_body)
{
    memset(r, 0, sizeof(*r));
    r->result = HC_ERROR;
    buf_init(&r->body, max_body);
    buf_init(&r->headers, HEADERS_MAX);
}

void hc_resp_free(struct hc_resp *r)
{
    buf_free(&r->body);
    buf_free(&r->headers);
}

struct easy_ctx {
    struct hc_resp *r;
    CURL *e;
    struct hc_budget *budget;
    const atomic_bool *cancel;
    bool toobig;
    bool over_budget;
    bool length_checked;
    bool done;
    struct curl_slist *hdrs;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct easy_ctx *c = ud;
    size_t n = size * nmemb;

    if (!c->length_checked) {
        curl_off_t cl = -1;
        c->length_checked = true;
        /* a declared length over the cap fails now, not after the bytes */
        if (curl_easy_getinfo(c->e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (uint64_t)cl > (uint64_t)c->r->body.max) {
            c->toobig = true;
            return 0;
        }
    }
    if (c->budget) {
        size_t used = atomic_fetch_add(&c->budget->used, n) + n;
        if (used > c->budget->max) {
            atomic_fetch_sub(&c->budget->used, n);
            c->over_budget = true;
            return 0;
        }
    }
    if (buf_append(&c->r->body, ptr, n) != BM_OK) {
        if (c->budget)
            atomic_fetch_sub(&c->budget->used, n);
        c->toobig = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

void hc_budget_release(struct hc_budget *b, size_t n)
{
    if (b && n)
        atomic_fetch_sub(&b->used, n);
}

/* Keeps the final response's header lines: a new status line (after a
 * 1xx or a redirect) starts the list again. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct easy_ctx *c = ud;
    size_t n = size * nmemb, len = n;

    while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'))
        len--;
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        c->r->headers.len = 0;
    else if (len > 0 && memchr(ptr, ':', len) &&
             (buf_append(&c->r->headers, ptr, len) != BM_OK ||
              buf_append(&c->r->headers, "\n", 1) != BM_OK))
        c->r->headers.len = 0; /* over the cap: forward none rather than some */
    return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const struct easy_ctx *c = ud;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    if (c->cancel && atomic_load_explicit(c->cancel, memory_order_relaxed))
        return 1;
    return atomic_load_explicit(&cancelled, memory_order_relaxed) ? 1 : 0;
}

static void easy_setup(CURL *e, struct easy_ctx *c, const char *url, long timeout_ms)
{
    c->e = e;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->r->error);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, c);
}

static void easy_finish(CURL *e, struct easy_ctx *c, CURLcode cc)
{
    struct hc_resp *r = c->r;
    char *ct = NULL;
    curl_off_t wire = 0;

    c->done = true;
    if (cc == CURLE_OK) {
        r->result = HC_OK;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
        if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
        if (curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &wire) == CURLE_OK && wire > 0)
            r->wire_len = (size_t)wire;
        r->error[0] = '\0';
        return;
    }
    if (atomic_load(&cancelled) || (c->cancel && atomic_load(c->cancel))) {
        r->result = HC_CANCELLED;
        snprintf(r->error, sizeof(r->error), "cancelled: shutting down");
        return;
    }
    if (c->over_budget) {
        r->result = HC_TOOBIG;
        snprintf(r->error, sizeof(r->error), "response bodies in flight are over their budget");
        return;
    }
    if (c->toobig)
        r->result = HC_TOOBIG;
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        r->result = HC_TIMEOUT;
    else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
             cc == CURLE_COULDNT_RESOLVE_PROXY)
        r->result = HC_CONNECT;
    else
        r->result = HC_ERROR;
    if (!r->error[0])
        snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(cc));
}

/* Everything of rq but the URL's transfer: method, headers, body. */
static void easy_request_setup(CURL *e, struct easy_ctx *c, const struct hc_request *rq)
{
    c->budget = rq->budget;
    c->cancel = rq->cancel;
    easy_setup(e, c, rq->url, rq->timeout_ms);
    if (rq->want_headers) {
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    }
    for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(c->hdrs, rq->headers[i]);
        if (n)
            c->hdrs = n;
    }
    /* curl adds "Expect: 100-continue" to larger POSTs; services answer
     * at once, so skip the round trip. */
    {
        struct curl_slist *n = curl_slist_append(c->hdrs, "Expect:");
        if (n)
            c->hdrs = n;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    if (rq->aws_sigv4) {
        curl_easy_setopt(e, CURLOPT_AWS_SIGV4, rq->aws_sigv4);
        curl_easy_setopt(e, CURLOPT_USERPWD, rq->userpwd ? rq->userpwd : "");
    }
    if (strcmp(rq->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
        if (rq->body || strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(rq->body ? rq->body_len : 0));
        }
    }
}

void hc_request(const struct hc_request *rq, struct hc_resp *r)
{
    struct easy_ctx c = { .r = r };
    CURL *e;
    CURLcode cc;

    hc_resp_init(r, rq->max_body);
    if (!curl_ready()) {
        snprintf(r->error, sizeof(r->error), "libcurl is not available");
        return;
    }
    e = curl_easy_init();
    if (!e) {
        snprintf(r->error, sizeof(r->error), "out of memory");
        return;
    }
    easy_request_setup(e, &c, rq);
    cc = curl_easy_perform(e);
    easy_finish(e, &c, cc);
    curl_slist_free_all(c.hdrs);
    curl_easy_cleanup(e);
}

struct hc_conn {
    CURL *e;
};

enum bm_rc hc_conn_new(struct hc_conn **out)
{
    struct hc_conn *c;

    if (!curl_ready())
        return BM_EIO;
    c = calloc(1, sizeof(*c));
    if (!c)
        return BM_ENOMEM;
    c->e = curl_easy_init();
    if (!c->e) {
        free(c);
        return BM_ENOMEM;
    }
    *out = c;
    return BM_OK;
}

void hc_conn_free(struct hc_conn *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->e);
    free(c);
}

void hc_conn_request(struct hc_conn *conn, const struct hc_request *rq, struct hc_resp *r)
{
    struct easy_ctx c = { .r = r };
    CURLcode cc;

    hc_resp_init(r, rq->max_body);
    /* A reset keeps the handle's live connections and DNS cache: only
     * the options of the request before go. */
    curl_easy_reset(conn->e);
    easy_request_setup(conn->e, &c, rq);
    cc = curl_easy_perform(conn->e);
    easy_finish(conn->e, &c, cc);
    curl_easy_setopt(conn->e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(c.hdrs);
}

enum bm_rc hc_multi_new(struct hc_multi **out)
{
    struct hc_multi *m;

    if (!curl_ready())
        return BM_EIO;
    m = calloc(1, sizeof(*m));
    if (!m)
        return BM_ENOMEM;
    m->m = curl_multi_init();
    if (!m->m) {
        free(m);
        return BM_ENOMEM;
    }
    *out = m;
    return BM_OK;
}

void hc_multi_free(struct hc_multi *m)
{
    if (!m)
        return;
    curl_multi_cleanup(m->m);
    free(m);
}

void hc_multi_get(struct hc_multi *m, const char *const *urls, size_t n, long timeout_ms,
                  size_t max_body, struct hc_resp *resps)
{
    struct easy_ctx *ctx = calloc(n ? n : 1, sizeof(*ctx));
    CURL **easy = calloc(n ? n : 1, sizeof(*easy));
    int running = 0;

    for (size_t i = 0; i < n; i++)
        hc_resp_init(&resps[i], max_body);
    if (!ctx || !easy)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ctx[i].r = &resps[i];
        easy[i] = curl_easy_init();
        if (!easy[i])
            continue;
        easy_setup(easy[i], &ctx[i], urls[i], timeout_ms);
        /* The poller's pages come gzipped (a 1,000-event page is ~400 KB
         * plain, ~10x less compressed); libcurl inflates them, so bodies
         * and caps are the decoded bytes. Not on hc_request: the proxy
         * forwards the service's own headers and body as they are. */
        curl_easy_setopt(easy[i], CURLOPT_ACCEPT_ENCODING, "gzip");
        if (curl_multi_add_handle(m->m, easy[i]) != CURLM_OK) {
            curl_easy_cleanup(easy[i]);
            easy[i] = NULL;
        }
    }
    do {
        CURLMsg *msg;
        int left;
        if (atomic_load_explicit(&cancelled, memory_order_relaxed))
            break;
        if (curl_multi_perform(m->m, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(m->m, &left)) != NULL) {
            struct easy_ctx *c = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            if (c)
                easy_finish(msg->easy_handle, c, msg->data.result);
        }
        if (running && curl_multi_poll(m->m, NULL, 0, 100, NULL) != CURLM_OK)
            break;
    } while (running);
out:
    for (size_t i = 0; easy && i < n; i++) {
        if (!easy[i])
            continue;
        if (!ctx[i].done && atomic_load(&cancelled)) {
            resps[i].result = HC_CANCELLED;
            snprintf(resps[i].error, sizeof(resps[i].error), "cancelled: shutting down");
        }
        curl_multi_remove_handle(m->m, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    free(easy);
    free(ctx);
}

/* ------------------------------------------------------------------ */
/* The asynchronous engine                                              */

/* One request handed to the engine. */
struct hc_job {
    struct hc_job *next;
    struct easy_ctx c;
    struct hc_resp r;
    CURL *e;
    hc_done_fn done;
    void *ud;
};

struct hc_async {
    CURLM *m;
    pthread_t thread;
    bool running;          /* the thread was started and not yet joined */
    pthread_mutex_t mu;    /* guards queue, stopped, stopping */
    struct hc_job *queue;  /* submitted, not yet on the multi handle */
    bool stopping;         /* hc_async_cancel asked the thread to end */
    bool stopped;          /* the thread took its last job: submit ends jobs itself */
    atomic_uint pending;   /* queued or running */
    struct hc_job *active; /* on the multi handle (the thread's own list) */
};

static void job_free(struct hc_job *j)
{
    if (j->e)
        curl_easy_cleanup(j->e);
    curl_slist_free_all(j->c.hdrs);
    hc_resp_free(&j->r);
    free(j);
}

/* Calls the job's done and frees it. */
static void job_end(struct hc_async *a, struct hc_job *j)
{
    j->done(j->ud, &j->r);
    job_free(j);
    atomic_fetch_sub(&a->pending, 1);
}

static void job_cancel(struct hc_async *a, struct hc_job *j)
{
    j->r.result = HC_CANCELLED;
    snprintf(j->r.error, sizeof(j->r.error), "cancelled: shutting down");
    job_end(a, j);
}

static void active_unlink(struct hc_async *a, struct hc_job *j)
{
    for (struct hc_job **p = &a->active; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            j->next = NULL;
            return;
        }
}

/* Moves the queued jobs onto the multi handle. Engine thread only. */
static void take_queue(struct hc_async *a)
{
    struct hc_job *q;

    pthread_mutex_lock(&a->mu);
    q = a->queue;
    a->queue = NULL;
    pthread_mutex_unlock(&a->mu);
    while (q) {
        struct hc_job *j = q;
        q = q->next;
        if (curl_multi_add_handle(a->m, j->e) != CURLM_OK) {
            snprintf(j->r.error, sizeof(j->r.error), "cannot start the transfer");
            j->r.result = HC_ERROR;
            job_end(a, j);
            continue;
        }
        j->next = a->active;
        a->active = j;
    }
}

/* Ends the transfers curl reports done. Engine thread only. */
static void reap(struct hc_async *a)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(a->m, &left)) != NULL) {
        struct hc_job *j = NULL;
        CURL *e = msg->easy_handle;
        CURLcode cc = msg->data.result;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
        curl_multi_remove_handle(a->m, e);
        if (!j)
            continue;
        active_unlink(a, j);
        easy_finish(e, &j->c, cc);
        job_end(a, j);
    }
}

static bool stop_asked(struct hc_async *a)
{
    bool stop;

    pthread_mutex_lock(&a->mu);
    stop = a->stopping;
    pthread_mutex_unlock(&a->mu);
    return stop;
}

static void *async_main(void *arg)
{
    struct hc_async *a = arg;
    struct hc_job *q;

    while (!stop_asked(a)) {
        int running = 0;
        take_queue(a);
        if (curl_multi_perform(a->m, &running) != CURLM_OK)
            break;
        reap(a);
        /* wakes at the first transfer's timeout at the latest, and at
         * hc_async_submit's or hc_async_cancel's curl_multi_wakeup */
        if (curl_multi_poll(a->m, NULL, 0, 1000, NULL) != CURLM_OK)
            break;
    }
    pthread_mutex_lock(&a->mu);
    a->stopped = true;
    q = a->queue;
    a->queue = NULL;
    pthread_mutex_unlock(&a->mu);
    while (a->active) {
        struct hc_job *j = a->active;
        a->active = j->next;
        curl_multi_remove_handle(a->m, j->e);
        job_cancel(a, j);
    }
    while (q) {
        struct hc_job *j = q;
        q = q->next;
        job_cancel(a, j);
    }
    return NULL;
}

enum bm_rc hc_async_start(struct hc_async **out)
{
    struct hc_async *a;

    if (!curl_ready())
        return BM_EIO;
    a = calloc(1, sizeof(*a));
    if (!a)
        return BM_ENOMEM;
    atomic_init(&a->pending, 0);
    pthread_mutex_init(&a->mu, NULL);
    a->m = curl_multi_init();
    if (!a->m)
        goto fail;
    if (pthread_create(&a->thread, NULL, async_main, a) != 0)
        goto fail;
    a->running = true;
    *out = a;
    return BM_OK;
fail:
    if (a->m)
        curl_multi_cleanup(a->m);
    pthread_mutex_destroy(&a->mu);
    free(a);
    return BM_ENOMEM;
}

void hc_async_submit(struct hc_async *a, const struct hc_request *rq, hc_done_fn done, void *ud)
{
    struct hc_job *j = calloc(1, sizeof(*j));
    bool stopped;

    if (!j) {
        struct hc_resp r;
        hc_resp_init(&r, 0);
        snprintf(r.error, sizeof(r.error), "out of memory");
        done(ud, &r);
        hc_resp_free(&r);
        return;
    }
    atomic_fetch_add(&a->pending, 1);
    j->done = done;
    j->ud = ud;
    j->c.r = &j->r;
    hc_resp_init(&j->r, rq->max_body);
    j->e = curl_easy_init();
    if (!j->e) {
        snprintf(j->r.error, sizeof(j->r.error), "out of memory");
        job_end(a, j);
        return;
    }
    easy_request_setup(j->e, &j->c, rq);
    curl_easy_setopt(j->e, CURLOPT_PRIVATE, j); /* the job, not its easy_ctx */
    pthread_mutex_lock(&a->mu);
    stopped = a->stopped;
    if (!stopped) {
        j->next = a->queue;
        a->queue = j;
    }
    pthread_mutex_unlock(&a->mu);
    if (stopped)
        job_cancel(a, j);
    else
        (void)curl_multi_wakeup(a->m);
}

void hc_async_cancel(struct hc_async *a)
{
    if (!a || !a->running)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_mutex_unlock(&a->mu);
    (void)curl_multi_wakeup(a->m);
    pthread_join(a->thread, NULL);
    a->running = false;
}

unsigned hc_async_pending(struct hc_async *a)
{
    return a ? atomic_load(&a->pending) : 0;
}

void hc_async_free(struct hc_async *a)
{
    if (!a)
        return;
    hc_async_cancel(a);
    curl_multi_cleanup(a->m);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
