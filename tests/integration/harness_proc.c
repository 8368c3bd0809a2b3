/* harness_proc.c - process control: start, stop, kill and clean up daemons; the test's
 * daemon slots; time. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <dirent.h>
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

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

long h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void h_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

bool h_test_scale_small(void)
{
    const char *s = getenv("BM_TEST_SCALE");
    return s && strcmp(s, "small") == 0;
}

bool h_num_at(const char *s, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE)
        return false;
    *out = v;
    return true;
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

void h_proc_init(struct proc *p, const char *tag)
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

void h_proc_write_config(struct proc *p, const char *json)
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
        long v;
        if (m && pp && h_num_at(pp + 7, &v) && v > 0 && v < 65536)
            port = (int)v; /* the newest start wins */
    }
    fclose(f);
    return port;
}

static int spawn(struct proc *p, const char *binary, bool with_db, const char *const *args);

int h_proc_start(struct proc *p, const char *binary, const char *const *args)
{
    return spawn(p, binary, true, args);
}

int h_proc_start_gateway(struct proc *p, const char *const *args)
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
    deadline = h_now_ms() + 10000;
    while (h_now_ms() < deadline) {
        int st;
        p->port = read_port(p->log);
        if (p->port > 0) {
            if (h_prism_attach(p->dir, binary, p->port) == 0)
                return 0;
            h_proc_kill9(p);
            return -1;
        }
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = -1;
            return -1;
        }
        h_sleep_ms(5);
    }
    return -1;
}

int h_proc_run(const char *binary, const char *const *args, char *out, size_t outlen)
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

int h_proc_stop(struct proc *p, long *ms)
{
    return h_proc_stop_by(p, SIGTERM, ms);
}

int h_proc_stop_by(struct proc *p, int sig, long *ms)
{
    long start = h_now_ms();
    int st;
    /* a sanitized daemon on a loaded machine may take longer than the
     * 2 s a plain one is held to where a test says so */
    long grace = h_test_scale_small() ? 15000 : 5000;

    if (p->pid <= 0)
        return -1;
    h_prism_detach(p->port);
    kill(p->pid, sig);
    while (h_now_ms() - start < grace) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            if (ms)
                *ms = h_now_ms() - start;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                dump_log_tail(p, "did not exit 0 on its stop signal");
            untrack_pid(p->pid);
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        h_sleep_ms(5);
    }
    dump_log_tail(p, "still running after its stop signal: killed");
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    untrack_pid(p->pid);
    p->pid = -1;
    if (ms)
        *ms = h_now_ms() - start;
    return -1;
}

void h_proc_kill9(struct proc *p)
{
    int st;

    if (p->pid <= 0)
        return;
    h_prism_detach(p->port);
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

int h_proc_threads_taking(pid_t pid, int sig, int *nthreads)
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

/* The end of p's log on stderr, at most max bytes of it. */
static void print_log_tail(const struct proc *p, long max)
{
    char line[1024];
    long size;
    FILE *f = fopen(p->log, "r");

    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > max)
        fseek(f, size - max, SEEK_SET);
    else
        rewind(f);
    while (fgets(line, sizeof(line), f))
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

/* A daemon that died on its own while the test still counted on it says
 * why in its last log lines (a sanitizer's report, an assertion): if p's
 * has, print how it ended and the end of its log, and forget its pid. */
static bool reap_if_gone(struct proc *p)
{
    int st;

    if (p->pid <= 0 || waitpid(p->pid, &st, WNOHANG) != p->pid)
        return false;
    if (WIFSIGNALED(st))
        fprintf(stderr, "harness: %s (pid %d) died of signal %d; the end of its log:\n",
                p->dir, (int)p->pid, WTERMSIG(st));
    else
        fprintf(stderr, "harness: %s (pid %d) exited %d on its own; the end of its log:\n",
                p->dir, (int)p->pid, WEXITSTATUS(st));
    print_log_tail(p, 16384);
    untrack_pid(p->pid);
    p->pid = -1;
    return true;
}

void h_proc_explain_port(int port)
{
    for (int i = 0; i < PROCS_MAX; i++) {
        struct proc *p = &h_procs[i];
        char cmd[128];

        if (p->port != port || p->pid <= 0 || reap_if_gone(p))
            continue;
        fprintf(stderr, "harness: the daemon on port %d (pid %d) runs; its threads:\n", port,
                (int)p->pid);
        snprintf(cmd, sizeof(cmd),
                 "for t in /proc/%d/task/*; do echo \"  $(cat $t/comm) $(cut -d' ' -f3 "
                 "$t/stat) $(cat $t/wchan)\"; done 1>&2",
                 (int)p->pid);
        if (system(cmd) != 0)
            fprintf(stderr, "  (could not list them)\n");
        if (getenv("BM_TEST_GDB")) {
            snprintf(cmd, sizeof(cmd), "gdb -p %d -batch -ex 'thread apply all bt' 1>&2 2>/dev/null",
                     (int)p->pid);
            if (system(cmd) != 0)
                fprintf(stderr, "  (gdb failed)\n");
        }
        fprintf(stderr, "harness: the end of its log:\n");
        print_log_tail(p, 4096);
    }
}

void h_proc_cleanup(struct proc *p)
{
    reap_if_gone(p);
    if (p->pid > 0)
        h_proc_kill9(p);
    remove_dir(p->dir);
    untrack_dir(p->dir);
}

int h_proc_restart(struct proc *p, const char *binary, const char *const *args)
{
    unlink(p->log);
    return h_proc_start(p, binary, args);
}

int h_proc_start_gateway_urls(struct proc *p, const char *txn_url, const char *auth_url,
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
    return h_proc_start_gateway(p, args);
}

struct proc h_procs[PROCS_MAX];

int h_procs_setup(void **state)
{
    (void)state;
    h_prism_bypass(false);
    memset(h_procs, 0, sizeof(h_procs));
    for (int i = 0; i < PROCS_MAX; i++)
        h_procs[i].pid = -1;
    return 0;
}

int h_procs_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < PROCS_MAX; i++)
        if (h_procs[i].dir[0])
            h_proc_cleanup(&h_procs[i]);
    memset(h_procs, 0, sizeof(h_procs));
    return 0;
}

void h_proc_finish(struct proc *p)
{
    h_proc_cleanup(p);
    p->dir[0] = '\0';
}

int h_proc_mem_kib(pid_t pid, long *rss, long *hwm)
{
    char path[64], line[256];
    long r = -1, h = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0 && !h_num_at(line + 6, &r))
            r = -1;
        else if (strncmp(line, "VmHWM:", 6) == 0 && !h_num_at(line + 6, &h))
            h = -1;
    }
    fclose(f);
    if (rss)
        *rss = r;
    if (hwm)
        *hwm = h;
    return 0;
}
