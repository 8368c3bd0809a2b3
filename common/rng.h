/* rng.h - xoshiro256** PRNG, seeded with splitmix64. One state per drawing
 * thread, passed explicitly: the same seed gives the same stream. */
#ifndef BM_COMMON_RNG_H
#define BM_COMMON_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "rc.h"

struct rng {
    uint64_t s[4];
};

#define RNG_UUID_LEN 36 /* text length without NUL */

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); n > 0; unbiased (rejection). */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform integer in [lo, hi] inclusive. */
int64_t rng_range(struct rng *r, int64_t lo, int64_t hi);
/* Uniform double in [0, 1), 53 bits. */
double rng_double(struct rng *r);
/* True with probability p. */
bool rng_chance(struct rng *r, double p);
/* Standard normal (Box-Muller, no cached second value so state is just s). */
double rng_normal(struct rng *r);
/* Exponential with the given mean. */
double rng_exp(struct rng *r, double mean);
/* Log-normal: exp(mu + sigma * N(0,1)). */
double rng_lognormal(struct rng *r, double mu, double sigma);
/* Index drawn by non-negative weights; -1 if all are zero. */
int rng_weighted(struct rng *r, const double *w, int n);
/* n distinct integers of [lo, lo + span) into out[n], in increasing
 * order; BM_EINVAL if n > span, BM_ENOMEM without room for a span-bit
 * scratch set. */
enum bm_rc rng_distinct(struct rng *r, uint32_t lo, uint32_t span, uint32_t n,
                        uint32_t *out) BM_WUR;
/* UUID v4 text, lower-case, into out[RNG_UUID_LEN + 1]. */
void rng_uuid4(struct rng *r, char *out);
/* The same draw kept as 16 raw bytes (compact persisted state), and its
 * text form; rng_uuid4 = rng_uuid4_bytes + rng_uuid_text. */
void rng_uuid4_bytes(struct rng *r, uint8_t id[16]);
void rng_uuid_text(const uint8_t id[16], char *out);
/* A stateless 64-bit hash of (salt, a, b) (the splitmix64 finaliser over
 * a mix of the three): pure functions of a seed, such as a customer's
 * habits or a user's whereabouts on a day, without drawing from a stream. */
uint64_t rng_hash(uint64_t salt, uint64_t a, uint64_t b);
/* 64 bits from the OS (getrandom), for seeds and stream ids only. */
uint64_t rng_os_u64(void);

#endif
