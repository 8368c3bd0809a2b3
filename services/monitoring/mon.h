/* mon.h - monitoring service: the simulated estate (services on named
 * hosts, seven metrics each), its pure sample generator, the severity and
 * health rules, and the JSON of events and reports. Everything here but
 * store.c is pure: PRNG, simulated time and settings come in as arguments,
 * so a seed and start time replay exactly. */
#ifndef BM_SERVICES_MONITORING_MON_H
#define BM_SERVICES_MONITORING_MON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anomaly.h"
#include "buf.h"
#include "gen.h"
#include "rc.h"
#include "rng.h"
#include "shard.h"

/* ---- the estate ---- */

enum mon_metric {
    MON_M_CPU,
    MON_M_MEMORY,
    MON_M_DISK,
    MON_M_NET_IN,
    MON_M_NET_OUT,
    MON_M_RESPONSE,
    MON_M_ERROR,
    MON_M_COUNT
};

/* Order of gen_params.weights (cfg_anomaly_types(SVC_MONITORING)). */
enum mon_anomaly {
    MON_A_HIGH_CPU,
    MON_A_HIGH_MEMORY,
    MON_A_HIGH_DISK,
    MON_A_CASCADE,
    MON_A_DEGRADATION,
    MON_A_TIMEOUT,
    MON_A_COUNT
};
extern const char *const mon_anomaly_names[MON_A_COUNT];

enum mon_severity { MON_SEV_INFO, MON_SEV_WARNING, MON_SEV_CRITICAL, MON_SEV_COUNT };
extern const char *const mon_severity_names[MON_SEV_COUNT];

enum mon_health { MON_H_HEALTHY, MON_H_DEGRADED, MON_H_DOWN, MON_H_COUNT };
extern const char *const mon_health_names[MON_H_COUNT];

#define MON_N_SERVICES 7
#define MON_N_HOSTS    14
/* One series per host and metric. The sampling cycle visits them in
 * series order, metric-major: every host's cpu, then every host's memory,
 * ..., so a service's latency and error samples of one cycle are close
 * together (see generator.c, cascades). */
#define MON_N_SERIES   (MON_N_HOSTS * MON_M_COUNT)
#define MON_SERIES(metric, host) ((metric) * MON_N_HOSTS + (host))
#define MON_SERIES_METRIC(s) ((s) / MON_N_HOSTS)
#define MON_SERIES_HOST(s)   ((s) % MON_N_HOSTS)

struct mon_service_info {
    const char *name;     /* "transaction-service" */
    const char *role;     /* "database", "cache", ... */
    uint8_t dependents;   /* bit i: service i calls this one (directly or not) */
};
/* Backends first: a service's dependents come after it, so do their hosts. */
extern const struct mon_service_info mon_services[MON_N_SERVICES];

struct mon_host_info {
    const char *name; /* "db-01" */
    uint8_t service;  /* index into mon_services */
};
extern const struct mon_host_info mon_hosts[MON_N_HOSTS];

/* Values are fixed point, hundredths of the unit ("centi"), as encoded:
 * every threshold compares the number a client reads. */
struct mon_metric_info {
    const char *name; /* "cpu_utilization" */
    const char *unit; /* "percent", "mbps", "ms" */
    int32_t warning;  /* severity: above this is warning */
    int32_t critical; /* ... and above this critical */
    int32_t degraded; /* health: above this the host is degraded */
    int32_t down;     /* ... and above this down; 0 = never */
};
extern const struct mon_metric_info mon_metrics[MON_M_COUNT];

/* A host's baseline (mon_normal_value) keeps cpu, memory and disk at
 * 89.50 % at most, error_rate at 4.90 %, response_time_ms at 4,500 ms.
 * Normal look-alikes (nearmiss.c) go further where no rule is met: busy
 * utilisation up to 89.50 % (never above 90: high_* is "over 90"), single
 * latency spikes over 5,000 ms with no error jump, single error spikes to
 * 20 %, network bursts over 900 mbps. Anomalies: utilisation above 90 %,
 * cascade and timeout errors at 6 % or more, timeouts over 5,000 ms. */
#define MON_UTIL_NORMAL_MAX  8950
#define MON_UTIL_ANOMALY_MIN 9001
#define MON_ERR_NORMAL_MAX   490
#define MON_ERR_ANOMALY_MIN  600
#define MON_RT_NORMAL_MAX    450000
#define MON_RT_TIMEOUT_MIN   500001

enum mon_severity mon_severity_of(int metric, int32_t value);
/* A host's health from its newest value per metric (present[m] false:
 * no sample yet). */
enum mon_health mon_host_health(const int32_t value[MON_M_COUNT],
                                const bool present[MON_M_COUNT]);

/* ---- the model: per-host behaviour, derived from the seed ---- */

struct mon_profile {
    double cpu0, cpu1;       /* cpu % = cpu0 + cpu1 * load share */
    double mem0, mem1;
    double disk_lo, disk_hi; /* disk % grows from lo to hi, then a cleanup */
    double disk_rate;        /* % per day */
    double disk_phase;       /* days */
    double net_in0, net_out0; /* mbps at traffic factor 1 */
    double rt0;              /* ms at low load */
    double err0;             /* % at traffic factor 1 */
};

/* Immutable after mon_model_new(), so any number of threads may read it. */
struct mon_model {
    uint64_t seed; /* the stream's: the cross-service schedule (xincident.h) */
    struct mon_profile host[MON_N_HOSTS];
    struct bm_shard shard; /* the hosts sampled (shard.h): index % n == i; 0/1 all */
};

struct mon_model *mon_model_new(uint64_t seed);
void mon_model_free(struct mon_model *m);
/* Makes the model shard s's slice of the estate: only hosts whose index
 * % n is i are sampled, every series at the interval of the whole
 * estate's; a cascade takes dependents among them only. */
void mon_model_slice(struct mon_model *m, const struct bm_shard *s);
/* The slice's share of the samples: its hosts of MON_N_HOSTS. */
double mon_model_share(const struct mon_model *m);
/* Whether an injection target (a host, or MON_TARGET_SERVICE + service)
 * is in the slice: the host, or a host of the service. */
bool mon_model_owns(const struct mon_model *m, int64_t target);
/* The shard that plays a cross-service cascade from service sv: the one
 * with the service's first host. */
bool mon_model_owns_origin(const struct mon_model *m, int sv);

/* The normal value of a series (centi) at day `days` (simulated time in
 * days) under traffic `load` (smoothed shaping factor) with the series'
 * autocorrelated noise z, the host's cpu noise z_cpu and this sample's
 * measurement noise e (all standard normal). */
int32_t mon_normal_value(const struct mon_model *m, int series, double days, double load,
                         double z, double z_cpu, double e);
/* A value brought back to the normal range of its metric. */
int32_t mon_clamp_normal(int metric, double value);

/* ---- normal look-alikes (nearmiss.c) ---- */

/* Near misses: normal behaviour that resembles an anomaly type without
 * meeting its rule, and reaches warning or critical by its value. */
enum mon_near_kind {
    MON_N_NONE,
    MON_N_BUSY,    /* cpu/memory/disk 79-89.5 % for 4-12 samples (high_*) */
    MON_N_BUMP,    /* latency up 1.3-6x, never rising 4 samples in a row (degradation) */
    MON_N_SPIKE,   /* one latency sample of 5-12 s, errors flat (network_timeout) */
    MON_N_ERRSPIKE, /* one error_rate sample of 10-20 %, latency flat (cascade, timeout) */
    MON_N_PARTIAL, /* latency 2.5-5x under 5 s and errors 3-9.9 % on one host of at
                    * most 2 services at a time (cascade needs 3; timeout 5 s) */
    MON_N_BURST,   /* network 850-990 mbps for 2-6 samples (no type: backups) */
    MON_N_COUNT
};
extern const char *const mon_near_names[MON_N_COUNT];

/* A look-alike under way on one series. POD, no padding. */
struct mon_near {
    int32_t level;  /* the previous value (centi) */
    int32_t factor; /* latency multiple, per mille (bump, partial); error level */
    uint8_t kind;   /* enum mon_near_kind */
    uint8_t left;   /* samples still to come */
    uint8_t run;    /* bump: rises in a row so far */
    uint8_t zero;   /* padding, kept 0 */
};

/* Does a look-alike start on the sampled series (free of episodes) at
 * t_ms? If so *n is its state (its first sample still to be taken by
 * mon_near_step) and, for a partial cascade, *err the one for the host's
 * error series (when err_free; kind 0 otherwise). Draws from r. */
bool mon_near_begin(int series, int64_t t_ms, bool err_free, struct rng *r, struct mon_near *n,
                    struct mon_near *err);
/* The next value of look-alike n on a series of metric m whose baseline
 * value is `normal`; counts the sample off n. */
int32_t mon_near_step(struct mon_near *n, int metric, int32_t normal, struct rng *r);
bool mon_near_valid(const struct mon_near *n);

/* ---- generator state ---- */

#define MON_MAX_INCIDENT 64 /* largest incident in events */

/* What is under way on one series. POD, no padding: persisted as bytes.
 * Labelled phase: type != 0, `left` samples to come; then `recover`
 * normal samples in which `level` (an offset over the normal value) decays
 * and no new anomaly starts on the series. */
struct mon_episode {
    int32_t level;   /* labelled: last value (0 before the first); recovery: offset */
    int32_t param;   /* per type: growth, multiplier or base value */
    uint8_t type;    /* enum mon_anomaly + 1; 0: none */
    uint8_t left;    /* labelled samples still to come */
    uint8_t recover; /* normal recovery samples still to come */
    uint8_t inc;     /* incident slot */
};

/* An incident: its id and how many of its labelled events are still to
 * come; free when type == 0. POD, no padding. */
struct mon_incident {
    char id[RNG_UUID_LEN + 1];
    uint8_t type;  /* enum mon_anomaly + 1; 0: free */
    uint8_t left;
    uint8_t flags; /* MON_INC_*; the other bits kept 0 */
};
#define MON_INC_INJECTED 0x01u /* started by an injection: origin "injected", not counted */

/* What store_event needs of one sample (gen_event.detail). */
struct mon_detail {
    uint64_t incident; /* hash of the incident id; 0 if none */
    int32_t series;
    int32_t value;     /* centi */
    int32_t severity;  /* enum mon_severity */
    int32_t anomaly;   /* enum mon_anomaly, -1 normal */
    int32_t near;      /* enum mon_near_kind of a look-alike's sample, else 0 */
    int32_t zero;      /* padding, kept 0 */
};

/* Generator state that must survive a restart. POD: persisted as bytes
 * with every batch; about 7 KB. */
struct mon_state {
    uint32_t version; /* MON_STATE_VERSION */
    uint32_t cursor;  /* the series sampled next */
    struct anom_sched sched;
    /* Per type: starts the scheduler granted that wait for a sample the
     * type fits (its metric, its series free). */
    uint8_t reserved[MON_A_COUNT];
    /* A cross-service cascade (xincident.h) due that has not started yet:
     * its hour % 65535 + 1, little-endian; 0 none. (Was padding: the
     * state's layout and version are unchanged.) */
    uint8_t xinc[2];
    int64_t last_us;    /* previous sample; 0 before the first */
    int64_t coef_dt_us; /* sample spacing the coefficients below are for */
    int64_t f_hour;     /* local hour the cached shaping factor is for */
    double f_val;
    double load;      /* shaping factor smoothed over ~20 minutes; < 0: unset */
    double load_keep; /* exp(-spacing / load time constant) */
    double phi[MON_M_COUNT]; /* AR(1) coefficient per metric at this spacing */
    double noise[MON_N_SERIES]; /* AR(1) noise per series, standard units */
    struct mon_episode ep[MON_N_SERIES];
    /* At most one labelled episode per series and every incident holds
     * one until it ends, so there is always a free slot. */
    struct mon_incident inc[MON_N_SERIES];
    struct mon_near near[MON_N_SERIES]; /* look-alikes under way */
    struct mon_detail out; /* the last sample's detail (scratch) */
};
#define MON_STATE_VERSION 2u

void mon_state_init(struct mon_state *st, struct rng *r);
bool mon_state_valid(const struct mon_state *st);

/* Generates the sample at simulated time t_us with sequence seq: the next
 * series of the cycle, normal, a step of an episode under way, or the
 * first event of a new incident the scheduler granted. Appends the
 * JSON to ev->json; sets ev->ts_ms, seq, anomaly_type and detail (which
 * points into st). On failure st and r are unchanged. */
enum bm_rc mon_generate(const struct mon_model *m, struct mon_state *st,
                        const struct gen_params *p, struct rng *r, int64_t t_us, uint64_t seq,
                        struct gen_event *ev) BM_WUR;

/* ---- injection (POST /inject) ---- */

/* gen_inject.target of a monitoring injection: -1 any host, a host index
 * (0 .. MON_N_HOSTS - 1), or MON_TARGET_SERVICE + a service index (any
 * host of that service). */
#define MON_TARGET_SERVICE 100
/* Sizes (events in all) an injection of each type takes, and its usual. */
struct mon_inject_size {
    int lo, hi, usual;
};
extern const struct mon_inject_size mon_inject_sizes[MON_A_COUNT];
/* Labelled latency samples of a network_timeout or of one host of a
 * cascade that has `events` events on that host (latency and errors):
 * the errors are the rest, one or two samples more. */
int mon_split_latency(int events);
/* Hosts (the origin and its dependents) a cascade of size events spans. */
int mon_cascade_hosts(int size);
/* service_def.inject_check (inject.c): a type, a target {"service",
 * "host"} (each optional; a cascade's is its origin, a service with two
 * dependent services or more), a size in mon_inject_sizes. */
struct api_fail;
struct cJSON;
enum bm_rc mon_inject_check(const void *model, const char *type, const struct cJSON *target,
                            int64_t size, struct gen_inject *inj, struct api_fail *f) BM_WUR;

/* ---- encoding ---- */

struct mon_sample {
    const char *event_id;
    int64_t ts_ms;
    uint64_t seq;
    int series;
    int32_t value;           /* centi */
    int severity;
    int anomaly;             /* -1 normal */
    const char *incident_id; /* NULL if none */
    bool injected;           /* origin "injected" (else "generated") */
};

/* Appends the event object; on failure b is as it was. */
enum bm_rc mon_sample_encode(const struct mon_sample *s, struct buf *b) BM_WUR;
/* 64-bit hash of an incident id, never 0. */
uint64_t mon_incident_key(const char *id);

/* ---- reports (GET /system/metrics, /system/health, /dashboard) ---- */

/* The newest sample of each series, as the store reads it. */
struct mon_current {
    bool present;
    uint64_t seq;
    int64_t ts_ms;
    int32_t value;
    int severity;
    int anomaly;
};

struct mon_snapshot {
    uint64_t head;   /* newest sequence, 0 if none */
    uint64_t oldest; /* oldest kept */
    struct mon_current cur[MON_N_SERIES];
};

/* Retained events by anomaly type (MON_A_COUNT: normal) and severity. */
struct mon_counts {
    int64_t total;
    int64_t by[MON_A_COUNT + 1][MON_SEV_COUNT];
    int64_t incidents[MON_A_COUNT];
};

enum bm_rc mon_report_metrics(const struct mon_snapshot *s, struct buf *out) BM_WUR;
enum bm_rc mon_report_health(const struct mon_snapshot *s, struct buf *out) BM_WUR;
/* recent: the newest anomalous events, a JSON array's elements joined by
 * commas (as the store reads them). */
enum bm_rc mon_report_dashboard(const struct mon_snapshot *s, const struct mon_counts *c,
                                const char *recent, size_t recent_len, struct buf *out) BM_WUR;

/* ---- store (store.c, the service's only SQL) ---- */

struct db;
struct db_sql;
extern const struct db_sql mon_store_sql;
enum bm_rc mon_store_event(struct db *db, const struct gen_event *ev) BM_WUR;
enum bm_rc mon_store_prune(struct db *db, uint64_t oldest_kept) BM_WUR;
/* One read transaction: the newest sample per series; with counts != NULL
 * also the counts and up to n_recent newest anomalous events appended to
 * recent. */
enum bm_rc mon_store_read(struct db *db, struct mon_snapshot *s, struct mon_counts *counts,
                          int n_recent, struct buf *recent) BM_WUR;


/* The generator's hooks, for genloop.c and bankmock-generate. */
extern const struct service_gen mon_gen_hooks;

#endif
