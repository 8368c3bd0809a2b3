/* config.c - the configuration table and everything derived from it. */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "log.h"
#include "parse.h"
#include "str.h"
#include "timefmt.h"

extern char **environ;

enum cfg_type {
    CFG_BOOL,     /* true/false */
    CFG_SWITCH,   /* flag without a value */
    CFG_INT,      /* int64 in [min, max] */
    CFG_DOUBLE,   /* finite double in [min, max] */
    CFG_STRING,   /* bounded text */
    CFG_LEVEL,    /* log level name */
    CFG_DURATION, /* <int>s|m|h|d */
    CFG_TIME,     /* ISO 8601 */
    CFG_TZ,       /* UTC or +-HH:MM */
    CFG_SEED,     /* uint64 */
    CFG_SHARD     /* i/n (shard.h) */
};

struct cfg_key {
    const char *name;      /* flat name (POST /config for runtime keys) */
    enum cfg_type type;
    double min, max;
    const char *def;       /* default, as text; NULL: set by cfg_defaults */
    const char *env;
    const char *flag;
    const char *json;      /* file path; "%s" is the service section */
    const char *fallback;  /* file path tried when json is absent */
    unsigned svc;          /* processes the key applies to */
    bool runtime;
    const char *alias_of;  /* flat alias of another runtime key */
    int weight;            /* >= 0: index into weights[] */
    size_t off;            /* into struct bm_config */
    size_t size;           /* for strings: buffer size */
    size_t set_off;        /* bool set-marker, 0 = none */
    const char *help;
};

#define OFF(f) offsetof(struct bm_config, f)
#define SZ(f)  sizeof(((struct bm_config *)0)->f)
#define TXN    SVC_BIT(SVC_TRANSACTION)
#define AUTH   SVC_BIT(SVC_AUTH)
#define MON    SVC_BIT(SVC_MONITORING)
#define GW     SVC_BIT(SVC_GATEWAY)
#define W(i)   OFF(weights) + (size_t)(i) * sizeof(double)

/* Type rate keys: the absolute fraction of a service's generated events
 * that are anomalies of the type (SPEC §3). Unset is CFG_RATE_UNSET
 * (cfg_defaults): the type shares what the set ones leave of anomaly_rate. */
#define WEIGHT(nm, svcbit, sect, i)                                             \
    { .name = nm, .type = CFG_DOUBLE, .min = 0, .max = 0.5,                     \
      .json = "anomaly_settings." sect "_service." nm, .svc = svcbit,           \
      .runtime = true, .weight = i, .off = W(i),                                \
      .help = "fraction of generated events that are anomalies of this type "   \
              "(unset: an equal share of what the set ones leave of anomaly_rate)" }
#define WALIAS(nm, target, svcbit, sect, i)                                     \
    { .name = nm, .type = CFG_DOUBLE, .min = 0, .max = 0.5,                     \
      .json = "anomaly_settings." sect "_service." nm, .svc = svcbit,           \
      .runtime = true, .alias_of = target, .weight = i, .off = W(i),            \
      .help = "alias of " target }

static const struct cfg_key keys[] = {
    /* process settings */
    { .name = "port", .type = CFG_INT, .min = 0, .max = 65535, .env = "PORT",
      .flag = "--port", .svc = SVC_ALL, .weight = -1, .off = OFF(port),
      .help = "TCP port to listen on (0 = any free port)" },
    { .name = "bind", .type = CFG_STRING, .def = "0.0.0.0", .env = "BIND_ADDRESS",
      .flag = "--bind", .svc = SVC_ALL, .weight = -1, .off = OFF(bind), .size = SZ(bind),
      .help = "IPv4 address to bind" },
    { .name = "db", .type = CFG_STRING, .env = "DB_PATH", .flag = "--db",
      .svc = SVC_SERVICES, .weight = -1, .off = OFF(db_path), .size = SZ(db_path),
      .help = "SQLite database path" },
    { .name = "config", .type = CFG_STRING, .def = "config/anomaly_config.json",
      .env = "CONFIG_PATH", .flag = "--config", .svc = SVC_ALL, .weight = -1,
      .off = OFF(config_path), .size = SZ(config_path), .set_off = OFF(config_explicit),
      .help = "configuration file" },
    { .name = "seed", .type = CFG_SEED, .env = "SEED", .flag = "--seed", .svc = SVC_SERVICES,
      .weight = -1, .off = OFF(seed), .set_off = OFF(seed_set),
      .help = "PRNG seed (default: random, then kept in the database)" },
    { .name = "seed_file", .type = CFG_STRING, .def = "", .env = "SEED_FILE",
      .flag = "--seed-file", .svc = SVC_SERVICES, .weight = -1, .off = OFF(seed_file),
      .size = SZ(seed_file),
      .help = "without --seed, a new stream's seed is read from this file, written first "
              "with a random one when missing: services sharing it share a seed" },
    { .name = "start_time", .type = CFG_TIME, .env = "START_TIME", .flag = "--start-time",
      .svc = SVC_SERVICES, .weight = -1, .off = OFF(start_time_ms),
      .set_off = OFF(start_time_set),
      .help = "simulated start time, ISO 8601 (default: now - backfill)" },
    { .name = "backfill", .type = CFG_DURATION, .def = "0s", .env = "BACKFILL",
      .flag = "--backfill", .svc = SVC_SERVICES, .weight = -1, .off = OFF(backfill_s),
      .help = "history to write before going live: <int>s|m|h|d, at most 365d" },
    { .name = "shard", .type = CFG_SHARD, .def = "0/1", .env = "BANKMOCK_SHARD",
      .flag = "--shard", .json = "generation_settings.shard", .svc = SVC_SERVICES,
      .weight = -1, .off = OFF(shard),
      .help = "generate slice i of n of the bank: entities with index % n == i, at their "
              "share of the rate (0 <= i < n <= 1024)" },
    { .name = "reset_config", .type = CFG_SWITCH, .flag = "--reset-config",
      .svc = SVC_SERVICES, .weight = -1, .off = OFF(reset_config),
      .help = "drop runtime changes stored in the database" },
    { .name = "check_config", .type = CFG_SWITCH, .flag = "--check-config", .svc = SVC_ALL,
      .weight = -1, .off = OFF(check_config), .help = "validate the configuration and exit" },
    { .name = "log_level", .type = CFG_LEVEL, .def = "info", .env = "LOG_LEVEL",
      .flag = "--log-level", .svc = SVC_ALL, .weight = -1, .off = OFF(log_level),
      .help = "debug|info|warn|error" },
    { .name = "scenario", .type = CFG_STRING, .def = "", .env = "SCENARIO", .flag = "--scenario",
      .json = "generation_settings.scenario", .svc = SVC_SERVICES, .weight = -1,
      .off = OFF(scenario), .size = SZ(scenario),
      .help = "scenario timeline file: steps at offsets from the stream's start" },
    { .name = "admin_token", .type = CFG_STRING, .def = "", .env = "ADMIN_TOKEN",
      .svc = SVC_ALL, .weight = -1, .off = OFF(admin_token), .size = SZ(admin_token),
      .help = "bearer token required on POST" },
    { .name = "header_timeout_s", .type = CFG_INT, .min = 1, .max = 3600, .def = "5",
      .env = "HEADER_TIMEOUT_S", .flag = "--header-timeout-s", .json = "server.header_timeout_s",
      .svc = SVC_ALL, .weight = -1, .off = OFF(header_timeout_s),
      .help = "seconds a new connection has to send its whole first request" },
    { .name = "idle_timeout_s", .type = CFG_INT, .min = 1, .max = 3600, .def = "15",
      .env = "IDLE_TIMEOUT_S", .flag = "--idle-timeout-s", .json = "server.idle_timeout_s",
      .svc = SVC_ALL, .weight = -1, .off = OFF(idle_timeout_s),
      .help = "seconds a kept-alive connection may idle between requests, and an "
              "event stream's socket may take nothing" },
    { .name = "max_connections", .type = CFG_INT, .min = 0, .max = 10000000, .def = "0",
      .env = "MAX_CONNECTIONS", .flag = "--max-connections", .json = "server.max_connections",
      .svc = SVC_ALL, .weight = -1, .off = OFF(max_connections),
      .help = "open connections served; more get a quick 503 (0 = from RLIMIT_NOFILE)" },
    { .name = "cors_origins", .type = CFG_STRING, .def = "", .env = "CORS_ORIGINS",
      .flag = "--cors-origins", .json = "server.cors_origins", .svc = SVC_ALL, .weight = -1,
      .off = OFF(cors_origins), .size = SZ(cors_origins),
      .help = "origins that may read answers from a browser: * or a comma-separated list" },
    { .name = "stream_heartbeat_ms", .type = CFG_INT, .min = 100, .max = 3600000,
      .def = "15000", .env = "STREAM_HEARTBEAT_MS", .flag = "--stream-heartbeat-ms",
      .json = "server.stream_heartbeat_ms", .svc = SVC_ALL, .weight = -1,
      .off = OFF(stream_heartbeat_ms),
      .help = "ms without an event before an event stream sends a comment line" },
    { .name = "stream_buffer_bytes", .type = CFG_INT, .min = 65536, .max = 1073741824,
      .def = "2097152", .env = "STREAM_BUFFER_BYTES", .flag = "--stream-buffer-bytes",
      .json = "server.stream_buffer_bytes", .svc = SVC_ALL, .weight = -1,
      .off = OFF(stream_buffer_bytes),
      .help = "bytes of recent events kept for event streams: a client further behind "
              "gets event: overflow" },
    { .name = "sink", .type = CFG_STRING, .def = "", .env = "BANKMOCK_SINK", .flag = "--sink",
      .json = "sink.target", .svc = SVC_SERVICES, .weight = -1, .off = OFF(sink),
      .size = SZ(sink),
      .help = "also deliver every event to kinesis:STREAM (AWS_REGION, AWS_ENDPOINT_URL, "
              "credentials as the AWS SDKs read them; docs/kinesis.md)" },
    { .name = "sink_max_lag_events", .type = CFG_INT, .min = 0, .max = 1e9, .def = "1000000",
      .env = "BANKMOCK_SINK_MAX_LAG_EVENTS", .flag = "--sink-max-lag-events",
      .json = "sink.max_lag_events", .svc = SVC_SERVICES, .weight = -1,
      .off = OFF(sink_max_lag_events),
      .help = "undelivered events kept for the sink beyond retention_events; older ones "
              "are dropped from it" },
    { .name = "help", .type = CFG_SWITCH, .flag = "--help", .svc = SVC_ALL, .weight = -1,
      .off = OFF(help), .help = "print this help and exit" },
    { .name = "version", .type = CFG_SWITCH, .flag = "--version", .svc = SVC_ALL,
      .weight = -1, .off = OFF(version), .help = "print the version and exit" },

    /* runtime settings */
    { .name = "anomaly_rate", .type = CFG_DOUBLE, .min = 0, .max = 0.5, .def = "0.02",
      .json = "anomaly_settings.%s_service.anomaly_rate",
      .fallback = "anomaly_settings.global_anomaly_rate", .svc = SVC_SERVICES,
      .runtime = true, .weight = -1, .off = OFF(anomaly_rate),
      .help = "fraction of generated events that are anomalous" },
    { .name = "failed_login_rate", .type = CFG_DOUBLE, .min = 0, .max = 0.5, .def = "0.03",
      .json = "anomaly_settings.auth_service.failed_login_rate", .svc = AUTH,
      .runtime = true, .weight = -1, .off = OFF(failed_login_rate),
      .help = "normal-traffic login failures" },
    { .name = "events_per_second", .type = CFG_DOUBLE, .min = 0.01, .max = 5000,
      .def = "100", .json = "generation_settings.events_per_second", .svc = SVC_SERVICES,
      .runtime = true, .weight = -1, .off = OFF(events_per_second),
      .help = "base event rate, shaped by hour, weekday and calendar" },
    { .name = "paused", .type = CFG_BOOL, .def = "false", .json = "generation_settings.paused",
      .svc = SVC_SERVICES, .runtime = true, .weight = -1, .off = OFF(paused),
      .help = "stop generating (no catch-up afterwards)" },
    { .name = "retention_events", .type = CFG_INT, .min = 1000, .max = 1e8, .def = "500000",
      .json = "generation_settings.retention_events", .svc = SVC_SERVICES, .runtime = true,
      .weight = -1, .off = OFF(retention_events), .help = "newest events kept" },
    { .name = "time_shaping", .type = CFG_BOOL, .def = "true",
      .json = "generation_settings.time_shaping", .svc = SVC_SERVICES, .runtime = true,
      .weight = -1, .off = OFF(time_shaping),
      .help = "shape the rate by hour, weekday and calendar (false: flat, for load tests)" },

    WEIGHT("suspicious_high_amount_rate", TXN, "transaction", 0),
    WEIGHT("fraud_pattern_rate", TXN, "transaction", 1),
    WEIGHT("money_laundering_rate", TXN, "transaction", 2),
    WALIAS("suspicious_transaction_rate", "suspicious_high_amount_rate", TXN, "transaction", 0),
    WEIGHT("brute_force_rate", AUTH, "auth", 0),
    WEIGHT("credential_stuffing_rate", AUTH, "auth", 1),
    WEIGHT("unusual_location_rate", AUTH, "auth", 2),
    WEIGHT("high_cpu_rate", MON, "monitoring", 0),
    WEIGHT("high_memory_rate", MON, "monitoring", 1),
    WEIGHT("high_disk_rate", MON, "monitoring", 2),
    WEIGHT("cascade_failure_rate", MON, "monitoring", 3),
    WEIGHT("performance_degradation_rate", MON, "monitoring", 4),
    WEIGHT("network_timeout_rate", MON, "monitoring", 5),
    WALIAS("memory_leak_rate", "high_memory_rate", MON, "monitoring", 1),
    WALIAS("disk_space_rate", "high_disk_rate", MON, "monitoring", 2),

    /* static generation settings */
    { .name = "batch_size", .type = CFG_INT, .min = 1, .max = 100000, .def = "500",
      .json = "generation_settings.batch_size", .svc = SVC_SERVICES, .weight = -1,
      .off = OFF(batch_size), .help = "rows per write transaction" },
    { .name = "timezone", .type = CFG_TZ, .def = "UTC", .json = "generation_settings.timezone",
      .svc = SVC_SERVICES, .weight = -1, .off = OFF(tz_offset_min),
      .help = "bank time zone: UTC or +-HH:MM" },
    { .name = "segment_retail", .type = CFG_DOUBLE, .min = 0, .max = 1, .def = "0.70",
      .json = "generation_settings.customer_segments.retail", .svc = SVC_SERVICES,
      .weight = -1, .off = OFF(segments), .help = "share of retail customers" },
    { .name = "segment_business", .type = CFG_DOUBLE, .min = 0, .max = 1, .def = "0.25",
      .json = "generation_settings.customer_segments.business", .svc = SVC_SERVICES,
      .weight = -1, .off = OFF(segments) + sizeof(double),
      .help = "share of business customers" },
    { .name = "segment_premium", .type = CFG_DOUBLE, .min = 0, .max = 1, .def = "0.05",
      .json = "generation_settings.customer_segments.premium", .svc = SVC_SERVICES,
      .weight = -1, .off = OFF(segments) + 2 * sizeof(double),
      .help = "share of premium customers" },

    /* gateway */
    { .name = "poll_interval_ms", .type = CFG_INT, .min = 50, .max = 600000, .def = "1000",
      .env = "POLL_INTERVAL_MS", .flag = "--poll-interval-ms",
      .json = "gateway.poll_interval_ms", .svc = GW, .weight = -1,
      .off = OFF(poll_interval_ms), .help = "how often to poll the services" },
    { .name = "upstream_timeout_ms", .type = CFG_INT, .min = 10, .max = 600000, .def = "800",
      .env = "UPSTREAM_TIMEOUT_MS", .flag = "--upstream-timeout-ms",
      .json = "gateway.upstream_timeout_ms", .svc = GW, .weight = -1,
      .off = OFF(upstream_timeout_ms), .help = "timeout of one upstream request" },
    { .name = "buffer_bytes", .type = CFG_INT, .min = 65536, .max = 1073741824,
      .def = "8388608", .json = "gateway.buffer_bytes", .svc = GW, .weight = -1,
      .off = OFF(buffer_bytes), .help = "bytes of merged events kept" },
    { .name = "transaction_url", .type = CFG_STRING, .def = "http://127.0.0.1:8081",
      .env = "TRANSACTION_SERVICE_URL", .flag = "--transaction-url", .svc = GW,
      .weight = -1, .off = OFF(txn_urls), .size = SZ(txn_urls),
      .help = "transaction-service base URLs, comma-separated" },
    { .name = "auth_url", .type = CFG_STRING, .def = "http://127.0.0.1:8082",
      .env = "AUTH_SERVICE_URL", .flag = "--auth-url", .svc = GW, .weight = -1,
      .off = OFF(auth_urls), .size = SZ(auth_urls),
      .help = "auth-service base URLs, comma-separated" },
    { .name = "monitoring_url", .type = CFG_STRING, .def = "http://127.0.0.1:8083",
      .env = "MONITORING_SERVICE_URL", .flag = "--monitoring-url", .svc = GW, .weight = -1,
      .off = OFF(mon_urls), .size = SZ(mon_urls),
      .help = "monitoring-service base URLs, comma-separated" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Rates are sums of decimal fractions: 0.008 + 0.007 may exceed 0.015
 * by an ulp. */
#define CFG_RATE_EPS 1e-9

const char *cfg_svc_name(enum bm_svc svc)
{
    return svc < SVC_COUNT ? svc_info(svc)->name : "unknown";
}

int cfg_anomaly_types(enum bm_svc svc, const char *const **names)
{
    if (svc >= SVC_COUNT) {
        *names = NULL;
        return 0;
    }
    *names = svc_info(svc)->anomaly_types;
    return svc_info(svc)->nanomaly_types;
}

/* Bytes a runtime key's value occupies in struct bm_config. */
static size_t value_size(const struct cfg_key *k)
{
    switch (k->type) {
    case CFG_BOOL:
    case CFG_SWITCH:
        return sizeof(bool);
    case CFG_INT:
        return sizeof(int64_t);
    default:
        return sizeof(double);
    }
}

static bool key_applies(const struct cfg_key *k, enum bm_svc svc)
{
    return (k->svc & SVC_BIT(svc)) != 0;
}

/* ------------------------------------------------------------------ */
/* Setting one key from text or JSON                                    */

static void *field(struct bm_config *c, const struct cfg_key *k)
{
    return (char *)c + k->off;
}

static void mark_set(struct bm_config *c, const struct cfg_key *k)
{
    if (k->set_off)
        *(bool *)((char *)c + k->set_off) = true;
}

static int level_from_name(const char *s)
{
    for (int i = 0; log_level_names[i]; i++)
        if (strcmp(s, log_level_names[i]) == 0)
            return i;
    return -1;
}

/* Sets key k of c from text. On failure writes a reason into why. */
static enum bm_rc set_from_text(struct bm_config *c, const struct cfg_key *k, const char *s,
                                char *why, size_t whylen)
{
    enum bm_rc rc = BM_OK;

    switch (k->type) {
    case CFG_BOOL:
    case CFG_SWITCH: {
        bool b;
        rc = parse_bool(s, &b);
        if (rc == BM_OK)
            *(bool *)field(c, k) = b;
        else
            snprintf(why, whylen, "expected true or false, got \"%s\"", s);
        break;
    }
    case CFG_INT: {
        int64_t v;
        rc = parse_i64(s, (int64_t)k->min, (int64_t)k->max, &v);
        if (rc == BM_OK)
            *(int64_t *)field(c, k) = v;
        else
            snprintf(why, whylen, "expected an integer in %.0f..%.0f, got \"%s\"", k->min,
                     k->max, s);
        break;
    }
    case CFG_DOUBLE: {
        double v;
        rc = parse_double(s, k->min, k->max, &v);
        if (rc == BM_OK)
            *(double *)field(c, k) = v;
        else
            snprintf(why, whylen, "expected a number in %g..%g, got \"%s\"", k->min, k->max,
                     s);
        break;
    }
    case CFG_STRING: {
        size_t n = strlen(s);
        if (n >= k->size) {
            snprintf(why, whylen, "longer than %zu bytes", k->size - 1);
            rc = BM_ERANGE;
        } else {
            memcpy(field(c, k), s, n + 1);
        }
        break;
    }
    case CFG_LEVEL: {
        int lv = level_from_name(s);
        if (lv < 0) {
            snprintf(why, whylen, "expected debug|info|warn|error, got \"%s\"", s);
            rc = BM_EINVAL;
        } else {
            *(int *)field(c, k) = lv;
        }
        break;
    }
    case CFG_DURATION: {
        int64_t v;
        rc = parse_duration(s, &v);
        if (rc == BM_OK)
            *(int64_t *)field(c, k) = v;
        else
            snprintf(why, whylen, "expected <int>s|m|h|d up to 365d, got \"%s\"", s);
        break;
    }
    case CFG_TIME: {
        int64_t v;
        rc = timefmt_parse_iso(s, &v);
        if (rc != BM_OK) {
            snprintf(why, whylen, "expected an ISO 8601 time, got \"%s\"", s);
        } else if (v < 0) {
            /* the generator's clock and rate window count seconds from 1970 */
            rc = BM_EINVAL;
            snprintf(why, whylen, "must be 1970-01-01T00:00:00Z or later, got \"%s\"", s);
        } else {
            *(int64_t *)field(c, k) = v;
        }
        break;
    }
    case CFG_TZ: {
        int v;
        rc = timefmt_parse_tz(s, &v);
        if (rc == BM_OK) {
            *(int *)field(c, k) = v;
            snprintf(c->timezone, sizeof(c->timezone), "%s", s);
        } else {
            snprintf(why, whylen, "expected UTC or +HH:MM, got \"%s\"", s);
        }
        break;
    }
    case CFG_SEED: {
        uint64_t v;
        rc = parse_u64(s, &v);
        if (rc == BM_OK)
            *(uint64_t *)field(c, k) = v;
        else
            snprintf(why, whylen, "expected an unsigned integer, got \"%s\"", s);
        break;
    }
    case CFG_SHARD: {
        struct bm_shard v;
        rc = shard_parse(s, &v, why, whylen);
        if (rc == BM_OK)
            *(struct bm_shard *)field(c, k) = v;
        break;
    }
    }
    if (rc == BM_OK)
        mark_set(c, k);
    return rc;
}

/* Sets key k from a JSON value; type errors and range errors differ. */
static enum bm_rc set_from_json(struct bm_config *c, const struct cfg_key *k, const cJSON *v,
                                struct api_fail *f, const char *fname)
{
    char why[128] = "";

    switch (k->type) {
    case CFG_BOOL:
    case CFG_SWITCH: {
        bool b;
        if (json_as_bool(v, &b) != BM_OK) {
            api_fail_set(f, API_BAD_TYPE, fname, "%s must be a boolean", fname);
            return BM_EINVAL;
        }
        *(bool *)field(c, k) = b;
        break;
    }
    case CFG_INT: {
        int64_t n;
        double d;
        if (!cJSON_IsNumber(v)) {
            api_fail_set(f, API_BAD_TYPE, fname, "%s must be an integer", fname);
            return BM_EINVAL;
        }
        d = v->valuedouble;
        if (d != floor(d)) {
            api_fail_set(f, API_BAD_TYPE, fname, "%s must be an integer", fname);
            return BM_EINVAL;
        }
        if (json_as_i64(v, (int64_t)k->min, (int64_t)k->max, &n) != BM_OK) {
            api_fail_set(f, API_BAD_VALUE, fname, "%s must be in %.0f..%.0f", fname, k->min,
                         k->max);
            return BM_EINVAL;
        }
        *(int64_t *)field(c, k) = n;
        break;
    }
    case CFG_DOUBLE: {
        double d;
        if (json_as_double(v, &d) != BM_OK) {
            api_fail_set(f, API_BAD_TYPE, fname, "%s must be a number", fname);
            return BM_EINVAL;
        }
        if (!isfinite(d) || d < k->min || d > k->max) {
            api_fail_set(f, API_BAD_VALUE, fname, "%s must be in %g..%g", fname, k->min,
                         k->max);
            return BM_EINVAL;
        }
        *(double *)field(c, k) = d;
        break;
    }
    case CFG_SEED:
        if (cJSON_IsNumber(v)) {
            int64_t n;
            if (json_as_i64(v, 0, INT64_C(9007199254740992), &n) != BM_OK) {
                api_fail_set(f, API_BAD_VALUE, fname, "%s must be a non-negative integer",
                             fname);
                return BM_EINVAL;
            }
            *(uint64_t *)field(c, k) = (uint64_t)n;
            break;
        }
        /* a seed may also be given as a string */
        __attribute__((fallthrough));
    default: {
        const char *s;
        if (json_as_str(v, &s) != BM_OK) {
            api_fail_set(f, API_BAD_TYPE, fname, "%s must be a string", fname);
            return BM_EINVAL;
        }
        if (set_from_text(c, k, s, why, sizeof(why)) != BM_OK) {
            api_fail_set(f, API_BAD_VALUE, fname, "%s: %s", fname, why);
            return BM_EINVAL;
        }
        break;
    }
    }
    mark_set(c, k);
    return BM_OK;
}

/* ------------------------------------------------------------------ */
/* Defaults                                                             */

void cfg_defaults(struct bm_config *c, enum bm_svc svc)
{
    char why[128];

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        if (k->def && !k->alias_of &&
            set_from_text(c, k, k->def, why, sizeof(why)) != BM_OK)
            abort(); /* a bad built-in default is a programming error */
    }
    for (int i = 0; i < GEN_MAX_TYPES; i++)
        c->weights[i] = CFG_RATE_UNSET;
    /* defaults do not count as "given" */
    c->config_explicit = false;
    c->seed_set = false;
    c->start_time_set = false;
    c->port = svc < SVC_COUNT ? svc_info(svc)->port : 0;
    if (svc < SVC_GATEWAY)
        snprintf(c->db_path, sizeof(c->db_path), "data/%s.db", svc_info(svc)->name);
    c->log_level = LOG_INFO;
}

/* ------------------------------------------------------------------ */
/* The config file                                                      */

/* Expands a json path for the given section ("%s" -> section). */
static void expand_path(char *out, size_t len, const char *path, const char *section)
{
    const char *p = strstr(path, "%s");

    if (!p) {
        snprintf(out, len, "%s", path);
        return;
    }
    snprintf(out, len, "%.*s%s%s", (int)(p - path), path, section, p + 2);
}

/* Is `path` a leaf some key reads (for any service section)? */
static const struct cfg_key *key_for_path(const char *path, enum bm_svc *owner)
{
    char buf[160];

    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        if (!k->json)
            continue;
        for (int s = 0; s < SVC_GATEWAY; s++) {
            expand_path(buf, sizeof(buf), k->json, svc_info(s)->section);
            if (strcmp(buf, path) == 0) {
                *owner = (enum bm_svc)s;
                return k;
            }
            if (!strstr(k->json, "%s"))
                break;
        }
        if (k->fallback && strcmp(k->fallback, path) == 0) {
            *owner = SVC_COUNT; /* global */
            return k;
        }
    }
    return NULL;
}

/* Walks the file's tree: every leaf must be a known key; objects only
 * where the table has a deeper path. Values are applied to c when the key
 * belongs to this process, else to a scratch copy (validated, dropped). */
static enum bm_rc walk_file(struct bm_config *c, struct bm_config *scratch, enum bm_svc svc,
                            const cJSON *obj, const char *prefix, char *err, size_t errlen)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, obj)
    {
        char path[160];
        enum bm_svc owner = SVC_COUNT;
        const struct cfg_key *k;
        struct api_fail f;
        int n;

        if (!it->string)
            continue;
        n = snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", it->string);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            snprintf(err, errlen, "config: key path too long: %.60s...", path);
            return BM_EINVAL;
        }
        k = key_for_path(path, &owner);
        if (!k) {
            if (cJSON_IsObject(it)) {
                /* descend if some key lives below this path */
                size_t plen = strlen(path);
                bool deeper = false;
                for (size_t i = 0; i < NKEYS && !deeper; i++) {
                    char buf[160];
                    if (!keys[i].json)
                        continue;
                    for (int s = 0; s < SVC_GATEWAY && !deeper; s++) {
                        expand_path(buf, sizeof(buf), keys[i].json, svc_info(s)->section);
                        deeper = strncmp(buf, path, plen) == 0 && buf[plen] == '.';
                    }
                }
                if (deeper) {
                    enum bm_rc rc = walk_file(c, scratch, svc, it, path, err, errlen);
                    if (rc != BM_OK)
                        return rc;
                    continue;
                }
            }
            snprintf(err, errlen, "config: unknown key \"%s\"", path);
            return BM_EINVAL;
        }
        {
            /* The per-section anomaly_rate applies to its own service only;
             * the global fallback and section-less keys to all. */
            bool mine = key_applies(k, svc) &&
                        (!strstr(k->json, "%s") || owner == SVC_COUNT || owner == svc);
            if (k->weight >= 0)
                mine = key_applies(k, svc);
            if (owner == SVC_COUNT && k->fallback && strcmp(path, k->fallback) == 0)
                continue; /* handled after the walk, below the per-section value */
            if (set_from_json(mine ? c : scratch, k, it, &f, path) != BM_OK) {
                snprintf(err, errlen, "config: %s", f.msg);
                return BM_EINVAL;
            }
        }
    }
    return BM_OK;
}

/* The explicit <type>_rate values of svc's section may not sum above its
 * anomaly_rate (the section's, else the global one, else the default):
 * checked for every service's section, as the segments are. */
static enum bm_rc check_file_rates(const cJSON *root, char *err, size_t errlen)
{
    for (int s = 0; s < SVC_GATEWAY; s++) {
        char path[160];
        const cJSON *v;
        double rate = 0.02, sum = 0.0;
        bool seen[GEN_MAX_TYPES] = { false };

        snprintf(path, sizeof(path), "anomaly_settings.%s_service.anomaly_rate",
                 svc_info((enum bm_svc)s)->section);
        v = json_get_path(root, path);
        if (!cJSON_IsNumber(v))
            v = json_get_path(root, "anomaly_settings.global_anomaly_rate");
        if (cJSON_IsNumber(v))
            rate = v->valuedouble;
        for (size_t i = 0; i < NKEYS; i++) {
            const struct cfg_key *k = &keys[i];
            if (k->weight < 0 || !key_applies(k, (enum bm_svc)s) || seen[k->weight])
                continue;
            v = json_get_path(root, k->json);
            if (!cJSON_IsNumber(v))
                continue;
            seen[k->weight] = true; /* an alias and its key agree (checked above) */
            sum += v->valuedouble;
        }
        if (sum > rate + CFG_RATE_EPS) {
            snprintf(err, errlen,
                     "config: anomaly_settings.%s_service: the <type>_rate values sum to %g, "
                     "above anomaly_rate %g",
                     svc_info((enum bm_svc)s)->section, sum, rate);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}

enum bm_rc cfg_apply_file_text(struct bm_config *c, enum bm_svc svc, const char *text,
                               size_t len, char *err, size_t errlen)
{
    cJSON *root = NULL;
    struct bm_config work = *c, scratch = *c;
    enum bm_rc rc = BM_EINVAL;

    if (json_parse(text, len, &root) != BM_OK) {
        snprintf(err, errlen, "config: not valid JSON");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "config: top level must be an object");
        goto out;
    }
    /* Fallbacks first, so a section's own value overrides them. */
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        const cJSON *v;
        struct api_fail f;
        if (!k->fallback)
            continue;
        v = json_get_path(root, k->fallback);
        if (!v)
            continue;
        if (set_from_json(key_applies(k, svc) ? &work : &scratch, k, v, &f, k->fallback) !=
            BM_OK) {
            snprintf(err, errlen, "config: %s", f.msg);
            goto out;
        }
    }
    rc = walk_file(&work, &scratch, svc, root, "", err, errlen);
    if (rc != BM_OK)
        goto out;
    rc = BM_EINVAL;
    /* An alias and its key may both appear (the shipped file has both),
     * but must then agree. */
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i], *canon = NULL;
        const cJSON *a, *b;
        if (!k->alias_of)
            continue;
        for (size_t j = 0; j < NKEYS; j++)
            if (strcmp(keys[j].name, k->alias_of) == 0)
                canon = &keys[j];
        a = json_get_path(root, k->json);
        b = canon ? json_get_path(root, canon->json) : NULL;
        if (a && b && !(cJSON_IsNumber(a) && cJSON_IsNumber(b) &&
                        a->valuedouble == b->valuedouble)) {
            snprintf(err, errlen, "config: %s conflicts with %s", k->json, canon->json);
            goto out;
        }
    }
    if (check_file_rates(root, err, errlen) != BM_OK)
        goto out;
    {
        /* Every service's segments must add up, not only ours. */
        double sum = work.segments[0] + work.segments[1] + work.segments[2];
        double ssum = scratch.segments[0] + scratch.segments[1] + scratch.segments[2];
        if (svc == SVC_GATEWAY)
            sum = ssum;
        if (fabs(sum - 1.0) > 1e-6) {
            snprintf(err, errlen,
                     "config: generation_settings.customer_segments must sum to 1 (got %g)",
                     sum);
            goto out;
        }
    }
    *c = work;
    rc = BM_OK;
out:
    if (rc != BM_OK)
        str_one_line(err, errlen); /* SPEC §2; a key or value may hold "\n" */
    cJSON_Delete(root);
    return rc;
}

static enum bm_rc read_file(const char *path, struct buf *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    enum bm_rc rc = BM_OK;

    if (!f) {
        snprintf(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
        return BM_ENOTFOUND;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(out, chunk, n) != BM_OK) {
            snprintf(err, errlen, "config: %s is larger than %zu bytes", path, out->max);
            rc = BM_ETOOBIG;
            break;
        }
    }
    if (rc == BM_OK && ferror(f)) {
        snprintf(err, errlen, "config: cannot read %s", path);
        rc = BM_EIO;
    }
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Flags and environment                                                */

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t n = strlen(name);

    if (!envp)
        envp = environ;
    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

static const struct cfg_key *key_for_flag(const char *arg, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].flag && strlen(keys[i].flag) == n && strncmp(keys[i].flag, arg, n) == 0)
            return &keys[i];
    return NULL;
}

/* Applies flags; when only_config, just the config path (and reports
 * nothing else), so the file can be read before the other flags. */
static enum bm_rc apply_flags(struct bm_config *c, enum bm_svc svc, int argc, char **argv,
                              bool only_config, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val = NULL;
        const struct cfg_key *k;
        char why[128];
        size_t n;

        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return BM_EINVAL;
        }
        eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a) : strlen(a);
        k = key_for_flag(a, n);
        if (!k || !key_applies(k, svc)) {
            snprintf(err, errlen, "unknown option \"%.*s\" for %s (see --help)", (int)n, a,
                     svc_info(svc)->name);
            return BM_EINVAL;
        }
        if (k->type == CFG_SWITCH) {
            if (eq) {
                snprintf(err, errlen, "option %s takes no value", k->flag);
                return BM_EINVAL;
            }
            val = "true";
        } else if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errlen, "option %s needs a value", k->flag);
            return BM_EINVAL;
        }
        if (only_config && strcmp(k->name, "config") != 0)
            continue;
        if (set_from_text(c, k, val, why, sizeof(why)) != BM_OK) {
            snprintf(err, errlen, "option %s: %s", k->flag, why);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}

static enum bm_rc apply_env(struct bm_config *c, enum bm_svc svc, char *const *envp,
                            bool only_config, char *err, size_t errlen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        const char *v;
        char why[128];

        if (!k->env || !key_applies(k, svc))
            continue;
        if (only_config != (strcmp(k->name, "config") == 0))
            continue;
        v = env_lookup(envp, k->env);
        if (!v || !*v)
            continue;
        if (set_from_text(c, k, v, why, sizeof(why)) != BM_OK) {
            snprintf(err, errlen, "environment %s: %s", k->env, why);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}

static enum bm_rc load(struct bm_config *c, enum bm_svc svc, int argc, char **argv,
                       char *const *envp, char *err, size_t errlen)
{
    struct buf text;
    enum bm_rc rc;

    cfg_defaults(c, svc);
    /* Config path first (env, then flag), so the file sits below both. */
    rc = apply_env(c, svc, envp, true, err, errlen);
    if (rc == BM_OK)
        rc = apply_flags(c, svc, argc, argv, true, err, errlen);
    if (rc != BM_OK)
        return rc;
    /* Parse every flag once up front for syntax, so --help works with a
     * broken config file and a bad flag is reported as such. */
    {
        struct bm_config probe = *c;
        rc = apply_flags(&probe, svc, argc, argv, false, err, errlen);
        if (rc != BM_OK)
            return rc;
        if (probe.help || probe.version) {
            c->help = probe.help;
            c->version = probe.version;
            return BM_OK;
        }
    }

    buf_init(&text, 1 << 20);
    rc = read_file(c->config_path, &text, err, errlen);
    if (rc == BM_ENOTFOUND && !c->config_explicit) {
        log_warn("config file %s not found; using built-in defaults", c->config_path);
        rc = BM_OK;
    } else if (rc == BM_OK) {
        rc = cfg_apply_file_text(c, svc, text.data ? text.data : "", text.len, err, errlen);
    }
    buf_free(&text);
    if (rc != BM_OK)
        return BM_EINVAL;

    rc = apply_env(c, svc, envp, false, err, errlen);
    if (rc == BM_OK)
        rc = apply_flags(c, svc, argc, argv, false, err, errlen);
    return rc == BM_OK ? BM_OK : BM_EINVAL;
}

enum bm_rc cfg_load(struct bm_config *c, enum bm_svc svc, int argc, char **argv,
                    char *const *envp, char *err, size_t errlen)
{
    enum bm_rc rc = load(c, svc, argc, argv, envp, err, errlen);

    if (rc != BM_OK)
        str_one_line(err, errlen); /* SPEC §2; a key or value may hold "\n" */
    return rc;
}

/* ------------------------------------------------------------------ */
/* Runtime keys                                                         */

static const struct cfg_key *runtime_key(const char *name, enum bm_svc svc)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].runtime && key_applies(&keys[i], svc) && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* The sum of svc's set <type>_rate values. */
static double explicit_rate_sum(const struct bm_config *c, enum bm_svc svc)
{
    int n = svc < SVC_GATEWAY ? svc_info(svc)->nrated_types : 0;
    double sum = 0.0;

    for (int i = 0; i < n && i < GEN_MAX_TYPES; i++)
        if (c->weights[i] >= 0.0)
            sum += c->weights[i];
    return sum;
}

int cfg_type_rates(const struct bm_config *c, enum bm_svc svc, double *out)
{
    int n = svc < SVC_GATEWAY ? svc_info(svc)->nrated_types : 0, unset = 0;
    double left;

    if (n > GEN_MAX_TYPES)
        n = GEN_MAX_TYPES;
    for (int i = 0; i < n; i++)
        unset += !(c->weights[i] >= 0.0);
    left = c->anomaly_rate - explicit_rate_sum(c, svc);
    if (!(left > 0.0))
        left = 0.0;
    /* A share to 15 decimals: (0.015 - 0.008) / 2 shows as 0.0035, not
     * 0.0034999999999999996, in GET /config. */
    if (unset)
        left = round(left / (double)unset * 1e15) / 1e15;
    for (int i = 0; i < n; i++)
        out[i] = c->weights[i] >= 0.0 ? c->weights[i] : left;
    return n;
}

enum bm_rc cfg_apply_runtime(struct bm_config *c, enum bm_svc svc, const cJSON *obj,
                             struct api_fail *fail)
{
    struct bm_config work = *c;
    const cJSON *it;
    bool seen[NKEYS];
    const char *seen_as[NKEYS]; /* the name that set each slot */

    memset(seen, 0, sizeof(seen));
    if (!cJSON_IsObject(obj)) {
        api_fail_set(fail, API_BAD_TYPE, "", "body must be a JSON object");
        return BM_EINVAL;
    }
    cJSON_ArrayForEach(it, obj)
    {
        const struct cfg_key *k = it->string ? runtime_key(it->string, svc) : NULL;
        const struct cfg_key *canon;
        size_t idx;

        if (!k) {
            api_fail_set(fail, API_UNKNOWN_FIELD, it->string ? it->string : "",
                         "unknown or read-only setting \"%.60s\"",
                         it->string ? it->string : "");
            return BM_EINVAL;
        }
        canon = k->alias_of ? runtime_key(k->alias_of, svc) : k;
        idx = (size_t)(canon - keys);
        if (seen[idx]) {
            /* A key given twice, or with its alias, must agree. */
            struct bm_config again = work;
            if (set_from_json(&again, k, it, fail, k->name) != BM_OK)
                return BM_EINVAL;
            if (memcmp((char *)&again + k->off, (char *)&work + k->off, value_size(k)) != 0) {
                api_fail_set(fail, API_BAD_VALUE, k->name, "%s conflicts with %s given earlier",
                             k->name, seen_as[idx]);
                return BM_EINVAL;
            }
            continue;
        }
        if (set_from_json(&work, k, it, fail, k->name) != BM_OK)
            return BM_EINVAL;
        seen[idx] = true;
        seen_as[idx] = k->name;
    }
    if (explicit_rate_sum(&work, svc) > work.anomaly_rate + CFG_RATE_EPS) {
        api_fail_set(fail, API_BAD_VALUE, "anomaly_rate",
                     "the <type>_rate settings sum to %g, above anomaly_rate %g",
                     explicit_rate_sum(&work, svc), work.anomaly_rate);
        return BM_EINVAL;
    }
    *c = work;
    return BM_OK;
}

/* num, printed from v, parses back to exactly v. */
static bool reads_back(const char *num, double v)
{
    double back;

    return parse_double(num, -DBL_MAX, DBL_MAX, &back) == BM_OK && back == v;
}

static enum bm_rc put_value(struct buf *out, const struct bm_config *c, const struct cfg_key *k)
{
    const char *p = (const char *)c + k->off;
    char num[64];

    switch (k->type) {
    case CFG_BOOL:
    case CFG_SWITCH:
        return buf_puts(out, *(const bool *)p ? "true" : "false");
    case CFG_INT:
        return buf_put_i64(out, *(const int64_t *)p);
    case CFG_DOUBLE: {
        double v = *(const double *)p;
        /* Shortest text that reads back as the same double, without an
         * exponent for ordinary magnitudes: 100, 0.03, 1e-07. */
        if (fabs(v) < 1e15 && v == (double)(int64_t)v)
            return buf_put_i64(out, (int64_t)v);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof(num), fabs(v) >= 1e-4 ? "%.*f" : "%.*g", prec, v);
            if (reads_back(num, v))
                break;
        }
        /* 17 decimals of 0.000123... are only 14 significant digits: then
         * the 17 significant ones, which always read back. */
        if (!reads_back(num, v))
            snprintf(num, sizeof(num), "%.17g", v);
        return buf_puts(out, num);
    }
    default:
        return buf_put_json_str(out, p);
    }
}

enum bm_rc cfg_runtime_json(const struct bm_config *c, enum bm_svc svc, struct buf *out)
{
    bool first = true;
    struct bm_config eff = *c; /* each type's effective rate in place of "unset" */

    cfg_type_rates(c, svc, eff.weights);
    if (buf_putc(out, '{') != BM_OK)
        return BM_ETOOBIG;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        if (!k->runtime || !key_applies(k, svc))
            continue;
        if ((!first && buf_putc(out, ',') != BM_OK) || buf_put_json_str(out, k->name) != BM_OK ||
            buf_putc(out, ':') != BM_OK || put_value(out, &eff, k) != BM_OK)
            return BM_ETOOBIG;
        first = false;
    }
    return buf_putc(out, '}');
}

enum bm_rc cfg_runtime_diff_json(const struct bm_config *c, const struct bm_config *base,
                                 enum bm_svc svc, struct buf *out)
{
    bool first = true;

    if (buf_putc(out, '{') != BM_OK)
        return BM_ETOOBIG;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        size_t sz = value_size(k);
        if (!k->runtime || k->alias_of || !key_applies(k, svc))
            continue;
        if (memcmp((const char *)c + k->off, (const char *)base + k->off, sz) == 0)
            continue;
        if ((!first && buf_putc(out, ',') != BM_OK) || buf_put_json_str(out, k->name) != BM_OK ||
            buf_putc(out, ':') != BM_OK || put_value(out, c, k) != BM_OK)
            return BM_ETOOBIG;
        first = false;
    }
    return buf_putc(out, '}');
}

void cfg_gen_params(const struct bm_config *c, enum bm_svc svc, struct gen_params *p)
{
    int n;

    memset(p, 0, sizeof(*p));
    n = cfg_type_rates(c, svc, p->weights);
    for (int i = 0; i < n; i++)
        p->anomaly_rate += p->weights[i];
    p->failed_login_rate = c->failed_login_rate;
    memcpy(p->segments, c->segments, sizeof(p->segments));
    p->tz_offset_min = c->tz_offset_min;
}

void cfg_print_help(enum bm_svc svc, const char *prog)
{
    printf("Usage: %s [options]\n\n%s of bankmock %s.\n\nOptions:\n", prog, svc_info(svc)->name,
           BM_VERSION);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        char lhs[64];
        if (!k->flag || !key_applies(k, svc))
            continue;
        snprintf(lhs, sizeof(lhs), "%s%s", k->flag, k->type == CFG_SWITCH ? "" : " VALUE");
        printf("  %-28s %s", lhs, k->help);
        if (k->def && *k->def)
            printf(" [default: %s]", k->def);
        else if (strcmp(k->name, "port") == 0)
            printf(" [default: %lld]", (long long)svc_info(svc)->port);
        else if (strcmp(k->name, "db") == 0 && svc < SVC_GATEWAY)
            printf(" [default: data/%s.db]", svc_info(svc)->name);
        if (k->env)
            printf(" (env %s)", k->env);
        putchar('\n');
    }
    printf("\nEnvironment only:\n  ADMIN_TOKEN                  bearer token required on POST\n");
    printf("\nPrecedence: defaults < config file < environment < flags%s.\n",
           svc == SVC_GATEWAY ? "" : " < POST /config");
    if (svc != SVC_GATEWAY) {
        printf("Runtime settings (GET/POST /config):");
        for (size_t i = 0; i < NKEYS; i++)
            if (keys[i].runtime && key_applies(&keys[i], svc))
                printf(" %s", keys[i].name);
        putchar('\n');
    }
    printf("Exit status: 0 ok, 2 bad flag or configuration.\n");
}
