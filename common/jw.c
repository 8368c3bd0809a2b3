/* jw.c - sticky-failure JSON writer and the event envelope (see jw.h). */
#include "jw.h"

#include "timefmt.h"

void jw_init(struct jw *w, struct buf *b, bool raw)
{
    w->b = b;
    w->start = b->len;
    w->rc = BM_OK;
    w->raw = raw;
}

void jw_raw(struct jw *w, const char *s)
{
    if (w->rc == BM_OK)
        w->rc = buf_puts(w->b, s);
}

void jw_str(struct jw *w, const char *s)
{
    if (w->rc != BM_OK)
        return;
    if (!w->raw || !s || !*s) {
        w->rc = buf_put_json_str_or_null(w->b, s && *s ? s : NULL);
        return;
    }
    w->rc = buf_putc(w->b, '"');
    if (w->rc == BM_OK)
        w->rc = buf_puts(w->b, s);
    if (w->rc == BM_OK)
        w->rc = buf_putc(w->b, '"');
}

void jw_fixed(struct jw *w, int64_t v, int decimals)
{
    if (w->rc == BM_OK)
        w->rc = decimals ? buf_put_fixed(w->b, v, decimals) : buf_put_i64(w->b, v);
}

void jw_event_head(struct jw *w, const char *id_key, const char *id, int64_t ts_ms,
                   uint64_t seq)
{
    char ts[TIMEFMT_ISO_LEN + 1];

    timefmt_iso(ts_ms, ts);
    jw_raw(w, "{\"");
    jw_raw(w, id_key);
    jw_raw(w, "\":");
    jw_str(w, id);
    jw_raw(w, ",\"timestamp\":");
    jw_str(w, ts);
    jw_raw(w, ",\"sequence\":");
    jw_fixed(w, (int64_t)seq, 0);
}

void jw_event_tail(struct jw *w, const char *anomaly_type, const char *incident_id, bool api)
{
    jw_event_tail_as(w, anomaly_type, incident_id, api ? "api" : "generated");
}

void jw_event_tail_as(struct jw *w, const char *anomaly_type, const char *incident_id,
                      const char *origin)
{
    jw_raw(w, anomaly_type ? ",\"is_anomaly\":true,\"anomaly_type\":"
                           : ",\"is_anomaly\":false,\"anomaly_type\":");
    jw_str(w, anomaly_type);
    jw_raw(w, ",\"incident_id\":");
    jw_str(w, incident_id);
    jw_raw(w, ",\"origin\":");
    jw_str(w, origin);
    jw_raw(w, "}");
}

enum bm_rc jw_finish(struct jw *w)
{
    if (w->rc != BM_OK)
        buf_truncate(w->b, w->start);
    return w->rc;
}
