/* auth_internal.h - shared by the pure parts of the service (places.c,
 * population.c, generator.c, score.c, encode.c, post.c, api.c): places,
 * the population layout, the event record, its scoring and encoding.
 * Not for routes.c or store.c, which see the opaque struct auth_model. */
#ifndef BM_SERVICES_AUTH_AUTH_INTERNAL_H
#define BM_SERVICES_AUTH_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "rc.h"
#include "rng.h"
#include "shard.h"
#include "timefmt.h"

enum auth_region { AUTH_RG_NA, AUTH_RG_EU, AUTH_RG_AS, AUTH_RG_SA, AUTH_RG_AF, AUTH_RG_OC,
                   AUTH_RG_COUNT };

struct auth_city {
    const char *name;
    const char *country; /* ISO 3166 alpha-2 */
    double lat, lon;
    int utc_offset_min;  /* standard time; DST is not modelled */
    uint8_t region;      /* enum auth_region: where its addresses come from */
    uint8_t home;        /* share of the users living there */
    uint8_t travel;      /* 1: people travel there */
    uint8_t attack;      /* 1: attackers operate from there */
};
#define AUTH_N_CITIES 62
extern const struct auth_city auth_cities[AUTH_N_CITIES];

/* Fixed size, no pointers: 10,000 of these are ~600 KB. */
struct auth_user {
    float home_lat, home_lon; /* where they live, near their city's centre */
    uint32_t num;             /* CUST_ number, 100000..999999 */
    uint32_t home_ip;         /* home broadband address */
    uint32_t work_ip;         /* office NAT address, 0: none */
    uint32_t carrier;         /* mobile carrier's /16, low bits 0 */
    uint16_t trip_pm;         /* per mille of travel periods with a trip */
    uint8_t city;             /* home, index into auth_cities */
    uint8_t phase;            /* offset of the user's travel periods, days */
    uint8_t ndev;             /* usual devices: 1 or 2 */
    uint8_t dev_type[2];      /* enum auth_device */
    uint8_t dev_os[2];        /* index into auth_os */
    uint8_t mfa;              /* 1: password logins ask for a second factor */
    uint8_t hour_lo, hour_hi; /* usual login hours [lo, hi), local */
    char username[22];
};

struct auth_os {
    const char *name;
    uint8_t type; /* enum auth_device */
};
#define AUTH_N_OS 14
extern const struct auth_os auth_os_table[AUTH_N_OS];

/* Immutable after auth_model_new(), so any number of threads may read it. */
struct auth_model {
    uint64_t seed; /* the stream's: the cross-service schedule (xincident.h) */
    uint64_t salt; /* derives per-user habits (trips, devices, addresses) */
    uint32_t n_users;
    struct auth_user *users;
    /* Activity-weighted draws in O(1) (Walker's alias method): user i
     * stays with probability prob[i] / 2^32, else becomes alias[i]. */
    uint32_t *prob;
    uint32_t *alias;
    uint32_t *by_name;  /* user indexes ordered by username */
    struct bm_shard shard; /* the slice drawn from (shard.h); 0/1 the bank */
    uint32_t n_slice;      /* users in it */
    double share;          /* of the bank's activity */
    float dist[AUTH_N_CITIES][AUTH_N_CITIES]; /* km between centres */
    uint8_t attack[AUTH_N_CITIES];            /* attackers' cities */
    uint8_t n_attack;
    uint8_t travel[AUTH_N_CITIES];            /* destinations */
    uint8_t n_travel;
    /* Destinations in the same country as city c, c excluded. */
    uint8_t domestic[AUTH_N_CITIES][AUTH_N_CITIES];
    uint8_t n_domestic[AUTH_N_CITIES];
};

/* Where a user is at an instant: in a city, or between two (in flight). */
struct auth_where {
    int city;    /* -1 while flying */
    bool home;
};

/* One event before encoding. Strings are "" where the JSON has null. */
struct auth_rec {
    char id[RNG_UUID_LEN + 1];
    int64_t ts_ms;
    uint64_t seq;
    char customer_id[16];
    char username[AUTH_USERNAME_MAX + 1];
    bool failure;
    int reason;  /* enum auth_reason, -1: null */
    int method;  /* enum auth_method */
    char ip[16];
    bool has_location;
    char country[3];
    char city[48];
    int64_t lat_e4, lon_e4; /* degrees x 10^4 */
    bool has_device;
    char fingerprint[65];
    int device_type; /* enum auth_device, -1: null */
    char os[33];
    int64_t risk_milli; /* risk_score x 1000 */
    int anomaly;        /* enum auth_anomaly, -1: normal */
    char incident_id[RNG_UUID_LEN + 1];
    bool api;
    bool injected; /* origin "injected" */
};

/* What a risk engine could see in one login, never its label. */
struct auth_features {
    bool failure;
    bool new_device;
    bool foreign;      /* another country than the user's home */
    bool unknown_user; /* not a username of the bank */
    bool datacenter;   /* a hosting provider's address */
    double km_from_home;
    int local_hour;    /* 0..23 where the login happens */
};

/* ---- places.c ---- */

/* The city whose centre is nearest (lat, lon), and its distance. */
int auth_nearest_city(double lat, double lon, double *km);
/* A point within km of (lat, lon), uniform over the disc, from two
 * uniform draws u1, u2 in [0, 1). */
void auth_near_point(double u1, double u2, double lat, double lon, double km, double *olat,
                     double *olon);
/* Addresses: an ISP block of a region, and text. */
uint32_t auth_region_block(int region, uint64_t h);   /* a /16, low bits 0 */
uint32_t auth_datacenter_block(uint64_t h);           /* a hosting /16 */
bool auth_is_datacenter(uint32_t ip);
void auth_ip_fmt(uint32_t ip, char out[16]);

/* ---- population.c ---- */

/* Index of the user named `name`, -1 if none. */
int64_t auth_find_user(const struct auth_model *m, const char *name);
/* 32 hex digits from 128 bits. */
void auth_fp_fmt(uint64_t hi, uint64_t lo, char out[65]);
/* "CUST_" and the 6-digit number. */
void auth_fmt_cust(char *out, size_t size, uint32_t num);
/* The fingerprint of user u's usual device k (0 or 1). */
void auth_user_device_fp(const struct auth_model *m, uint32_t u, int k, char out[65]);
/* A user's usual device k (0 or 1) into the record. */
void auth_rec_user_device(const struct auth_model *m, uint32_t u, int k, struct auth_rec *e);
/* customer_id and username of population member u. */
void auth_rec_user(const struct auth_model *m, uint32_t u, struct auth_rec *e);
/* City name and country of city c, coordinates lat/lon. */
void auth_rec_place(struct auth_rec *e, int c, double lat, double lon);
/* The username of a stuffing list's k-th unknown entry (not a user of the
 * bank: every one has '_' or '@', no population name does). */
void auth_unknown_username(uint64_t k, char *out, size_t size);
uint64_t auth_unknown_space(void);

/* ---- post.c ---- */

/* A dotted quad, each part 0..255 without leading zeros. */
bool auth_parse_ipv4(const char *s, uint32_t *out);

/* ---- generator.c ---- */

/* Where user u is at t_ms; the whole travel model. */
void auth_where(const struct auth_model *m, uint32_t u, int64_t t_ms, struct auth_where *w);

/* ---- score.c ---- */

/* Sets risk_milli from the features plus noise. */
void auth_assess(const struct auth_features *f, struct auth_rec *e, struct rng *r);

/* ---- encode.c ---- */

/* Appends the event's JSON object; on failure b is as it was. */
enum bm_rc auth_rec_encode(const struct auth_rec *e, struct buf *b) BM_WUR;
/* The store fields of a record. */
void auth_rec_detail(const struct auth_rec *e, struct auth_detail *d);

#endif
