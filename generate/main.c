/* main.c - bankmock-generate: a service's event stream for a seed and a
 * time window, written as NDJSON or CSV without a daemon (dataset.h).
 * Output is written whole lines at a time, so a stop by SIGINT or
 * SIGTERM (taken between events, never in a handler) leaves a complete
 * last line. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "log.h"
#include "parse.h"
#include "signals.h"
#include "timefmt.h"

#define PROG          "bankmock-generate"
#define OUT_FLUSH     (256 * 1024) /* write out once this much is buffered */
#define OUT_MAX       (4 * 1024 * 1024)
#define CHECK_EVERY   256          /* events between signal and progress checks */
#define BAR_EVERY_US  200000
#define BAR_WIDTH     30

static const char usage[] =
    "Usage: " PROG " --service transaction|auth|monitoring --seed S --start T\n"
    "       --duration D [--format ndjson|csv] [--out FILE] [--config FILE]\n"
    "       [--shard i/n]\n"
    "\n"
    "Writes the events a service generates for seed S from simulated time T\n"
    "for D (<int>s|m|h|d, up to 365d), with no database and no HTTP: in NDJSON\n"
    "byte for byte the events the service stores when started with\n"
    "--seed S --start-time T --backfill D on a new database and the same\n"
    "configuration (defaults < --config FILE or CONFIG_PATH < environment, as\n"
    "the service reads them; config/anomaly_config.json if present).\n"
    "\n"
    "  --service NAME   transaction, auth or monitoring\n"
    "  --seed S         the stream's seed (unsigned 64-bit integer)\n"
    "  --start T        ISO 8601 time, e.g. 2026-01-05T00:00:00Z\n"
    "  --duration D     the window's length, e.g. 30d\n"
    "  --format F       ndjson (default: one event object per line) or csv\n"
    "                   (a header row, nested fields as location.city,\n"
    "                   RFC 4180 quoting, CRLF)\n"
    "  --out FILE       write to FILE (default: standard output)\n"
    "  --config FILE    the service's configuration file\n"
    "  --shard i/n      slice i of n of the bank (0 <= i < n <= 1024; default\n"
    "                   0/1, the whole bank; env BANKMOCK_SHARD): the entities\n"
    "                   whose index % n is i, at their share of the rate, as\n"
    "                   the service started with the same --shard generates\n"
    "  --help, --version\n"
    "\n"
    "Progress goes to standard error: a bar on a terminal, else one summary\n"
    "line. Exit status: 0 done, 1 an I/O error, 2 a bad flag, 130 stopped\n"
    "by SIGINT (143 by SIGTERM) after the last whole line, 141 when the\n"
    "reader closed the pipe.\n";

struct opts {
    struct dataset_spec spec;
    const char *out_path; /* NULL: stdout */
    const char *config_path;
    const char *duration_text;
    struct bm_shard shard;
    bool have_shard;
    bool have_service, have_seed, have_start, have_duration;
    bool help, version;
};

struct out {
    int fd;
    struct buf b;
};

/* A bad command line: one line on stderr, exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    return 2;
}

/* One flag and its value into o; 0, or the exit status of a bad one. */
static int set_flag(struct opts *o, const char *name, const char *v)
{
    size_t n;

    if (strcmp(name, "--service") == 0) {
        n = strlen(v);
        o->spec.svc = SVC_COUNT;
        for (int s = 0; s < SVC_NSOURCES; s++)
            if (strcmp(v, svc_info((enum bm_svc)s)->section) == 0 ||
                (n && svc_by_name(v, n) == (enum bm_svc)s))
                o->spec.svc = (enum bm_svc)s;
        if (o->spec.svc == SVC_COUNT)
            return usage_error("%s: \"%s\" is not transaction, auth or monitoring", name, v);
        o->have_service = true;
    } else if (strcmp(name, "--seed") == 0) {
        if (parse_u64(v, &o->spec.seed) != BM_OK)
            return usage_error("%s: \"%s\" is not an unsigned 64-bit integer", name, v);
        o->have_seed = true;
    } else if (strcmp(name, "--start") == 0) {
        if (timefmt_parse_iso(v, &o->spec.start_ms) != BM_OK)
            return usage_error("%s: \"%s\" is not an ISO 8601 time", name, v);
        o->have_start = true;
    } else if (strcmp(name, "--duration") == 0) {
        if (parse_duration(v, &o->spec.duration_s) != BM_OK)
            return usage_error("%s: \"%s\" is not a duration <int>s|m|h|d up to 365d", name, v);
        o->duration_text = v;
        o->have_duration = true;
    } else if (strcmp(name, "--format") == 0) {
        if (strcmp(v, "ndjson") == 0)
            o->spec.format = DATASET_NDJSON;
        else if (strcmp(v, "csv") == 0)
            o->spec.format = DATASET_CSV;
        else
            return usage_error("%s: \"%s\" is not ndjson or csv", name, v);
    } else if (strcmp(name, "--shard") == 0) {
        char why[128];
        if (shard_parse(v, &o->shard, why, sizeof(why)) != BM_OK)
            return usage_error("%s: %s", name, why);
        o->have_shard = true;
    } else if (strcmp(name, "--out") == 0) {
        if (!*v)
            return usage_error("%s: needs a file name", name);
        o->out_path = v;
    } else {
        if (!*v)
            return usage_error("%s: needs a file name", name);
        o->config_path = v; /* --config */
    }
    return 0;
}

static bool takes_value(const char *name)
{
    static const char *const names[] = { "--service", "--seed",   "--start",  "--duration",
                                         "--format",  "--out",    "--config", "--shard",
                                         NULL };

    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* --name value and --name=value; 0, or the exit status of a bad flag. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *arg = argv[i], *eq = strchr(arg, '='), *v;
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        int st;

        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, arg, n);
        name[n] = '\0';
        if (!eq && strcmp(arg, "--help") == 0) {
            o->help = true;
            continue;
        }
        if (!eq && strcmp(arg, "--version") == 0) {
            o->version = true;
            continue;
        }
        if (!takes_value(name))
            return usage_error("unknown argument \"%s\"", arg);
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return usage_error("%s: needs a value", name);
        }
        st = set_flag(o, name, v);
        if (st)
            return st;
    }
    if (o->help || o->version)
        return 0;
    if (!o->have_service)
        return usage_error("--service is required");
    if (!o->have_seed)
        return usage_error("--seed is required");
    if (!o->have_start)
        return usage_error("--start is required");
    if (!o->have_duration)
        return usage_error("--duration is required");
    return 0;
}

/* The service's generation settings as the service loads them. */
static int load_config(const struct opts *o, struct bm_config *cfg)
{
    char prog[] = PROG, flag[] = "--config", path[512], err[512] = "";
    char *argv[] = { prog, flag, path, NULL };

    if (o->config_path && snprintf(path, sizeof(path), "%s", o->config_path) >= (int)sizeof(path))
        return usage_error("--config: file name too long");
    if (cfg_load(cfg, o->spec.svc, o->config_path ? 3 : 1, argv, NULL, err, sizeof(err)) !=
        BM_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 2;
    }
    if (o->have_shard) /* the flag over the file and BANKMOCK_SHARD, as in the services */
        cfg->shard = o->shard;
    return 0;
}

static bool out_flush(struct out *w)
{
    size_t off = 0;

    while (off < w->b.len) {
        ssize_t n = write(w->fd, w->b.data + off, w->b.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    buf_reset(&w->b);
    return true;
}

static void put_count(char *out, size_t len, uint64_t n)
{
    char digits[24];
    int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
    size_t o = 0;

    for (int i = 0; i < nd && o + 1 < len; i++) {
        if (i && (nd - i) % 3 == 0 && o + 2 < len)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static void draw_bar(const struct dataset *d, int64_t began_us)
{
    struct dataset_progress p;
    char bar[BAR_WIDTH + 1], ts[TIMEFMT_ISO_LEN + 1], count[32];
    double secs = (double)(time_mono_us() - began_us) / 1e6;
    int fill;

    dataset_progress(d, &p);
    fill = (int)(p.fraction * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    timefmt_iso(p.sim_us / 1000, ts);
    put_count(count, sizeof(count), p.events);
    fprintf(stderr, "\r[%s] %3d%%  %.16s  %s events  %.2f M/s\033[K", bar,
            (int)(p.fraction * 100.0), ts, count, secs > 0 ? (double)p.events / secs / 1e6 : 0.0);
}

static void summary(const struct opts *o, const struct dataset *d, const char *settings,
                    int64_t began_us, int stop_sig, bool tty)
{
    struct dataset_progress p;
    char start[TIMEFMT_ISO_LEN + 1], events[32], anomalies[32];
    double secs = (double)(time_mono_us() - began_us) / 1e6;

    dataset_progress(d, &p);
    timefmt_iso(o->spec.start_ms, start);
    put_count(events, sizeof(events), p.events);
    put_count(anomalies, sizeof(anomalies), p.anomalies);
    fprintf(stderr, "%s%s: %s: %s events (%s anomalies) from %s for %s to %s in %.2f s (%.0f "
                    "events/s; %s)%s%s\n",
            tty ? "\r\033[K" : "", PROG, svc_info(o->spec.svc)->name, events, anomalies, start,
            o->duration_text, o->out_path ? o->out_path : "stdout", secs,
            secs > 0 ? (double)p.events / secs : 0.0, settings,
            stop_sig ? "; stopped by " : "", stop_sig == SIGINT ? "SIGINT"
                                             : stop_sig        ? "SIGTERM"
                                                               : "");
}

/* Generates the window into w; returns the exit status. */
static int run(const struct opts *o, struct dataset *d, const char *settings, struct out *w)
{
    bool tty = isatty(STDERR_FILENO) == 1, done = false;
    int64_t began = time_mono_us(), last_bar = 0;
    int stop_sig = 0, status = 0;

    for (uint64_t n = 1; !done; n++) {
        if (dataset_next(d, &w->b, &done) != BM_OK) {
            fprintf(stderr, "%s: generation failed\n", PROG);
            return 1;
        }
        if (w->b.len >= OUT_FLUSH && !out_flush(w))
            goto write_error;
        if (n % CHECK_EVERY)
            continue;
        if ((stop_sig = sig_poll_stop()) != 0)
            break;
        if (tty && time_mono_us() - last_bar >= BAR_EVERY_US) {
            last_bar = time_mono_us();
            draw_bar(d, began);
        }
    }
    if (!out_flush(w))
        goto write_error;
    if (stop_sig)
        status = 128 + stop_sig;
    summary(o, d, settings, began, stop_sig, tty);
    return status;
write_error:
    if (errno == EPIPE)
        return 128 + SIGPIPE; /* the reader had enough (| head): as if killed, quietly */
    if (tty)
        fputc('\n', stderr);
    fprintf(stderr, "%s: cannot write %s: %s\n", PROG, o->out_path ? o->out_path : "stdout",
            strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    struct opts o = { .spec.format = DATASET_NDJSON };
    struct bm_config cfg;
    struct dataset *d = NULL;
    struct out w = { .fd = STDOUT_FILENO };
    char settings[600];
    int status;

    sig_block_stop(); /* SIGPIPE ignored too: a closed reader is a write error */
    /* not the daemon's warning for a missing default config file: the
     * summary names the settings used */
    log_init(PROG, LOG_ERROR);
    log_set_fd(STDERR_FILENO); /* standard output carries the dataset */
    status = parse_args(argc, argv, &o);
    if (status)
        return status;
    if (o.help) {
        fputs(usage, stdout);
        return 0;
    }
    if (o.version) {
        printf("%s %s\n", PROG, BM_VERSION);
        return 0;
    }
    status = load_config(&o, &cfg);
    if (status)
        return status;
    switch (dataset_open(&o.spec, &cfg, &d)) {
    case BM_OK:
        break;
    case BM_ERANGE: {
        char text[SHARD_TEXT];
        shard_text(&cfg.shard, text);
        fprintf(stderr, "%s: shard %s of %s has no entities: its population is smaller than %u; "
                        "use fewer shards\n",
                PROG, text, svc_info(o.spec.svc)->name, (unsigned)cfg.shard.count);
        return 2;
    }
    default:
        fprintf(stderr, "%s: out of memory building the model\n", PROG);
        return 1;
    }
    if (o.out_path) {
        w.fd = open(o.out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w.fd < 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", PROG, o.out_path, strerror(errno));
            dataset_free(d);
            return 1;
        }
    }
    buf_init(&w.b, OUT_MAX);
    /* cfg_load read the file if it was there (a named one must be) */
    if (cfg.config_explicit || access(cfg.config_path, R_OK) == 0)
        snprintf(settings, sizeof(settings), "settings of %s", cfg.config_path);
    else
        snprintf(settings, sizeof(settings), "built-in settings");
    status = run(&o, d, settings, &w);
    buf_free(&w.b);
    if (o.out_path && close(w.fd) != 0 && status == 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", PROG, o.out_path, strerror(errno));
        status = 1;
    }
    dataset_free(d);
    return status;
}
