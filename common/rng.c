/* rng.c - xoshiro256** 1.0 (Blackman & Vigna, prng.di.unimi.it), seeded by
 * splitmix64. No libc random state: a stream depends only on its seed. */
#include "rng.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#define RNG_TWO_PI 6.283185307179586476925286766559

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *x)
{
    return mix64(*x += UINT64_C(0x9e3779b97f4a7c15));
}

uint64_t rng_hash(uint64_t salt, uint64_t a, uint64_t b)
{
    return mix64(salt ^ (a * UINT64_C(0x9e3779b97f4a7c15)) ^ (b * UINT64_C(0xc2b2ae3d27d4eb4f)));
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed)
{
    uint64_t x = seed;

    /* splitmix64 never yields four zero words, the one bad xoshiro state. */
    for (size_t i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    /* Reject the lowest 2^64 mod n values so every residue is equally
     * likely (OpenBSD arc4random_uniform); at most half are rejected. */
    uint64_t min, x;

    if (n <= 1)
        return 0;
    min = ((uint64_t)0 - n) % n;
    do
        x = rng_next(r);
    while (x < min);
    return x % n;
}

int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    uint64_t span;

    if (hi <= lo)
        return lo;
    span = (uint64_t)hi - (uint64_t)lo;
    if (span == UINT64_MAX)
        return (int64_t)rng_next(r);
    /* Modular addition, then back: the result lies in [lo, hi]. */
    return (int64_t)((uint64_t)lo + rng_below(r, span + 1));
}

double rng_double(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

bool rng_chance(struct rng *r, double p)
{
    /* Always draw, so the stream position does not depend on p. */
    double u = rng_double(r);

    return u < p;
}

double rng_normal(struct rng *r)
{
    /* 1 - u is in (0, 1], so log() never sees zero. */
    double u1 = 1.0 - rng_double(r);
    double u2 = rng_double(r);

    return sqrt(-2.0 * log(u1)) * cos(RNG_TWO_PI * u2);
}

double rng_exp(struct rng *r, double mean)
{
    return -mean * log(1.0 - rng_double(r));
}

double rng_lognormal(struct rng *r, double mu, double sigma)
{
    return exp(mu + sigma * rng_normal(r));
}

int rng_weighted(struct rng *r, const double *w, int n)
{
    double total = 0, x;
    int last = -1;

    for (int i = 0; i < n; i++) {
        if (w[i] > 0) { /* also skips NaN */
            total += w[i];
            last = i;
        }
    }
    if (last < 0 || !isfinite(total))
        return -1;
    x = rng_double(r) * total;
    for (int i = 0; i < n; i++) {
        if (!(w[i] > 0))
            continue;
        if (x < w[i])
            return i;
        x -= w[i];
    }
    /* Rounding left x just above the sum: the last positive weight. */
    return last;
}

enum bm_rc rng_distinct(struct rng *r, uint32_t lo, uint32_t span, uint32_t n, uint32_t *out)
{
    unsigned char *seen;
    uint32_t got = 0, k = 0;

    if (n > span)
        return BM_EINVAL;
    seen = calloc(span / 8 + 1, 1);
    if (!seen)
        return BM_ENOMEM;
    while (got < n) {
        uint32_t v = (uint32_t)rng_below(r, span);

        if (seen[v / 8] & (1u << (v % 8)))
            continue;
        seen[v / 8] = (unsigned char)(seen[v / 8] | (1u << (v % 8)));
        got++;
    }
    for (uint32_t v = 0; v < span && k < n; v++)
        if (seen[v / 8] & (1u << (v % 8)))
            out[k++] = lo + v;
    free(seen);
    return BM_OK;
}

static const char rng_hex[] = "0123456789abcdef";

void rng_uuid4_bytes(struct rng *r, uint8_t id[16])
{
    uint64_t hi = rng_next(r), lo = rng_next(r);

    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(hi >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
}

void rng_uuid_text(const uint8_t id[16], char *out)
{
    size_t o = 0;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = rng_hex[id[i] >> 4];
        out[o++] = rng_hex[id[i] & 0x0f];
    }
    out[o] = '\0';
}

void rng_uuid4(struct rng *r, char *out)
{
    uint8_t id[16];

    rng_uuid4_bytes(r, id);
    rng_uuid_text(id, out);
}

uint64_t rng_os_u64(void)
{
    uint64_t v = 0;
    unsigned char *p = (unsigned char *)&v;
    size_t got = 0;
    struct timespec ts;
    uint64_t x;

    while (got < sizeof(v)) {
        ssize_t n = getrandom(p + got, sizeof(v) - got, 0);

        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    if (got == sizeof(v))
        return v;
    /* getrandom unavailable (seccomp, old kernel): ids only need to
     * differ between runs, so clock and address bits will do. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
    clock_gettime(CLOCK_REALTIME, &ts);
    x ^= ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&v;
    return splitmix64(&x);
}
