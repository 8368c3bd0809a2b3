/* gateway.h - the api-gateway's life: configuration, poller, HTTP
 * server, a stop signal, drain. */
#ifndef BM_GATEWAY_GATEWAY_H
#define BM_GATEWAY_GATEWAY_H

#include <stddef.h>

#include "config.h"
#include "rc.h"

/* Runs the gateway; returns main's exit status. */
int gw_run(int argc, char **argv);

/* --check-config's own part: each service's URL list parses
 * (gw_parse_urls). Else BM_EINVAL and the list named in err. */
enum bm_rc gw_check_config(const struct bm_config *c, char *err, size_t errlen) BM_WUR;

#endif
