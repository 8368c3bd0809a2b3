/* scenario.c - reading and checking a scenario timeline (see scenario.h).
 * Every step is checked as the request that would make it is (a set as
 * POST /config, an injection as POST /inject), against the settings the
 * steps before it leave, so a scenario that loads runs to its end. */
#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "inject_req.h"
#include "json.h"

#define US_PER_S 1000000LL
#define OFFSET_MAX_S (366LL * 86400) /* a year of simulated time */

enum bm_rc scenario_offset(const char *s, int64_t *us)
{
    static const struct {
        char unit;
        int64_t s;
    } units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
    int64_t total = 0;
    size_t next = 0;

    if (!s || *s++ != '+' || !*s)
        return BM_EINVAL;
    while (*s) {
        int64_t v = 0;
        size_t u;

        if (*s < '0' || *s > '9')
            return BM_EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
            v = v * 10 + (*s - '0');
            if (v > OFFSET_MAX_S)
                return BM_ERANGE;
        }
        for (u = next; u < sizeof units / sizeof units[0] && units[u].unit != *s; u++)
            ;
        if (u == sizeof units / sizeof units[0])
            return BM_EINVAL; /* no unit, an unknown one, or out of d-h-m-s order */
        total += v * units[u].s;
        if (total > OFFSET_MAX_S)
            return BM_ERANGE;
        next = u + 1;
        s++;
    }
    *us = total * US_PER_S;
    return BM_OK;
}

/* f's field, prefixed with the step's path. */
static void prefix_field(struct api_fail *f, const char *prefix)
{
    char field[2 * sizeof f->field];

    snprintf(field, sizeof field, "%s%s%s", prefix, f->field[0] ? "." : "", f->field);
    snprintf(f->field, sizeof f->field, "%.*s", (int)sizeof f->field - 1, field);
}

static enum bm_rc want_offset(const cJSON *step, const char *key, const char *path, int64_t *us,
                              struct api_fail *f)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(step, key);
    char field[64];

    snprintf(field, sizeof field, "%s.%s", path, key);
    if (!cJSON_IsString(it) || scenario_offset(it->valuestring, us) != BM_OK) {
        api_fail_set(f, API_BAD_VALUE, field,
                     "%s must be an offset from the start such as \"+2h30m\" (d, h, m, s; a "
                     "year at most)",
                     field);
        return BM_EINVAL;
    }
    return BM_OK;
}

/* Only the keys of one step shape. */
static enum bm_rc only_keys(const cJSON *step, const char *const *keys, const char *path,
                            struct api_fail *f)
{
    for (const cJSON *c = step->child; c; c = c->next) {
        bool known = false;
        for (int i = 0; keys[i] && !known; i++)
            known = strcmp(c->string, keys[i]) == 0;
        if (!known) {
            char field[64];
            snprintf(field, sizeof field, "%s.%.30s", path, c->string);
            api_fail_set(f, API_UNKNOWN_FIELD, field,
                         "a step is {at, set}, {at, inject} or {from, to, ramp}");
            return BM_EINVAL;
        }
    }
    return BM_OK;
}

static enum bm_rc add_set(struct scenario *s, int64_t at, const cJSON *set, enum scenario_kind k,
                          struct api_fail *f)
{
    struct scenario_step *st;

    if (s->n == SCENARIO_STEPS_MAX) {
        api_fail_set(f, API_BAD_VALUE, "steps", "at most %d steps", SCENARIO_STEPS_MAX);
        return BM_EINVAL;
    }
    st = &s->steps[s->n];
    memset(st, 0, sizeof *st);
    st->kind = k;
    st->at_us = at;
    st->set = cJSON_Duplicate(set, true);
    if (!st->set)
        return BM_ENOMEM;
    s->n++;
    return BM_OK;
}

/* A set step: checked on top of what the steps before it leave. */
static enum bm_rc parse_set(const cJSON *step, const char *path, enum bm_svc svc,
                            struct bm_config *cfg, struct scenario *s, struct api_fail *f)
{
    static const char *const keys[] = { "at", "set", "service", NULL };
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(step, "set");
    char field[64];
    int64_t at;

    if (only_keys(step, keys, path, f) != BM_OK || want_offset(step, "at", path, &at, f) != BM_OK)
        return BM_EINVAL;
    snprintf(field, sizeof field, "%s.set", path);
    if (!cJSON_IsObject(set)) {
        api_fail_set(f, API_BAD_TYPE, field, "%s must be an object of runtime settings", field);
        return BM_EINVAL;
    }
    if (cJSON_GetObjectItemCaseSensitive(set, "paused")) {
        /* nothing in a timeline could resume it */
        api_fail_set(f, API_BAD_VALUE, "paused", "a scenario cannot pause the generator");
        prefix_field(f, field);
        return BM_EINVAL;
    }
    if (cfg_apply_runtime(cfg, svc, set, f) != BM_OK) {
        prefix_field(f, field);
        return BM_EINVAL;
    }
    return add_set(s, at, set, SCEN_SET, f);
}

static enum bm_rc parse_inject(const cJSON *step, const char *path, scenario_inject_fn inject,
                               const void *model, struct scenario *s, struct api_fail *f)
{
    static const char *const keys[] = { "at", "inject", "service", NULL };
    struct inject_req r;
    struct scenario_step *st;
    char field[64];
    int64_t at;

    if (only_keys(step, keys, path, f) != BM_OK || want_offset(step, "at", path, &at, f) != BM_OK)
        return BM_EINVAL;
    snprintf(field, sizeof field, "%s.inject", path);
    if (s->n == SCENARIO_STEPS_MAX) {
        api_fail_set(f, API_BAD_VALUE, "steps", "at most %d steps", SCENARIO_STEPS_MAX);
        return BM_EINVAL;
    }
    st = &s->steps[s->n];
    memset(st, 0, sizeof *st);
    if (inject_req_parse(cJSON_GetObjectItemCaseSensitive(step, "inject"), &r, f) != BM_OK) {
        prefix_field(f, field);
        return BM_EINVAL;
    }
    if (!r.at_now) {
        api_fail_set(f, API_BAD_VALUE, "at", "the step's own at says when");
        prefix_field(f, field);
        return BM_EINVAL;
    }
    if (!inject) {
        api_fail_set(f, API_BAD_VALUE, "type", "this service takes no injections");
        prefix_field(f, field);
        return BM_EINVAL;
    }
    if (inject(model, r.type, r.target, r.size, &st->inj, f) != BM_OK) {
        prefix_field(f, field);
        return BM_EINVAL;
    }
    st->kind = SCEN_INJECT;
    st->at_us = at;
    s->n++;
    return BM_OK;
}

static enum bm_rc want_eps(const cJSON *it, const char *field, double *out, struct api_fail *f)
{
    if (json_as_double(it, out) != BM_OK || !(*out >= 0.01) || !(*out <= 5000.0)) {
        api_fail_set(f, API_BAD_VALUE, field, "%s must be two events_per_second values, "
                     "0.01 to 5000", field);
        return BM_EINVAL;
    }
    return BM_OK;
}

static enum bm_rc parse_ramp(const cJSON *step, const char *path, struct scenario *s,
                             struct api_fail *f)
{
    static const char *const keys[] = { "from", "to", "ramp", "service", NULL };
    const cJSON *ramp = cJSON_GetObjectItemCaseSensitive(step, "ramp");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(ramp, "events_per_second");
    struct scenario_ramp *r = &s->ramps[s->nramps];
    char field[80];
    cJSON *end;
    enum bm_rc rc;

    if (only_keys(step, keys, path, f) != BM_OK ||
        want_offset(step, "from", path, &r->from_us, f) != BM_OK ||
        want_offset(step, "to", path, &r->to_us, f) != BM_OK)
        return BM_EINVAL;
    snprintf(field, sizeof field, "%s.to", path);
    if (r->to_us <= r->from_us) {
        api_fail_set(f, API_BAD_VALUE, field, "%s must be after from", field);
        return BM_EINVAL;
    }
    snprintf(field, sizeof field, "%s.ramp.events_per_second", path);
    if (!cJSON_IsObject(ramp) || cJSON_GetArraySize(ramp) != 1 || !cJSON_IsArray(eps) ||
        cJSON_GetArraySize(eps) != 2) {
        api_fail_set(f, API_BAD_VALUE, field, "a ramp is {\"events_per_second\": [from, to]}");
        return BM_EINVAL;
    }
    if (want_eps(cJSON_GetArrayItem(eps, 0), field, &r->from_eps, f) != BM_OK ||
        want_eps(cJSON_GetArrayItem(eps, 1), field, &r->to_eps, f) != BM_OK)
        return BM_EINVAL;
    /* at its end the rate stays where the ramp left it */
    end = cJSON_CreateObject();
    if (!end || !cJSON_AddNumberToObject(end, "events_per_second", r->to_eps)) {
        cJSON_Delete(end);
        return BM_ENOMEM;
    }
    rc = add_set(s, r->to_us, end, SCEN_RAMP_END, f);
    cJSON_Delete(end);
    if (rc == BM_OK)
        s->nramps++;
    return rc;
}

/* Steps in time order; the order given among steps at the same time. */
static int by_time(const void *a, const void *b)
{
    const struct scenario_step *x = a, *y = b;

    return x->at_us < y->at_us ? -1 : x->at_us > y->at_us;
}

static void sort_steps(struct scenario *s)
{
    /* insertion sort: stable, and n is small */
    for (int i = 1; i < s->n; i++) {
        struct scenario_step t = s->steps[i];
        int j = i;

        while (j > 0 && by_time(&s->steps[j - 1], &t) > 0) {
            s->steps[j] = s->steps[j - 1];
            j--;
        }
        s->steps[j] = t;
    }
}

/* A step with "service" is that service's only (one file can drive all
 * three): BM_ENOTFOUND for another's. */
static enum bm_rc for_this_service(const cJSON *st, const char *path, enum bm_svc svc,
                                   struct api_fail *f)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(st, "service");
    char field[64];

    if (!it)
        return BM_OK;
    for (int s = 0; s < SVC_NSOURCES && cJSON_IsString(it); s++)
        if (strcmp(it->valuestring, svc_info((enum bm_svc)s)->section) == 0)
            return s == (int)svc ? BM_OK : BM_ENOTFOUND;
    snprintf(field, sizeof field, "%s.service", path);
    api_fail_set(f, API_BAD_VALUE, field, "%s must be transaction, auth or monitoring", field);
    return BM_EINVAL;
}

static enum bm_rc parse_steps(const cJSON *steps, enum bm_svc svc, struct bm_config *cfg,
                              scenario_inject_fn inject, const void *model, struct scenario *s,
                              struct api_fail *f)
{
    int i = 0;

    if (!cJSON_IsArray(steps)) {
        api_fail_set(f, API_BAD_TYPE, "steps", "steps must be an array");
        return BM_EINVAL;
    }
    for (const cJSON *st = steps->child; st; st = st->next, i++) {
        char path[32];
        enum bm_rc rc;

        snprintf(path, sizeof path, "steps[%d]", i);
        if (!cJSON_IsObject(st)) {
            api_fail_set(f, API_BAD_TYPE, path, "%s must be an object", path);
            return BM_EINVAL;
        }
        rc = for_this_service(st, path, svc, f);
        if (rc == BM_ENOTFOUND)
            continue; /* another service's step */
        if (rc != BM_OK)
            return rc;
        if (cJSON_GetObjectItemCaseSensitive(st, "set"))
            rc = parse_set(st, path, svc, cfg, s, f);
        else if (cJSON_GetObjectItemCaseSensitive(st, "inject"))
            rc = parse_inject(st, path, inject, model, s, f);
        else if (cJSON_GetObjectItemCaseSensitive(st, "ramp"))
            rc = parse_ramp(st, path, s, f);
        else {
            api_fail_set(f, API_BAD_VALUE, path, "%s has no set, inject or ramp", path);
            rc = BM_EINVAL;
        }
        if (rc != BM_OK)
            return rc;
    }
    return BM_OK;
}

enum bm_rc scenario_parse(const cJSON *root, enum bm_svc svc, const struct bm_config *live,
                          scenario_inject_fn inject, const void *model, struct scenario *out,
                          struct api_fail *f)
{
    static const char *const keys[] = { "name", "description", "steps", NULL };
    struct bm_config cfg = *live;
    const cJSON *name;
    enum bm_rc rc;

    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(root)) {
        api_fail_set(f, API_BAD_TYPE, "", "a scenario is an object: {name, description, steps}");
        return BM_EINVAL;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        bool known = false;
        for (int i = 0; keys[i] && !known; i++)
            known = strcmp(c->string, keys[i]) == 0;
        if (!known) {
            api_fail_set(f, API_UNKNOWN_FIELD, c->string, "unknown field %.40s", c->string);
            return BM_EINVAL;
        }
    }
    name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (name && (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof out->name)) {
        api_fail_set(f, API_BAD_VALUE, "name", "name must be a string under %zu bytes",
                     sizeof out->name);
        return BM_EINVAL;
    }
    snprintf(out->name, sizeof out->name, "%s", name ? name->valuestring : "");
    rc = parse_steps(cJSON_GetObjectItemCaseSensitive(root, "steps"), svc, &cfg, inject, model,
                     out, f);
    if (rc != BM_OK) {
        scenario_free(out);
        return rc;
    }
    sort_steps(out);
    return BM_OK;
}

void scenario_free(struct scenario *s)
{
    for (int i = 0; i < s->n; i++)
        cJSON_Delete(s->steps[i].set);
    s->n = 0;
    s->nramps = 0;
}

double scenario_eps(const struct scenario *s, int64_t t_us, double eps)
{
    for (int i = s->nramps - 1; i >= 0; i--) {
        const struct scenario_ramp *r = &s->ramps[i];

        if (t_us >= r->from_us && t_us < r->to_us)
            return r->from_eps + (r->to_eps - r->from_eps) * (double)(t_us - r->from_us) /
                                     (double)(r->to_us - r->from_us);
    }
    return eps;
}
