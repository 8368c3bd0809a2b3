/* harness.c - process and HTTP helpers for the integration tests. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>

const char *const json_ct[] = { "Content-Type: application/json", NULL };

long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

bool test_scale_small(void)
{
    const char *s = getenv("BM_TEST_SCALE");
    return s && strcmp(s, "small") == 0;
}

/* Every started daemon (pid and directory, copied: the struct proc lives
 * on a test's stack), so a test that fails half-way (cmocka jumps out of
 * it) still leaves nothing running or on disk when the program exits. */
#define MAX_TRACKED 64
struct tracked {
    pid_t pid;
    char dir[256];
};
static struct tracked tracked[MAX_TRACKED];
static bool reaper_installed;

static void remove_dir(const char *dir);

static void reap_all(void)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i].pid > 0) {
            int st;
            kill(tracked[i].pid, SIGKILL);
            waitpid(tracked[i].pid, &st, 0);
        }
        if (tracked[i].dir[0])
            remove_dir(tracked[i].dir);
        memset(&tracked[i], 0, sizeof(tracked[i]));
    }
}

static void track(const struct proc *p)
{
    if (!reaper_installed) {
        atexit(reap_all);
        reaper_installed = true;
    }
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked[i].pid == 0 && tracked[i].dir[0] == '\0') {
            tracked[i].pid = p->pid;
            snprintf(tracked[i].dir, sizeof(tracked[i].dir), "%s", p->dir);
            return;
        }
}

/* The process is gone (stopped or killed); its directory may remain. */
static void untrack_pid(pid_t pid)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked[i].pid == pid)
            tracked[i].pid = -1;
}

static void untrack_dir(const char *dir)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked[i].pid <= 0 && strcmp(tracked[i].dir, dir) == 0)
            memset(&tracked[i], 0, sizeof(tracked[i]));
}

void proc_init(struct proc *p, const char *tag)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/bmtest-%s-XXXXXX", tag);
    if (!mkdtemp(p->dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(p->db, sizeof(p->db), "%s/events.db", p->dir);
    snprintf(p->log, sizeof(p->log), "%s/daemon.log", p->dir);
    p->pid = -1;
}

void proc_write_config(struct proc *p, const char *json)
{
    FILE *f;

    snprintf(p->config, sizeof(p->config), "%s/config.json", p->dir);
    f = fopen(p->config, "w");
    if (!f)
        abort();
    fputs(json, f);
    fclose(f);
}

static void bin_path(char *out, size_t len, const char *binary)
{
    snprintf(out, len, "%s/%s", BM_BIN_DIR, binary);
}

/* Finds "port":N in the daemon's last "listening" line (a restart on the
 * same log appends a new one). */
static int read_port(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[4096];
    int port = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        char *m = strstr(line, "\"msg\":\"listening\"");
        char *pp = strstr(line, "\"port\":");
        if (m && pp)
            port = (int)strtol(pp + 7, NULL, 10); /* the newest start wins */
    }
    fclose(f);
    return port;
}

static int spawn(struct proc *p, const char *binary, bool with_db, const char *const *args);

int proc_start(struct proc *p, const char *binary, const char *const *args)
{
    return spawn(p, binary, true, args);
}

int proc_start_gateway(struct proc *p, const char *const *args)
{
    return spawn(p, "api-gateway", false, args);
}

static int spawn(struct proc *p, const char *binary, bool with_db, const char *const *args)
{
    char path[512], port_s[] = "0";
    const char *argv[64];
    int n = 0;
    long deadline;

    bin_path(path, sizeof(path), binary);
    argv[n++] = path;
    argv[n++] = "--port";
    argv[n++] = port_s;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    if (with_db) {
        argv[n++] = "--db";
        argv[n++] = p->db;
    }
    if (p->config[0]) {
        argv[n++] = "--config";
        argv[n++] = p->config;
    } else {
        argv[n++] = "--config";
        argv[n++] = BM_SOURCE_DIR "/config/anomaly_config.json";
    }
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid > 0)
        track(p);
    if (p->pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        int st;
        p->port = read_port(p->log);
        if (p->port > 0)
            return 0;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = -1;
            return -1;
        }
        sleep_ms(5);
    }
    return -1;
}

int proc_run(const char *binary, const char *const *args, char *out, size_t outlen)
{
    char path[512], tmpl[] = "/tmp/bmtest-run-XXXXXX";
    const char *argv[64];
    int n = 0, st, fd;
    pid_t pid;

    bin_path(path, sizeof(path), binary);
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    if (out && outlen) {
        ssize_t r = pread(fd, out, outlen - 1, 0);
        out[r > 0 ? r : 0] = '\0';
    }
    close(fd);
    unlink(tmpl);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* On stderr, the end of a daemon's log: what a sanitizer report or a
 * crash left there, before the test's directory is removed. */
static void dump_log_tail(const struct proc *p, const char *why)
{
    char buf[4096];
    FILE *f = fopen(p->log, "r");
    size_t n;

    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf))
        (void)fseek(f, -(long)sizeof(buf), SEEK_END);
    else
        rewind(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    fprintf(stderr, "--- %s (pid %d, %s); end of %s:\n%.*s\n---\n", p->dir, (int)p->pid, why,
            p->log, (int)n, buf);
}

int proc_stop(struct proc *p, long *ms)
{
    return proc_stop_by(p, SIGTERM, ms);
}

int proc_stop_by(struct proc *p, int sig, long *ms)
{
    long start = now_ms();
    int st;
    /* a sanitized daemon on a loaded machine may take longer than the
     * 2 s a plain one is held to where a test says so */
    long grace = test_scale_small() ? 15000 : 5000;

    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    while (now_ms() - start < grace) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            if (ms)
                *ms = now_ms() - start;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                dump_log_tail(p, "did not exit 0 on its stop signal");
            untrack_pid(p->pid);
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        sleep_ms(5);
    }
    dump_log_tail(p, "still running after its stop signal: killed");
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    untrack_pid(p->pid);
    p->pid = -1;
    if (ms)
        *ms = now_ms() - start;
    return -1;
}

void proc_kill9(struct proc *p)
{
    int st;

    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    untrack_pid(p->pid);
    p->pid = -1;
}

static void remove_dir(const char *dir)
{
    const char *names[] = { "events.db", "events.db-wal", "events.db-shm", "daemon.log",
                            "config.json", NULL };
    char path[400];

    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    if (getenv("BM_KEEP_TMP") == NULL)
        rmdir(dir);
}

int proc_threads_taking(pid_t pid, int sig, int *nthreads)
{
    char path[64], self[24];
    DIR *d;
    struct dirent *e;
    int taking = 0, n = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    snprintf(self, sizeof(self), "%d", (int)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char spath[400], line[256];
        unsigned long long blk = 0;
        bool seen = false;
        FILE *f;

        /* the main thread: while it waits in sigwait the kernel shows
         * the signals it waits for as unblocked */
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
            continue;
        snprintf(spath, sizeof(spath), "%s/%s/status", path, e->d_name);
        f = fopen(spath, "r");
        if (!f)
            continue;   /* the thread ended meanwhile */
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "SigBlk: %llx", &blk) == 1) {
                seen = true;
                break;
            }
        fclose(f);
        if (!seen)
            continue;
        n++;
        if (!(blk & (1ull << (sig - 1))))
            taking++;
    }
    closedir(d);
    *nthreads = n;
    return n > 0 ? taking : -1;
}

void proc_cleanup(struct proc *p)
{
    if (p->pid > 0)
        proc_kill9(p);
    remove_dir(p->dir);
    untrack_dir(p->dir);
}

int proc_restart(struct proc *p, const char *binary, const char *const *args)
{
    unlink(p->log);
    return proc_start(p, binary, args);
}

int proc_start_gateway_urls(struct proc *p, const char *txn_url, const char *auth_url,
                            const char *mon_url, const char *poll_ms, const char *timeout_ms)
{
    const char *args[16];
    int n = 0;

    args[n++] = "--transaction-url";
    args[n++] = txn_url ? txn_url : NO_UPSTREAM_URL;
    args[n++] = "--auth-url";
    args[n++] = auth_url ? auth_url : NO_UPSTREAM_URL;
    args[n++] = "--monitoring-url";
    args[n++] = mon_url ? mon_url : NO_UPSTREAM_URL;
    if (poll_ms) {
        args[n++] = "--poll-interval-ms";
        args[n++] = poll_ms;
    }
    if (timeout_ms) {
        args[n++] = "--upstream-timeout-ms";
        args[n++] = timeout_ms;
    }
    args[n] = NULL;
    return proc_start_gateway(p, args);
}

struct proc procs[PROCS_MAX];

int procs_setup(void **state)
{
    (void)state;
    memset(procs, 0, sizeof(procs));
    for (int i = 0; i < PROCS_MAX; i++)
        procs[i].pid = -1;
    return 0;
}

int procs_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < PROCS_MAX; i++)
        if (procs[i].dir[0])
            proc_cleanup(&procs[i]);
    memset(procs, 0, sizeof(procs));
    return 0;
}

void proc_finish(struct proc *p)
{
    proc_cleanup(p);
    p->dir[0] = '\0';
}

/* ------------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;
    char *nb = realloc(r->body, r->len + n + 1);

    if (!nb)
        return 0;
    memcpy(nb + r->len, ptr, n);
    r->body = nb;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static void copy_header(char *dst, size_t len, const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);

    if (n > nl && strncasecmp(line, name, nl) == 0) {
        const char *v = line + nl;
        size_t vl = n - nl;
        while (vl && (*v == ' '))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(dst, len, "%.*s", (int)vl, v);
    }
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;

    copy_header(r->ctype, sizeof(r->ctype), ptr, n, "Content-Type:");
    copy_header(r->request_id, sizeof(r->request_id), ptr, n, "X-Request-ID:");
    copy_header(r->allow, sizeof(r->allow), ptr, n, "Allow:");
    return n;
}

int http_req(int port, const char *method, const char *path, const char *body,
             const char *const *headers, struct resp *r)
{
    return http_req_len(port, method, path, body, body ? strlen(body) : 0, headers, r);
}

int http_req_len(int port, const char *method, const char *path, const char *body, size_t len,
                 const char *const *headers, struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[2048];
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body) {
        r->body = calloc(1, 1);
    }
    return rc == CURLE_OK ? 0 : -1;
}

void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

cJSON *http_get_json(int port, const char *path, long *status)
{
    struct resp r;
    cJSON *j = NULL;

    if (http_req(port, "GET", path, NULL, NULL, &r) == 0)
        j = cJSON_ParseWithLength(r.body, r.len);
    if (status)
        *status = r.status;
    resp_free(&r);
    return j;
}

bool wait_health_status(int port, const char *status, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;

    while (now_ms() < deadline) {
        cJSON *h = http_get_json(port, "/health", NULL);
        cJSON *s = cJSON_GetObjectItemCaseSensitive(h, "status");
        bool ok = cJSON_IsString(s) && strcmp(s->valuestring, status) == 0;
        cJSON_Delete(h);
        if (ok)
            return true;
        sleep_ms(20);
    }
    return false;
}

cJSON *get_json(int port, const char *path)
{
    struct resp r;
    cJSON *j;

    if (http_req(port, "GET", path, NULL, NULL, &r) != 0)
        fail_msg("GET %s: no answer", path);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    if (!strstr(r.ctype, "application/json"))
        fail_msg("GET %s: Content-Type \"%s\"", path, r.ctype);
    j = cJSON_ParseWithLength(r.body, r.len);
    if (!j)
        fail_msg("GET %s: not JSON: %.200s", path, r.body);
    resp_free(&r);
    return j;
}

char *get_config(int port)
{
    struct resp r;

    assert_int_equal(http_req(port, "GET", "/config", NULL, NULL, &r), 0);
    if (r.status != 200)
        fail_msg("GET /config: %ld %s", r.status, r.body);
    return r.body;
}

long long health_head(int port)
{
    cJSON *h = get_json(port, "/health");
    long long head = jnum(h, "head_sequence");

    cJSON_Delete(h);
    return head;
}

bool wait_head(int port, long long min, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;

    while (now_ms() < deadline) {
        if (health_head(port) >= min)
            return true;
        sleep_ms(20);
    }
    return false;
}

bool wait_backfilled(int port, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms, moved = now_ms();
    long long last_head = -1;

    while (now_ms() < deadline) {
        cJSON *h = get_json(port, "/health");
        const cJSON *bf = cJSON_GetObjectItemCaseSensitive(h, "backfill");
        const char *st = jstr(h, "status");
        bool ok;

        /* a broken daemon fails now, not at the deadline */
        if (!st || !cJSON_IsObject(bf))
            fail_msg("/health answered without a status and a backfill: daemon broken");
        ok = strcmp(st, "ok") == 0 && jnum(bf, "total") > 0 &&
             jnum(bf, "done") == jnum(bf, "total");
        if (jnum(h, "head_sequence") != last_head) {
            last_head = jnum(h, "head_sequence");
            moved = now_ms();
        }
        cJSON_Delete(h);
        if (ok)
            return true;
        if (now_ms() - moved > 15000)
            fail_msg("backfill stalled at sequence %lld for 15 s", last_head);
        sleep_ms(20);
    }
    return false;
}

void proc_start_backfilled(struct proc *p, const char *tag, const char *binary,
                           const char *config, const char *const *args, int timeout_ms)
{
    proc_init(p, tag);
    if (config)
        proc_write_config(p, config);
    assert_int_equal(proc_start(p, binary, args), 0);
    assert_true(wait_backfilled(p->port, timeout_ms));
}

cJSON *wait_first_events(int port, const char *path)
{
    cJSON *j = NULL;

    for (int tries = 0; tries < 50; tries++) {
        cJSON_Delete(j);
        j = http_get_json(port, path, NULL);
        if (cJSON_GetArraySize(events_of(j)) > 0)
            break;
        sleep_ms(100);
    }
    return j;
}

/* ------------------------------------------------------------------ */
/* JSON members                                                         */

const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long jnum(const cJSON *o, const char *k)
{
    return (long long)jdbl(o, k);
}

double jdbl(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("\"%s\" is not a number", k);
    return v->valuedouble;
}

bool is_str_or_null(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && (cJSON_IsString(v) || cJSON_IsNull(v));
}

bool is_num_or_null(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && (cJSON_IsNumber(v) || cJSON_IsNull(v));
}

bool is_uuid_v4(const char *s)
{
    if (!s || strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ------------------------------------------------------------------ */
/* Event lists                                                          */

cJSON *get_page(int port, const char *path, struct resp *r)
{
    cJSON *j, *ev;

    assert_int_equal(http_req(port, "GET", path, NULL, NULL, r), 0);
    if (r->status != 200)
        fail_msg("GET %s: %ld %s", path, r->status, r->body);
    j = cJSON_ParseWithLength(r->body, r->len);
    assert_non_null(j);
    ev = events_of(j);
    assert_true(cJSON_IsArray(ev));
    assert_int_equal(jnum(j, "count"), cJSON_GetArraySize(ev));
    jnum(j, "next_since");
    jnum(j, "oldest_sequence");
    return j;
}

cJSON *events_of(const cJSON *page)
{
    return cJSON_GetObjectItemCaseSensitive(page, "events");
}

size_t split_events(const char *body, size_t len, struct span *out, size_t max)
{
    static const char head[] = "{\"events\":[";
    size_t i = sizeof(head) - 1, start = 0, n = 0;
    int depth = 0;
    bool in_str = false;

    if (len < i || memcmp(body, head, i) != 0)
        fail_msg("list body does not start with %s: %.80s", head, body);
    for (; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (depth++ == 0)
                start = i;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                break; /* the end of the events array */
            if (--depth == 0) {
                assert_true(n < max);
                out[n].p = body + start;
                out[n].n = i + 1 - start;
                n++;
            }
        }
    }
    return n;
}

bool span_eq(struct span a, struct span b)
{
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

long long compare_backfill(int pa, int pb, const char *list, const char *end_ts)
{
    static struct span sa[LIST_PAGE], sb[LIST_PAGE];
    long long since = 0, n = 0;
    bool done = false;

    while (!done) {
        char path[160];
        struct resp ra, rb;
        cJSON *ja, *jb;
        size_t na, nb;

        snprintf(path, sizeof(path), "%s?since=%lld&limit=%d", list, since, LIST_PAGE);
        ja = get_page(pa, path, &ra);
        jb = get_page(pb, path, &rb);
        na = split_events(ra.body, ra.len, sa, LIST_PAGE);
        nb = split_events(rb.body, rb.len, sb, LIST_PAGE);
        for (size_t i = 0; i < na; i++) {
            const cJSON *e = cJSON_GetArrayItem(events_of(ja), (int)i);
            if (strcmp(jstr(e, "timestamp"), end_ts) >= 0) {
                done = true; /* live from here: wall-clock timing differs */
                break;
            }
            if (i >= nb || !span_eq(sa[i], sb[i]))
                fail_msg("sequence %lld differs between two runs with the same seed:\n%.*s\n%.*s",
                         jnum(e, "sequence"), (int)sa[i].n, sa[i].p, i < nb ? (int)sb[i].n : 0,
                         i < nb ? sb[i].p : "");
            since = jnum(e, "sequence");
            n++;
        }
        if (na < LIST_PAGE)
            done = true;
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        resp_free(&ra);
        resp_free(&rb);
    }
    return n;
}

long long newest_page(int port, const char *list, struct resp *r, struct span ev[LIST_PAGE])
{
    char path[160];
    cJSON *pg;
    long long head;

    snprintf(path, sizeof(path), "%s?limit=%d", list, LIST_PAGE);
    pg = get_page(port, path, r);
    head = jnum(pg, "next_since");
    cJSON_Delete(pg);
    assert_int_equal(split_events(r->body, r->len, ev, LIST_PAGE), LIST_PAGE);
    return head;
}

void assert_page_kept(int port, const char *list, long long head, const struct span ev[LIST_PAGE])
{
    static struct span now[LIST_PAGE];
    const long long first = head - LIST_PAGE + 1;
    char path[160];
    struct resp r;

    snprintf(path, sizeof(path), "%s?since=%lld&limit=%d", list, first - 1, LIST_PAGE);
    cJSON_Delete(get_page(port, path, &r));
    assert_int_equal(split_events(r.body, r.len, now, LIST_PAGE), LIST_PAGE);
    for (size_t i = 0; i < LIST_PAGE; i++) {
        const struct span *old = &ev[LIST_PAGE - 1 - i];
        if (!span_eq(now[i], *old))
            fail_msg("sequence %lld changed across kill -9:\n%.*s\n%.*s", first + (long long)i,
                     (int)old->n, old->p, (int)now[i].n, now[i].p);
    }
    resp_free(&r);
}

/* Appends the id_field of every event of page to *ids. */
static void collect_ids(const cJSON *page, const char *id_field, char ***ids, size_t *n,
                        size_t *cap)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, events_of(page))
    {
        const char *id = jstr(e, id_field);

        if (!id)
            fail_msg("an event without %s", id_field);
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 4096;
            *ids = realloc(*ids, *cap * sizeof(**ids));
            assert_non_null(*ids);
        }
        (*ids)[*n] = strdup(id);
        assert_non_null((*ids)[(*n)++]);
    }
}

void assert_same_stream(int pa, int pb, const char *list, long long from, long long upto,
                        const char *id_field, long long killed_at)
{
    static struct span sa[LIST_PAGE], sb[LIST_PAGE];
    char **ids = NULL;
    size_t nid = 0, cap = 0;

    for (long long since = from; since < upto; since += LIST_PAGE) {
        char path[160];
        struct resp ra, rb;
        cJSON *ja;

        snprintf(path, sizeof(path), "%s?since=%lld&limit=%d", list, since, LIST_PAGE);
        ja = get_page(pa, path, &ra);
        cJSON_Delete(get_page(pb, path, &rb));
        assert_int_equal(split_events(ra.body, ra.len, sa, LIST_PAGE), LIST_PAGE);
        assert_int_equal(split_events(rb.body, rb.len, sb, LIST_PAGE), LIST_PAGE);
        for (size_t i = 0; i < LIST_PAGE; i++)
            if (!span_eq(sa[i], sb[i]))
                fail_msg("sequence %lld differs from an uninterrupted run (killed at %lld)",
                         since + 1 + (long long)i, killed_at);
        if (id_field)
            collect_ids(ja, id_field, &ids, &nid, &cap);
        cJSON_Delete(ja);
        resp_free(&ra);
        resp_free(&rb);
    }
    if (nid)
        qsort(ids, nid, sizeof(*ids), cmp_str);
    for (size_t i = 1; i < nid; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("%s %s appears twice", id_field, ids[i]);
    for (size_t i = 0; i < nid; i++)
        free(ids[i]);
    free(ids);
}

void assert_first_events_differ(int pa, int pb, const char *list, int n)
{
    char path[160];
    struct span *sa = calloc((size_t)n, sizeof(*sa)), *sb = calloc((size_t)n, sizeof(*sb));
    struct resp ra, rb;
    size_t same = 0;

    assert_true(sa && sb);
    snprintf(path, sizeof(path), "%s?since=0&limit=%d", list, n);
    cJSON_Delete(get_page(pa, path, &ra));
    cJSON_Delete(get_page(pb, path, &rb));
    assert_int_equal(split_events(ra.body, ra.len, sa, (size_t)n), n);
    assert_int_equal(split_events(rb.body, rb.len, sb, (size_t)n), n);
    for (int i = 0; i < n; i++)
        same += span_eq(sa[i], sb[i]) ? 1 : 0;
    assert_int_equal(same, 0);
    resp_free(&ra);
    resp_free(&rb);
    free(sa);
    free(sb);
}

/* ------------------------------------------------------------------ */
/* The database of a stopped or killed daemon                           */

sqlite3 *db_open_checked(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0)
        fail_msg("integrity_check: %s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return db;
}

long long db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

long long db_dense_max(sqlite3 *db)
{
    long long count = db_int(db, "SELECT count(*) FROM events");
    long long min = db_int(db, "SELECT coalesce(min(seq), 0) FROM events");
    long long max = db_int(db, "SELECT coalesce(max(seq), 0) FROM events");

    if (min != 1 || count != max)
        fail_msg("sequences not dense: %lld rows, %lld..%lld", count, min, max);
    return max;
}

void db_close(sqlite3 *db)
{
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* ------------------------------------------------------------------ */
/* Gateway                                                              */

int listen_loopback(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

cJSON *gw_service(const cJSON *health, const char *svc)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(health, "services"),
                                            svc);
}

/* One look at svc in the gateway's /system/health: in state, and with
 * err also a non-empty last_error (copied into err when there is one). */
static bool gw_look(int port, const char *svc, const char *state, char *err, size_t errlen)
{
    cJSON *j = http_get_json(port, "/system/health", NULL);
    const cJSON *s = gw_service(j, svc);
    const char *st = jstr(s, "state"), *le = jstr(s, "last_error");
    bool ok = st && strcmp(st, state) == 0 && (!err || (le && *le));

    if (err && le)
        snprintf(err, errlen, "%s", le);
    cJSON_Delete(j);
    return ok;
}

static bool gw_wait(int port, const char *svc, const char *state, char *err, size_t errlen,
                    long ms)
{
    long end = now_ms() + ms;

    if (err)
        err[0] = '\0';
    while (now_ms() < end) {
        if (gw_look(port, svc, state, err, errlen))
            return true;
        sleep_ms(50);
    }
    return false;
}

bool gw_state_is(int port, const char *svc, const char *state)
{
    return gw_look(port, svc, state, NULL, 0);
}

bool gw_wait_state(int port, const char *svc, const char *state, long ms)
{
    return gw_wait(port, svc, state, NULL, 0, ms);
}

bool gw_wait_error(int port, const char *svc, const char *state, char *err, size_t errlen,
                   long ms)
{
    return gw_wait(port, svc, state, err, errlen, ms);
}

/* ------------------------------------------------------------------ */
/* Raw HTTP                                                             */

int tcp_connect_loopback(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True once out holds a whole answer with a Content-Length. */
static bool raw_complete(const char *out, size_t len)
{
    const char *end = strstr(out, "\r\n\r\n"), *cl;

    if (!end)
        return false;
    cl = strstr(out, "Content-Length:");
    if (!cl || cl > end)
        return false;
    return len >= (size_t)(end + 4 - out) + strtoul(cl + 15, NULL, 10);
}

int raw_http(int port, const char *request, char *out, size_t outlen, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    size_t len = 0, sent = 0, total = strlen(request);
    int fd = tcp_connect_loopback(port), status = -1;

    out[0] = '\0';
    if (fd < 0)
        return -1;
    while (sent < total) {
        ssize_t n = send(fd, request + sent, total - sent, MSG_NOSIGNAL);
        if (n <= 0)
            goto out;
        sent += (size_t)n;
    }
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            goto out; /* timed out */
        if (len + 1 >= outlen)
            break; /* out is full: judge what it holds */
        n = recv(fd, out + len, outlen - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = '\0';
        if (raw_complete(out, len))
            break;
    }
    status = 0;
    if (len > 12 && strncmp(out, "HTTP/1.", 7) == 0)
        status = (int)strtol(out + 9, NULL, 10);
out:
    close(fd);
    return status;
}
