/* shard.h - one slice of a bank (--shard i/n): n processes of a service,
 * each started with the same seed and start time and its own i, generate
 * disjoint slices of the one stream. The slice rule is the same for the
 * three populations: entity e (a customer's, a user's or a host's index
 * in the population the seed builds) belongs to shard e % n. A stream
 * depends only on seed, start time, i and n, never on which machine runs
 * it; shard 0/1, the default, is the whole bank, byte for byte what an
 * unsharded service generates. */
#ifndef BM_COMMON_SHARD_H
#define BM_COMMON_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rc.h"

#define SHARD_MAX   1024 /* n */
#define SHARD_TEXT  16   /* "1023/1024" and its NUL, with room */

struct bm_shard {
    uint32_t index; /* i, 0 .. count - 1 */
    uint32_t count; /* n, 1 .. SHARD_MAX */
};

/* "i/n" with 0 <= i < n <= SHARD_MAX, decimal, nothing around it. On
 * failure writes a reason into why. */
enum bm_rc shard_parse(const char *s, struct bm_shard *out, char *why, size_t whylen) BM_WUR;
/* "i/n" into out[SHARD_TEXT]. */
void shard_text(const struct bm_shard *s, char *out);
/* More than one shard: events carry "shard", streams mix i into seeds. */
static inline bool shard_split(const struct bm_shard *s)
{
    return s->count > 1;
}
/* Whether entity e (a population index) is in this shard's slice. */
static inline bool shard_owns(const struct bm_shard *s, uint64_t e)
{
    return s->count <= 1 || e % s->count == s->index;
}
/* Population members of a population of `total` in this shard's slice. */
uint32_t shard_slice_size(const struct bm_shard *s, uint32_t total);
/* The k-th member (0-based) of this shard's slice: index + k * count. */
static inline uint32_t shard_member(const struct bm_shard *s, uint32_t k)
{
    return s->count <= 1 ? k : s->index + k * s->count;
}
/* A stream seed of this shard: seed itself for one shard (so 0/1 is the
 * unsharded stream), else a hash of it with i and n. */
uint64_t shard_stream_seed(const struct bm_shard *s, uint64_t seed);
/* Adds "shard":"i/n" as the last member of the JSON object that ends the
 * buffer (from offset start); nothing for one shard. BM_EINVAL if the
 * buffer does not end with '}'; on failure b is as it was. */
enum bm_rc shard_tag_event(const struct bm_shard *s, struct buf *b, size_t start) BM_WUR;

#endif
