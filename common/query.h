/* query.h - validation of event-list query parameters, independent of
 * the HTTP layer so it can be tested alone. */
#ifndef BM_COMMON_QUERY_H
#define BM_COMMON_QUERY_H

#include "api_errors.h"
#include "config.h"
#include "db.h"
#include "rc.h"

/* Each argument is the raw value or NULL when absent. On failure fills
 * *fail (400 invalid_parameter naming the parameter), returns BM_EINVAL. */
enum bm_rc query_parse_list(enum bm_svc svc, const char *limit, const char *since,
                            const char *anomalies_only, const char *anomaly_type,
                            struct db_list_query *q, struct api_fail *fail) BM_WUR;

#endif
