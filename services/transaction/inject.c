/* inject.c - what POST /inject may ask of the transaction service: a
 * type, a customer of the population as its target, a size in the range
 * the type's rule holds for. */
#include <string.h>

#include "inject_req.h"
#include "txn_internal.h"

#define FRAUD_MIN  3 /* the generator's sizes: 3 .. TXN_MAX_INCIDENT */
#define FRAUD_USUAL 5

enum bm_rc txn_inject_check(const void *model, const char *type, const struct cJSON *target,
                            int64_t size, struct gen_inject *inj, struct api_fail *f)
{
    const struct txn_model *m = model;
    const char *cust;
    int t;

    for (t = 0; t < TXN_A_COUNT && strcmp(type, txn_anomaly_names[t]) != 0; t++)
        ;
    if (t == TXN_A_COUNT)
        return inject_req_no_type(type, f);
    inj->type = t;
    if (inject_req_size(size, t == TXN_A_HIGH_AMOUNT ? 1 : FRAUD_MIN,
                        t == TXN_A_HIGH_AMOUNT ? 1 : TXN_MAX_INCIDENT,
                        t == TXN_A_HIGH_AMOUNT ? 1 : FRAUD_USUAL, &inj->size, f) != BM_OK ||
        inject_req_target(target, "customer_id", &cust, f) != BM_OK)
        return BM_EINVAL;
    inj->target = -1;
    if (cust) {
        inj->target = txn_customer_index(m, cust);
        if (inj->target < 0) {
            api_fail_set(f, API_BAD_VALUE, "target.customer_id", "no customer %.20s", cust);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}
