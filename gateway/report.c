/* report.c - the gateway's own bodies, built from the aggregate under
 * its lock: /dashboard, /system/health, /metrics (JSON and Prometheus). */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "http_server.h"
#include "metrics.h"
#include "timefmt.h"

static const char *src_name(int s)
{
    return svc_info((enum bm_svc)s)->name;
}

static int64_t age_ms(const struct gw_replica *r, int64_t now_us)
{
    return r->last_success_mono_us ? (now_us - r->last_success_mono_us) / 1000 : -1;
}

/* The members that describe one replica, without braces. */
static enum bm_rc put_replica_fields(struct buf *b, const struct gw_replica *r, enum gw_state st,
                                     int64_t now_us)
{
    char ts[TIMEFMT_ISO_LEN + 1] = "";
    enum bm_rc rc;

    if (r->last_success_ms)
        timefmt_iso(r->last_success_ms, ts);
    rc = buf_printf(b, "\"state\":\"%s\",\"url\":", gw_state_name(st));
    if (rc == BM_OK)
        rc = buf_put_json_str(b, r->url);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"last_error\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, r->last_error[0] ? r->last_error : NULL);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"last_success\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, ts[0] ? ts : NULL);
    if (rc == BM_OK)
        rc = buf_printf(b, ",\"data_age_ms\":%lld,\"status\":", (long long)age_ms(r, now_us));
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, r->health_status[0] ? r->health_status : NULL);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"stream_id\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, r->stream_id[0] ? r->stream_id : NULL);
    if (rc == BM_OK)
        rc = buf_printf(b, ",\"head_sequence\":%llu,\"cursor\":%llu",
                        (unsigned long long)r->head_sequence, (unsigned long long)r->cursor);
    if (rc == BM_OK && r->shard_count)
        rc = buf_printf(b, ",\"shard\":{\"index\":%u,\"count\":%u}", (unsigned)r->shard_index,
                        (unsigned)r->shard_count);
    else if (rc == BM_OK)
        rc = buf_puts(b, ",\"shard\":null");
    return rc;
}

/* A service: its best replica's fields, the service's totals, and every
 * replica in "replicas". */
static enum bm_rc put_svc_health(struct buf *b, const struct gw_svc *s, int64_t now_us,
                                 int64_t interval_ms)
{
    int best, shards_ok, shards = gw_svc_shards(s, now_us, interval_ms, &shards_ok);
    enum gw_state st = gw_svc_state(s, now_us, interval_ms, &best);
    enum bm_rc rc = buf_putc(b, '{');

    if (rc == BM_OK)
        rc = put_replica_fields(b, &s->rep[best], st, now_us);
    if (rc == BM_OK)
        rc = buf_printf(b, ",\"events_received\":%llu,\"shards\":%d,\"shards_ok\":%d,"
                           "\"replicas\":[",
                        (unsigned long long)s->events, shards, shards_ok);
    for (int r = 0; r < s->nrep && rc == BM_OK; r++) {
        rc = buf_puts(b, r ? ",{" : "{");
        if (rc == BM_OK)
            rc = put_replica_fields(b, &s->rep[r],
                                    gw_effective_state(&s->rep[r], now_us, interval_ms), now_us);
        if (rc == BM_OK)
            rc = buf_printf(b, ",\"events_received\":%llu}",
                            (unsigned long long)s->rep[r].events);
    }
    return rc == BM_OK ? buf_puts(b, "]}") : rc;
}

enum bm_rc gw_agg_system_health(struct gw_agg *a, struct buf *out)
{
    int64_t now = time_mono_us();
    int ok = 0;
    enum bm_rc rc;

    pthread_mutex_lock(&a->mu);
    for (int s = 0; s < SVC_NSOURCES; s++)
        ok += gw_svc_state(&a->svc[s], now, a->poll_interval_ms, NULL) == GW_OK;
    rc = buf_printf(out, "{\"status\":\"%s\",\"poll_interval_ms\":%lld,\"services\":{",
                    ok == SVC_NSOURCES ? "ok" : ok == 0 ? "down" : "degraded",
                    (long long)a->poll_interval_ms);
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        rc = buf_printf(out, "%s\"%s\":", s ? "," : "", src_name(s));
        if (rc == BM_OK)
            rc = put_svc_health(out, &a->svc[s], now, a->poll_interval_ms);
    }
    pthread_mutex_unlock(&a->mu);
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

enum bm_rc gw_agg_dashboard(struct gw_agg *a, struct buf *out)
{
    int64_t now = time_mono_us();
    uint64_t total = 0, anomalies = 0;
    enum bm_rc rc = BM_OK;

    pthread_mutex_lock(&a->mu);
    for (int s = 0; s < SVC_NSOURCES; s++) {
        total += a->svc[s].events;
        anomalies += a->svc[s].anomalies;
    }
    rc = buf_printf(out, "{\"totals\":{\"events\":%llu,\"anomalies\":%llu,\"buffered\":%zu,"
                         "\"buffer_bytes\":%zu,\"last_gateway_sequence\":%llu},"
                         "\"anomalies_by_type\":{",
                    (unsigned long long)total, (unsigned long long)anomalies, a->buf.n,
                    a->buf.bytes,
                    (unsigned long long)a->buf.last_gseq);
    /* by name: cascade_failure is a type of three services */
    for (int s = 0, first = 1; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct svc_info *info = svc_info((enum bm_svc)s);
        for (int i = 0; i < info->nanomaly_types && rc == BM_OK; i++) {
            const char *name = info->anomaly_types[i];
            uint64_t n = 0;

            if (!svc_type_first_of((enum bm_svc)s, name))
                continue;
            for (int s2 = s; s2 < SVC_NSOURCES; s2++) {
                int k = svc_anomaly_index((enum bm_svc)s2, name);
                n += k >= 0 ? a->svc[s2].by_type[k] : 0;
            }
            rc = buf_printf(out, "%s\"%s\":%llu", first ? "" : ",", name,
                            (unsigned long long)n);
            first = 0;
        }
    }
    if (rc == BM_OK)
        rc = buf_puts(out, "},\"services\":{");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct gw_svc *v = &a->svc[s];
        const struct svc_info *info = svc_info((enum bm_svc)s);
        int best, up = 0, shards_ok, shards = gw_svc_shards(v, now, a->poll_interval_ms, &shards_ok);
        enum gw_state st = gw_svc_state(v, now, a->poll_interval_ms, &best);
        for (int r = 0; r < v->nrep; r++)
            up += gw_effective_state(&v->rep[r], now, a->poll_interval_ms) == GW_OK;
        rc = buf_printf(out, "%s\"%s\":{\"state\":\"%s\",\"data_age_ms\":%lld,"
                             "\"replicas\":%d,\"replicas_ok\":%d,\"shards\":%d,"
                             "\"shards_ok\":%d,\"events\":%llu,"
                             "\"anomalies\":%llu,\"anomalies_by_type\":{",
                        s ? "," : "", src_name(s), gw_state_name(st),
                        (long long)age_ms(&v->rep[best], now), v->nrep, up, shards, shards_ok,
                        (unsigned long long)v->events, (unsigned long long)v->anomalies);
        for (int i = 0; i < info->nanomaly_types && rc == BM_OK; i++)
            rc = buf_printf(out, "%s\"%s\":%llu", i ? "," : "", info->anomaly_types[i],
                            (unsigned long long)v->by_type[i]);
        if (rc == BM_OK)
            rc = buf_puts(out, "}}");
    }
    pthread_mutex_unlock(&a->mu);
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

void gw_agg_dash_snapshot(struct gw_agg *a, struct gw_dash_snap *out)
{
    int64_t now = time_mono_us();

    memset(out, 0, sizeof(*out));
    out->now_ms = time_now_ms();
    pthread_mutex_lock(&a->mu);
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const struct gw_svc *v = &a->svc[s];
        struct gw_dash_svc *d = &out->svc[s];
        int best;
        d->state = gw_svc_state(v, now, a->poll_interval_ms, &best);
        memcpy(d->status, v->rep[best].health_status, sizeof(d->status));
        memcpy(d->last_error, v->rep[best].last_error, sizeof(d->last_error));
        d->data_age_ms = age_ms(&v->rep[best], now);
        d->replicas = v->nrep;
        for (int r = 0; r < v->nrep; r++)
            d->replicas_ok += gw_effective_state(&v->rep[r], now, a->poll_interval_ms) == GW_OK;
        d->events = v->events;
        d->anomalies = v->anomalies;
        gw_history_sum(&a->hist, out->now_ms, (enum bm_svc)s, GW_HIST_SECS, &d->events_15m,
                       &d->anomalies_15m);
        for (int t = 0; t < GEN_MAX_TYPES; t++)
            d->types_hour[t] = gw_history_type_hour(&a->hist, out->now_ms, (enum bm_svc)s, t);
    }
    pthread_mutex_unlock(&a->mu);
}

enum bm_rc gw_agg_history_json(struct gw_agg *a, struct buf *out)
{
    int64_t now_ms = time_now_ms();
    enum bm_rc rc;

    pthread_mutex_lock(&a->mu);
    rc = gw_history_json(&a->hist, now_ms, out);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* The gateway process's own figures: read before taking the aggregate's
 * lock (RSS comes from /proc, the request counters have their own lock). */
static void process_own(int64_t uptime_s, struct metrics_snapshot *m)
{
    memset(m, 0, sizeof(*m));
    m->service = svc_info(SVC_GATEWAY)->name;
    m->uptime_s = uptime_s;
    http_counts(&m->requests, &m->requests_4xx, &m->requests_5xx);
    http_latency(&m->latency_p50_ms, &m->latency_p99_ms);
    m->has_durations = true;
    http_durations(&m->durations);
    m->rss_bytes = metrics_rss_bytes();
    m->db_ok = true;
}

/* Its event counts, under the lock. */
static void events_own(const struct gw_agg *a, struct metrics_snapshot *m)
{
    m->head_sequence = a->buf.last_gseq;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        m->generated += a->svc[s].events;
        m->anomalies += a->svc[s].anomalies;
    }
}

/* One service in the gateway's JSON metrics: poll counts over all
 * replicas, "metrics" of the best replica, then each replica's. */
static enum bm_rc put_svc_metrics(struct buf *b, const struct gw_svc *v, int64_t now,
                                  int64_t interval_ms)
{
    uint64_t polls = 0, errors = 0;
    int best;
    enum bm_rc rc;

    (void)gw_svc_state(v, now, interval_ms, &best);
    for (int r = 0; r < v->nrep; r++) {
        polls += v->rep[r].polls;
        errors += v->rep[r].poll_errors;
    }
    rc = buf_printf(b, "{\"polls\":%llu,\"poll_errors\":%llu,\"metrics\":%s,\"replicas\":[",
                    (unsigned long long)polls, (unsigned long long)errors,
                    v->nrep && v->rep[best].metrics_json ? v->rep[best].metrics_json : "null");
    for (int r = 0; r < v->nrep && rc == BM_OK; r++) {
        rc = buf_puts(b, r ? ",{\"url\":" : "{\"url\":");
        if (rc == BM_OK)
            rc = buf_put_json_str(b, v->rep[r].url);
        if (rc == BM_OK)
            rc = buf_printf(b, ",\"polls\":%llu,\"poll_errors\":%llu,\"metrics\":%s}",
                            (unsigned long long)v->rep[r].polls,
                            (unsigned long long)v->rep[r].poll_errors,
                            v->rep[r].metrics_json ? v->rep[r].metrics_json : "null");
    }
    return rc == BM_OK ? buf_puts(b, "]}") : rc;
}

enum bm_rc gw_agg_metrics_json(struct gw_agg *a, int64_t uptime_s, struct buf *out)
{
    struct metrics_snapshot m;
    int64_t now = time_mono_us();
    enum bm_rc rc;

    process_own(uptime_s, &m);
    pthread_mutex_lock(&a->mu);
    events_own(a, &m);
    rc = buf_puts(out, "{\"gateway\":");
    if (rc == BM_OK)
        rc = metrics_json(&m, out);
    if (rc == BM_OK)
        rc = buf_printf(out, ",\"buffer\":{\"events\":%zu,\"bytes\":%zu,\"max_bytes\":%zu,"
                             "\"evicted\":%llu,\"duplicates_dropped\":%llu,\"oversized_skipped\":%llu},"
                             "\"services\":{",
                        a->buf.n, a->buf.bytes, a->buf.max_bytes,
                        (unsigned long long)a->buf.evicted,
                        (unsigned long long)a->duplicates, (unsigned long long)a->oversized);
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        rc = buf_printf(out, "%s\"%s\":", s ? "," : "", src_name(s));
        if (rc == BM_OK)
            rc = put_svc_metrics(out, &a->svc[s], now, a->poll_interval_ms);
    }
    pthread_mutex_unlock(&a->mu);
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

enum bm_rc gw_agg_metrics_prometheus(struct gw_agg *a, int64_t uptime_s, struct buf *out)
{
    struct metrics_snapshot m, svc[SVC_NSOURCES];
    const struct metrics_snapshot *all[SVC_NSOURCES + 1];
    size_t n = 0;
    int64_t now = time_mono_us();
    enum bm_rc rc;

    process_own(uptime_s, &m);
    pthread_mutex_lock(&a->mu);
    events_own(a, &m);
    all[n++] = &m;
    /* each service's own figures, from its best replica's last /metrics */
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const struct gw_svc *v = &a->svc[s];
        int best;
        (void)gw_svc_state(v, now, a->poll_interval_ms, &best);
        if (v->nrep && v->rep[best].metrics_json &&
            metrics_from_json(v->rep[best].metrics_json, strlen(v->rep[best].metrics_json),
                              src_name(s), &svc[s]) == BM_OK)
            all[n++] = &svc[s];
    }
    rc = metrics_prometheus_n(all, n, out);
    if (rc == BM_OK)
        rc = buf_printf(out, "# HELP bankmock_gateway_buffer_events Events held for /events.\n"
                             "# TYPE bankmock_gateway_buffer_events gauge\n"
                             "bankmock_gateway_buffer_events %zu\n"
                             "# HELP bankmock_gateway_buffer_bytes Bytes of the events held.\n"
                             "# TYPE bankmock_gateway_buffer_bytes gauge\n"
                             "bankmock_gateway_buffer_bytes %zu\n"
                             "# HELP bankmock_gateway_duplicates_dropped_total Events received "
                             "again (seen before, or another replica's copy) and dropped.\n"
                             "# TYPE bankmock_gateway_duplicates_dropped_total counter\n"
                             "bankmock_gateway_duplicates_dropped_total %llu\n"
                             "# HELP bankmock_gateway_upstream_up 1 while the "
                             "service is ok (polled in time, not degraded), else 0.\n"
                             "# TYPE bankmock_gateway_upstream_up gauge\n",
                        a->buf.n, a->buf.bytes, (unsigned long long)a->duplicates);
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++)
        rc = buf_printf(out, "bankmock_gateway_upstream_up{service=\"%s\"} %d\n", src_name(s),
                        gw_svc_state(&a->svc[s], now, a->poll_interval_ms, NULL) == GW_OK);
    if (rc == BM_OK)
        rc = buf_puts(out, "# HELP bankmock_gateway_upstream_events_total Events received "
                           "from each service.\n"
                           "# TYPE bankmock_gateway_upstream_events_total counter\n");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++)
        rc = buf_printf(out, "bankmock_gateway_upstream_events_total{service=\"%s\"} %llu\n",
                        src_name(s), (unsigned long long)a->svc[s].events);
    if (rc == BM_OK)
        rc = buf_puts(out, "# HELP bankmock_gateway_upstream_head_sequence Newest sequence "
                           "each replica reported.\n"
                           "# TYPE bankmock_gateway_upstream_head_sequence gauge\n");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct gw_svc *v = &a->svc[s];
        for (int r = 0; r < v->nrep && rc == BM_OK; r++)
            rc = buf_printf(out,
                            "bankmock_gateway_upstream_head_sequence{service=\"%s\",replica=\"%d\"} "
                            "%llu\n",
                            src_name(s), r, (unsigned long long)v->rep[r].head_sequence);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}
