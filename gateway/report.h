/* report.h - the gateway's own bodies, built from the aggregate: each
 * takes its lock for the copy and appends JSON (or Prometheus text). */
#ifndef BM_GATEWAY_REPORT_H
#define BM_GATEWAY_REPORT_H

#include <stdint.h>

#include "aggregate.h"
#include "buf.h"
#include "rc.h"

enum bm_rc gw_agg_dashboard(struct gw_agg *a, struct buf *out) BM_WUR;

/* One service as the dashboard page's summary shows it. */
struct gw_dash_svc {
    enum gw_state state;
    char status[sizeof(((struct gw_replica *)0)->health_status)]; /* its /health, "" unknown */
    char last_error[sizeof(((struct gw_replica *)0)->last_error)];
    int64_t data_age_ms; /* -1: never */
    int replicas, replicas_ok;
    uint64_t events, anomalies;          /* received since the gateway started */
    uint64_t events_15m, anomalies_15m;  /* received in the last 15 minutes */
    uint64_t types_hour[GEN_MAX_TYPES];  /* anomalies by type index, last hour */
};

struct gw_dash_snap {
    int64_t now_ms;
    struct gw_dash_svc svc[SVC_NSOURCES];
};

/* A copy of what the page's summary shows, taken under the lock. */
void gw_agg_dash_snapshot(struct gw_agg *a, struct gw_dash_snap *out);
/* The history's JSON (history.h) as of now. */
enum bm_rc gw_agg_history_json(struct gw_agg *a, struct buf *out) BM_WUR;
enum bm_rc gw_agg_system_health(struct gw_agg *a, struct buf *out) BM_WUR;
enum bm_rc gw_agg_metrics_json(struct gw_agg *a, int64_t uptime_s, struct buf *out) BM_WUR;
enum bm_rc gw_agg_metrics_prometheus(struct gw_agg *a, int64_t uptime_s, struct buf *out) BM_WUR;

#endif
