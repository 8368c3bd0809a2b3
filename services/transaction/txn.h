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
    TXN_A_COUNT
};
/* Indexed by enum txn_anomaly; also the order of gen_params.weights. */
extern const char *const txn_anomaly_names[TXN_A_COUNT];

/* Values of transaction_type and channel; txn_input.type/.channel index
 * these. */
enum txn_type { TXN_T_PURCHASE, TXN_T_TRANSFER, TXN_T_WITHDRAWAL, TXN_T_DEPOSIT, TXN_T_COUNT };
enum txn_channel { TXN_C_ONLINE, TXN_C_MOBILE, TXN_C_ATM, TXN_C_BRANCH, TXN_C_POS, TXN_C_COUNT };
extern const char *const txn_type_names[TXN_T_COUNT];
extern const char *const txn_channel_names[TXN_C_COUNT];

#define TXN_MAX_INCIDENT 8    /* largest incident in events */
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
    uint32_t zero; /* padding, kept 0 */
    /* A binary min-heap on next_us: active[0] is the next one due. The
     * slots past n_active are all zero. */
    struct txn_incident active[TXN_MAX_ACTIVE];
};
#define TXN_STATE_VERSION 2u

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

/* Builds the stored event for an API request: id from r, timestamp t_us,
 * labelled by the data rules (suspicious_high_amount when the amount is
 * over $10,000 and far above the customer's usual), risk_score and status
 * computed like generated events, origin "api". */
enum bm_rc txn_from_input(const struct txn_model *m, const struct txn_input *in,
                          struct rng *r, int64_t t_us, uint64_t seq,
                          struct gen_event *ev) BM_WUR;

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
