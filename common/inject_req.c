/* inject_req.c - a POST /inject body read into its parts, and the checks
 * the services' inject_check share (see inject_req.h). Pure. */
#include "inject_req.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "timefmt.h"

#define SIZE_MAX_ANY 1000000

static const char *const members[] = { "type", "target", "at", "size" };

static enum bm_rc one_member(const cJSON *it, int i, void *ctx, struct api_fail *f)
{
    struct inject_req *r = ctx;
    const char *s;

    switch (i) {
    case 0:
        return json_want_str(it, "type", &r->type, f);
    case 1:
        if (cJSON_IsNull(it))
            return BM_OK;
        if (!cJSON_IsObject(it)) {
            api_fail_set(f, API_BAD_TYPE, "target", "target must be an object");
            return BM_EINVAL;
        }
        r->target = it;
        return BM_OK;
    case 2:
        if (json_want_str(it, "at", &s, f) != BM_OK)
            return BM_EINVAL;
        if (strcmp(s, "now") == 0)
            return BM_OK;
        if (timefmt_parse_iso(s, &r->at_ms) != BM_OK) {
            api_fail_set(f, API_BAD_VALUE, "at",
                         "at must be \"now\" or an ISO 8601 UTC time, e.g. 2026-01-05T09:00:00Z");
            return BM_EINVAL;
        }
        r->at_now = false;
        return BM_OK;
    default:
        if (!cJSON_IsNumber(it)) {
            api_fail_set(f, API_BAD_TYPE, "size", "size must be an integer");
            return BM_EINVAL;
        }
        if (json_as_i64(it, 1, SIZE_MAX_ANY, &r->size) != BM_OK) {
            api_fail_set(f, API_BAD_VALUE, "size", "size must be a positive integer");
            return BM_EINVAL;
        }
        return BM_OK;
    }
}

enum bm_rc inject_req_parse(const cJSON *body, struct inject_req *out, struct api_fail *f)
{
    const struct json_members spec = {
        .obj = "", .names = members, .n = 4, .required = 1u, .one = one_member,
    };

    memset(out, 0, sizeof *out);
    out->at_now = true;
    out->size = -1;
    return json_want_members(body, &spec, out, f);
}

enum bm_rc inject_req_size(int64_t size, int lo, int hi, int usual, int *out,
                           struct api_fail *f)
{
    if (size < 0) {
        *out = usual;
        return BM_OK;
    }
    if (size < lo || size > hi) {
        if (lo == hi)
            api_fail_set(f, API_BAD_VALUE, "size", "this type is always %d event(s)", lo);
        else
            api_fail_set(f, API_BAD_VALUE, "size", "size must be from %d to %d for this type",
                         lo, hi);
        return BM_EINVAL;
    }
    *out = (int)size;
    return BM_OK;
}

enum bm_rc inject_req_target(const cJSON *target, const char *key, const char **val,
                             struct api_fail *f)
{
    char name[80];

    *val = NULL;
    if (!target)
        return BM_OK;
    for (const cJSON *c = target->child; c; c = c->next) {
        snprintf(name, sizeof name, "target.%.60s", c->string ? c->string : "");
        if (!key || strcmp(c->string, key) != 0) {
            if (key)
                api_fail_set(f, API_UNKNOWN_FIELD, name, "this type's target takes only %s",
                             key);
            else
                api_fail_set(f, API_UNKNOWN_FIELD, name,
                             "this type takes no target: the generator chooses it");
            return BM_EINVAL;
        }
        if (json_want_str(c, name, val, f) != BM_OK)
            return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc inject_req_no_type(const char *type, struct api_fail *f)
{
    if (strcmp(type, "cascade_failure") == 0)
        api_fail_set(f, API_BAD_VALUE, "type",
                     "cascade_failure is injected on monitoring-service; this service shows "
                     "its part of the scheduled cascades only");
    else
        api_fail_set(f, API_BAD_VALUE, "type", "no such anomaly type");
    return BM_EINVAL;
}
