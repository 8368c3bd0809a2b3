/* encode.c - transaction service: the names of the enumerations and a
 * record's JSON object. */
#include "jw.h"
#include "txn_internal.h"

const char *const txn_anomaly_names[TXN_A_LABELS] = {
    "suspicious_high_amount", "fraud_pattern", "money_laundering", "cascade_failure",
};
const char *const txn_type_names[TXN_T_COUNT] = {
    "purchase", "transfer", "withdrawal", "deposit",
};
const char *const txn_channel_names[TXN_C_COUNT] = {
    "online", "mobile", "atm", "branch", "pos",
};
const char *const txn_segment_names[TXN_SEG_COUNT] = {
    "retail", "business", "premium",
};
static const char *const status_names[TXN_ST_COUNT] = {
    "approved", "declined", "pending",
};

enum bm_rc txn_rec_encode(const struct txn_rec *e, struct buf *b)
{
    struct jw w;

    jw_init(&w, b, false);
    jw_event_head(&w, "transaction_id", e->id, e->ts_ms, e->seq);
    jw_raw(&w, ",\"customer_id\":");
    jw_str(&w, e->customer_id);
    jw_raw(&w, ",\"customer_segment\":");
    jw_str(&w, e->segment >= 0 ? txn_segment_names[e->segment] : NULL);
    jw_raw(&w, ",\"account_id\":");
    jw_str(&w, e->account);
    jw_raw(&w, ",\"counterparty_account\":");
    jw_str(&w, e->counterparty);
    jw_raw(&w, ",\"merchant_id\":");
    jw_str(&w, e->merchant_id);
    jw_raw(&w, ",\"merchant_category\":");
    jw_str(&w, e->category);
    jw_raw(&w, ",\"amount\":");
    jw_fixed(&w, e->cents, 2);
    jw_raw(&w, ",\"currency\":\"USD\",\"transaction_type\":");
    jw_str(&w, txn_type_names[e->type]);
    jw_raw(&w, ",\"channel\":");
    jw_str(&w, txn_channel_names[e->channel]);
    jw_raw(&w, ",\"location\":{\"country\":");
    jw_str(&w, e->country);
    jw_raw(&w, ",\"city\":");
    jw_str(&w, e->city);
    jw_raw(&w, "},\"status\":");
    jw_str(&w, status_names[e->status]);
    jw_raw(&w, ",\"processing_time_ms\":");
    jw_fixed(&w, e->proc_ms, 0);
    jw_raw(&w, ",\"risk_score\":");
    jw_fixed(&w, e->risk_milli, 3);
    jw_event_tail_as(&w, e->anomaly >= 0 ? txn_anomaly_names[e->anomaly] : NULL, e->incident_id,
                     e->injected ? "injected" : e->api ? "api" : "generated");
    return jw_finish(&w);
}
