/* model.c - monitoring service: the simulated estate, each host's normal
 * behaviour (derived from the seed), severity and health rules, and the
 * event's JSON. Pure: no I/O, clocks or mutable globals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mon.h"
#include "timefmt.h"

#define MODEL_SEED_SALT 0x6d6f6e6d6f64656cull /* "monmodel" */

const char *const mon_anomaly_names[MON_A_COUNT] = {
    "high_cpu", "high_memory", "high_disk", "cascade_failure", "performance_degradation",
    "network_timeout",
};
const char *const mon_severity_names[MON_SEV_COUNT] = { "info", "warning", "critical" };
const char *const mon_health_names[MON_H_COUNT] = { "healthy", "degraded", "down" };

#define DEP(i) (1u << (i))
enum { SV_DB, SV_CACHE, SV_MQ, SV_FRAUD, SV_AUTH, SV_TXN, SV_GW };

/* Who calls whom: auth and transactions use the database and the cache,
 * transactions and fraud scoring the message queue, transactions the
 * fraud scorer, the gateway auth and transactions; a backend's trouble
 * reaches everything above it. */
const struct mon_service_info mon_services[MON_N_SERVICES] = {
    [SV_DB] = { "core-database", "database", DEP(SV_AUTH) | DEP(SV_TXN) | DEP(SV_GW) },
    [SV_CACHE] = { "redis-cache", "cache",
                   DEP(SV_FRAUD) | DEP(SV_AUTH) | DEP(SV_TXN) | DEP(SV_GW) },
    [SV_MQ] = { "kafka", "message_queue", DEP(SV_FRAUD) | DEP(SV_TXN) | DEP(SV_GW) },
    [SV_FRAUD] = { "fraud-scoring", "scoring", DEP(SV_TXN) | DEP(SV_GW) },
    [SV_AUTH] = { "auth-service", "authentication", DEP(SV_GW) },
    [SV_TXN] = { "transaction-service", "transactions", DEP(SV_GW) },
    [SV_GW] = { "api-gateway", "gateway", 0 },
};

const struct mon_host_info mon_hosts[MON_N_HOSTS] = {
    { "db-01", SV_DB },      { "db-02", SV_DB },     { "cache-01", SV_CACHE },
    { "cache-02", SV_CACHE }, { "mq-01", SV_MQ },     { "mq-02", SV_MQ },
    { "fraud-01", SV_FRAUD }, { "auth-01", SV_AUTH }, { "auth-02", SV_AUTH },
    { "txn-01", SV_TXN },    { "txn-02", SV_TXN },   { "txn-03", SV_TXN },
    { "gw-01", SV_GW },      { "gw-02", SV_GW },
};

const struct mon_metric_info mon_metrics[MON_M_COUNT] = {
    [MON_M_CPU] = { "cpu_utilization", "percent", 8000, 9000, 9000, 0 },
    [MON_M_MEMORY] = { "memory_utilization", "percent", 8000, 9000, 9000, 0 },
    [MON_M_DISK] = { "disk_utilization", "percent", 8000, 9000, 9000, 0 },
    [MON_M_NET_IN] = { "network_in_mbps", "mbps", 75000, 90000, 90000, 0 },
    [MON_M_NET_OUT] = { "network_out_mbps", "mbps", 75000, 90000, 90000, 0 },
    [MON_M_RESPONSE] = { "response_time_ms", "ms", 100000, 500000, 100000, 500000 },
    [MON_M_ERROR] = { "error_rate", "percent", 200, 1000, 500, 2500 },
};

enum mon_severity mon_severity_of(int metric, int32_t value)
{
    const struct mon_metric_info *mi = &mon_metrics[metric];

    if (value > mi->critical)
        return MON_SEV_CRITICAL;
    return value > mi->warning ? MON_SEV_WARNING : MON_SEV_INFO;
}

enum mon_health mon_host_health(const int32_t value[MON_M_COUNT],
                                const bool present[MON_M_COUNT])
{
    enum mon_health h = MON_H_HEALTHY;

    for (int m = 0; m < MON_M_COUNT; m++) {
        const struct mon_metric_info *mi = &mon_metrics[m];

        if (!present[m])
            continue;
        if (mi->down && value[m] > mi->down)
            return MON_H_DOWN;
        if (value[m] > mi->degraded)
            h = MON_H_DEGRADED;
    }
    return h;
}

/* ---- per-host behaviour ---- */

/* A service's typical host; each host varies it by +-15 %. */
static const struct mon_profile templates[MON_N_SERVICES] = {
    [SV_DB] = { 10, 70, 60, 8, 55, 84, 0.8, 0, 60, 90, 4.0, 0.03 },
    [SV_CACHE] = { 5, 35, 64, 6, 20, 40, 0.1, 0, 120, 150, 0.8, 0.01 },
    [SV_MQ] = { 8, 45, 52, 10, 45, 80, 1.5, 0, 90, 110, 3.0, 0.02 },
    [SV_FRAUD] = { 12, 62, 48, 12, 30, 50, 0.2, 0, 30, 20, 25, 0.10 },
    [SV_AUTH] = { 8, 55, 44, 10, 25, 45, 0.3, 0, 40, 30, 45, 0.15 },
    [SV_TXN] = { 10, 60, 46, 12, 30, 55, 0.4, 0, 60, 50, 90, 0.12 },
    [SV_GW] = { 8, 50, 40, 8, 20, 35, 0.2, 0, 150, 160, 110, 0.20 },
};

static double vary(struct rng *r)
{
    return 0.85 + 0.3 * rng_double(r);
}

struct mon_model *mon_model_new(uint64_t seed)
{
    struct mon_model *m = calloc(1, sizeof *m);
    struct rng r;

    if (!m)
        return NULL;
    m->seed = seed;
    m->shard = (struct bm_shard){ 0, 1 };
    rng_seed(&r, seed ^ MODEL_SEED_SALT);
    for (int h = 0; h < MON_N_HOSTS; h++) {
        const struct mon_profile *t = &templates[mon_hosts[h].service];
        struct mon_profile *p = &m->host[h];

        p->cpu0 = t->cpu0 * vary(&r);
        p->cpu1 = t->cpu1 * vary(&r);
        p->mem0 = t->mem0 * vary(&r);
        p->mem1 = t->mem1 * vary(&r);
        p->disk_lo = t->disk_lo * vary(&r);
        p->disk_hi = t->disk_hi - 4.0 * rng_double(&r);
        p->disk_rate = t->disk_rate * vary(&r);
        p->disk_phase = (p->disk_hi - p->disk_lo) / p->disk_rate * rng_double(&r);
        p->net_in0 = t->net_in0 * vary(&r);
        p->net_out0 = t->net_out0 * vary(&r);
        p->rt0 = t->rt0 * vary(&r);
        p->err0 = t->err0 * vary(&r);
    }
    return m;
}

void mon_model_free(struct mon_model *m)
{
    free(m);
}

void mon_model_slice(struct mon_model *m, const struct bm_shard *s)
{
    m->shard = *s;
}

double mon_model_share(const struct mon_model *m)
{
    return (double)shard_slice_size(&m->shard, MON_N_HOSTS) / MON_N_HOSTS;
}

bool mon_model_owns(const struct mon_model *m, int64_t target)
{
    if (target >= 0 && target < MON_N_HOSTS)
        return shard_owns(&m->shard, (uint64_t)target);
    for (int h = 0; h < MON_N_HOSTS; h++)
        if (mon_hosts[h].service == target - MON_TARGET_SERVICE && shard_owns(&m->shard, (uint64_t)h))
            return true;
    return false;
}

bool mon_model_owns_origin(const struct mon_model *m, int sv)
{
    for (int h = 0; h < MON_N_HOSTS; h++)
        if (mon_hosts[h].service == sv)
            return shard_owns(&m->shard, (uint64_t)h);
    return false;
}

/* Smoothly bends values past `knee` towards knee + room, never beyond. */
static double soft_cap(double v, double knee, double room)
{
    return v <= knee ? v : knee + room * tanh((v - knee) / room);
}

static int32_t centi(double v)
{
    return (int32_t)llround(v * 100.0);
}

int32_t mon_clamp_normal(int metric, double v)
{
    if (!isfinite(v))
        v = 0.0;
    switch (metric) {
    case MON_M_CPU:
    case MON_M_MEMORY:
    case MON_M_DISK:
        /* < 89.5: rounds to 89.50 at most */
        return centi(soft_cap(v < 0.5 ? 0.5 : v, 86.0, 3.5));
    case MON_M_NET_IN:
    case MON_M_NET_OUT:
        return centi(v < 0.1 ? 0.1 : v > 890.0 ? 890.0 : v);
    case MON_M_RESPONSE:
        return centi(v < 0.2 ? 0.2 : v > 4500.0 ? 4500.0 : v);
    default:
        return centi(soft_cap(v < 0.0 ? 0.0 : v, 4.0, 0.9));
    }
}

/* Disk fills slowly and is cleaned up (archived) when it reaches the top
 * of its band: a saw tooth of period (hi - lo) / rate days. */
static double disk_level(const struct mon_profile *p, double days)
{
    double span = p->disk_hi - p->disk_lo;
    double pos = fmod((days + p->disk_phase) * p->disk_rate, span);

    return p->disk_lo + (pos < 0.0 ? pos + span : pos);
}

int32_t mon_normal_value(const struct mon_model *m, int series, double days, double load,
                         double z, double z_cpu, double e)
{
    int metric = MON_SERIES_METRIC(series);
    const struct mon_profile *p = &m->host[MON_SERIES_HOST(series)];
    double u = load / (load + 1.0), v;

    switch (metric) {
    case MON_M_CPU:
        v = p->cpu0 + p->cpu1 * u + 4.0 * z + 0.5 * e;
        break;
    case MON_M_MEMORY:
        v = p->mem0 + p->mem1 * u + 1.5 * z + 0.1 * e;
        break;
    case MON_M_DISK:
        v = disk_level(p, days) + 0.04 * z;
        break;
    case MON_M_NET_IN:
        v = p->net_in0 * load * (1.0 + 0.12 * z + 0.03 * e);
        break;
    case MON_M_NET_OUT:
        v = p->net_out0 * load * (1.0 + 0.12 * z + 0.03 * e);
        break;
    case MON_M_RESPONSE:
        /* queueing: latency grows with the square of the load share, and
         * with the host's cpu */
        v = p->rt0 * (1.0 + 1.2 * u * u) * exp(0.12 * z + 0.05 * z_cpu + 0.06 * e);
        break;
    default:
        v = p->err0 * (0.5 + load) * exp(0.35 * z + 0.12 * e);
        break;
    }
    return mon_clamp_normal(metric, v);
}

/* ---- encoding ---- */

/* A bounded writer over a stack buffer: one append to the caller's buf. */
struct jw {
    char *p, *end;
    bool ok;
};

static void jw_mem(struct jw *w, const char *s, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = false;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static void jw_raw(struct jw *w, const char *s)
{
    jw_mem(w, s, strlen(s));
}

/* Names and ids here need no escaping: they come from our own tables. */
static void jw_str(struct jw *w, const char *s)
{
    if (!s) {
        jw_mem(w, "null", 4);
        return;
    }
    jw_mem(w, "\"", 1);
    jw_raw(w, s);
    jw_mem(w, "\"", 1);
}

/* v / 10^dec with exactly dec decimals. */
static void jw_fixed(struct jw *w, int64_t v, int dec)
{
    char tmp[32];
    int n = 0, i = 0;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;

    do {
        if (dec > 0 && n == dec)
            tmp[n++] = '.';
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u || n <= dec);
    if (v < 0)
        tmp[n++] = '-';
    for (i = 0; i < n / 2; i++) {
        char c = tmp[i];
        tmp[i] = tmp[n - 1 - i];
        tmp[n - 1 - i] = c;
    }
    jw_mem(w, tmp, (size_t)n);
}

enum bm_rc mon_sample_encode(const struct mon_sample *s, struct buf *b)
{
    char tmp[640], ts[TIMEFMT_ISO_LEN + 1];
    struct jw w = { tmp, tmp + sizeof tmp, true };
    int metric = MON_SERIES_METRIC(s->series), host = MON_SERIES_HOST(s->series);

    timefmt_iso(s->ts_ms, ts);
    jw_raw(&w, "{\"event_id\":");
    jw_str(&w, s->event_id);
    jw_raw(&w, ",\"timestamp\":");
    jw_str(&w, ts);
    jw_raw(&w, ",\"sequence\":");
    jw_fixed(&w, (int64_t)s->seq, 0);
    jw_raw(&w, ",\"service\":");
    jw_str(&w, mon_services[mon_hosts[host].service].name);
    jw_raw(&w, ",\"host\":");
    jw_str(&w, mon_hosts[host].name);
    jw_raw(&w, ",\"metric_name\":");
    jw_str(&w, mon_metrics[metric].name);
    jw_raw(&w, ",\"metric_value\":");
    jw_fixed(&w, s->value, 2);
    jw_raw(&w, ",\"unit\":");
    jw_str(&w, mon_metrics[metric].unit);
    jw_raw(&w, ",\"severity\":");
    jw_str(&w, mon_severity_names[s->severity]);
    jw_raw(&w, s->anomaly >= 0 ? ",\"is_anomaly\":true,\"anomaly_type\":"
                               : ",\"is_anomaly\":false,\"anomaly_type\":");
    jw_str(&w, s->anomaly >= 0 ? mon_anomaly_names[s->anomaly] : NULL);
    jw_raw(&w, ",\"incident_id\":");
    jw_str(&w, s->incident_id);
    jw_raw(&w, s->injected ? ",\"origin\":\"injected\"}" : ",\"origin\":\"generated\"}");
    if (!w.ok)
        return BM_ETOOBIG;
    return buf_append(b, tmp, (size_t)(w.p - tmp));
}

uint64_t mon_incident_key(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

    for (; *id; id++) {
        h ^= (unsigned char)*id;
        h *= 0x100000001b3ull;
    }
    return h ? h : 1;
}
