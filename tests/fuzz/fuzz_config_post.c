/* fuzz_config_post.c - a POST /config body, taken the way endpoints.c's
 * endpoints_h_config_set() takes it (json_parse, then cfg_apply_runtime on a
 * copy of the live settings), for each of the three services.
 *
 * Invariants: a rejected body changes nothing and is a 422 naming a field
 * (whose error body is valid JSON); an accepted one changes runtime keys
 * only and keeps them in range; what GET /config then shows, posted back,
 * is accepted and changes nothing; the overrides persisted for a restart
 * (cfg_runtime_diff_json), applied to the base settings, give the same
 * settings back. */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "json.h"
#include "support.h"

/* Parses text (which must be JSON) and applies it to c. */
static enum bm_rc apply_text(struct bm_config *c, enum bm_svc svc, const char *text,
                             size_t len)
{
    cJSON *obj = NULL;
    struct api_fail f;
    enum bm_rc rc;

    FUZZ_CHECK(json_parse(text, len, &obj) == BM_OK);
    rc = cfg_apply_runtime(c, svc, obj, &f);
    cJSON_Delete(obj);
    return rc;
}

/* The settings POST /config may not touch are those of base. */
static void check_static_kept(const struct bm_config *c, const struct bm_config *base)
{
    struct bm_config x;

    memcpy(&x, c, sizeof(x));
    x.anomaly_rate = base->anomaly_rate;
    memcpy(x.weights, base->weights, sizeof(x.weights));
    x.failed_login_rate = base->failed_login_rate;
    x.events_per_second = base->events_per_second;
    x.paused = base->paused;
    x.retention_events = base->retention_events;
    x.time_shaping = base->time_shaping;
    FUZZ_CHECK(fuzz_config_same(&x, base));
}

/* GET /config after the change, posted back, is a no-op. */
static void check_get_round_trip(const struct bm_config *c, enum bm_svc svc)
{
    struct bm_config again;
    struct buf b;

    buf_init(&b, 64 * 1024);
    FUZZ_CHECK(cfg_runtime_json(c, svc, &b) == BM_OK);
    FUZZ_CHECK(fuzz_json_ok(b.data, b.len));
    memcpy(&again, c, sizeof(again));
    FUZZ_CHECK(apply_text(&again, svc, b.data, b.len) == BM_OK);
    /* GET shows every type's effective rate, so posting it back sets the
     * types that shared anomaly_rate explicitly: the same rates in force */
    {
        double want[GEN_MAX_TYPES], got[GEN_MAX_TYPES];
        int n = cfg_type_rates(c, svc, want);

        FUZZ_CHECK(cfg_type_rates(&again, svc, got) == n);
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(fabs(got[i] - want[i]) <= 1e-12);
        memcpy(again.weights, c->weights, sizeof(again.weights));
    }
    FUZZ_CHECK(fuzz_config_same(&again, c));
    buf_free(&b);
}

/* The persisted overrides restore c on top of base (genloop.c). */
static void check_persisted(const struct bm_config *c, const struct bm_config *base,
                            enum bm_svc svc)
{
    struct bm_config restored;
    struct buf b;

    buf_init(&b, 64 * 1024);
    FUZZ_CHECK(cfg_runtime_diff_json(c, base, svc, &b) == BM_OK);
    memcpy(&restored, base, sizeof(restored));
    FUZZ_CHECK(apply_text(&restored, svc, b.data, b.len) == BM_OK);
    FUZZ_CHECK(fuzz_config_same(&restored, c));
    buf_free(&b);
}

static void check_one(enum bm_svc svc, const cJSON *obj)
{
    struct bm_config base, next, before;
    struct api_fail f;

    cfg_defaults(&base, svc);
    memcpy(&next, &base, sizeof(next));
    memcpy(&before, &next, sizeof(before));
    memset(&f, 0, sizeof(f));
    if (cfg_apply_runtime(&next, svc, obj, &f) != BM_OK) {
        FUZZ_CHECK(memcmp(&next, &before, sizeof(next)) == 0);
        FUZZ_CHECK(fuzz_fail_is_422(&f));
        FUZZ_CHECK(fuzz_fail_body_ok(&f));
        /* only a body that is not an object has no field to name */
        FUZZ_CHECK(f.field[0] != '\0' || !cJSON_IsObject(obj) || f.err == API_UNKNOWN_FIELD);
        return;
    }
    FUZZ_CHECK(cJSON_IsObject(obj));
    fuzz_check_config(&next);
    check_static_kept(&next, &base);
    check_get_round_trip(&next, svc);
    check_persisted(&next, &base, svc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = NULL;

    /* endpoints.c answers 400 itself for an empty or unparseable body */
    if (size == 0 || json_parse((const char *)data, size, &obj) != BM_OK)
        return 0;
    for (int s = SVC_TRANSACTION; s <= SVC_MONITORING; s++)
        check_one((enum bm_svc)s, obj);
    cJSON_Delete(obj);
    return 0;
}
