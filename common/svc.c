/* svc.c - the one table of the four processes. */
#include "svc.h"

#include <string.h>

#include "gen.h"

static const char *const txn_types[] = {
    "suspicious_high_amount", "fraud_pattern", "money_laundering",
};
static const char *const auth_types[] = {
    "brute_force", "credential_stuffing", "unusual_location",
};
static const char *const mon_types[] = {
    "high_cpu", "high_memory", "high_disk", "cascade_failure",
    "performance_degradation", "network_timeout",
};

#define NTYPES(a) (int)(sizeof(a) / sizeof((a)[0]))
/* a service's weights and the gateway's per-type counters hold GEN_MAX_TYPES */
_Static_assert(NTYPES(mon_types) <= GEN_MAX_TYPES, "more anomaly types than GEN_MAX_TYPES");

static const struct svc_info table[SVC_COUNT] = {
    [SVC_TRANSACTION] = { "transaction-service", "transaction", 8081, SVC_TXN_EVENTS_PATH,
                          "transaction_id", txn_types, NTYPES(txn_types) },
    [SVC_AUTH] = { "auth-service", "auth", 8082, SVC_AUTH_EVENTS_PATH, "event_id", auth_types,
                   NTYPES(auth_types) },
    [SVC_MONITORING] = { "monitoring-service", "monitoring", 8083, SVC_MON_EVENTS_PATH,
                         "event_id", mon_types, NTYPES(mon_types) },
    [SVC_GATEWAY] = { "api-gateway", "gateway", 8080, NULL, NULL, NULL, 0 },
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

int svc_anomaly_index(enum bm_svc s, const char *type)
{
    const struct svc_info *v = &table[s];

    for (int i = 0; i < v->nanomaly_types; i++)
        if (strcmp(v->anomaly_types[i], type) == 0)
            return i;
    return -1;
}
