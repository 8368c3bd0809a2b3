/* auth.h - authentication service: user population, pure login
 * generator, POST /auth validation and labelling, and the store that
 * keeps what the rules need. Model and generator are pure: PRNG,
 * simulated time and settings come in as arguments, so a seed and start
 * time replay exactly. */
#ifndef BM_SERVICES_AUTH_AUTH_H
#define BM_SERVICES_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anomaly.h"
#include "api_errors.h"
#include "buf.h"
#include "gen.h"
#include "rc.h"
#include "rng.h"

enum auth_anomaly {
    AUTH_A_BRUTE_FORCE, /* "brute_force" */
    AUTH_A_STUFFING,    /* "credential_stuffing" */
    AUTH_A_LOCATION,    /* "unusual_location" */
    AUTH_A_COUNT,       /* the types the rate settings schedule */
    /* a label only a cross-service cascade's part carries (xincident.h):
     * no rate of its own */
    AUTH_A_CASCADE = AUTH_A_COUNT, /* "cascade_failure" */
    AUTH_A_LABELS
};
/* Indexed by enum auth_anomaly; the first AUTH_A_COUNT are also the order
 * of gen_params.weights. */
extern const char *const auth_anomaly_names[AUTH_A_LABELS];

enum auth_method { AUTH_M_PASSWORD, AUTH_M_MFA, AUTH_M_BIOMETRIC, AUTH_M_COUNT };
extern const char *const auth_method_names[AUTH_M_COUNT];

enum auth_reason {
    AUTH_R_INVALID_PASSWORD,
    AUTH_R_EXPIRED_PASSWORD,
    AUTH_R_MFA_FAILED,
    AUTH_R_BIOMETRIC_FAILED,
    AUTH_R_ACCOUNT_LOCKED,
    AUTH_R_UNKNOWN_USER,
    AUTH_R_UNAVAILABLE, /* a backend down: a cascade's part only */
    AUTH_R_COUNT
};
extern const char *const auth_reason_names[AUTH_R_COUNT];

enum auth_device { AUTH_D_DESKTOP, AUTH_D_MOBILE, AUTH_D_TABLET, AUTH_D_COUNT };
extern const char *const auth_device_names[AUTH_D_COUNT];

/* The data rules of SPEC §5, shared by the generator, the API's labelling
 * and the tests. */
#define AUTH_BRUTE_MIN_FAILURES 10
#define AUTH_BRUTE_WINDOW_MS    300000LL
#define AUTH_STUFF_MIN_USERS    20      /* distinct usernames failing from one address */
#define AUTH_STUFF_WINDOW_MS    300000LL /* ... within 5 minutes, under 5 % successes */
#define AUTH_TRAVEL_MIN_KM      500.0
#define AUTH_TRAVEL_MAX_KMH     1000.0

#define AUTH_N_USERS      10000u
#define AUTH_USERNAME_MAX 64    /* API usernames; the population's are shorter */
#define AUTH_MAX_INCIDENT 64    /* largest incident in events */
#define AUTH_MAX_ACTIVE   768   /* incidents in flight at once */
#define AUTH_SEEN         64    /* recent normal logins remembered */
#define AUTH_FAIL_WORDS   ((AUTH_N_USERS + 63u) / 64u)

/* A multi-event anomaly under way. POD, 32 bytes, no padding: persisted
 * as bytes. A slot of the heap of incident.h, so next_us comes first.
 * The attacker's address, device and place, and the usernames a stuffing
 * list tries, are not stored: they follow from the id. */
struct auth_incident {
    int64_t next_us;    /* simulated time the next event is due */
    uint8_t id[16];     /* UUID v4 as raw bytes; text only in the event */
    uint16_t user;      /* brute force: the account attacked */
    uint8_t type;       /* enum auth_anomaly: brute force or stuffing */
    uint8_t size;       /* events in all */
    uint8_t done;       /* events emitted so far, 1 .. size - 1 */
    uint8_t success_at; /* the step that gets in; 0xff: none */
    uint8_t squeeze;    /* gaps scaled by 2^(-squeeze/8): incident.h */
    uint8_t flags;      /* AUTH_INC_INJECTED, else 0 */
};
#define AUTH_INC_INJECTED 0x01u /* started by an injection: not counted (incident.h) */

/* A normal login, kept so an unusual_location attack can follow one. */
struct auth_seen {
    int64_t t_us;
    uint32_t user;
    uint32_t zero;
};

/* What the store needs of an event beside its JSON (gen_event.detail).
 * POD without padding: the generator's copy lives in its state. */
struct auth_detail {
    int64_t ts_ms;
    int64_t lat_e4, lon_e4; /* degrees x 10^4, as in the JSON */
    char username[AUTH_USERNAME_MAX + 1];
    char ip[16];
    uint8_t failure;  /* result "failure" */
    uint8_t baseline; /* non-anomalous with coordinates: the user's new baseline */
    uint8_t zero[5];
};

/* Generator state that must survive a restart. POD: persisted as bytes
 * with every batch, so it stays small (~30 KB). Users' whereabouts are
 * not state: they are a function of (seed, user, day) (generator.c). */
struct auth_state {
    uint32_t version;  /* AUTH_STATE_VERSION */
    uint32_t n_active; /* incidents in flight: active[0 .. n_active) */
    struct anom_sched sched;
    /* The arrival rate, which sizes incident gaps: the previous call's
     * t_us, a moving average of the spacing and how many it has seen. */
    int64_t last_us;
    double mean_dt_us;
    uint32_t dt_seen;
    uint32_t seen_next; /* ring slot written next */
    int64_t last_ts_us; /* the previous event's timestamp */
    /* Steps still to come of the incidents in flight, per type: a new
     * incident's type is picked as if they were out already. */
    uint32_t pending[AUTH_A_COUNT];
    /* the cascade part whose last event is out (xincident_part_done), in
     * what was padding */
    uint32_t xdone;
    /* A normal handful of mistyped passwords under way (typo_left > 0 or
     * its success to come, while typo_next_us != 0): one user, one fresh
     * cellular address, 3-6 failures seconds apart, then a success; far
     * below the brute-force count (generator.c). */
    int64_t typo_next_us;
    uint32_t typo_user;
    uint32_t typo_ip;
    uint32_t typo_left;
    uint32_t typo_zero; /* padding, kept 0 */
    /* Users with a normal failure from their home [0] or office [1]
     * address in the 40-second bucket fail_bucket: at most one each, so
     * normal traffic never shows ten from one address in five minutes.
     * Cellular and hotel addresses change with every login. */
    int64_t fail_bucket;
    uint64_t fail_bits[2][AUTH_FAIL_WORDS];
    struct auth_seen seen[AUTH_SEEN];
    /* The last event's store fields; gen_event.detail points here. */
    struct auth_detail out;
    /* A binary min-heap on next_us: active[0] is the next one due. The
     * slots past n_active are all zero. */
    struct auth_incident active[AUTH_MAX_ACTIVE];
};
#define AUTH_STATE_VERSION 3u

struct auth_model; /* users and places, derived from the seed */

/* Builds the stable population (deterministic in seed). NULL on ENOMEM. */
struct auth_model *auth_model_new(uint64_t seed);
void auth_model_free(struct auth_model *m);
/* Makes the model shard s's slice of the bank (shard.h): only users
 * whose index % n is i log in, each as often as in the whole bank, and
 * attacks name only them. BM_ENOMEM. */
struct bm_shard;
enum bm_rc auth_model_slice(struct auth_model *m, const struct bm_shard *s) BM_WUR;
/* The slice's share of the bank's logins (1 for the whole bank). */
double auth_model_share(const struct auth_model *m);
/* Whether user index u is in the model's slice. */
bool auth_model_owns(const struct auth_model *m, int64_t u);
size_t auth_model_users(const struct auth_model *m);

void auth_state_init(struct auth_state *st, struct rng *r);
/* Restored bytes are a state this binary understands. */
bool auth_state_valid(const struct auth_state *st);

/* Generates the event at simulated time t_us with sequence seq: normal
 * traffic, the next due step of an active incident, or a new incident
 * when the scheduler says so. Appends the JSON to ev->json, sets ev->ts_ms,
 * ev->seq, ev->anomaly_type and ev->detail (into st). On failure st and r
 * are as they were. */
enum bm_rc auth_generate(const struct auth_model *m, struct auth_state *st,
                         const struct gen_params *p, struct rng *r, int64_t t_us, uint64_t seq,
                         struct gen_event *ev) BM_WUR;

/* A client's POST /auth body, validated. Strings are "" when absent. */
struct auth_input {
    char username[AUTH_USERNAME_MAX + 1]; /* required */
    char customer_id[16];                 /* optional "CUST_" + 6 digits */
    int result;                           /* 1 failure, 0 success; required */
    int reason;                           /* enum auth_reason, -1: default */
    int method;                           /* enum auth_method, -1: default */
    char ip[16];                          /* required dotted IPv4 */
    bool has_location;
    char country[3];
    char city[48];
    double lat, lon;
    bool has_device;
    char fingerprint[65];
    int device_type; /* enum auth_device, -1: null */
    char os[33];
};

struct cJSON;
/* Validates a parsed JSON body. On failure fills *fail (422 unknown field,
 * wrong type, out of range, or a server-set field such as is_anomaly) and
 * returns BM_EINVAL. */
enum bm_rc auth_input_from_json(const struct cJSON *body, struct auth_input *in,
                                struct api_fail *fail) BM_WUR;

/* Checks a validated input against the population: a customer_id sent
 * with a known username must be that user's. */
enum bm_rc auth_input_check(const struct auth_model *m, const struct auth_input *in,
                            struct api_fail *fail) BM_WUR;

/* What the database says the rules need about an API login. */
struct auth_history {
    bool has_prev;       /* the user's previous non-anomalous login */
    int64_t prev_ts_ms;
    double prev_lat, prev_lon;
    int64_t failures;    /* failures of this username from this IP in the
                          * 5 minutes up to now, this one not counted */
    /* The address in the 5 minutes up to now, this login not counted:
     * distinct usernames that failed from it (and whether this username
     * is one), its failures, and its successes (counted only once the
     * usernames could reach AUTH_STUFF_MIN_USERS; else 0). */
    int64_t ip_fail_users;
    bool ip_has_user;
    int64_t ip_failures;
    int64_t ip_successes;
    /* The newest API-made incident of the type in the same 5 minutes:
     * brute_force of this username from this address, credential_stuffing
     * from this address; "" if none. An API event that meets the rule
     * joins it, else starts one. */
    char brute_id[RNG_UUID_LEN + 1];
    char stuff_id[RNG_UUID_LEN + 1];
};

/* Builds the stored event for an API request: id from r, timestamp t_us,
 * labelled by the data rules, first that applies (brute_force: the 10th
 * failure or later of the username from the IP within 5 minutes;
 * credential_stuffing: a login from an address from which, counting it,
 * 20 or more distinct usernames failed within 5 minutes with under 5 %
 * of its logins there successes; unusual_location: >= 500 km from the
 * previous non-anomalous login at over 1,000 km/h), risk_score like
 * generated events, origin "api". A brute_force or credential_stuffing
 * event joins the API incident in h (same window) or starts one (id from
 * r); every anomaly's incident is ev->incident_id (a single event's: its
 * own id). Fills *detail for the store and points ev->detail at it. On
 * failure r is unchanged. */
enum bm_rc auth_from_input(const struct auth_model *m, const struct auth_input *in,
                           const struct auth_history *h, struct rng *r, int64_t t_us,
                           uint64_t seq, struct gen_event *ev, struct auth_detail *detail) BM_WUR;

/* Great-circle distance in km (haversine, mean Earth radius). */
double auth_distance_km(double lat1, double lon1, double lat2, double lon2);
/* The unusual_location rule: km from the previous non-anomalous login,
 * dt_ms later (<= 0 counts as an infinite speed). */
bool auth_impossible_travel(double km, int64_t dt_ms);

/* ---- store.c: the service's tables beside the common events table ---- */

struct db;
struct db_sql;
struct gen_event;

/* Past this, no distance on Earth (20,015 km) is covered faster than
 * 1,000 km/h: an older previous login cannot make an unusual_location. */
#define AUTH_TRAVEL_SPAN_MS 72060000LL /* 20.0167 h */

/* auth_failures(seq, ts, username, ip): every failed login, for the
 * failed-attempts view and the brute-force rule; auth_baselines(chunk,
 * ts_max, slots): the non-anomalous logins with a place, 256 sequences a
 * row, for the unusual_location rule (store.c). */
extern const struct db_sql auth_store_sql;

/* service_def hooks: in the event's write transaction, on the writer. */
enum bm_rc auth_store_event(struct db *db, const struct gen_event *ev) BM_WUR;
enum bm_rc auth_store_prune(struct db *db, uint64_t oldest_kept) BM_WUR;

/* A user's newest baseline among the complete chunks a reader sees. */
struct auth_baseline {
    bool found;
    int64_t ts_ms;
    int64_t lat_e4, lon_e4;
    int64_t newest_chunk; /* the newest chunk that was looked at, -1: none */
};

/* Any thread, any connection: the newest baseline of username in the
 * chunks written so far that is younger than AUTH_TRAVEL_SPAN_MS before
 * now_ms (older ones cannot matter). */
enum bm_rc auth_store_baseline(struct db *db, const char *username, int64_t now_ms,
                               struct auth_baseline *b) BM_WUR;

/* The writer connection, inside the write transaction of the event with
 * sequence seq, before its row: completes *seen (the newer chunks and the
 * chunk being filled, up to sequence seq - 1) and counts the failures for
 * the brute force rule, into *h. */
enum bm_rc auth_store_history(struct db *db, const char *username, const char *ip,
                              int64_t ts_ms, uint64_t seq, const struct auth_baseline *seen,
                              struct auth_history *h) BM_WUR;

/* Failures with from_ms < ts <= to_ms grouped by username and by IP,
 * `limit` rows each, most first. Appends the JSON object. */
struct auth_failed_query {
    int64_t window_s;
    int64_t from_ms;
    int64_t to_ms;
    int64_t limit;
};
enum bm_rc auth_store_failed_attempts(struct db *db, const struct auth_failed_query *q,
                                      struct buf *out) BM_WUR;

/* ---- inject.c ---- */

/* service_def.inject_check: brute_force (a username target, 10..30
 * failures, usual 20), credential_stuffing (20..60, usual 40),
 * unusual_location (1); the last two take no target. */
struct api_fail;
struct gen_inject;
enum bm_rc auth_inject_check(const void *model, const char *type, const struct cJSON *target,
                             int64_t size, struct gen_inject *inj, struct api_fail *f) BM_WUR;


/* The generator's hooks, for genloop.c and bankmock-generate. */
extern const struct service_gen auth_gen_hooks;

#endif
