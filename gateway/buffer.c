/* buffer.c - the merged events' ring, text ring and id set. */
#include "buffer.h"

#include <stdlib.h>
#include <string.h>

#include "svc.h"

void gw_buffer_init(struct gw_buffer *b, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_bytes = max_bytes;
}

void gw_buffer_free(struct gw_buffer *b)
{
    free(b->ring);
    free(b->text);
    free(b->ids);
    memset(b, 0, sizeof(*b));
}

static size_t ids_slot(const struct gw_buffer *b, uint64_t h)
{
    size_t mask = b->ids_cap - 1, i = (size_t)(h ^ (h >> 29)) & mask;

    while (b->ids[i] && b->ids[i] != h)
        i = (i + 1) & mask;
    return i;
}

static bool ids_has(const struct gw_buffer *b, uint64_t h)
{
    return b->ids_cap && b->ids[ids_slot(b, h)] == h;
}

static enum bm_rc ids_add(struct gw_buffer *b, uint64_t h)
{
    if ((b->n + 1) * 2 > b->ids_cap) {
        size_t cap = b->ids_cap ? b->ids_cap * 2 : 2048;
        uint64_t *old = b->ids;
        size_t ocap = b->ids_cap;
        b->ids = calloc(cap, sizeof(*b->ids));
        if (!b->ids) {
            b->ids = old;
            return BM_ENOMEM;
        }
        b->ids_cap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i])
                b->ids[ids_slot(b, old[i])] = old[i];
        free(old);
    }
    b->ids[ids_slot(b, h)] = h;
    return BM_OK;
}

/* Linear-probing delete: shift later members of the cluster back so
 * lookups never stop at the hole. */
static void ids_del(struct gw_buffer *b, uint64_t h)
{
    size_t mask = b->ids_cap - 1, i, j;

    if (!b->ids_cap || b->ids[i = ids_slot(b, h)] != h)
        return;
    b->ids[i] = 0;
    for (j = (i + 1) & mask; b->ids[j]; j = (j + 1) & mask) {
        uint64_t k = b->ids[j];
        size_t home = (size_t)(k ^ (k >> 29)) & mask;
        /* k may move to the hole if its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            b->ids[i] = k;
            b->ids[j] = 0;
            i = j;
        }
    }
}

static enum bm_rc ring_grow(struct gw_buffer *b)
{
    size_t cap = b->cap ? b->cap * 2 : 1024;
    struct gw_slot *r = malloc(cap * sizeof(*r));

    if (!r)
        return BM_ENOMEM;
    for (size_t i = 0; i < b->n; i++)
        r[i] = b->ring[(b->head + i) % b->cap];
    free(b->ring);
    b->ring = r;
    b->cap = cap;
    b->head = 0;
    return BM_OK;
}

static void evict_oldest(struct gw_buffer *b)
{
    struct gw_slot *e = &b->ring[b->head];

    b->bytes -= e->len + sizeof(*e);
    ids_del(b, e->idh);
    b->head = (b->head + 1) % b->cap;
    b->n--;
    b->evicted++;
}

/* Where len bytes of text can go in the text ring without overwriting a
 * buffered event, or -1. The live text runs from the oldest event's
 * offset to text_tail, possibly wrapped; a strict inequality keeps the
 * tail from meeting the head, so a full ring never looks empty. */
static long text_room(const struct gw_buffer *b, size_t len)
{
    size_t head;

    if (b->n == 0)
        return len <= b->text_cap ? 0 : -1;
    head = b->ring[b->head].off;
    if (b->text_tail > head) {
        if (len <= b->text_cap - b->text_tail)
            return (long)b->text_tail;
        return len < head ? 0 : -1; /* wrap to the start */
    }
    return len < head - b->text_tail ? (long)b->text_tail : -1;
}

bool gw_buffer_has(const struct gw_buffer *b, uint64_t idh)
{
    return ids_has(b, idh);
}

enum bm_rc gw_buffer_add(struct gw_buffer *b, const struct gw_event *e, int type)
{
    struct gw_slot *slot;
    long at;

    if (e->len > b->max_bytes / 2 || e->len > UINT32_MAX)
        return BM_ETOOBIG; /* one event may not push out the whole buffer */
    if (!b->text) {
        /* one allocation for the whole budget: pages become resident only
         * as they are filled, and nothing fragments */
        b->text = malloc(b->max_bytes);
        if (!b->text)
            return BM_ENOMEM;
        b->text_cap = b->max_bytes;
    }
    if (b->n == b->cap && ring_grow(b) != BM_OK)
        return BM_ENOMEM;
    while (b->n > 0 && b->bytes + e->len + sizeof(*slot) > b->max_bytes)
        evict_oldest(b);
    while ((at = text_room(b, e->len)) < 0)
        evict_oldest(b);
    if (ids_add(b, e->idh) != BM_OK)
        return BM_ENOMEM;
    memcpy(b->text + at, e->json_rest, e->len);
    b->text_tail = (size_t)at + e->len;
    slot = &b->ring[(b->head + b->n) % b->cap];
    slot->gseq = ++b->last_gseq;
    slot->seq = e->seq;
    slot->idh = e->idh;
    slot->off = (uint32_t)at;
    slot->len = (uint32_t)e->len;
    slot->src = (uint8_t)e->src;
    slot->type = (int8_t)type;
    slot->anomaly = e->anomaly;
    b->n++;
    b->bytes += e->len + sizeof(*slot);
    return BM_OK;
}

static bool matches(const struct gw_slot *e, const struct db_list_query *q)
{
    if (q->anomalies_only && !e->anomaly)
        return false;
    if (q->source && e->src + 1 != q->source)
        return false;
    return !q->anomaly_type || svc_filter_takes(q->anomaly_type, (enum bm_svc)e->src, e->type);
}

static enum bm_rc put_event(struct buf *out, const struct gw_buffer *b, const struct gw_slot *e,
                            bool first)
{
    const char *text = b->text + e->off;

    /* no printf: this runs for every event of every page */
    if (buf_puts(out, first ? "{\"gateway_sequence\":" : ",{\"gateway_sequence\":") != BM_OK ||
        buf_put_i64(out, (int64_t)e->gseq) != BM_OK || buf_puts(out, ",\"source\":\"") != BM_OK ||
        buf_puts(out, svc_info((enum bm_svc)e->src)->name) != BM_OK ||
        buf_puts(out, text[0] == '}' ? "\"" : "\",") != BM_OK)
        return BM_ETOOBIG;
    return buf_append(out, text, e->len);
}

enum bm_rc gw_buffer_list(const struct gw_buffer *b, const struct db_list_query *q,
                          struct buf *out)
{
    enum bm_rc rc;
    int64_t count = 0;
    uint64_t next, oldest;

    oldest = gw_buffer_oldest(b);
    next = b->last_gseq;
    rc = buf_puts(out, "{\"events\":[");
    if (q->has_since) {
        size_t start = q->since < oldest ? 0 : (size_t)(q->since - oldest + 1);
        for (size_t i = start; rc == BM_OK && i < b->n; i++) {
            const struct gw_slot *e = &b->ring[(b->head + i) % b->cap];
            if (!matches(e, q))
                continue;
            rc = put_event(out, b, e, count == 0);
            if (++count == q->limit) {
                next = e->gseq;
                break;
            }
        }
    } else {
        for (size_t i = b->n; rc == BM_OK && i > 0 && count < q->limit; i--) {
            const struct gw_slot *e = &b->ring[(b->head + i - 1) % b->cap];
            if (!matches(e, q))
                continue;
            rc = put_event(out, b, e, count == 0);
            count++;
        }
    }
    if (rc == BM_OK)
        rc = buf_printf(out, "],\"count\":%lld,\"next_since\":%llu,\"oldest_sequence\":%llu}",
                        (long long)count, (unsigned long long)next, (unsigned long long)oldest);
    return rc;
}

uint64_t gw_buffer_oldest(const struct gw_buffer *b)
{
    return b->n ? b->ring[b->head].gseq : b->last_gseq + 1;
}

static const char *type_name(const struct gw_slot *e)
{
    const struct svc_info *v = svc_info((enum bm_svc)e->src);

    if (!e->anomaly)
        return NULL;
    return e->type >= 0 && e->type < v->nanomaly_types ? v->anomaly_types[e->type] : "unknown";
}

enum bm_rc gw_buffer_read(const struct gw_buffer *b, const struct db_list_query *q,
                          uint64_t after, size_t max, struct gw_read_ev *ev, size_t *n,
                          struct buf *out, uint64_t *examined)
{
    uint64_t oldest = gw_buffer_oldest(b);
    size_t scanned = 0;

    *n = 0;
    *examined = after;
    if (after >= b->last_gseq)
        return BM_OK;
    if (after + 1 < oldest) {
        *examined = oldest - 1;
        if (q)
            return BM_ERANGE;
        after = oldest - 1;
    }
    for (size_t i = (size_t)(after + 1 - oldest); i < b->n && *n < max && scanned < GW_READ_SCAN;
         i++, scanned++) {
        const struct gw_slot *e = &b->ring[(b->head + i) % b->cap];
        size_t mark = out->len;
        if (!q || matches(e, q)) {
            if (put_event(out, b, e, true) != BM_OK) {
                buf_truncate(out, mark);
                if (*n > 0)
                    break; /* the next read takes it */
                /* alone larger than the caller's buffer: skipped */
            } else {
                ev[*n].gseq = e->gseq;
                ev[*n].type = type_name(e);
                ev[*n].off = mark;
                ev[*n].len = out->len - mark;
                (*n)++;
            }
        }
        *examined = e->gseq;
    }
    return BM_OK;
}
