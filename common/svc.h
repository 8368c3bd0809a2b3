/* svc.h - the four processes and the facts about each that more than one
 * module needs: name, config section, default port, event list path, id
 * field, anomaly types. One table (svc.c); everything else asks it. */
#ifndef BM_COMMON_SVC_H
#define BM_COMMON_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The three event services come first, in the order the gateway polls
 * and reports them; SVC_NSOURCES of them. */
enum bm_svc { SVC_TRANSACTION, SVC_AUTH, SVC_MONITORING, SVC_GATEWAY, SVC_COUNT };
#define SVC_NSOURCES SVC_GATEWAY

#define SVC_BIT(s)   (1u << (s))
#define SVC_SERVICES (SVC_BIT(SVC_TRANSACTION) | SVC_BIT(SVC_AUTH) | SVC_BIT(SVC_MONITORING))
#define SVC_ALL      (SVC_SERVICES | SVC_BIT(SVC_GATEWAY))

/* Event list paths as constants, for route tables that need one at
 * compile time; svc.c's table uses the same. */
#define SVC_TXN_EVENTS_PATH  "/transactions/events"
#define SVC_AUTH_EVENTS_PATH "/auth/events"
#define SVC_MON_EVENTS_PATH  "/metrics/events"

struct svc_info {
    const char *name;        /* "transaction-service": process, log, route name */
    const char *section;     /* "transaction": its config file section */
    uint16_t port;           /* default listening port */
    const char *events_path; /* "/transactions/events"; NULL for the gateway */
    const char *id_field;    /* "transaction_id": an event's unique id; NULL for the gateway */
    const char *const *anomaly_types; /* its labels: filters, counters, scoring */
    int nanomaly_types;
    /* The first nrated_types of them have rates (<type>_rate, in
     * gen_params.weights order) and can be injected; the rest only a
     * cross-service incident's part carries (xincident.h). */
    int nrated_types;
    /* The CSV header row of its events (the encoder's fixed key order,
     * nested objects as location.city), without CRLF; NULL for the gateway.
     * test_evfmt checks it against each encoder. */
    const char *csv_columns;
    /* The top-level string field naming the entity an event belongs to
     * (customer, user, host): the sink's partition key; NULL for the
     * gateway. */
    const char *entity_field;
};

/* The entry of svc; s must be below SVC_COUNT. */
const struct svc_info *svc_info(enum bm_svc s);

/* The service whose name is name[0..len), or SVC_COUNT if none. */
enum bm_svc svc_by_name(const char *name, size_t len);

/* Index of type among svc's anomaly types, -1 if it is none of them. */
int svc_anomaly_index(enum bm_svc s, const char *type);
/* Whether s is the first source with a type called type: maps by type
 * name across the services (the gateway's) list cascade_failure, a type
 * of three, once. */
bool svc_type_first_of(enum bm_svc s, const char *type);

/* A name the seed's documents use for several of a service's types
 * (resource_exhaustion: high_cpu, high_memory and high_disk), accepted
 * as an anomaly_type filter. */
#define SVC_GROUP_MAX 3
struct svc_type_group {
    const char *name;
    enum bm_svc svc;
    const char *members[SVC_GROUP_MAX]; /* names from svc's anomaly_types */
    int nmembers;
};
/* The group called name for svc (SVC_COUNT: any service), or NULL. */
const struct svc_type_group *svc_type_group(enum bm_svc s, const char *name);
/* Does the filter `filter` (a type or a group name, as the group or type
 * table spells it) take an event of svc with type index `type`? */
bool svc_filter_takes(const char *filter, enum bm_svc s, int type);
/* Is name one of svc's anomaly types or the name of one of its groups? */
bool svc_type_or_group(enum bm_svc s, const char *name);

#endif
