/* cli.c - the common start-up path of the four mains. Output here goes
 * to stdout/stderr directly: it is the command line's answer, written
 * before the daemon's log starts. */
#include "cli.h"

#include <stdio.h>

#include "log.h"
#include "svc.h"

int cli_prepare(enum bm_svc svc, int argc, char **argv, struct bm_config *cfg)
{
    return cli_prepare_checked(svc, argc, argv, cfg, NULL);
}

int cli_prepare_checked(enum bm_svc svc, int argc, char **argv, struct bm_config *cfg,
                        cli_check_fn check)
{
    const char *name = svc_info(svc)->name;
    char err[512] = "";

    log_init(name, LOG_INFO);
    if (cfg_load(cfg, svc, argc, argv, NULL, err, sizeof(err)) != BM_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        return 2;
    }
    if (cfg->help) {
        cfg_print_help(svc, argc > 0 ? argv[0] : name);
        return 0;
    }
    if (cfg->version) {
        printf("%s %s\n", name, BM_VERSION);
        return 0;
    }
    if (check && check(cfg, err, sizeof(err)) != BM_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        return 2;
    }
    if (cfg->check_config) {
        printf("%s: configuration ok (%s)\n", name, cfg->config_path);
        return 0;
    }
    log_set_level((enum log_level)cfg->log_level);
    return -1;
}
