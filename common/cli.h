/* cli.h - the start-up every main shares: logger, configuration load,
 * --help, --version, --check-config, log level. */
#ifndef BM_COMMON_CLI_H
#define BM_COMMON_CLI_H

#include <stddef.h>

#include "config.h"
#include "rc.h"

/* A process's own check of a loaded configuration, run before
 * --check-config answers (the gateway's URL lists): BM_OK, or a reason
 * of one line in err. */
typedef enum bm_rc (*cli_check_fn)(const struct bm_config *c, char *err, size_t errlen);

/* Starts the logger under svc's name and loads cfg from defaults, file,
 * environment and argv. Returns -1 when the daemon should go on (the log
 * level is then set), else the exit status main returns: 2 after a bad
 * configuration (its reason on one stderr line), 0 after --help,
 * --version or --check-config. */
int cli_prepare(enum bm_svc svc, int argc, char **argv, struct bm_config *cfg);

/* The same, running check (may be NULL) on the loaded configuration. */
int cli_prepare_checked(enum bm_svc svc, int argc, char **argv, struct bm_config *cfg,
                        cli_check_fn check);

#endif
