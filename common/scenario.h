/* scenario.h - a scenario timeline: steps at offsets from the stream's
 * start, on the simulated clock, so a backfill of a scenario replays byte
 * for byte. A step is a config change ({"at": "+2h", "set": {...}}), an
 * injection ({"at": "+2h30m", "inject": {...}}) or a ramp of
 * events_per_second ({"from": "+3h", "to": "+4h", "ramp":
 * {"events_per_second": [100, 2000]}}). A step with "service":
 * "transaction" | "auth" | "monitoring" is that service's only, so one
 * file can drive all three. Parsing and checking are pure; genloop.c
 * applies the steps. */
#ifndef BM_COMMON_SCENARIO_H
#define BM_COMMON_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "api_errors.h"
#include "config.h"
#include "gen.h"
#include "rc.h"

#define SCENARIO_STEPS_MAX 256
#define SCENARIO_TEXT_MAX  (64 * 1024)

enum scenario_kind { SCEN_SET, SCEN_INJECT, SCEN_RAMP_END };

/* One step as applied, in time order. A ramp gives one: the set of its
 * end value at `to` (until then the rate follows the ramp: scenario_eps). */
struct scenario_step {
    enum scenario_kind kind;
    int64_t at_us;          /* offset from the start */
    struct cJSON *set;      /* SCEN_SET, SCEN_RAMP_END: a flat runtime object (owned) */
    struct gen_inject inj;  /* SCEN_INJECT: type, target, size (id drawn when applied) */
};

struct scenario_ramp {
    int64_t from_us, to_us; /* offsets */
    double from_eps, to_eps;
};

struct scenario {
    char name[128];
    int n;
    struct scenario_step steps[SCENARIO_STEPS_MAX];
    int nramps;
    struct scenario_ramp ramps[SCENARIO_STEPS_MAX];
};

/* What a step's injection is checked with: the service's inject_check. */
typedef enum bm_rc (*scenario_inject_fn)(const void *model, const char *type,
                                         const struct cJSON *target, int64_t size,
                                         struct gen_inject *inj, struct api_fail *f);

/* "+2h30m", "+90s", "+1d", "+0s" into microseconds. */
enum bm_rc scenario_offset(const char *s, int64_t *us) BM_WUR;

/* Reads and checks root ({"name": ..., "description": ..., "steps":
 * [...]}): every set against the service's runtime keys on top of live,
 * every injection with inject (NULL: injections refused). On failure f
 * names the field ("steps[3].set.anomaly_rate") and out holds nothing to
 * free. */
enum bm_rc scenario_parse(const struct cJSON *root, enum bm_svc svc, const struct bm_config *live,
                          scenario_inject_fn inject, const void *model, struct scenario *out,
                          struct api_fail *f) BM_WUR;
void scenario_free(struct scenario *s);

/* events_per_second at offset t_us: the latest ramp under way, else eps. */
double scenario_eps(const struct scenario *s, int64_t t_us, double eps);

#endif
