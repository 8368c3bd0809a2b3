/* history.h - what the dashboard charts: events and anomalies the gateway
 * received per second from each service over the last 15 minutes, and
 * anomalies by type per minute over the last hour. An event counts at its
 * own timestamp when that lies in the window (a live service's simulated
 * clock is the wall clock), else when it arrived: so the backlog a newly
 * started gateway reads in its first second shows where it was generated,
 * not as one spike that flattens the chart for 15 minutes. No lock of its
 * own: it lives in the aggregate, behind its mutex. */
#ifndef BM_GATEWAY_HISTORY_H
#define BM_GATEWAY_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "gen.h"
#include "rc.h"
#include "svc.h"

#define GW_HIST_SECS 900 /* 15 minutes of seconds */
#define GW_HIST_MINS 60  /* an hour of minutes */

struct gw_history {
    int64_t sec; /* unix second of the newest per-second slot, 0 = none yet */
    int64_t min; /* unix minute of the newest per-minute slot, 0 = none yet */
    uint32_t events[SVC_NSOURCES][GW_HIST_SECS];    /* slot: second % GW_HIST_SECS */
    uint32_t anomalies[SVC_NSOURCES][GW_HIST_SECS];
    uint32_t by_type[SVC_NSOURCES][GEN_MAX_TYPES][GW_HIST_MINS]; /* slot: minute % 60 */
};

/* Counts one event of service s with timestamp at_ms (0: none) received
 * at now_ms (wall clock): an anomaly of type index type (-1: unknown
 * type, counted as an anomaly only). A timestamp ahead of now, or a clock
 * that steps back, counts into the newest slot. */
void gw_history_count(struct gw_history *h, int64_t now_ms, int64_t at_ms, enum bm_svc s,
                      bool anomaly, int type);

/* Appends the history as seen at now_ms, oldest first:
 * {"now_ms":N,"seconds":900,"minutes":60,
 *  "events":{"<service>":[900 counts]},"anomalies":{"<service>":[900]},
 *  "anomalies_by_type":{"<type>":[60 counts]}}
 * The last element of each array is the current second (minute). */
enum bm_rc gw_history_json(struct gw_history *h, int64_t now_ms, struct buf *out) BM_WUR;

/* Events, and anomalies, of service s over the last `secs` seconds. */
void gw_history_sum(const struct gw_history *h, int64_t now_ms, enum bm_svc s, int secs,
                    uint64_t *events, uint64_t *anomalies);
/* Anomalies of s's type index t over the last hour. */
uint64_t gw_history_type_hour(const struct gw_history *h, int64_t now_ms, enum bm_svc s, int t);

#endif
