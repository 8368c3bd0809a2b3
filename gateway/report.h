/* report.h - the gateway's own bodies, built from the aggregate: each
 * takes its lock for the copy and appends JSON (or Prometheus text). */
#ifndef BM_GATEWAY_REPORT_H
#define BM_GATEWAY_REPORT_H

#include <stdint.h>

#include "aggregate.h"
#include "buf.h"
#include "rc.h"

enum bm_rc gw_agg_dashboard(struct gw_agg *a, struct buf *out) BM_WUR;
enum bm_rc gw_agg_system_health(struct gw_agg *a, struct buf *out) BM_WUR;
enum bm_rc gw_agg_metrics_json(struct gw_agg *a, int64_t uptime_s, struct buf *out) BM_WUR;
enum bm_rc gw_agg_metrics_prometheus(struct gw_agg *a, int64_t uptime_s, struct buf *out) BM_WUR;

#endif
