/* inject_req.h - a POST /inject body read into its parts (the type,
 * target and size are then the service's to judge), and the size and
 * target checks the services' inject_check share. Pure. */
#ifndef BM_COMMON_INJECT_REQ_H
#define BM_COMMON_INJECT_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "api_errors.h"
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

enum bm_rc inject_req_parse(const struct cJSON *body, struct inject_req *out,
                            struct api_fail *f) BM_WUR;

/* For inject_check: size < 0 gives usual, else it must be in [lo, hi]
 * (422 naming size). */
enum bm_rc inject_req_size(int64_t size, int lo, int hi, int usual, int *out,
                           struct api_fail *f) BM_WUR;
/* For inject_check: the target object (may be NULL) takes the one string
 * member key (NULL: none); *val is it, or NULL when absent. */
enum bm_rc inject_req_target(const struct cJSON *target, const char *key, const char **val,
                             struct api_fail *f) BM_WUR;
/* For inject_check: a type the service cannot inject (422 naming type);
 * returns BM_EINVAL. A cross-service cascade's label (cascade_failure on
 * transactions and auth) says where it is injected. */
enum bm_rc inject_req_no_type(const char *type, struct api_fail *f);

#endif
