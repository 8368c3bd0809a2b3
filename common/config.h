/* config.h - the one configuration table. It drives flags, environment,
 * the config file, --help, GET/POST /config and persistence of runtime
 * changes. Precedence: defaults < file < environment < flags < runtime. */
#ifndef BM_COMMON_CONFIG_H
#define BM_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_errors.h"
#include "buf.h"
#include "gen.h"
#include "rc.h"
#include "shard.h"
#include "svc.h"

#define CFG_URLS_MAX 1024
#define CFG_RATE_UNSET (-1.0) /* a <type>_rate not given (below every valid rate) */

struct bm_config {
    /* process */
    int64_t port;
    char bind[64];
    char db_path[512];
    char config_path[512];
    bool config_explicit; /* named by flag or env: missing file is fatal */
    uint64_t seed;
    bool seed_set;
    char seed_file[512]; /* without seed_set: a new stream's seed (seedfile.h) */
    int64_t start_time_ms;
    bool start_time_set;
    int64_t backfill_s;
    struct bm_shard shard;    /* this process's slice of the bank (shard.h) */
    bool reset_config;
    bool check_config;
    bool help;
    bool version;
    int log_level; /* enum log_level */
    char admin_token[256];
    int64_t header_timeout_s; /* a new connection's first request must be in by then */
    int64_t idle_timeout_s;   /* kept-alive idle limit */
    int64_t max_connections;  /* 0: sized from RLIMIT_NOFILE */
    char scenario[512];       /* a scenario timeline file, "" none (scenario.h) */
    char cors_origins[512];   /* "", "*" or origins, comma-separated */
    int64_t stream_heartbeat_ms; /* SSE comment after this long without a write */
    int64_t stream_buffer_bytes; /* SSE ring: how far a client may fall behind */
    char sink[192];              /* "" none, or "kinesis:STREAM" (sink.h) */
    int64_t sink_max_lag_events; /* undelivered events pruning keeps for the sink */
    /* runtime (POST /config) */
    double anomaly_rate;
    double weights[GEN_MAX_TYPES]; /* <type>_rate, absolute; CFG_RATE_UNSET if not given */
    double failed_login_rate;
    double events_per_second;
    bool paused;
    int64_t retention_events;
    bool time_shaping;
    /* static generation settings */
    int64_t batch_size;
    int tz_offset_min;
    char timezone[8];
    double segments[3];
    /* gateway */
    int64_t poll_interval_ms;
    int64_t upstream_timeout_ms;
    int64_t buffer_bytes;
    char txn_urls[CFG_URLS_MAX];
    char auth_urls[CFG_URLS_MAX];
    char mon_urls[CFG_URLS_MAX];
};

/* Defaults for this process (port, db path depend on the service). */
void cfg_defaults(struct bm_config *c, enum bm_svc svc);

/* Full start-up load: defaults, file, environment, flags. On failure
 * writes a one-line reason into err and returns BM_EINVAL. envp may be
 * NULL for the process environment. */
enum bm_rc cfg_load(struct bm_config *c, enum bm_svc svc, int argc, char **argv,
                    char *const *envp, char *err, size_t errlen) BM_WUR;

/* Parses a config file's text and applies it (strict: unknown or
 * ill-typed keys fail, naming the key). Exposed for tests. */
enum bm_rc cfg_apply_file_text(struct bm_config *c, enum bm_svc svc, const char *text,
                               size_t len, char *err, size_t errlen) BM_WUR;

/* Applies a flat runtime object (POST /config body, or the persisted
 * overrides) to c. All or nothing: on failure c is unchanged and *fail
 * says which field and why. */
struct cJSON;
enum bm_rc cfg_apply_runtime(struct bm_config *c, enum bm_svc svc, const struct cJSON *obj,
                             struct api_fail *fail) BM_WUR;

/* Appends the flat object of every runtime key (aliases included) with
 * its effective value. */
enum bm_rc cfg_runtime_json(const struct bm_config *c, enum bm_svc svc, struct buf *out) BM_WUR;

/* Appends the flat object of the runtime keys that differ from base,
 * for persistence; "{}" if none. */
enum bm_rc cfg_runtime_diff_json(const struct bm_config *c, const struct bm_config *base,
                                 enum bm_svc svc, struct buf *out) BM_WUR;

/* Each anomaly type's effective rate (SPEC §3) into out[n types of svc]:
 * a set <type>_rate as given; the unset ones share anomaly_rate minus the
 * set ones equally. When every type is set, their sum is the anomaly rate
 * (what anomaly_rate leaves over goes unused). Returns the number of
 * types. */
int cfg_type_rates(const struct bm_config *c, enum bm_svc svc, double *out);

/* Generation parameters for a service from its config: anomaly_rate the
 * sum of the effective type rates, weights the rates themselves. */
void cfg_gen_params(const struct bm_config *c, enum bm_svc svc, struct gen_params *p);

/* --help text for this process. */
void cfg_print_help(enum bm_svc svc, const char *prog);

/* Names of the anomaly types of a service, in weight order; count
 * returned (svc_info's, kept for callers of config.h). */
int cfg_anomaly_types(enum bm_svc svc, const char *const **names);

const char *cfg_svc_name(enum bm_svc svc); /* "transaction-service" (svc_info's) */

/* The live settings (the runtime layer applied) have one owner, the
 * generator loop: see genloop.c and genloop_config(). */

#endif
