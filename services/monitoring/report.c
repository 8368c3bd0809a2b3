/* report.c - monitoring service: the bodies of GET /system/metrics,
 * /system/health and /dashboard, from what the store read in one
 * snapshot. Pure: the same snapshot gives the same bytes. */
#include <stdbool.h>
#include <string.h>

#include "mon.h"
#include "timefmt.h"

/* Appends in sequence and remembers the first failure, so a renderer can
 * write straight through and check once. */
struct out {
    struct buf *b;
    enum bm_rc rc;
};

static void put(struct out *o, const char *s)
{
    if (o->rc == BM_OK)
        o->rc = buf_puts(o->b, s);
}

static void put_str(struct out *o, const char *s)
{
    if (o->rc == BM_OK)
        o->rc = buf_put_json_str_or_null(o->b, s);
}

static void put_i64(struct out *o, int64_t v)
{
    if (o->rc == BM_OK)
        o->rc = buf_put_i64(o->b, v);
}

static void put_centi(struct out *o, int32_t v)
{
    if (o->rc == BM_OK)
        o->rc = buf_put_fixed(o->b, v, 2);
}

/* An object member's key: `"name":`, after a comma unless it is the first. */
static void put_key(struct out *o, bool first, const char *name)
{
    put(o, first ? "\"" : ",\"");
    put(o, name);
    put(o, "\":");
}

static void put_ts(struct out *o, int64_t ms)
{
    char ts[TIMEFMT_ISO_LEN + 1];

    timefmt_iso(ms, ts);
    put_str(o, ts);
}

/* "as_of" (newest sample time or null), head and oldest sequence. */
static void put_header(struct out *o, const struct mon_snapshot *s)
{
    int64_t newest = -1;

    for (int i = 0; i < MON_N_SERIES; i++)
        if (s->cur[i].present && s->cur[i].ts_ms > newest)
            newest = s->cur[i].ts_ms;
    put(o, "{\"as_of\":");
    if (newest >= 0)
        put_ts(o, newest);
    else
        put(o, "null");
    put(o, ",\"head_sequence\":");
    put_i64(o, (int64_t)s->head);
    put(o, ",\"oldest_sequence\":");
    put_i64(o, (int64_t)s->oldest);
}

/* ---- health ---- */

struct health {
    enum mon_health host[MON_N_HOSTS];
    enum mon_health service[MON_N_SERVICES];
    enum mon_health overall;
    int count[MON_H_COUNT]; /* services by status */
};

/* A host by its newest values; a service is down when all its hosts are,
 * degraded when any is not healthy; the estate is as bad as its worst
 * service. */
static void assess(const struct mon_snapshot *s, struct health *h)
{
    memset(h, 0, sizeof *h);
    for (int host = 0; host < MON_N_HOSTS; host++) {
        int32_t v[MON_M_COUNT];
        bool present[MON_M_COUNT];

        for (int m = 0; m < MON_M_COUNT; m++) {
            const struct mon_current *c = &s->cur[MON_SERIES(m, host)];
            present[m] = c->present;
            v[m] = c->value;
        }
        h->host[host] = mon_host_health(v, present);
    }
    for (int sv = 0; sv < MON_N_SERVICES; sv++) {
        bool all_down = true, any_bad = false;

        for (int host = 0; host < MON_N_HOSTS; host++) {
            if (mon_hosts[host].service != sv)
                continue;
            all_down = all_down && h->host[host] == MON_H_DOWN;
            any_bad = any_bad || h->host[host] != MON_H_HEALTHY;
        }
        h->service[sv] = all_down ? MON_H_DOWN : any_bad ? MON_H_DEGRADED : MON_H_HEALTHY;
        h->count[h->service[sv]]++;
        if (h->service[sv] > h->overall)
            h->overall = h->service[sv];
    }
}

static void put_summary(struct out *o, const struct health *h)
{
    put(o, "\"status\":");
    put_str(o, mon_health_names[h->overall]);
    put(o, ",\"summary\":{");
    for (int i = 0; i < MON_H_COUNT; i++) {
        put_key(o, i == 0, mon_health_names[i]);
        put_i64(o, h->count[i]);
    }
    put(o, "}");
}

static void put_thresholds(struct out *o)
{
    put(o, "\"thresholds\":{\"degraded_above\":{");
    for (int m = 0; m < MON_M_COUNT; m++) {
        put_key(o, m == 0, mon_metrics[m].name);
        put_centi(o, mon_metrics[m].degraded);
    }
    put(o, "},\"down_above\":{");
    for (int m = 0, n = 0; m < MON_M_COUNT; m++) {
        if (!mon_metrics[m].down)
            continue;
        put_key(o, n++ == 0, mon_metrics[m].name);
        put_centi(o, mon_metrics[m].down);
    }
    put(o, "},\"severity\":{");
    for (int m = 0; m < MON_M_COUNT; m++) {
        put_key(o, m == 0, mon_metrics[m].name);
        put(o, "{\"warning_above\":");
        put_centi(o, mon_metrics[m].warning);
        put(o, ",\"critical_above\":");
        put_centi(o, mon_metrics[m].critical);
        put(o, "}");
    }
    put(o, "},\"rules\":\"a host is down when a metric is above its down threshold, degraded "
           "when one is above its degraded threshold; a service is down when all its hosts "
           "are down, degraded when any host is not healthy; a sample's severity is "
           "critical above its metric's critical_above, warning above its warning_above, "
           "else info, whether or not it is an anomaly\"}");
}

/* The metrics that put a host where it is. */
static void put_reasons(struct out *o, const struct mon_snapshot *s, int host)
{
    int n = 0;

    put(o, "[");
    for (int m = 0; m < MON_M_COUNT; m++) {
        const struct mon_current *c = &s->cur[MON_SERIES(m, host)];
        const struct mon_metric_info *mi = &mon_metrics[m];
        bool down = mi->down && c->value > mi->down;

        if (!c->present || (!down && c->value <= mi->degraded))
            continue;
        put(o, n++ ? ",{\"metric_name\":" : "{\"metric_name\":");
        put_str(o, mi->name);
        put(o, ",\"metric_value\":");
        put_centi(o, c->value);
        put(o, ",\"threshold\":");
        put_centi(o, down ? mi->down : mi->degraded);
        put(o, ",\"status\":");
        put_str(o, mon_health_names[down ? MON_H_DOWN : MON_H_DEGRADED]);
        put(o, "}");
    }
    put(o, "]");
}

enum bm_rc mon_report_health(const struct mon_snapshot *s, struct buf *b)
{
    struct out o = { b, BM_OK };
    struct health h;

    assess(s, &h);
    put_header(&o, s);
    put(&o, ",");
    put_summary(&o, &h);
    put(&o, ",");
    put_thresholds(&o);
    put(&o, ",\"services\":[");
    for (int sv = 0; sv < MON_N_SERVICES; sv++) {
        int n = 0;

        put(&o, sv ? ",{\"service\":" : "{\"service\":");
        put_str(&o, mon_services[sv].name);
        put(&o, ",\"role\":");
        put_str(&o, mon_services[sv].role);
        put(&o, ",\"status\":");
        put_str(&o, mon_health_names[h.service[sv]]);
        put(&o, ",\"hosts\":[");
        for (int host = 0; host < MON_N_HOSTS; host++) {
            if (mon_hosts[host].service != sv)
                continue;
            put(&o, n++ ? ",{\"host\":" : "{\"host\":");
            put_str(&o, mon_hosts[host].name);
            put(&o, ",\"status\":");
            put_str(&o, mon_health_names[h.host[host]]);
            put(&o, ",\"reasons\":");
            put_reasons(&o, s, host);
            put(&o, "}");
        }
        put(&o, "]}");
    }
    put(&o, "]}");
    return o.rc;
}

/* ---- current values ---- */

enum bm_rc mon_report_metrics(const struct mon_snapshot *s, struct buf *b)
{
    struct out o = { b, BM_OK };
    int n = 0;

    put_header(&o, s);
    put(&o, ",\"metrics\":[");
    for (int host = 0; host < MON_N_HOSTS; host++) {
        for (int m = 0; m < MON_M_COUNT; m++) {
            const struct mon_current *c = &s->cur[MON_SERIES(m, host)];

            if (!c->present)
                continue;
            put(&o, n++ ? ",{\"service\":" : "{\"service\":");
            put_str(&o, mon_services[mon_hosts[host].service].name);
            put(&o, ",\"host\":");
            put_str(&o, mon_hosts[host].name);
            put(&o, ",\"metric_name\":");
            put_str(&o, mon_metrics[m].name);
            put(&o, ",\"metric_value\":");
            put_centi(&o, c->value);
            put(&o, ",\"unit\":");
            put_str(&o, mon_metrics[m].unit);
            put(&o, ",\"severity\":");
            put_str(&o, mon_severity_names[c->severity]);
            put(&o, ",\"timestamp\":");
            put_ts(&o, c->ts_ms);
            put(&o, ",\"sequence\":");
            put_i64(&o, (int64_t)c->seq);
            put(&o, c->anomaly >= 0 ? ",\"is_anomaly\":true,\"anomaly_type\":"
                                    : ",\"is_anomaly\":false,\"anomaly_type\":");
            put_str(&o, c->anomaly >= 0 ? mon_anomaly_names[c->anomaly] : NULL);
            put(&o, "}");
        }
    }
    put(&o, "],\"count\":");
    put_i64(&o, n);
    put(&o, "}");
    return o.rc;
}

/* ---- dashboard ---- */

static void put_severities(struct out *o, const int64_t by[MON_SEV_COUNT])
{
    int64_t total = 0;

    for (int v = 0; v < MON_SEV_COUNT; v++) {
        put_key(o, v == 0, mon_severity_names[v]);
        put_i64(o, by[v]);
        total += by[v];
    }
    put(o, ",\"total\":");
    put_i64(o, total);
}

enum bm_rc mon_report_dashboard(const struct mon_snapshot *s, const struct mon_counts *c,
                                const char *recent, size_t recent_len, struct buf *b)
{
    struct out o = { b, BM_OK };
    struct health h;
    int64_t sev[MON_SEV_COUNT] = { 0 }, anomalous = 0;

    for (int a = 0; a <= MON_A_COUNT; a++) {
        for (int v = 0; v < MON_SEV_COUNT; v++) {
            sev[v] += c->by[a][v];
            if (a < MON_A_COUNT)
                anomalous += c->by[a][v];
        }
    }
    assess(s, &h);
    put_header(&o, s);
    put(&o, ",\"events\":{\"total\":");
    put_i64(&o, c->total);
    put(&o, ",\"anomalous\":");
    put_i64(&o, anomalous);
    put(&o, ",\"by_severity\":{");
    put_severities(&o, sev);
    put(&o, "},\"by_type\":{\"normal\":{");
    put_severities(&o, c->by[MON_A_COUNT]);
    put(&o, "}");
    for (int a = 0; a < MON_A_COUNT; a++) {
        put(&o, ",\"");
        put(&o, mon_anomaly_names[a]);
        put(&o, "\":{");
        put_severities(&o, c->by[a]);
        put(&o, ",\"incidents\":");
        put_i64(&o, c->incidents[a]);
        put(&o, "}");
    }
    put(&o, "}},\"health\":{");
    put_summary(&o, &h);
    put(&o, ",\"services\":[");
    for (int sv = 0; sv < MON_N_SERVICES; sv++) {
        put(&o, sv ? ",{\"service\":" : "{\"service\":");
        put_str(&o, mon_services[sv].name);
        put(&o, ",\"status\":");
        put_str(&o, mon_health_names[h.service[sv]]);
        put(&o, "}");
    }
    put(&o, "]},\"recent_anomalies\":[");
    if (o.rc == BM_OK && recent_len)
        o.rc = buf_append(b, recent, recent_len);
    put(&o, "]}");
    return o.rc;
}
