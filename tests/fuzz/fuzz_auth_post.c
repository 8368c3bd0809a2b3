/* fuzz_auth_post.c - a POST /auth body, taken the way routes.c's
 * h_post_auth() takes it (json_parse, auth_input_from_json,
 * auth_input_check against the population), and when accepted built into
 * the stored event as the writer thread would (auth_from_input), once
 * with no history and once after nine failures and a login in Sydney a
 * minute earlier.
 *
 * Invariants: a rejected body is a 422 whose error body is valid JSON; an
 * accepted one always builds an event; the event is valid JSON that says
 * what was posted (username, result, reason, IP, place, device), carries
 * the server's sequence and origin "api", and is labelled by the data
 * rules only: never without history; brute_force for the tenth failure. */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "json.h"
#include "support.h"

#define FUZZ_T_US INT64_C(1700000000123456)
#define FUZZ_SEQ 777u

static struct auth_model *model(void)
{
    static struct auth_model *m;

    if (!m)
        m = auth_model_new(42);
    FUZZ_CHECK(m != NULL);
    return m;
}

static bool member_is(const cJSON *obj, const char *key, const char *want)
{
    const cJSON *it = json_get(obj, key);

    if (!want || !want[0])
        return cJSON_IsNull(it);
    return cJSON_IsString(it) && strcmp(it->valuestring, want) == 0;
}

static bool number_near(const cJSON *obj, const char *key, double want, double tol)
{
    const cJSON *it = json_get(obj, key);

    return cJSON_IsNumber(it) && fabs(it->valuedouble - want) <= tol;
}

static void check_input(const struct auth_input *in)
{
    FUZZ_CHECK(in->username[0] && fuzz_terminated(in->username, sizeof(in->username)));
    FUZZ_CHECK(in->result == 0 || in->result == 1);
    FUZZ_CHECK(in->reason >= -1 && in->reason < AUTH_R_COUNT);
    FUZZ_CHECK(in->result == 1 || in->reason == -1);
    FUZZ_CHECK(in->method >= -1 && in->method < AUTH_M_COUNT);
    FUZZ_CHECK(in->ip[0] && fuzz_terminated(in->ip, sizeof(in->ip)));
    FUZZ_CHECK(fuzz_terminated(in->customer_id, sizeof(in->customer_id)));
    FUZZ_CHECK(!in->customer_id[0] || strlen(in->customer_id) == 11);
    FUZZ_CHECK(!in->has_location || (strlen(in->country) == 2 && fabs(in->lat) <= 90.0 &&
                                     fabs(in->lon) <= 180.0));
    FUZZ_CHECK(fuzz_terminated(in->city, sizeof(in->city)));
    FUZZ_CHECK(fuzz_terminated(in->fingerprint, sizeof(in->fingerprint)));
    FUZZ_CHECK(fuzz_terminated(in->os, sizeof(in->os)));
    FUZZ_CHECK(in->device_type >= -1 && in->device_type < AUTH_D_COUNT);
}

static void check_event(const struct auth_input *in, const char *text, size_t len,
                        bool history)
{
    cJSON *ev = NULL;
    const cJSON *loc, *dev, *seq, *anomalous, *type;

    FUZZ_CHECK(json_parse(text, len, &ev) == BM_OK && cJSON_IsObject(ev));
    FUZZ_CHECK(member_is(ev, "username", in->username));
    FUZZ_CHECK(member_is(ev, "result", in->result ? "failure" : "success"));
    if (!in->result)
        FUZZ_CHECK(cJSON_IsNull(json_get(ev, "failure_reason")));
    else if (in->reason >= 0)
        FUZZ_CHECK(member_is(ev, "failure_reason", auth_reason_names[in->reason]));
    else
        FUZZ_CHECK(cJSON_IsString(json_get(ev, "failure_reason")));
    if (in->method >= 0)
        FUZZ_CHECK(member_is(ev, "auth_method", auth_method_names[in->method]));
    FUZZ_CHECK(member_is(ev, "ip_address", in->ip));
    FUZZ_CHECK(member_is(ev, "origin", "api"));
    seq = json_get(ev, "sequence");
    FUZZ_CHECK(cJSON_IsNumber(seq) && seq->valuedouble == (double)FUZZ_SEQ);
    loc = json_get(ev, "location");
    FUZZ_CHECK(cJSON_IsObject(loc));
    if (in->has_location) {
        FUZZ_CHECK(member_is(loc, "country", in->country));
        FUZZ_CHECK(member_is(loc, "city", in->city));
        FUZZ_CHECK(number_near(loc, "latitude", in->lat, 0.5e-4 + 1e-9));
        FUZZ_CHECK(number_near(loc, "longitude", in->lon, 0.5e-4 + 1e-9));
    } else {
        FUZZ_CHECK(cJSON_IsNull(json_get(loc, "country")));
        FUZZ_CHECK(cJSON_IsNull(json_get(loc, "latitude")));
    }
    dev = json_get(ev, "device");
    FUZZ_CHECK(cJSON_IsObject(dev));
    FUZZ_CHECK(member_is(dev, "fingerprint", in->has_device ? in->fingerprint : NULL));
    FUZZ_CHECK(member_is(dev, "os", in->has_device ? in->os : NULL));
    FUZZ_CHECK(member_is(dev, "type", in->has_device && in->device_type >= 0
                                          ? auth_device_names[in->device_type]
                                          : NULL));
    anomalous = json_get(ev, "is_anomaly");
    type = json_get(ev, "anomaly_type");
    FUZZ_CHECK(cJSON_IsBool(anomalous));
    FUZZ_CHECK(cJSON_IsTrue(anomalous) ? cJSON_IsString(type) : cJSON_IsNull(type));
    /* a POST that completes a pattern of several events names their
     * API-made incident; a single-event anomaly's incident is the event */
    FUZZ_CHECK(member_is(ev, "anomaly_type", "brute_force") ||
                       member_is(ev, "anomaly_type", "credential_stuffing")
                   ? cJSON_IsString(json_get(ev, "incident_id"))
                   : cJSON_IsNull(json_get(ev, "incident_id")));
    if (!history)
        FUZZ_CHECK(!cJSON_IsTrue(anomalous));
    else if (in->result)
        FUZZ_CHECK(member_is(ev, "anomaly_type", "brute_force"));
    else if (cJSON_IsTrue(anomalous))
        FUZZ_CHECK(member_is(ev, "anomaly_type", "unusual_location") && in->has_location);
    cJSON_Delete(ev);
}

static void build_and_check(const struct auth_input *in, bool history)
{
    struct auth_history h;
    struct auth_detail detail;
    struct gen_event ev;
    struct buf b;
    struct rng r;

    memset(&h, 0, sizeof(h));
    if (history) {
        h.has_prev = true;
        h.prev_ts_ms = FUZZ_T_US / 1000 - 60000;
        h.prev_lat = -33.8688; /* Sydney */
        h.prev_lon = 151.2093;
        h.failures = AUTH_BRUTE_MIN_FAILURES - 1;
    }
    buf_init(&b, 64 * 1024);
    memset(&ev, 0, sizeof(ev));
    ev.json = &b;
    rng_seed(&r, 7);
    FUZZ_CHECK(auth_from_input(model(), in, &h, &r, FUZZ_T_US, FUZZ_SEQ, &ev, &detail) ==
               BM_OK);
    FUZZ_CHECK(ev.seq == FUZZ_SEQ && ev.detail == &detail);
    FUZZ_CHECK(strcmp(detail.username, in->username) == 0 && strcmp(detail.ip, in->ip) == 0);
    FUZZ_CHECK(detail.failure == (in->result == 1));
    check_event(in, b.data, b.len, history);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = NULL;
    struct auth_input in;
    struct api_fail f;
    enum bm_rc rc;

    if (size == 0 || json_parse((const char *)data, size, &obj) != BM_OK)
        return 0; /* 400, answered before the validator */
    memset(&in, 0, sizeof(in));
    memset(&f, 0, sizeof(f));
    rc = auth_input_from_json(obj, &in, &f);
    if (rc == BM_OK)
        rc = auth_input_check(model(), &in, &f);
    if (rc != BM_OK) {
        FUZZ_CHECK(fuzz_fail_is_422(&f));
        FUZZ_CHECK(fuzz_fail_body_ok(&f));
    } else {
        check_input(&in);
        build_and_check(&in, false);
        build_and_check(&in, true);
    }
    cJSON_Delete(obj);
    return 0;
}
