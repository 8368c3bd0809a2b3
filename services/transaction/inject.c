/* inject.c - what POST /inject may ask of the transaction service: a
 * type, a customer of the population as its target, a size in the range
 * the type's rule holds for. */
#include <string.h>

#include "inject_req.h"
#include "txn_internal.h"

#define FRAUD_MIN  3 /* the generator's sizes: 3 .. TXN_MAX_INCIDENT */
#define FRAUD_USUAL 5

static int64_t customer_index(const struct txn_model *m, const char *id)
{
    uint32_t num = 0, lo = 0, hi = m->n_cust;

    if (strlen(id) != 11 || strncmp(id, "CUST_", 5) != 0 ||
        strspn(id + 5, "0123456789") != 6)
        return -1;
    for (int i = 5; i < 11; i++)
        num = num * 10 + (uint32_t)(id[i] - '0');
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (m->cust[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_cust && m->cust[lo].num == num ? (int64_t)lo : -1;
}

enum bm_rc txn_inject_check(const void *model, const char *type, const struct cJSON *target,
                            int64_t size, struct gen_inject *inj, struct api_fail *f)
{
    const struct txn_model *m = model;
    const char *cust;
    int t;

    for (t = 0; t < TXN_A_COUNT && strcmp(type, txn_anomaly_names[t]) != 0; t++)
        ;
    if (t == TXN_A_COUNT) {
        api_fail_set(f, API_BAD_VALUE, "type", "no such anomaly type");
        return BM_EINVAL;
    }
    inj->type = t;
    if (inject_req_size(size, t == TXN_A_HIGH_AMOUNT ? 1 : FRAUD_MIN,
                        t == TXN_A_HIGH_AMOUNT ? 1 : TXN_MAX_INCIDENT,
                        t == TXN_A_HIGH_AMOUNT ? 1 : FRAUD_USUAL, &inj->size, f) != BM_OK ||
        inject_req_target(target, "customer_id", &cust, f) != BM_OK)
        return BM_EINVAL;
    inj->target = -1;
    if (cust) {
        inj->target = customer_index(m, cust);
        if (inj->target < 0) {
            api_fail_set(f, API_BAD_VALUE, "target.customer_id", "no customer %.20s", cust);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}
