/* query.c - event-list query parameters and filters. */
#define _GNU_SOURCE /* memmem */
#include "query.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "parse.h"
#include "svc.h"
#include "timefmt.h"

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

static const char *const txn_fields[] = { "customer_id", NULL };
static const char *const auth_fields[] = { "customer_id", "username", NULL };
static const char *const mon_fields[] = { "service", "host", NULL };
static const char *const no_fields[] = { NULL };

const char *const *query_fields(enum bm_svc svc)
{
    switch (svc) {
    case SVC_TRANSACTION:
        return txn_fields;
    case SVC_AUTH:
        return auth_fields;
    case SVC_MONITORING:
        return mon_fields;
    default:
        return no_fields;
    }
}

static enum bm_rc parse_time(const char *name, const char *s, int64_t *ms, struct api_fail *fail)
{
    if (timefmt_parse_iso(s, ms) != BM_OK) {
        api_fail_set(fail, API_BAD_PARAM, name,
                     "%s must be an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SS[.mmm]Z)", name);
        return BM_EINVAL;
    }
    return BM_OK;
}

/* "key":"value" as the encoders write it, into q's next needle. */
static enum bm_rc add_needle(struct db_list_query *q, const char *key, const char *val,
                             struct api_fail *fail)
{
    struct buf b;
    enum bm_rc rc;

    buf_init(&b, DB_NEEDLE_MAX - 1);
    rc = *val && strlen(val) <= 100 && q->nneedles < DB_NEEDLES_MAX ? BM_OK : BM_EINVAL;
    if (rc == BM_OK && (buf_put_json_str(&b, key) != BM_OK || buf_putc(&b, ':') != BM_OK ||
                        buf_put_json_str(&b, val) != BM_OK))
        rc = BM_EINVAL;
    if (rc == BM_OK) {
        memcpy(q->needle[q->nneedles], b.data, b.len);
        q->needle[q->nneedles++][b.len] = '\0';
    } else {
        api_fail_set(fail, API_BAD_PARAM, key, "%s must be 1..100 characters", key);
    }
    buf_free(&b);
    return rc;
}

enum bm_rc query_parse_filters(enum bm_svc svc, const struct query_filters *in,
                               struct db_list_query *q, struct api_fail *fail)
{
    const char *const *fields = query_fields(svc);

    if (in->from && parse_time("from", in->from, &q->from_ms, fail) != BM_OK)
        return BM_EINVAL;
    if (in->to && parse_time("to", in->to, &q->to_ms, fail) != BM_OK)
        return BM_EINVAL;
    q->has_from = in->from != NULL;
    q->has_to = in->to != NULL;
    if (q->has_from && q->has_to && q->from_ms > q->to_ms) {
        api_fail_set(fail, API_BAD_PARAM, "from", "from must not be after to");
        return BM_EINVAL;
    }
    for (int i = 0; fields[i] && i < 4; i++)
        if (in->field[i] && add_needle(q, fields[i], in->field[i], fail) != BM_OK)
            return BM_EINVAL;
    if (in->incident_id && add_needle(q, "incident_id", in->incident_id, fail) != BM_OK)
        return BM_EINVAL;
    return BM_OK;
}

static bool media_is(const char *accept, const char *type)
{
    size_t n = strlen(type);
    const char *p = accept;

    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncasecmp(p, type, n) == 0 && (p[n] == '\0' || p[n] == ';' || p[n] == ',' ||
                                             p[n] == ' '))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

enum bm_rc query_parse_format(const char *format, const char *accept, enum query_format *out,
                              struct api_fail *fail)
{
    *out = QF_JSON;
    if (format) {
        if (strcmp(format, "json") == 0)
            return BM_OK;
        if (strcmp(format, "ndjson") == 0) {
            *out = QF_NDJSON;
            return BM_OK;
        }
        if (strcmp(format, "csv") == 0) {
            *out = QF_CSV;
            return BM_OK;
        }
        api_fail_set(fail, API_BAD_PARAM, "format", "format must be json, ndjson or csv");
        return BM_EINVAL;
    }
    if (accept && media_is(accept, "application/x-ndjson"))
        *out = QF_NDJSON;
    else if (accept && media_is(accept, "text/csv"))
        *out = QF_CSV;
    return BM_OK;
}

const char *query_format_ctype(enum query_format f)
{
    switch (f) {
    case QF_NDJSON:
        return "application/x-ndjson";
    case QF_CSV:
        return "text/csv; charset=utf-8; header=present";
    default:
        return "application/json; charset=utf-8";
    }
}

bool query_narrowed(const struct db_list_query *q)
{
    return q->has_from || q->has_to || q->nneedles > 0;
}

bool query_body_matches(const struct db_list_query *q, const char *body, size_t len)
{
    for (int i = 0; i < q->nneedles; i++)
        if (!memmem(body, len, q->needle[i], strlen(q->needle[i])))
            return false;
    return true;
}

enum bm_rc query_parse_source(const char *v, struct db_list_query *q, struct api_fail *fail)
{
    for (int s = 0; v && s < SVC_NSOURCES; s++) {
        const struct svc_info *i = svc_info((enum bm_svc)s);
        if (strcmp(v, i->section) == 0 || strcmp(v, i->name) == 0) {
            q->source = s + 1;
            return BM_OK;
        }
    }
    api_fail_set(fail, API_BAD_PARAM, "source", "source must be transaction, auth or monitoring");
    return BM_EINVAL;
}

/* The gateway writes the source second, right after the sequence. */
#define SOURCE_WITHIN 64

bool query_source_matches(const struct db_list_query *q, const char *body, size_t len)
{
    char want[64];
    int n;

    if (!q->source)
        return true;
    n = snprintf(want, sizeof(want), "\"source\":\"%s\"", svc_info((enum bm_svc)(q->source - 1))->name);
    return n > 0 && memmem(body, len < SOURCE_WITHIN ? len : SOURCE_WITHIN, want, (size_t)n);
}

bool query_matches(const struct db_list_query *q, int64_t ts_ms, const char *anomaly_type,
                   const char *body, size_t len)
{
    if (!query_source_matches(q, body, len))
        return false;
    if (q->anomalies_only && !anomaly_type)
        return false;
    if (q->anomaly_type) {
        /* a group's name stands for its members */
        bool any = false;
        for (int i = 0; anomaly_type && i < q->ntypes && !any; i++)
            any = strcmp(q->types[i], anomaly_type) == 0;
        if (!anomaly_type || !(any || strcmp(q->anomaly_type, anomaly_type) == 0))
            return false;
    }
    if ((q->has_from && ts_ms < q->from_ms) || (q->has_to && ts_ms >= q->to_ms))
        return false;
    return query_body_matches(q, body, len);
}
