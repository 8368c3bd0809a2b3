/* txn.h - transaction service: population model, pure generator, API
 * input validation. Everything here is pure: PRNG, simulated time and
 * settings come in as arguments, so a seed and start time replay exactly. */
#ifndef BM_SERVICES_TRANSACTION_TXN_H
#define BM_SERVICES_TRANSACTION_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_errors.h"
#include "anomaly.h"
#include "buf.h"
#include "gen.h"
#include "rc.h"
#include "rng.h"

enum txn_anomaly {
    TXN_A_HIGH_AMOUNT, /* "suspicious_high_amount" */
    TXN_A_FRAUD,       /* "fraud_pattern" */
    TXN_A_LAUNDERING,  /* "money_laundering" */
    TXN_A_COUNT,       /* the types the rate settings schedule */
    /* a label only a cross-service cascade's part carries (xincident.h):
     * no rate of its own */
    TXN_A_CASCADE = TXN_A_COUNT, /* "cascade_failure" */
    TXN_A_LABELS
};
/* Indexed by enum txn_anomaly; the first TXN_A_COUNT are also the order
 * of gen_params.weights. */
extern const char *const txn_anomaly_names[TXN_A_LABELS];

/* Values of transaction_type and channel; txn_input.type/.channel index
 * these. */
enum txn_type { TXN_T_PURCHASE, TXN_T_TRANSFER, TXN_T_WITHDRAWAL, TXN_T_DEPOSIT, TXN_T_COUNT };
enum txn_channel { TXN_C_ONLINE, TXN_C_MOBILE, TXN_C_ATM, TXN_C_BRANCH, TXN_C_POS, TXN_C_COUNT };
extern const char *const txn_type_names[TXN_T_COUNT];
extern const char *const txn_channel_names[TXN_C_COUNT];

#define TXN_MAX_INCIDENT 8    /* largest incident in events */
#define TXN_AWAY_WORDS   ((10000u + 63u) / 64u) /* a bit per customer (population.c) */
#define TXN_MAX_ACTIVE   1000 /* incidents in flight at once */

/* A multi-event anomaly under way. POD, 32 bytes, no padding: persisted
 * as bytes. A slot of the heap of incident.h, so next_us comes first.
 * Laundering counterparties are not stored: they follow from the id (see
 * generator.c). */
struct txn_incident {
    int64_t next_us;   /* simulated time the next event is due */
    uint8_t id[16];    /* UUID v4 as raw bytes; text only in the event */
    uint16_t customer; /* index into the population */
    uint16_t merchant; /* fraud: the one merchant */
    uint8_t type;      /* enum txn_anomaly: fraud or laundering */
    uint8_t size;      /* events in all */
    uint8_t done;      /* events emitted so far, 1 .. size - 1 */
    uint8_t squeeze;   /* gaps scaled by 2^(-squeeze/8): incident.h */
};

/* Generator state that must survive a restart. POD: persisted as bytes
 * with every batch, so it stays small (~32 KB). */
struct txn_state {
    uint32_t version;  /* TXN_STATE_VERSION */
    uint32_t n_active; /* incidents in flight: active[0 .. n_active) */
    struct anom_sched sched;
    /* The arrival rate, which sizes incident gaps (generator.c): the
     * previous call's t_us, a moving average of the spacing and how many
     * spacings it has seen (up to its window). */
    int64_t last_us;
    double mean_dt_us;
    uint32_t dt_seen;
    /* the cascade part whose last event is out (xincident_part_done), in
     * what was padding */
    uint32_t xdone;
    /* Customers with a normal purchase of at most $60 away from home in
     * the 15-minute bucket away_bucket: at most one each (another one's
     * amount goes over $60), so normal traffic never shows fraud_pattern's
     * three within 15 minutes (such a window meets two buckets). */
    int64_t away_bucket;
    uint64_t away_bits[TXN_AWAY_WORDS];
    /* A binary min-heap on next_us: active[0] is the next one due. The
     * slots past n_active are all zero. */
    struct txn_incident active[TXN_MAX_ACTIVE];
};
#define TXN_STATE_VERSION 3u

struct txn_model; /* customers and merchants, derived from the seed */

/* Builds the stable population (deterministic in seed and segments). */
struct txn_model *txn_model_new(uint64_t seed, const double segments[3]);
void txn_model_free(struct txn_model *m);
size_t txn_model_customers(const struct txn_model *m);
/* Makes the model shard s's slice of the bank (shard.h): only customers
 * whose index % n is i are drawn, each as often as in the whole bank. */
struct bm_shard;
void txn_model_slice(struct txn_model *m, const struct bm_shard *s);
/* The slice's share of the bank's activity (1 for the whole bank). */
double txn_model_share(const struct txn_model *m);
/* Whether customer index c is in the model's slice. */
bool txn_model_owns(const struct txn_model *m, int64_t c);

void txn_state_init(struct txn_state *st, struct rng *r);

/* Generates the event at simulated time t_us with sequence seq: normal
 * traffic, the next due step of an active incident, or a new incident
 * when the scheduler says so. Appends the event JSON to ev->json and sets
 * ev->ts_ms, ev->seq, ev->anomaly_type. */
enum bm_rc txn_generate(const struct txn_model *m, struct txn_state *st,
                        const struct gen_params *p, struct rng *r,
                        int64_t t_us, uint64_t seq, struct gen_event *ev) BM_WUR;

/* A client's POST /transactions body, validated. */
struct txn_input {
    char customer_id[16];        /* "CUST_" + 6 digits, required */
    int64_t amount_cents;        /* required, 1 .. 100,000,000,00 */
    int type;                    /* index into transaction types, required */
    int channel;                 /* index into channels; default online */
    char merchant_id[32];        /* optional ("" = none) */
    char merchant_category[32];  /* optional */
    char counterparty_account[40]; /* optional */
    char account_id[40];         /* optional; default: customer's first */
    char country[3];             /* optional ISO alpha-2; default home */
    char city[48];               /* optional */
};

/* Validates a parsed JSON body. On failure fills *fail (422 unknown field,
 * wrong type, out of range, or a server-assigned field such as
 * is_anomaly / transaction_id) and returns BM_EINVAL. */
struct cJSON;
enum bm_rc txn_input_from_json(const struct cJSON *body, struct txn_input *in,
                               struct api_fail *fail) BM_WUR;

/* The data rules of the multi-event types for API events, against every
 * stored event of the window (API and generated alike):
 * - fraud_pattern: a purchase of at most $60 at a merchant, away from the
 *   customer's home city, that makes TXN_FRAUD_MIN_EVENTS or more such
 *   purchases (same customer, same merchant, each away) within 15 minutes;
 * - money_laundering: a transfer of a whole number of hundreds of dollars
 *   from $1,000 up to (not including) $10,000 that makes round transfers
 *   of that kind from the customer to TXN_LAUNDER_MIN_PAYEES or more
 *   distinct counterparties within 2 hours. */
#define TXN_FRAUD_MAX_CENTS    6000
#define TXN_FRAUD_MIN_EVENTS   3
#define TXN_FRAUD_WINDOW_MS    (15 * 60000LL)
#define TXN_ROUND_MIN_CENTS    100000
#define TXN_LAUNDER_MIN_PAYEES 3
#define TXN_LAUNDER_WINDOW_MS  (120 * 60000LL)

/* What an API event's rules need from the store: which events to read
 * (those of the window whose bodies hold both needles), and what they
 * showed. */
struct txn_history {
    int kind;                 /* TXN_A_FRAUD or TXN_A_LAUNDERING; -1: no look-up */
    int64_t from_ms;          /* the window: (from_ms, now] */
    char needle[2][48];       /* "customer_id":"...", and "merchant_id":"..." or the same */
    char merchant[32];        /* fraud: the merchant */
    int64_t customer;         /* model index, -1: unknown customer */
    int matches;              /* fraud: earlier away small purchases there */
    int payees;               /* laundering: earlier distinct counterparties */
    char payee[TXN_LAUNDER_MIN_PAYEES][40];
    char incident_id[RNG_UUID_LEN + 1]; /* the newest API incident of kind in the window */
};

/* Which look-up in (if any) needs, at simulated time t_ms, into *h. */
void txn_history_need(const struct txn_model *m, const struct txn_input *in, int64_t t_ms,
                      struct txn_history *h);
/* One stored event of the window (oldest first): counts it if it is part
 * of the pattern h looks for. api: origin "api". */
void txn_history_add(const struct txn_model *m, struct txn_history *h, const char *body,
                     size_t len, bool api, const char *anomaly_type);

/* Builds the stored event for an API request: id from r, timestamp t_us,
 * labelled by the data rules (suspicious_high_amount when the amount is
 * over $10,000 and far above the customer's usual; fraud_pattern and
 * money_laundering by the rules above with h, NULL: none read), risk_score
 * and status computed like generated events, origin "api". A
 * multi-event anomaly joins the API incident in h or starts one (id from
 * r); every anomaly's incident is ev->incident_id (a single event's: its
 * own id). */
enum bm_rc txn_from_input(const struct txn_model *m, const struct txn_input *in,
                          const struct txn_history *h, struct rng *r, int64_t t_us,
                          uint64_t seq, struct gen_event *ev) BM_WUR;

/* ---- store.c: the service's statements (no tables of its own) ---- */

struct db;
struct db_sql;
extern const struct db_sql txn_store_sql;
/* Writer, in the API event's transaction: hands every stored event of
 * h's window whose body holds both needles to txn_history_add. */
enum bm_rc txn_store_history(struct db *db, const struct txn_model *m,
                             struct txn_history *h) BM_WUR;

/* ---- inject.c ---- */

/* service_def.inject_check: a type, a customer_id target, a size (fraud
 * and laundering 3..TXN_MAX_INCIDENT, usual 5; a high amount 1). */
struct api_fail;
struct gen_inject;
enum bm_rc txn_inject_check(const void *model, const char *type, const struct cJSON *target,
                            int64_t size, struct gen_inject *inj, struct api_fail *f) BM_WUR;


/* The generator's hooks, for genloop.c and bankmock-generate. */
extern const struct service_gen txn_gen_hooks;

#endif
