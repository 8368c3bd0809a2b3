/* jw.h - a JSON writer over a struct buf whose first failure sticks, so an
 * encoder reads straight through and checks once at the end; and the
 * envelope every generated event shares (id, timestamp, sequence first;
 * labels and origin last). */
#ifndef BM_COMMON_JW_H
#define BM_COMMON_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rc.h"

struct jw {
    struct buf *b;
    size_t start;  /* b->len when the writer began */
    enum bm_rc rc; /* the first failure, BM_OK until then */
    bool raw;      /* strings are known to need no escaping (built from
                    * tables, never a client's text): written as they are */
};

void jw_init(struct jw *w, struct buf *b, bool raw);
/* JSON text as it is: punctuation and keys. */
void jw_raw(struct jw *w, const char *s);
/* A string literal; "" and NULL write null. */
void jw_str(struct jw *w, const char *s);
/* v / 10^decimals with exactly that many decimals; an integer at 0. */
void jw_fixed(struct jw *w, int64_t v, int decimals);
/* Opens an event: {"<id_key>":id,"timestamp":"<ISO 8601>","sequence":seq */
void jw_event_head(struct jw *w, const char *id_key, const char *id, int64_t ts_ms,
                   uint64_t seq);
/* Closes it: ,"is_anomaly":..,"anomaly_type":..,"incident_id":..,"origin":..}
 * anomaly_type NULL: a normal event; api: made from a client's request. */
void jw_event_tail(struct jw *w, const char *anomaly_type, const char *incident_id, bool api);
/* jw_event_tail with the origin named: "generated", "api" or "injected". */
void jw_event_tail_as(struct jw *w, const char *anomaly_type, const char *incident_id,
                      const char *origin);
/* BM_OK, or the first failure with the buffer cut back to where the
 * writer began. */
enum bm_rc jw_finish(struct jw *w) BM_WUR;

#endif
