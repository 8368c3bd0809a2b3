/* encode.c - authentication service: the names of the enumerations, and
 * a record's JSON object and store fields. */
#include <string.h>

#include "auth_internal.h"
#include "jw.h"
#include "risk.h"
#include "str.h"

const char *const auth_anomaly_names[AUTH_A_LABELS] = {
    "brute_force", "credential_stuffing", "unusual_location", "cascade_failure",
};
const char *const auth_method_names[AUTH_M_COUNT] = { "password", "mfa", "biometric" };
const char *const auth_reason_names[AUTH_R_COUNT] = {
    "invalid_password", "expired_password", "mfa_failed", "biometric_failed",
    "account_locked",   "unknown_user",     "service_unavailable",
};
const char *const auth_device_names[AUTH_D_COUNT] = { "desktop", "mobile", "tablet" };

static void encode_location(struct jw *w, const struct auth_rec *e)
{
    jw_raw(w, ",\"location\":{\"country\":");
    jw_str(w, e->has_location ? e->country : NULL);
    jw_raw(w, ",\"city\":");
    jw_str(w, e->has_location ? e->city : NULL);
    jw_raw(w, ",\"latitude\":");
    if (e->has_location)
        jw_fixed(w, e->lat_e4, 4);
    else
        jw_raw(w, "null");
    jw_raw(w, ",\"longitude\":");
    if (e->has_location)
        jw_fixed(w, e->lon_e4, 4);
    else
        jw_raw(w, "null");
    jw_raw(w, "}");
}

static void encode_device(struct jw *w, const struct auth_rec *e)
{
    jw_raw(w, ",\"device\":{\"fingerprint\":");
    jw_str(w, e->has_device ? e->fingerprint : NULL);
    jw_raw(w, ",\"type\":");
    jw_str(w, e->has_device && e->device_type >= 0 ? auth_device_names[e->device_type] : NULL);
    jw_raw(w, ",\"os\":");
    jw_str(w, e->has_device ? e->os : NULL);
    jw_raw(w, "}");
}

enum bm_rc auth_rec_encode(const struct auth_rec *e, struct buf *b)
{
    struct jw w;

    /* Generated events are built from the tables above and need no
     * escaping; a client's text always gets it. */
    jw_init(&w, b, !e->api);
    jw_event_head(&w, "event_id", e->id, e->ts_ms, e->seq);
    jw_raw(&w, ",\"customer_id\":");
    jw_str(&w, e->customer_id);
    jw_raw(&w, ",\"username\":");
    jw_str(&w, e->username);
    jw_raw(&w, e->failure ? ",\"result\":\"failure\",\"failure_reason\":"
                          : ",\"result\":\"success\",\"failure_reason\":");
    jw_str(&w, e->reason >= 0 ? auth_reason_names[e->reason] : NULL);
    jw_raw(&w, ",\"auth_method\":");
    jw_str(&w, auth_method_names[e->method]);
    jw_raw(&w, ",\"ip_address\":");
    jw_str(&w, e->ip);
    encode_location(&w, e);
    encode_device(&w, e);
    jw_raw(&w, ",\"risk_score\":");
    jw_fixed(&w, e->risk_milli, 3);
    jw_event_tail_as(&w, e->anomaly >= 0 ? auth_anomaly_names[e->anomaly] : NULL, e->incident_id,
                     e->injected ? "injected" : e->api ? "api" : "generated");
    return jw_finish(&w);
}

void auth_rec_detail(const struct auth_rec *e, struct auth_detail *d)
{
    memset(d, 0, sizeof *d);
    d->ts_ms = e->ts_ms;
    str_copy(d->username, sizeof d->username, e->username);
    str_copy(d->ip, sizeof d->ip, e->ip);
    d->failure = e->failure ? 1 : 0;
    d->baseline = e->anomaly < 0 && e->has_location ? 1 : 0;
    d->lat_e4 = e->lat_e4;
    d->lon_e4 = e->lon_e4;
}
