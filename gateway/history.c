/* history.c - per-second and per-minute counts for the dashboard's charts:
 * two rings indexed by the clock, zeroed as the clock moves past them. */
#include "history.h"

#include <string.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

static int sec_slot(int64_t sec)
{
    return (int)(sec % GW_HIST_SECS);
}

static int min_slot(int64_t min)
{
    return (int)(min % GW_HIST_MINS);
}

/* Moves the rings forward to the second of now_ms, zeroing the slots
 * skipped; a clock behind the newest slot leaves them as they are. */
static void advance(struct gw_history *h, int64_t now_ms)
{
    int64_t sec = floor_div(now_ms, 1000), min = floor_div(sec, 60);

    if (h->sec == 0 || sec - h->sec >= GW_HIST_SECS) {
        memset(h->events, 0, sizeof(h->events));
        memset(h->anomalies, 0, sizeof(h->anomalies));
        h->sec = sec;
    }
    for (; h->sec < sec; h->sec++)
        for (int s = 0; s < SVC_NSOURCES; s++) {
            h->events[s][sec_slot(h->sec + 1)] = 0;
            h->anomalies[s][sec_slot(h->sec + 1)] = 0;
        }
    if (h->min == 0 || min - h->min >= GW_HIST_MINS) {
        memset(h->by_type, 0, sizeof(h->by_type));
        h->min = min;
    }
    for (; h->min < min; h->min++)
        for (int s = 0; s < SVC_NSOURCES; s++)
            for (int t = 0; t < GEN_MAX_TYPES; t++)
                h->by_type[s][t][min_slot(h->min + 1)] = 0;
}

/* The slot's number for time t in a ring of n whose newest is head: t's
 * own when inside the ring, the newest when ahead of it, -1 when older. */
static int64_t place(int64_t t, int64_t head, int n)
{
    if (t > head)
        return head;
    return t > head - n ? t : -1;
}

void gw_history_count(struct gw_history *h, int64_t now_ms, int64_t at_ms, enum bm_svc s,
                      bool anomaly, int type)
{
    int64_t sec, min;

    if ((int)s < 0 || s >= SVC_NSOURCES || now_ms < 60000)
        return;
    advance(h, now_ms);
    sec = at_ms > 0 ? place(floor_div(at_ms, 1000), h->sec, GW_HIST_SECS) : -1;
    min = at_ms > 0 ? place(floor_div(at_ms, 60000), h->min, GW_HIST_MINS) : -1;
    if (sec < 0)
        sec = h->sec;
    if (min < 0)
        min = h->min;
    h->events[s][sec_slot(sec)]++;
    if (!anomaly)
        return;
    h->anomalies[s][sec_slot(sec)]++;
    if (type >= 0 && type < GEN_MAX_TYPES)
        h->by_type[s][type][min_slot(min)]++;
}

/* "[a,b,...]": n counts of ring (size n), oldest first, newest at slot last. */
static enum bm_rc put_ring(struct buf *b, const uint32_t *ring, int n, int last)
{
    enum bm_rc rc = buf_putc(b, '[');

    for (int k = 1; k <= n && rc == BM_OK; k++)
        rc = buf_printf(b, k < n ? "%u," : "%u]", (unsigned)ring[(last + k) % n]);
    return rc;
}

static enum bm_rc put_per_service(struct buf *b, const char *key,
                                  uint32_t (*rings)[GW_HIST_SECS], int last)
{
    enum bm_rc rc = buf_printf(b, ",\"%s\":{", key);

    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        rc = buf_printf(b, "%s\"%s\":", s ? "," : "", svc_info((enum bm_svc)s)->name);
        if (rc == BM_OK)
            rc = put_ring(b, rings[s], GW_HIST_SECS, last);
    }
    return rc == BM_OK ? buf_putc(b, '}') : rc;
}

enum bm_rc gw_history_json(struct gw_history *h, int64_t now_ms, struct buf *out)
{
    enum bm_rc rc;
    int first = 1;

    if (now_ms >= 60000)
        advance(h, now_ms);
    rc = buf_printf(out, "{\"now_ms\":%lld,\"seconds\":%d,\"minutes\":%d", (long long)now_ms,
                    GW_HIST_SECS, GW_HIST_MINS);
    if (rc == BM_OK)
        rc = put_per_service(out, "events", h->events, sec_slot(h->sec));
    if (rc == BM_OK)
        rc = put_per_service(out, "anomalies", h->anomalies, sec_slot(h->sec));
    if (rc == BM_OK)
        rc = buf_puts(out, ",\"anomalies_by_type\":{");
    /* by name: cascade_failure is a type of three services */
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct svc_info *info = svc_info((enum bm_svc)s);
        for (int t = 0; t < info->nanomaly_types && rc == BM_OK; t++) {
            const char *name = info->anomaly_types[t];
            uint32_t sum[GW_HIST_MINS];

            if (!svc_type_first_of((enum bm_svc)s, name))
                continue;
            memcpy(sum, h->by_type[s][t], sizeof sum);
            for (int s2 = s + 1; s2 < SVC_NSOURCES; s2++) {
                int k = svc_anomaly_index((enum bm_svc)s2, name);
                for (int m = 0; k >= 0 && m < GW_HIST_MINS; m++)
                    sum[m] += h->by_type[s2][k][m];
            }
            rc = buf_printf(out, "%s\"%s\":", first ? "" : ",", name);
            if (rc == BM_OK)
                rc = put_ring(out, sum, GW_HIST_MINS, min_slot(h->min));
            first = 0;
        }
    }
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

void gw_history_sum(const struct gw_history *h, int64_t now_ms, enum bm_svc s, int secs,
                    uint64_t *events, uint64_t *anomalies)
{
    int64_t now = floor_div(now_ms, 1000);

    *events = *anomalies = 0;
    if (h->sec == 0)
        return;
    if (secs > GW_HIST_SECS)
        secs = GW_HIST_SECS;
    for (int k = 0; k < secs; k++) {
        int64_t sec = now - k;
        if (sec > h->sec || sec <= h->sec - GW_HIST_SECS)
            continue;
        *events += h->events[s][sec_slot(sec)];
        *anomalies += h->anomalies[s][sec_slot(sec)];
    }
}

uint64_t gw_history_type_hour(const struct gw_history *h, int64_t now_ms, enum bm_svc s, int t)
{
    int64_t now = floor_div(floor_div(now_ms, 1000), 60);
    uint64_t n = 0;

    if (h->min == 0 || t < 0 || t >= GEN_MAX_TYPES)
        return 0;
    for (int k = 0; k < GW_HIST_MINS; k++) {
        int64_t min = now - k;
        if (min > h->min || min <= h->min - GW_HIST_MINS)
            continue;
        n += h->by_type[s][t][min_slot(min)];
    }
    return n;
}
