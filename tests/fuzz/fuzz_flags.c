/* fuzz_flags.c - command lines and environments, through cfg_load for each
 * of the four processes, and the gateway's replica URL lists through
 * gw_parse_urls as gateway.c does.
 *
 * Input: arguments separated by NUL bytes if there is any, else by
 * newlines; an argument "env:NAME=value" goes into the environment
 * instead. The environment starts with CONFIG_PATH naming a valid config
 * file written once at start-up, so the file step runs and reads nothing
 * else; an input with a --config flag is skipped, as it would make the
 * fuzzer open any path on the machine (a FIFO would hang it). cfg_load
 * neither exits nor prints (daemon.c does both after it returns).
 *
 * Invariants: a refused command line says why on one line; an accepted
 * one yields settings within the table's ranges (--help and --version
 * stop early, as in the daemons), the same twice over; an accepted URL
 * list has 1..8 non-empty URLs without trailing slashes, each a piece of
 * the list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "poller.h"
#include "support.h"

#define FLAGS_MAX_ARGS 64

static const char config_text[] =
    "{\"anomaly_settings\":{\"global_anomaly_rate\":0.02,"
    "\"transaction_service\":{\"anomaly_rate\":0.03,\"fraud_pattern_rate\":2},"
    "\"auth_service\":{\"failed_login_rate\":0.04}},"
    "\"generation_settings\":{\"events_per_second\":50,\"timezone\":\"+02:00\"},"
    "\"gateway\":{\"poll_interval_ms\":500}}\n";

static char config_path[512];

static void remove_config(void)
{
    if (config_path[0])
        unlink(config_path);
}

/* Writes the config file once; its name goes into every environment. */
static const char *config_env(void)
{
    static char env[600];
    const char *dir = getenv("TMPDIR");
    FILE *f;
    int fd;

    if (env[0])
        return env;
    snprintf(config_path, sizeof(config_path), "%s/bm-fuzz-flags-XXXXXX",
             dir && *dir ? dir : "/tmp");
    fd = mkstemp(config_path);
    FUZZ_CHECK(fd >= 0);
    f = fdopen(fd, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(config_text, 1, sizeof(config_text) - 1, f) == sizeof(config_text) - 1);
    FUZZ_CHECK(fclose(f) == 0);
    atexit(remove_config);
    snprintf(env, sizeof(env), "CONFIG_PATH=%s", config_path);
    return env;
}

static bool is_config_flag(const char *a)
{
    return strncmp(a, "--config", 8) == 0 && (a[8] == '\0' || a[8] == '=');
}

static void check_urls(const char *list)
{
    struct gw_upstream u;

    if (gw_parse_urls(list, &u) != BM_OK)
        return; /* main.c: one-line error, exit 2 */
    FUZZ_CHECK(u.nurls >= 1 && u.nurls <= GW_REPLICAS_MAX);
    for (int i = 0; i < u.nurls; i++) {
        size_t n = strlen(u.urls[i]);
        FUZZ_CHECK(n > 0 && n < sizeof(u.urls[i]) && u.urls[i][n - 1] != '/');
        FUZZ_CHECK(strstr(list, u.urls[i]) != NULL);
        FUZZ_CHECK(strchr(u.urls[i], ',') == NULL);
    }
}

static void check_one(enum bm_svc svc, int argc, char **argv, char *const *envp)
{
    struct bm_config c, again;
    char err[512];

    memset(err, 0, sizeof(err));
    if (cfg_load(&c, svc, argc, argv, envp, err, sizeof(err)) != BM_OK) {
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(strchr(err, '\n') == NULL);
        return;
    }
    if (c.help || c.version)
        return;
    fuzz_check_config(&c);
    FUZZ_CHECK(strcmp(c.config_path, config_path) == 0 && c.config_explicit);
    FUZZ_CHECK(cfg_load(&again, svc, argc, argv, envp, err, sizeof(err)) == BM_OK);
    FUZZ_CHECK(fuzz_config_same(&again, &c));
    if (svc == SVC_GATEWAY) {
        check_urls(c.txn_urls);
        check_urls(c.auth_urls);
        check_urls(c.mon_urls);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *p, *end;
    static char prog[] = "fuzz-flags";
    char *argv[FLAGS_MAX_ARGS + 2];
    char *envp[FLAGS_MAX_ARGS + 2];
    int argc = 1, envc = 1;
    char sep;

    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    sep = memchr(data, '\0', size) ? '\0' : '\n';
    argv[0] = prog;
    envp[0] = (char *)config_env();
    for (p = text, end = text + size; p <= end && argc + envc < FLAGS_MAX_ARGS;) {
        char *stop = memchr(p, sep, (size_t)(end - p));
        if (!stop)
            stop = end;
        *stop = '\0';
        if (p == end && p != text)
            break; /* a trailing separator ends the list */
        if (strncmp(p, "env:", 4) == 0)
            envp[envc++] = p + 4;
        else if (size > 0)
            argv[argc++] = p;
        p = stop + 1;
    }
    argv[argc] = NULL;
    envp[envc] = NULL;
    for (int i = 1; i < argc; i++)
        if (is_config_flag(argv[i]))
            goto out;
    for (int s = 0; s < SVC_COUNT; s++)
        check_one((enum bm_svc)s, argc, argv, envp);
out:
    free(text);
    return 0;
}
