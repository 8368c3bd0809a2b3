/* api.c - authentication service: an event from a POST /auth input:
 * its record, its features and its label against the user's history. */
#include <math.h>
#include <string.h>

#include "auth_internal.h"
#include "str.h"

static bool is_user_device(const struct auth_model *m, uint32_t u, const char *fp)
{
    char mine[65];

    for (int k = 0; k < m->users[u].ndev; k++) {
        auth_user_device_fp(m, u, k, mine);
        if (strcmp(mine, fp) == 0)
            return true;
    }
    return false;
}

static void input_rec(const struct auth_model *m, int64_t u, const struct auth_input *in,
                      struct auth_rec *e)
{
    str_copy(e->username, sizeof e->username, in->username);
    if (u >= 0)
        auth_rec_user(m, (uint32_t)u, e);
    else
        str_copy(e->customer_id, sizeof e->customer_id, in->customer_id);
    e->failure = in->result == 1;
    e->reason = !e->failure       ? -1
                : in->reason >= 0 ? in->reason
                : u < 0           ? AUTH_R_UNKNOWN_USER
                                  : AUTH_R_INVALID_PASSWORD;
    e->method = in->method >= 0 ? in->method : AUTH_M_PASSWORD;
    str_copy(e->ip, sizeof e->ip, in->ip);
    /* A login without a place stays without one: neither judged nor a
     * baseline for the travel rule. */
    if (in->has_location) {
        e->has_location = true;
        str_copy(e->country, sizeof e->country, in->country);
        str_copy(e->city, sizeof e->city, in->city);
        e->lat_e4 = llround(in->lat * 1e4);
        e->lon_e4 = llround(in->lon * 1e4);
    }
    e->has_device = in->has_device;
    str_copy(e->fingerprint, sizeof e->fingerprint, in->fingerprint);
    e->device_type = in->device_type;
    str_copy(e->os, sizeof e->os, in->os);
    e->api = true;
}

/* What the risk engine knows about an API login; u < 0: unknown user. */
static void input_features(const struct auth_model *m, int64_t u, const struct auth_rec *e,
                           struct auth_features *f)
{
    const struct auth_user *us = u >= 0 ? &m->users[u] : NULL;
    double lat = (double)e->lat_e4 / 1e4, lon = (double)e->lon_e4 / 1e4, km = 0.0;
    int offset = us ? auth_cities[us->city].utc_offset_min : 0;
    uint32_t ip = 0;

    memset(f, 0, sizeof *f);
    f->failure = e->failure;
    f->unknown_user = us == NULL;
    f->new_device = !us || !e->fingerprint[0] || !is_user_device(m, (uint32_t)u, e->fingerprint);
    if (e->has_location) {
        int c = auth_nearest_city(lat, lon, &km);

        if (km < 300.0)
            offset = auth_cities[c].utc_offset_min;
        f->foreign = strcmp(e->country, us ? auth_cities[us->city].country : "US") != 0;
        if (us)
            f->km_from_home = auth_distance_km(us->home_lat, us->home_lon, lat, lon);
    }
    f->local_hour = timefmt_local_hour(e->ts_ms, offset);
    if (auth_parse_ipv4(e->ip, &ip))
        f->datacenter = auth_is_datacenter(ip);
}

/* credential_stuffing's rule, this login counted: enough distinct
 * usernames failed from the address, and under 5 % of its logins got in. */
static bool stuffing(const struct auth_rec *e, const struct auth_history *h)
{
    int64_t users = h->ip_fail_users + (e->failure && !h->ip_has_user ? 1 : 0);
    int64_t successes = h->ip_successes + (e->failure ? 0 : 1);
    int64_t logins = h->ip_failures + h->ip_successes + 1;

    return users >= AUTH_STUFF_MIN_USERS && successes * 20 < logins;
}

/* The data rules of SPEC §5 on what the database holds. */
static int label_of(const struct auth_rec *e, const struct auth_history *h)
{
    if (e->failure && h->failures + 1 >= AUTH_BRUTE_MIN_FAILURES)
        return AUTH_A_BRUTE_FORCE;
    if (stuffing(e, h))
        return AUTH_A_STUFFING;
    if (h->has_prev && e->has_location) {
        double km = auth_distance_km(h->prev_lat, h->prev_lon, (double)e->lat_e4 / 1e4,
                                     (double)e->lon_e4 / 1e4);

        if (auth_impossible_travel(km, e->ts_ms - h->prev_ts_ms))
            return AUTH_A_LOCATION;
    }
    return -1;
}

enum bm_rc auth_from_input(const struct auth_model *m, const struct auth_input *in,
                           const struct auth_history *h, struct rng *r, int64_t t_us,
                           uint64_t seq, struct gen_event *ev, struct auth_detail *detail)
{
    struct rng saved = *r;
    struct auth_rec e;
    struct auth_features f;
    int64_t u = auth_find_user(m, in->username);
    enum bm_rc rc;

    if (in->result < 0 || in->result > 1 || in->reason >= AUTH_R_COUNT ||
        in->method >= AUTH_M_COUNT || in->device_type >= AUTH_D_COUNT)
        return BM_EINVAL;
    memset(&e, 0, sizeof e);
    rng_uuid4(r, e.id);
    e.ts_ms = timefmt_ms_of_us(t_us);
    e.seq = seq;
    input_rec(m, u, in, &e);
    input_features(m, u, &e, &f);
    e.anomaly = label_of(&e, h);
    /* an incident of several events: the API's own one under way, or a new one */
    if (e.anomaly == AUTH_A_BRUTE_FORCE || e.anomaly == AUTH_A_STUFFING) {
        const char *id = e.anomaly == AUTH_A_BRUTE_FORCE ? h->brute_id : h->stuff_id;

        if (id[0])
            memcpy(e.incident_id, id, sizeof e.incident_id);
        else
            rng_uuid4(r, e.incident_id);
    }
    auth_assess(&f, &e, r);
    rc = auth_rec_encode(&e, ev->json);
    if (rc != BM_OK) {
        *r = saved;
        return rc;
    }
    auth_rec_detail(&e, detail);
    ev->ts_ms = e.ts_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? auth_anomaly_names[e.anomaly] : NULL;
    ev->detail = detail;
    /* its incident (a single event's: its own id), complete as it stands:
     * a later event that meets the rule in the window extends it */
    if (e.anomaly >= 0)
        memcpy(ev->incident_id, e.incident_id[0] ? e.incident_id : e.id, sizeof ev->incident_id);
    ev->incident_open = false;
    return BM_OK;
}
