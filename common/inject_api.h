/* inject_api.h - POST /inject on every service: an incident of a chosen
 * type, target, time and size, scheduled through the generator's write
 * queue (genloop_submit_inject). */
#ifndef BM_COMMON_INJECT_API_H
#define BM_COMMON_INJECT_API_H

#include <stdint.h>

#include "api_errors.h"
#include "gen.h"
#include "http_server.h"
#include "rc.h"

struct cJSON;

/* A POST /inject body read into its parts (what the service then checks):
 * type, target (NULL when absent; borrowed from body), at ("now" unless
 * at_ms is set), size (-1: absent). 422 details in f. */
struct inject_req {
    const char *type;
    const struct cJSON *target;
    bool at_now;
    int64_t at_ms;
    int64_t size;
};

enum bm_rc inject_api_parse(const struct cJSON *body, struct inject_req *out,
                            struct api_fail *f) BM_WUR;

void inject_api_h_post(struct http_req *req);

/* For inject_check: size < 0 gives usual, else it must be in [lo, hi]
 * (422 naming size). */
enum bm_rc inject_api_size(int64_t size, int lo, int hi, int usual, int *out,
                           struct api_fail *f) BM_WUR;
/* For inject_check: the target object (may be NULL) takes the one string
 * member key (NULL: none); *val is it, or NULL when absent. */
enum bm_rc inject_api_target(const struct cJSON *target, const char *key, const char **val,
                             struct api_fail *f) BM_WUR;

#endif
