/* metrics.h - a service's counters rendered as JSON or Prometheus text. */
#ifndef BM_COMMON_METRICS_H
#define BM_COMMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http_server.h"
#include "rc.h"

struct metrics_snapshot {
    const char *service;
    int64_t uptime_s;
    uint64_t requests, requests_4xx, requests_5xx;
    double latency_p50_ms, latency_p99_ms;
    uint64_t generated, anomalies, api_events, head_sequence;
    double rate_configured, rate_expected, rate_realised;
    double anomaly_rate_configured, anomaly_rate_realised;
    int64_t db_bytes;
    uint64_t db_write_errors;
    bool db_ok;
    bool backfilling;
    int64_t rss_bytes;
    /* This process's request durations, in the Prometheus text only (the
     * gateway has no histogram of the services it polls). */
    bool has_durations;
    struct http_durations durations;
};

enum bm_rc metrics_json(const struct metrics_snapshot *m, struct buf *out) BM_WUR;
enum bm_rc metrics_prometheus(const struct metrics_snapshot *m, struct buf *out) BM_WUR;
/* Several processes in one text: each family once, a sample per process
 * (told apart by their service label). */
enum bm_rc metrics_prometheus_n(const struct metrics_snapshot *const *m, size_t n,
                                struct buf *out) BM_WUR;
/* Reads metrics_json() text back (absent members are 0); service is used
 * as given, not taken from the text. BM_EINVAL if it is not an object. */
enum bm_rc metrics_from_json(const char *text, size_t len, const char *service,
                             struct metrics_snapshot *m) BM_WUR;
/* The text GET /metrics answers in, from its format argument (NULL if
 * absent) and the request's Accept header (NULL if absent): "json" or
 * "prometheus" (alias "text"), else Prometheus text if Accept starts with
 * text/plain. BM_EINVAL for any other format. */
enum bm_rc metrics_format(const char *format, const char *accept, bool *text) BM_WUR;
/* Resident set size of this process (from /proc/self/statm), -1 if unknown. */
int64_t metrics_rss_bytes(void);

#endif
