/* shard.c - slices of a bank (shard.h). */
#include "shard.h"

#include <stdio.h>
#include <string.h>

#include "rng.h"

#define SHARD_SALT 0x7368617264ULL /* "shard" */

/* A decimal number of at most 4 digits, no sign: "0" .. "9999". */
static bool small_num(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;

    if (n == 0 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

enum bm_rc shard_parse(const char *s, struct bm_shard *out, char *why, size_t whylen)
{
    const char *slash = strchr(s, '/');
    uint32_t i, n;

    if (!slash || !small_num(s, (size_t)(slash - s), &i) ||
        !small_num(slash + 1, strlen(slash + 1), &n)) {
        snprintf(why, whylen, "expected i/n (e.g. 0/2), got \"%.40s\"", s);
        return BM_EINVAL;
    }
    if (n < 1 || n > SHARD_MAX || i >= n) {
        snprintf(why, whylen, "expected i/n with 0 <= i < n <= %d, got \"%.40s\"", SHARD_MAX, s);
        return BM_ERANGE;
    }
    out->index = i;
    out->count = n;
    return BM_OK;
}

void shard_text(const struct bm_shard *s, char *out)
{
    snprintf(out, SHARD_TEXT, "%u/%u", (unsigned)s->index, (unsigned)s->count);
}

uint32_t shard_slice_size(const struct bm_shard *s, uint32_t total)
{
    if (s->count <= 1)
        return total;
    return total / s->count + (s->index < total % s->count ? 1u : 0u);
}

uint64_t shard_stream_seed(const struct bm_shard *s, uint64_t seed)
{
    if (!shard_split(s))
        return seed;
    return rng_hash(seed ^ SHARD_SALT, s->index, s->count);
}

enum bm_rc shard_tag_event(const struct bm_shard *s, struct buf *b, size_t start)
{
    char tail[SHARD_TEXT + 16], text[SHARD_TEXT];
    size_t len = b->len;
    bool empty;
    int n;

    if (!shard_split(s))
        return BM_OK;
    if (len < start + 2 || b->data[len - 1] != '}')
        return BM_EINVAL;
    empty = b->data[len - 2] == '{';
    shard_text(s, text);
    n = snprintf(tail, sizeof tail, "%s\"shard\":\"%s\"}", empty ? "" : ",", text);
    /* appended whole first, so a full buffer leaves b as it was; then
     * moved over the old closing brace */
    if (buf_append(b, tail, (size_t)n) != BM_OK)
        return BM_ETOOBIG;
    memmove(b->data + len - 1, b->data + len, (size_t)n);
    buf_truncate(b, len - 1 + (size_t)n);
    return BM_OK;
}
