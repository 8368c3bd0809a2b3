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

/* The body fields a service's lists filter on, NULL-terminated:
 * customer_id (transaction, auth), username (auth), service and host
 * (monitoring); none at the gateway. */
const char *const *query_fields(enum bm_svc svc);

/* The list filters beyond limit/since/anomalies_only/anomaly_type, each
 * raw or NULL: from and to (ISO timestamps, [from, to)), the service's
 * body fields (values in query_fields(svc) order) and incident_id. */
struct query_filters {
    const char *from, *to;
    const char *field[4];
    const char *incident_id;
};
enum bm_rc query_parse_filters(enum bm_svc svc, const struct query_filters *in,
                               struct db_list_query *q, struct api_fail *fail) BM_WUR;

/* Whether an event with these columns matches q's filters (since and
 * limit aside), for events read elsewhere than through a list query. */
/* The gateway's source=transaction|auth|monitoring (or the service's full
 * name) into q->source; BM_EINVAL (fail names source) for any other. */
enum bm_rc query_parse_source(const char *v, struct db_list_query *q, struct api_fail *fail) BM_WUR;
/* Whether the gateway event text (which starts {"gateway_sequence":N,
 * "source":"...") comes from q's source, if it has one. */
bool query_source_matches(const struct db_list_query *q, const char *body, size_t len);
bool query_matches(const struct db_list_query *q, int64_t ts_ms, const char *anomaly_type,
                   const char *body, size_t len);
/* A time range or a filter on the body's fields: what the newest-page
 * cache's key and the plain list statements do not hold. */
bool query_narrowed(const struct db_list_query *q);
/* Only the filters on the body's fields. */
bool query_body_matches(const struct db_list_query *q, const char *body, size_t len);

/* Representations of an event list or export. */
enum query_format { QF_JSON, QF_NDJSON, QF_CSV };
/* ?format= (json|ndjson|csv) wins over Accept (application/x-ndjson,
 * text/csv); anything else in Accept is JSON. */
enum bm_rc query_parse_format(const char *format, const char *accept, enum query_format *out,
                              struct api_fail *fail) BM_WUR;
const char *query_format_ctype(enum query_format f);

#endif
