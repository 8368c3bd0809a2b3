/* fuzz_gw_health.c - a service's /health body as the gateway's poller
 * reads it (gw_parse_health: stream_id, head_sequence, status), kept in
 * a replica's state through gw_agg_apply_health as poller.c does, then
 * shown in the gateway's /system/health and /dashboard.
 *
 * Invariants: an accepted body had a string stream_id and an integer
 * head_sequence >= 0, and what is kept is exactly what was sent (a
 * stream_id cut short could equal another stream's and hide a restart; a
 * status that does not fit is kept as unknown); the gateway's bodies
 * built from it are valid JSON. */
#include <string.h>

#include <cjson/cJSON.h>

#include "aggregate.h"
#include "json.h"
#include "page.h"
#include "report.h"
#include "support.h"

static void check_kept(const struct gw_health *h, const uint8_t *data, size_t size)
{
    cJSON *root = NULL;
    const cJSON *sid, *head, *status;

    FUZZ_CHECK(json_parse((const char *)data, size, &root) == BM_OK);
    sid = json_get(root, "stream_id");
    head = json_get(root, "head_sequence");
    status = json_get(root, "status");
    FUZZ_CHECK(cJSON_IsString(sid) && strcmp(sid->valuestring, h->stream_id) == 0);
    FUZZ_CHECK(cJSON_IsNumber(head) && head->valuedouble == (double)h->head_sequence);
    if (cJSON_IsString(status) && strlen(status->valuestring) < sizeof(h->status))
        FUZZ_CHECK(strcmp(status->valuestring, h->status) == 0);
    else
        FUZZ_CHECK(h->status[0] == '\0'); /* unknown rather than cut short */
    cJSON_Delete(root);
}

static void check_served(const struct gw_health *h)
{
    static const char *const urls[] = { "http://127.0.0.1:1" };
    struct gw_agg a;
    struct buf b;

    FUZZ_CHECK(gw_agg_init(&a, 1u << 16, 1000) == BM_OK);
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const struct gw_replica *r = &a.svc[s].rep[0];
        FUZZ_CHECK(gw_agg_set_replicas(&a, (enum bm_svc)s, urls, 1) == BM_OK);
        FUZZ_CHECK(!gw_agg_apply_health(&a, (enum bm_svc)s, 0, h)); /* the first stream */
        FUZZ_CHECK(strcmp(r->stream_id, h->stream_id) == 0 &&
                   strcmp(r->health_status, h->status) == 0 &&
                   r->head_sequence == h->head_sequence);
        FUZZ_CHECK(gw_agg_mark_ok(&a, (enum bm_svc)s, 0, 1, 1));
    }
    buf_init(&b, 1u << 20);
    FUZZ_CHECK(gw_agg_system_health(&a, &b) == BM_OK && fuzz_json_ok(b.data, b.len));
    buf_reset(&b);
    FUZZ_CHECK(gw_agg_dashboard(&a, &b) == BM_OK && fuzz_json_ok(b.data, b.len));
    buf_free(&b);
    gw_agg_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_health h;

    memset(&h, 0x5a, sizeof(h));
    if (gw_parse_health((const char *)data, size, &h) != BM_OK)
        return 0; /* the poller marks the replica degraded */
    FUZZ_CHECK(fuzz_terminated(h.stream_id, sizeof(h.stream_id)));
    FUZZ_CHECK(fuzz_terminated(h.status, sizeof(h.status)));
    FUZZ_CHECK(h.head_sequence <= (uint64_t)INT64_MAX);
    check_kept(&h, data, size);
    check_served(&h);
    return 0;
}
