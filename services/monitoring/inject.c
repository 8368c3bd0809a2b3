/* inject.c - what POST /inject may ask of the monitoring service: one of
 * its anomaly types on a host of the estate (a target {"service",
 * "host"}, either or both, or none: the generator picks the host), with a
 * size (events in all) in the range its rule holds for. A cascade's
 * target is its origin: a backend with two dependent services or more. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "inject_req.h"
#include "json.h"
#include "mon.h"

static int find_service(const char *name)
{
    for (int i = 0; i < MON_N_SERVICES; i++)
        if (strcmp(mon_services[i].name, name) == 0)
            return i;
    return -1;
}

static int find_host(const char *name)
{
    for (int i = 0; i < MON_N_HOSTS; i++)
        if (strcmp(mon_hosts[i].name, name) == 0)
            return i;
    return -1;
}

static int dependents(int service)
{
    return __builtin_popcount(mon_services[service].dependents);
}

/* The target's members, each optional: *sv and *host -1 when absent. */
static enum bm_rc read_target(const cJSON *target, int *sv, int *host, struct api_fail *f)
{
    char name[80];

    *sv = *host = -1;
    for (const cJSON *c = target ? target->child : NULL; c; c = c->next) {
        const char *v;

        snprintf(name, sizeof name, "target.%.60s", c->string ? c->string : "");
        if (strcmp(c->string, "service") != 0 && strcmp(c->string, "host") != 0) {
            api_fail_set(f, API_UNKNOWN_FIELD, name, "a target takes only service and host");
            return BM_EINVAL;
        }
        if (json_want_str(c, name, &v, f) != BM_OK)
            return BM_EINVAL;
        if (c->string[0] == 's' && (*sv = find_service(v)) < 0) {
            api_fail_set(f, API_BAD_VALUE, name, "no service \"%.60s\" in the estate", v);
            return BM_EINVAL;
        }
        if (c->string[0] == 'h' && (*host = find_host(v)) < 0) {
            api_fail_set(f, API_BAD_VALUE, name, "no host \"%.60s\" in the estate", v);
            return BM_EINVAL;
        }
    }
    if (*sv >= 0 && *host >= 0 && mon_hosts[*host].service != *sv) {
        api_fail_set(f, API_BAD_VALUE, "target.host", "%s is no host of %s",
                     mon_hosts[*host].name, mon_services[*sv].name);
        return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc mon_inject_check(const void *model, const char *type, const struct cJSON *target,
                            int64_t size, struct gen_inject *inj, struct api_fail *f)
{
    const struct mon_inject_size *sz;
    int t, sv, host;

    (void)model;
    for (t = 0; t < MON_A_COUNT && strcmp(type, mon_anomaly_names[t]) != 0; t++)
        ;
    if (t == MON_A_COUNT)
        return inject_req_no_type(type, f);
    sz = &mon_inject_sizes[t];
    inj->type = t;
    if (inject_req_size(size, sz->lo, sz->hi, sz->usual, &inj->size, f) != BM_OK ||
        read_target(target, &sv, &host, f) != BM_OK)
        return BM_EINVAL;
    if (t == MON_A_CASCADE) {
        /* the origin and as many dependent services as the size takes */
        int need = mon_cascade_hosts(inj->size) - 1;
        int of = host >= 0 ? mon_hosts[host].service : sv;

        if (of >= 0 && dependents(of) < need) {
            api_fail_set(f, API_BAD_VALUE, host >= 0 ? "target.host" : "target.service",
                         "a cascade of %d events from %s needs %d dependent services; it has %d",
                         inj->size, mon_services[of].name, need, dependents(of));
            return BM_EINVAL;
        }
    }
    inj->target = host >= 0 ? host : sv >= 0 ? MON_TARGET_SERVICE + sv : -1;
    return BM_OK;
}
