/* svc.c - the one table of the four processes. */
#include "svc.h"

#include <string.h>

#include "gen.h"

/* A service's rated types first (gen_params.weights order), then the
 * labels no rate schedules: transactions' and auth's part of a
 * cross-service cascade (xincident.h). */
static const char *const txn_types[] = {
    "suspicious_high_amount", "fraud_pattern", "money_laundering", "cascade_failure",
};
static const char *const auth_types[] = {
    "brute_force", "credential_stuffing", "unusual_location", "cascade_failure",
};
static const char *const mon_types[] = {
    "high_cpu", "high_memory", "high_disk", "cascade_failure",
    "performance_degradation", "network_timeout",
};

#define NTYPES(a) (int)(sizeof(a) / sizeof((a)[0]))
/* a service's weights and the gateway's per-type counters hold GEN_MAX_TYPES */
_Static_assert(NTYPES(mon_types) <= GEN_MAX_TYPES, "more anomaly types than GEN_MAX_TYPES");

#define EVENT_TAIL_COLUMNS "is_anomaly,anomaly_type,incident_id,origin"

static const struct svc_info table[SVC_COUNT] = {
    [SVC_TRANSACTION] = { "transaction-service", "transaction", 8081, SVC_TXN_EVENTS_PATH,
                          "transaction_id", txn_types, NTYPES(txn_types),
                          NTYPES(txn_types) - 1,
                          "transaction_id,timestamp,sequence,customer_id,customer_segment,"
                          "account_id,counterparty_account,merchant_id,merchant_category,"
                          "amount,currency,transaction_type,channel,location.country,"
                          "location.city,status,processing_time_ms,risk_score,"
                          EVENT_TAIL_COLUMNS, "customer_id" },
    [SVC_AUTH] = { "auth-service", "auth", 8082, SVC_AUTH_EVENTS_PATH, "event_id", auth_types,
                   NTYPES(auth_types), NTYPES(auth_types) - 1,
                   "event_id,timestamp,sequence,customer_id,username,result,failure_reason,"
                   "auth_method,ip_address,location.country,location.city,location.latitude,"
                   "location.longitude,device.fingerprint,device.type,device.os,risk_score,"
                   EVENT_TAIL_COLUMNS, "username" },
    [SVC_MONITORING] = { "monitoring-service", "monitoring", 8083, SVC_MON_EVENTS_PATH,
                         "event_id", mon_types, NTYPES(mon_types), NTYPES(mon_types),
                         "event_id,timestamp,sequence,service,host,metric_name,metric_value,"
                         "unit,severity," EVENT_TAIL_COLUMNS, "host" },
    [SVC_GATEWAY] = { "api-gateway", "gateway", 8080, NULL, NULL, NULL, 0, 0, NULL, NULL },
};

const struct svc_info *svc_info(enum bm_svc s)
{
    return &table[s];
}

enum bm_svc svc_by_name(const char *name, size_t len)
{
    for (int s = 0; s < SVC_COUNT; s++)
        if (strlen(table[s].name) == len && memcmp(table[s].name, name, len) == 0)
            return (enum bm_svc)s;
    return SVC_COUNT;
}

static const struct svc_type_group groups[] = {
    { "resource_exhaustion", SVC_MONITORING, { "high_cpu", "high_memory", "high_disk" }, 3 },
};

const struct svc_type_group *svc_type_group(enum bm_svc s, const char *name)
{
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if ((s == SVC_COUNT || groups[i].svc == s) && strcmp(groups[i].name, name) == 0)
            return &groups[i];
    return NULL;
}

bool svc_filter_takes(const char *filter, enum bm_svc s, int type)
{
    const struct svc_info *v = &table[s];
    const char *name;
    const struct svc_type_group *g;

    if (type < 0 || type >= v->nanomaly_types)
        return false;
    name = v->anomaly_types[type];
    if (strcmp(filter, name) == 0)
        return true;
    g = svc_type_group(s, filter);
    for (int i = 0; g && i < g->nmembers; i++)
        if (strcmp(g->members[i], name) == 0)
            return true;
    return false;
}

bool svc_type_or_group(enum bm_svc s, const char *name)
{
    return svc_anomaly_index(s, name) >= 0 || svc_type_group(s, name) != NULL;
}

bool svc_type_first_of(enum bm_svc s, const char *type)
{
    for (int s2 = 0; s2 < (int)s; s2++)
        if (svc_anomaly_index((enum bm_svc)s2, type) >= 0)
            return false;
    return svc_anomaly_index(s, type) >= 0;
}

int svc_anomaly_index(enum bm_svc s, const char *type)
{
    const struct svc_info *v = &table[s];

    for (int i = 0; i < v->nanomaly_types; i++)
        if (strcmp(v->anomaly_types[i], type) == 0)
            return i;
    return -1;
}
