/* query.c - event-list query parameters. */
#include "query.h"

#include <string.h>

#include "parse.h"
#include "svc.h"

enum bm_rc query_parse_list(enum bm_svc svc, const char *limit, const char *since,
                            const char *anomalies_only, const char *anomaly_type,
                            struct db_list_query *q, struct api_fail *fail)
{
    memset(q, 0, sizeof(*q));
    q->limit = 100;
    if (limit && parse_i64(limit, 1, 1000, &q->limit) != BM_OK) {
        api_fail_set(fail, API_BAD_PARAM, "limit", "limit must be an integer in 1..1000");
        return BM_EINVAL;
    }
    if (since) {
        int64_t s;
        if (parse_i64(since, 0, INT64_MAX, &s) != BM_OK) {
            api_fail_set(fail, API_BAD_PARAM, "since",
                         "since must be a non-negative integer sequence");
            return BM_EINVAL;
        }
        q->has_since = true;
        q->since = (uint64_t)s;
    }
    if (anomalies_only && parse_bool(anomalies_only, &q->anomalies_only) != BM_OK) {
        api_fail_set(fail, API_BAD_PARAM, "anomalies_only",
                     "anomalies_only must be true or false");
        return BM_EINVAL;
    }
    if (anomaly_type) {
        const char *const *names;
        const struct svc_type_group *g = svc_type_group(svc, anomaly_type);
        int n = cfg_anomaly_types(svc, &names);
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], anomaly_type) == 0) {
                q->anomaly_type = names[i];
                q->types = &names[i];
                q->ntypes = 1;
            }
        if (g) {
            q->anomaly_type = g->name;
            q->types = g->members;
            q->ntypes = g->nmembers;
        }
        if (!q->anomaly_type) {
            api_fail_set(fail, API_BAD_PARAM, "anomaly_type", "unknown anomaly_type \"%.40s\"",
                         anomaly_type);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}
