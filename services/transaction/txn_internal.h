/* txn_internal.h - shared by the pure parts of the service
 * (population.c, generator.c, score.c, encode.c, post.c, api.c): the
 * population layout, the event record and its scoring and encoding. Not
 * for routes.c, which sees the opaque struct txn_model of txn.h. */
#ifndef BM_SERVICES_TRANSACTION_TXN_INTERNAL_H
#define BM_SERVICES_TRANSACTION_TXN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rc.h"
#include "rng.h"
#include "shard.h"
#include "timefmt.h"
#include "txn.h"

enum txn_segment { TXN_SEG_RETAIL, TXN_SEG_BUSINESS, TXN_SEG_PREMIUM, TXN_SEG_COUNT };
extern const char *const txn_segment_names[TXN_SEG_COUNT];

#define TXN_HIGH_AMOUNT_CENTS 1000000 /* $10,000: above it, a suspicious_high_amount */
/* Processing time: a normal transaction's is capped at the core's
 * time-out, TXN_PROC_MAX_MS; a cascade's part (a call to a failing
 * backend) waits TXN_CASCADE_MIN_MS or more. */
#define TXN_PROC_MAX_MS    6000
#define TXN_CASCADE_MIN_MS 8000
#define TXN_CASCADE_MAX_MS 30000

enum txn_status { TXN_ST_APPROVED, TXN_ST_DECLINED, TXN_ST_PENDING, TXN_ST_COUNT };

struct txn_city {
    const char *name;
    const char *country; /* ISO 3166 alpha-2 */
    int utc_offset_min;  /* standard time; DST is not modelled */
    unsigned weight;     /* share of home addresses (~population) */
};
/* The first TXN_N_US_CITIES are in the US, the rest abroad. */
#define TXN_N_CITIES    36
#define TXN_N_US_CITIES 30
extern const struct txn_city txn_cities[TXN_N_CITIES];

enum txn_category {
    TXN_CAT_GROCERY,
    TXN_CAT_RESTAURANT,
    TXN_CAT_FUEL,
    TXN_CAT_PHARMACY,
    TXN_CAT_CLOTHING,
    TXN_CAT_HOME_IMPROVEMENT,
    TXN_CAT_HEALTHCARE,
    TXN_CAT_ELECTRONICS,
    TXN_CAT_ENTERTAINMENT,
    TXN_CAT_TRAVEL,
    TXN_CAT_ONLINE_RETAIL,
    TXN_CAT_UTILITIES,
    TXN_CAT_COUNT
};

struct txn_category_info {
    const char *name;
    double amount_mult;     /* scales the customer's median amount */
    double risk;            /* added to the risk score */
    unsigned pos_weight;    /* share among in-person merchants */
    unsigned online_weight; /* share among online merchants */
};
extern const struct txn_category_info txn_categories[TXN_CAT_COUNT];

/* Fixed size, no pointers: 10,000 of these are ~480 KB. */
struct txn_customer {
    uint64_t account[2]; /* 10-digit numbers; account[1] == 0: only one */
    float mu;            /* log of the median purchase, dollars */
    float sigma;         /* log-normal spread */
    uint32_t usual_hi;   /* cents: the top of this customer's usual amounts */
    uint32_t num;        /* CUST_ number, 100000..999999 */
    uint8_t segment;     /* enum txn_segment */
    uint8_t city;        /* home, index into txn_cities */
    uint8_t digital;     /* 0..100: leaning to online/mobile channels */
    uint8_t travel_pm;   /* per mille of days spent travelling */
    uint8_t hour_lo;     /* usual active hours [hour_lo, hour_hi), local */
    uint8_t hour_hi;
    uint8_t big;         /* pays payroll or suppliers over $10,000 (usual_hi covers it) */
    uint16_t rent;       /* monthly rent to payee 0, whole dollars; 0: none */
    uint8_t rent_day;    /* 1..28: rent goes out on this day or the two after */
};

struct txn_merchant {
    uint32_t num;     /* MER_ number, 100000..999999 */
    uint8_t category; /* enum txn_category */
    uint8_t city;     /* in-person merchants: where; online: head office */
};

/* What picking a customer reads of each (pick_customer: up to four draws
 * an event), packed apart from the 48-byte records so a rejected draw
 * touches 4 bytes of a 40 KB array, not a line of a 480 KB one: a cache
 * miss there was 7 % of a backfill's time. */
struct txn_hours {
    int16_t utc_offset_min; /* the home city's */
    uint8_t hour_lo;        /* txn_customer's */
    uint8_t hour_hi;
};

/* Immutable after txn_model_new(), so any number of threads may read it. */
struct txn_model {
    uint64_t seed; /* the stream's: the cross-service schedule (xincident.h) */
    uint64_t salt; /* derives per-customer habits (payees, favourites, trips) */
    uint32_t n_cust;
    uint32_t n_merch;
    uint32_t online_first; /* merchants [online_first, n_merch) sell online */
    /* In-person merchants of city c: [city_first[c], city_first[c + 1]). */
    uint32_t city_first[TXN_N_CITIES + 1];
    struct txn_customer *cust; /* ordered by num, for lookups by id */
    uint32_t *act_cum;         /* cumulative activity weights, increasing */
    struct txn_hours *hours;   /* per customer, for the pick */
    struct txn_merchant *merch;
    struct bm_shard shard; /* the slice drawn from (shard.h); 0/1 the bank */
    double share;          /* the slice's share of the activity */
};

/* Usual top of an unknown customer ($1,000, in cents): its 10x is the
 * $10,000 line, so for them the high-amount rule is "over $10,000". */
#define TXN_NEUTRAL_USUAL_HI 100000
#define TXN_N_PAYEES 3               /* regular transfer payees per customer */
#define TXN_BIG_TOP_MAX 5000000      /* $50,000: the top of a big customer's usual */

/* One event before encoding. Strings are "" where the JSON has null. */
struct txn_rec {
    char id[RNG_UUID_LEN + 1];
    int64_t ts_ms;
    uint64_t seq;
    char customer_id[16];
    int segment; /* enum txn_segment, -1: unknown customer (null) */
    char account[40];
    char counterparty[40];
    char merchant_id[32];
    char category[32];
    int64_t cents;
    int type;    /* enum txn_type */
    int channel; /* enum txn_channel */
    char country[3];
    char city[48];
    int status; /* enum txn_status */
    int64_t proc_ms;
    int64_t risk_milli; /* risk_score * 1000 */
    int anomaly;        /* enum txn_anomaly, -1: normal */
    char incident_id[RNG_UUID_LEN + 1];
    bool api;
    bool injected; /* origin "injected" */
};

/* What a risk engine could see in one event, never its label. */
struct txn_features {
    int64_t usual_hi; /* cents */
    bool away;        /* not in the customer's home city */
    bool foreign;     /* not in the customer's home country */
    bool new_payee;   /* transfer outside the customer's regular payees */
    int local_hour;   /* 0..23 where the event happens */
    double cat_risk;
};

/* ---- population.c ---- */

/* Customer index of regular payee k (0 .. TXN_N_PAYEES - 1) of customer c. */
uint32_t txn_payee(const struct txn_model *m, uint32_t c, int k);
/* "CUST_123456", "ACC1234567890", "MER_123456" into out[size]. */
void txn_fmt_id(char *out, size_t size, const char *prefix, uint64_t num);
/* Fills customer_id, segment and account from population member c. */
void txn_rec_customer(const struct txn_model *m, uint32_t c, struct txn_rec *e);
void txn_rec_city(struct txn_rec *e, int city);
/* Index of the customer with this "CUST_nnnnnn" id, -1 if none. */
int64_t txn_customer_index(const struct txn_model *m, const char *id);

/* ---- score.c ---- */

/* Sets risk_milli, status and proc_ms from the features plus noise. */
void txn_assess(const struct txn_features *f, struct txn_rec *e, struct rng *r);

/* ---- encode.c ---- */

/* Appends the event's JSON object; on failure b is as it was. */
enum bm_rc txn_rec_encode(const struct txn_rec *e, struct buf *b) BM_WUR;

#endif
