/* fuzz_gw_page.c - a page of a service's event list as the gateway's
 * poller receives it (gw_parse_page), for each of the three services, then
 * merged into a small aggregate (gw_agg_append) from two replicas and
 * served back (gw_agg_list, /dashboard, /system/health, /metrics).
 *
 * Invariants: a refused page yields nothing; an accepted one yields one
 * event per array element, each with its text (json_rest non-NULL, the
 * object without its opening brace, so "{" + json_rest is the object
 * again, with the sequence parsed); the aggregate keeps no two events with
 * the same (source, id), gateway sequences strictly rising, its byte
 * count exact and within its cap, and each buffered event's text intact
 * (inside the text ring, overlapping no other, equal to what was
 * appended); every body the gateway serves from it is valid JSON. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aggregate.h"
#include "report.h"
#include "json.h"
#include "support.h"

#define PAGE_AGG_BYTES 4096 /* small, so that appends evict and the text ring wraps */
#define PAGE_FEEDS (2 * SVC_NSOURCES)

/* The pages fed so far, kept to compare the buffered text with. */
struct fed {
    struct gw_event *ev;
    size_t n;
};

static void check_event(const struct gw_event *e)
{
    char *obj;
    cJSON *root = NULL;
    const cJSON *seq;

    FUZZ_CHECK(e->json_rest != NULL);
    FUZZ_CHECK(e->len >= 1 && strlen(e->json_rest) == e->len && e->json_rest[e->len - 1] == '}');
    FUZZ_CHECK(e->idh != 0 && e->gseq == 0);
    FUZZ_CHECK(fuzz_terminated(e->type, sizeof(e->type)));
    obj = malloc(e->len + 2);
    FUZZ_CHECK(obj != NULL);
    obj[0] = '{';
    memcpy(obj + 1, e->json_rest, e->len + 1);
    FUZZ_CHECK(json_parse(obj, e->len + 1, &root) == BM_OK && cJSON_IsObject(root));
    /* cJSON 1.7.15 prints a number with 15 significant digits when that
     * reads back within DBL_EPSILON of it, so the gateway's copy of a
     * sequence past 10^15 may be off by a few (no service gets there). */
    seq = json_get(root, "sequence");
    FUZZ_CHECK(cJSON_IsNumber(seq) &&
               fabs(seq->valuedouble - (double)e->seq) <= (double)e->seq * DBL_EPSILON);
    cJSON_Delete(root);
    free(obj);
}

/* Elements of the page's "events" array, as a plain parse sees them. */
static size_t page_events(const uint8_t *data, size_t size)
{
    cJSON *root = NULL;
    size_t n;

    FUZZ_CHECK(json_parse((const char *)data, size, &root) == BM_OK);
    n = (size_t)cJSON_GetArraySize(json_get(root, "events"));
    cJSON_Delete(root);
    return n;
}

/* Some event fed so far has this slot's source, id, sequence and text. */
static bool slot_was_fed(const struct gw_buffer *a, const struct gw_slot *s,
                         const struct fed *fed, size_t nfed)
{
    for (size_t f = 0; f < nfed; f++)
        for (size_t i = 0; i < fed[f].n; i++) {
            const struct gw_event *e = &fed[f].ev[i];
            if (e->idh == s->idh && e->seq == s->seq && (int)e->src == (int)s->src &&
                e->len == s->len && memcmp(a->text + s->off, e->json_rest, e->len) == 0)
                return true;
        }
    return false;
}

static void check_buffer(const struct gw_buffer *a, const struct fed *fed, size_t nfed)
{
    size_t bytes = 0;

    FUZZ_CHECK(a->n <= a->cap && a->bytes <= a->max_bytes);
    for (size_t i = 0; i < a->n; i++) {
        const struct gw_slot *s = &a->ring[(a->head + i) % a->cap];
        FUZZ_CHECK(s->gseq >= 1 && s->gseq <= a->last_gseq && s->src < SVC_NSOURCES);
        FUZZ_CHECK(s->len >= 1 && (size_t)s->off + s->len <= a->text_cap);
        for (size_t j = 0; j < i; j++) {
            const struct gw_slot *o = &a->ring[(a->head + j) % a->cap];
            FUZZ_CHECK(o->gseq < s->gseq);
            FUZZ_CHECK(o->idh != s->idh);
            FUZZ_CHECK((size_t)o->off + o->len <= s->off || (size_t)s->off + s->len <= o->off);
        }
        FUZZ_CHECK(slot_was_fed(a, s, fed, nfed));
        bytes += s->len + sizeof(*s);
    }
    FUZZ_CHECK(bytes == a->bytes);
}

/* Parses the page for src and appends it as replica rep's; the events
 * stay in *f (the aggregate copies them) for check_buffer. */
static void feed(struct gw_agg *a, enum bm_svc src, int rep, const uint8_t *data, size_t size,
                 struct fed *f)
{
    static struct gw_event unset;
    uint64_t next = 0;

    f->ev = &unset;
    f->n = 99;
    if (gw_parse_page(src, (const char *)data, size, &f->ev, &f->n, &next) != BM_OK) {
        FUZZ_CHECK(f->ev == NULL && f->n == 0);
        return;
    }
    FUZZ_CHECK(f->ev != NULL && f->n == page_events(data, size));
    FUZZ_CHECK(next <= (uint64_t)INT64_MAX);
    for (size_t i = 0; i < f->n; i++)
        check_event(&f->ev[i]);
    FUZZ_CHECK(gw_agg_append(a, src, rep, f->ev, f->n) == BM_OK);
    for (size_t i = 0; i < f->n; i++)
        FUZZ_CHECK(f->ev[i].src == src);
}

/* The list body parses, and its count is its events' number. */
static void check_list(struct gw_agg *a, const struct db_list_query *q)
{
    struct buf b;
    cJSON *root = NULL;
    const cJSON *events, *count, *it;

    buf_init(&b, 64u * 1024 * 1024);
    FUZZ_CHECK(gw_agg_list(a, q, &b) == BM_OK);
    FUZZ_CHECK(json_parse(b.data, b.len, &root) == BM_OK);
    events = json_get(root, "events");
    count = json_get(root, "count");
    FUZZ_CHECK(cJSON_IsArray(events) && cJSON_IsNumber(count) &&
               count->valuedouble == (double)cJSON_GetArraySize(events));
    FUZZ_CHECK(cJSON_GetArraySize(events) <= q->limit);
    cJSON_ArrayForEach(it, events)
    {
        FUZZ_CHECK(cJSON_IsNumber(json_get(it, "gateway_sequence")));
        FUZZ_CHECK(cJSON_IsString(json_get(it, "source")));
    }
    cJSON_Delete(root);
    buf_free(&b);
}

static void check_bodies(struct gw_agg *a)
{
    struct db_list_query newest = { .limit = 1000 };
    struct db_list_query paged = { .limit = 3, .has_since = true, .since = 1 };
    struct db_list_query anomalies = { .limit = 10, .anomalies_only = true };
    struct db_list_query typed = { .limit = 1000, .anomaly_type = "fraud_pattern" };
    struct buf b;

    check_list(a, &newest);
    check_list(a, &paged);
    check_list(a, &anomalies);
    check_list(a, &typed);
    buf_init(&b, 1u << 20);
    FUZZ_CHECK(gw_agg_dashboard(a, &b) == BM_OK && fuzz_json_ok(b.data, b.len));
    buf_reset(&b);
    FUZZ_CHECK(gw_agg_system_health(a, &b) == BM_OK && fuzz_json_ok(b.data, b.len));
    buf_reset(&b);
    FUZZ_CHECK(gw_agg_metrics_json(a, 1, &b) == BM_OK && fuzz_json_ok(b.data, b.len));
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const urls[] = { "http://127.0.0.1:1", "http://127.0.0.1:2" };
    struct fed fed[PAGE_FEEDS];
    size_t nfed = 0;
    struct gw_agg a;

    FUZZ_CHECK(gw_agg_init(&a, PAGE_AGG_BYTES, 1000) == BM_OK);
    for (int s = 0; s < SVC_NSOURCES; s++)
        FUZZ_CHECK(gw_agg_set_replicas(&a, (enum bm_svc)s, urls, 2) == BM_OK);
    for (int s = 0; s < SVC_NSOURCES; s++) {
        /* then another replica with the same page: duplicates stay out */
        for (int rep = 0; rep < 2; rep++) {
            feed(&a, (enum bm_svc)s, rep, data, size, &fed[nfed++]);
            check_buffer(&a.buf, fed, nfed);
        }
    }
    if (a.buf.last_gseq > 0)
        check_bodies(&a); /* an empty aggregate's bodies are always the same */
    gw_agg_free(&a);
    for (size_t f = 0; f < nfed; f++)
        gw_events_free(fed[f].ev, fed[f].n);
    return 0;
}
