/* harness_prism.c - with BM_PRISM=1, each daemon a test starts gets a
 * Prism proxy in front of it (`prism proxy build/openapi/<daemon>.yaml`,
 * its part of openapi.yaml, as it serves it at GET /openapi.yaml), the
 * HTTP helpers send their requests through it, and a response that Prism
 * finds off openapi.yaml fails the test. Prism runs without --errors, so
 * a request off the spec (a negative test's) still reaches the daemon:
 * only violations located in the response count. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

/* One proxy per running daemon (a test program runs at most a few at
 * once; a restarted daemon has a new port and gets a new proxy). */
#define PRISM_MAX 16
struct prism {
    int daemon_port;
    int port;
    pid_t pid; /* leader of its own process group: node and its children */
};
static struct prism prisms[PRISM_MAX];
static bool reaper_installed;
static bool bypassed;

void h_prism_bypass(bool on)
{
    bypassed = on;
}

bool h_prism_bypassed(void)
{
    return bypassed;
}

bool h_prism_enabled(void)
{
    const char *s = getenv("BM_PRISM");

    return s && strcmp(s, "1") == 0;
}

/* SIGKILL to its group at once: a proxy keeps nothing worth a clean stop,
 * and node takes a second or two over SIGTERM. */
static void prism_kill(struct prism *x)
{
    int st;

    if (x->pid <= 0)
        return;
    kill(-x->pid, SIGKILL);
    waitpid(x->pid, &st, 0);
    memset(x, 0, sizeof(*x));
}

static void reap_prisms(void)
{
    for (int i = 0; i < PRISM_MAX; i++)
        prism_kill(&prisms[i]);
}

/* The prism executable: BM_PRISM_BIN, else what scripts/npm_tools.sh
 * says. */
static bool prism_bin(char *out, size_t len)
{
    const char *env = getenv("BM_PRISM_BIN");
    FILE *f;
    bool ok;

    if (env && *env) {
        snprintf(out, len, "%s", env);
        return true;
    }
    f = popen(BM_SOURCE_DIR "/scripts/npm_tools.sh --bin prism", "r");
    if (!f)
        return false;
    ok = fgets(out, (int)len, f) != NULL;
    if (pclose(f) != 0)
        ok = false;
    out[strcspn(out, "\n")] = '\0';
    return ok && out[0];
}

/* A port nothing listens on right now (the kernel's choice). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int h_prism_attach(const char *dir, const char *daemon, int daemon_port)
{
    char bin[1024], upstream[64], port_s[16], log[320], spec[512];
    struct prism *x = NULL;
    long deadline;

    if (!h_prism_enabled())
        return 0;
    for (int i = 0; i < PRISM_MAX && !x; i++)
        if (prisms[i].pid <= 0)
            x = &prisms[i];
    if (!x || !prism_bin(bin, sizeof(bin))) {
        fprintf(stderr, "prism: %s\n", x ? "no prism (scripts/npm_tools.sh)" : "too many");
        return -1;
    }
    if (!reaper_installed) {
        atexit(reap_prisms);
        reaper_installed = true;
    }
    x->daemon_port = daemon_port;
    x->port = free_port();
    snprintf(upstream, sizeof(upstream), "http://127.0.0.1:%d", daemon_port);
    snprintf(port_s, sizeof(port_s), "%d", x->port);
    snprintf(log, sizeof(log), "%s/prism.log", dir);
    /* the daemon's own part: a path of another daemon is not one it
     * answers (the gateway's / is a 404 at a service) */
    snprintf(spec, sizeof(spec), "%s/%s.yaml", BM_OPENAPI_DIR, daemon);
    x->pid = fork();
    if (x->pid < 0) {
        memset(x, 0, sizeof(*x));
        return -1;
    }
    if (x->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        setpgid(0, 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, bin, "proxy", spec, upstream, "-h", "127.0.0.1",
              "-p", port_s, (char *)NULL);
        _exit(127);
    }
    setpgid(x->pid, x->pid);
    /* about 2 s on an idle machine; a loaded one takes longer */
    deadline = h_now_ms() + 60000;
    while (h_now_ms() < deadline) {
        int st, fd = h_tcp_connect_loopback(x->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(x->pid, &st, WNOHANG) == x->pid)
            break;
        h_sleep_ms(50);
    }
    fprintf(stderr, "prism: the proxy for port %d did not start (log %s)\n", daemon_port, log);
    prism_kill(x);
    return -1;
}

void h_prism_detach(int daemon_port)
{
    for (int i = 0; i < PRISM_MAX; i++)
        if (prisms[i].pid > 0 && prisms[i].daemon_port == daemon_port)
            prism_kill(&prisms[i]);
}

int h_prism_port(int daemon_port)
{
    for (int i = 0; i < PRISM_MAX; i++)
        if (prisms[i].pid > 0 && prisms[i].daemon_port == daemon_port)
            return prisms[i].port;
    return 0;
}

/* One violation's text, "location.path: message", into out. */
static void describe(const cJSON *v, char *out, size_t len)
{
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(v, "location");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(v, "message");
    const cJSON *e;
    size_t n = 0;

    out[0] = '\0';
    cJSON_ArrayForEach(e, loc)
    {
        if (cJSON_IsString(e) && n < len) {
            int w = snprintf(out + n, len - n, "%s%s", n ? "." : "", e->valuestring);
            n += w > 0 ? (size_t)w : 0;
        }
    }
    if (n < len)
        snprintf(out + n, len - n, ": %s",
                 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
}

bool h_prism_response_violations(const char *header, char *out, size_t len)
{
    static const char too_many[] = "Too many violations! ";
    const char *json = header;
    cJSON *arr, *v;
    bool found = false;

    out[0] = '\0';
    if (strncmp(json, too_many, sizeof(too_many) - 1) == 0)
        json += sizeof(too_many) - 1;
    arr = cJSON_Parse(json);
    if (!cJSON_IsArray(arr)) {
        /* cut short: judge by the text */
        cJSON_Delete(arr);
        if (strstr(header, "\"location\":[\"response\"")) {
            snprintf(out, len, "%.400s", header);
            return true;
        }
        return false;
    }
    cJSON_ArrayForEach(v, arr)
    {
        const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "location"), 0);
        if (cJSON_IsString(first) && strcmp(first->valuestring, "response") == 0) {
            size_t n = strlen(out);
            if (n + 2 < len) {
                if (n)
                    out[n++] = ';', out[n++] = ' ', out[n] = '\0';
                describe(v, out + n, len - n);
            }
            found = true;
        }
    }
    cJSON_Delete(arr);
    return found;
}
