/* harness.c - process and HTTP helpers for the integration tests. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
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

int proc_stop(struct proc *p, long *ms)
{
    long start = now_ms();
    int st;

    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    while (now_ms() - start < 5000) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            if (ms)
                *ms = now_ms() - start;
            untrack_pid(p->pid);
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        sleep_ms(5);
    }
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

void proc_cleanup(struct proc *p)
{
    if (p->pid > 0)
        proc_kill9(p);
    remove_dir(p->dir);
    untrack_dir(p->dir);
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
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
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

/* ------------------------------------------------------------------ */
/* Raw HTTP                                                             */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

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
