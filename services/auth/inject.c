/* inject.c - what POST /inject may ask of the auth service: a brute force
 * on a user of the population, a credential-stuffing list, an unusual
 * location, each with a size its rule holds for. */
#include <string.h>

#include "auth_internal.h"
#include "inject_req.h"

/* the generator's sizes */
#define BRUTE_LO 10 /* AUTH_BRUTE_MIN_FAILURES: the rule's minimum */
#define BRUTE_HI 30
#define STUFF_LO 20
#define STUFF_HI 60

enum bm_rc auth_inject_check(const void *model, const char *type, const struct cJSON *target,
                             int64_t size, struct gen_inject *inj, struct api_fail *f)
{
    const struct auth_model *m = model;
    const char *user = NULL;
    int t;

    for (t = 0; t < AUTH_A_COUNT && strcmp(type, auth_anomaly_names[t]) != 0; t++)
        ;
    inj->target = -1;
    switch (t) {
    case AUTH_A_BRUTE_FORCE:
        inj->type = t;
        if (inject_req_size(size, BRUTE_LO, BRUTE_HI, 20, &inj->size, f) != BM_OK ||
            inject_req_target(target, "username", &user, f) != BM_OK)
            return BM_EINVAL;
        if (user && (inj->target = auth_find_user(m, user)) < 0) {
            api_fail_set(f, API_BAD_VALUE, "target.username", "no user \"%.60s\"", user);
            return BM_EINVAL;
        }
        return BM_OK;
    case AUTH_A_STUFFING:
        inj->type = t;
        if (inject_req_size(size, STUFF_LO, STUFF_HI, 40, &inj->size, f) != BM_OK)
            return BM_EINVAL;
        return inject_req_target(target, NULL, &user, f);
    case AUTH_A_LOCATION:
        /* it follows a user's recent normal login: the generator picks one */
        inj->type = t;
        if (inject_req_size(size, 1, 1, 1, &inj->size, f) != BM_OK)
            return BM_EINVAL;
        return inject_req_target(target, NULL, &user, f);
    default:
        return inject_req_no_type(type, f);
    }
}
