/* test_incidents.c - incidents as objects, end to end: every anomalous
 * event of each service belongs to exactly one incident its /incidents
 * lists, /incidents/{id} gives that incident's events, the filters and
 * the cursor hold, bad queries are 400s naming the parameter; and the
 * gateway merges the three lists and finds an incident wherever it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "harness.h"

#define START "2026-01-05T09:00:00Z"
#define MAX_INC 20000

struct svc_case {
    const char *binary;
    const char *name;
    const char *list;
    const char *id_field;
    const char *multi_type; /* one that spans several events */
    const char *entity;     /* an entity key and the event field it comes from */
};

static const struct svc_case cases[] = {
    { "transaction-service", "transaction-service", "/transactions/events", "transaction_id",
      "fraud_pattern", "customer_id" },
    { "auth-service", "auth-service", "/auth/events", "event_id", "brute_force", "username" },
    { "monitoring-service", "monitoring-service", "/metrics/events", "event_id",
      "cascade_failure", "host" },
};

static const char *backfill(void)
{
    return h_test_scale_small() ? "10m" : "30m";
}

/* Starts c's service backfilled and pauses it, so lists stand still. */
static struct proc *start(const struct svc_case *c, int slot)
{
    const char *args[] = { "--seed", "11", "--start-time", START, "--backfill", backfill(), NULL };
    struct proc *p = &h_procs[slot];
    struct resp r;

    h_proc_start_backfilled(p, c->name, c->binary, NULL, args, 120000);
    assert_int_equal(h_http_req(p->port, "POST", "/config", "{\"paused\":true}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    h_sleep_ms(300); /* a batch under way commits */
    return p;
}

struct inc_set {
    int n;
    char (*id)[40];
    long long *count;
    long long *seen;
};

static int find(const struct inc_set *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->id[i], id) == 0)
            return i;
    return -1;
}

/* Every incident, by paging the cursor from 0. */
static void all_incidents(int port, struct inc_set *s)
{
    long long since = 0;

    s->id = calloc(MAX_INC, sizeof *s->id);
    s->count = calloc(MAX_INC, sizeof *s->count);
    s->seen = calloc(MAX_INC, sizeof *s->seen);
    assert_non_null(s->id);
    assert_non_null(s->count);
    assert_non_null(s->seen);
    s->n = 0;
    for (;;) {
        char path[96];
        cJSON *page, *list, *it;
        long long count;

        snprintf(path, sizeof path, "/incidents?limit=1000&since=%lld", since);
        page = h_get_json(port, path);
        list = cJSON_GetObjectItemCaseSensitive(page, "incidents");
        count = h_jnum(page, "count");
        assert_int_equal(cJSON_GetArraySize(list), count);
        cJSON_ArrayForEach(it, list) {
            const char *id = h_jstr(it, "incident_id");
            assert_non_null(id);
            assert_int_equal(find(s, id), -1); /* paused: each once */
            assert_true(s->n < MAX_INC);
            snprintf(s->id[s->n], sizeof s->id[s->n], "%s", id);
            s->count[s->n++] = h_jnum(it, "event_count");
            /* open ones (in flight when paused) have no end yet */
            assert_true(strcmp(h_jstr(it, "state"), "open") == 0
                            ? cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(it, "ended_at"))
                            : h_jstr(it, "ended_at") != NULL);
        }
        since = h_jnum(page, "next_since");
        cJSON_Delete(page);
        if (count < 1000)
            break;
    }
}

static void check_every_anomaly_has_an_incident(const struct svc_case *c)
{
    struct proc *p = start(c, 0);
    struct inc_set s;
    long long since = 0, anomalies = 0;

    all_incidents(p->port, &s);
    assert_true(s.n > 10);
    for (;;) {
        char path[128];
        cJSON *page, *it;
        long long count;

        snprintf(path, sizeof path, "%s?anomalies_only=true&limit=1000&since=%lld", c->list,
                 since);
        page = h_get_json(p->port, path);
        count = h_jnum(page, "count");
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "events")) {
            const char *inc = h_jstr(it, "incident_id");
            int i = find(&s, inc ? inc : h_jstr(it, c->id_field)); /* one event: its own id */
            if (i < 0)
                fail_msg("%s: anomalous event %lld has no incident", c->name,
                         h_jnum(it, "sequence"));
            s.seen[i]++;
            anomalies++;
        }
        since = h_jnum(page, "next_since");
        cJSON_Delete(page);
        if (count < 1000)
            break;
    }
    /* and each incident is exactly its events */
    for (int i = 0; i < s.n; i++)
        if (s.seen[i] != s.count[i])
            fail_msg("%s: incident %s counts %lld events, the list has %lld", c->name, s.id[i],
                     s.count[i], s.seen[i]);
    print_message("%s: %lld anomalous events in %d incidents\n", c->name, anomalies, s.n);
    free(s.id);
    free(s.count);
    free(s.seen);
}

static void test_incidents_cover_every_transaction_anomaly(void **state)
{
    (void)state;
    check_every_anomaly_has_an_incident(&cases[0]);
}

static void test_incidents_cover_every_auth_anomaly(void **state)
{
    (void)state;
    check_every_anomaly_has_an_incident(&cases[1]);
}

static void test_incidents_cover_every_monitoring_anomaly(void **state)
{
    (void)state;
    check_every_anomaly_has_an_incident(&cases[2]);
}

/* The newest incident of type, by the type filter (borrowed id copied). */
static void newest_of(int port, const char *type, char id[40])
{
    char path[96];
    cJSON *page, *it;

    snprintf(path, sizeof path, "/incidents?type=%s&limit=50", type);
    page = h_get_json(port, path);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "incidents"))
        assert_string_equal(h_jstr(it, "type"), type);
    /* the newest of several events: the very newest may have just begun */
    id[0] = '\0';
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "incidents"))
        if (h_jnum(it, "event_count") >= 2) {
            snprintf(id, 40, "%s", h_jstr(it, "incident_id"));
            break;
        }
    assert_true(id[0] != '\0');
    cJSON_Delete(page);
}

static void test_incident_by_id_has_its_events_and_entities(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const struct svc_case *c = &cases[k];
        struct proc *p = start(c, (int)k);
        char id[40], path[96];
        cJSON *inc, *evs, *ent, *it;
        long long prev = 0;

        newest_of(p->port, c->multi_type, id);
        snprintf(path, sizeof path, "/incidents/%s", id);
        inc = h_get_json(p->port, path);
        evs = cJSON_GetObjectItemCaseSensitive(inc, "events");
        ent = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(inc, "entities"),
                                               c->entity);
        assert_string_equal(h_jstr(inc, "service"), c->name);
        assert_true(h_jnum(inc, "event_count") >= 2);
        assert_int_equal(cJSON_GetArraySize(evs), h_jnum(inc, "event_count"));
        assert_string_equal(h_jstr(cJSON_GetArrayItem(evs, 0), "timestamp"),
                            h_jstr(inc, "started_at"));
        assert_int_equal(h_jnum(cJSON_GetArrayItem(evs, 0), "sequence"),
                         h_jnum(inc, "first_sequence"));
        cJSON_ArrayForEach(it, evs) {
            bool listed = false;
            const cJSON *v;
            assert_string_equal(h_jstr(it, "incident_id"), id);
            assert_string_equal(h_jstr(it, "anomaly_type"), c->multi_type);
            assert_true(h_jnum(it, "sequence") > prev);
            prev = h_jnum(it, "sequence");
            cJSON_ArrayForEach(v, ent) listed |= strcmp(v->valuestring, h_jstr(it, c->entity)) == 0;
            assert_true(listed || cJSON_GetArraySize(ent) == 32);
        }
        assert_int_equal(prev, h_jnum(inc, "last_sequence"));
        cJSON_Delete(inc);
        h_proc_finish(p);
    }
}

static void expect_400(int port, const char *path, const char *field)
{
    long status = 0;
    cJSON *j = h_http_get_json(port, path, &status);

    assert_int_equal(status, 400);
    assert_string_equal(h_jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "field"), field);
    cJSON_Delete(j);
}

static void test_incident_queries_are_checked(void **state)
{
    struct proc *p = start(&cases[0], 0);
    long status = 0;
    cJSON *j;

    (void)state;
    expect_400(p->port, "/incidents?limit=0", "limit");
    expect_400(p->port, "/incidents?limit=1001", "limit");
    expect_400(p->port, "/incidents?since=-1", "since");
    expect_400(p->port, "/incidents?state=done", "state");
    expect_400(p->port, "/incidents?type=brute_force", "type"); /* auth's, not this one's */
    expect_400(p->port, "/incidents?type=resource_exhaustion", "type"); /* monitoring's group */
    expect_400(p->port, "/incidents?color=red", "color");
    j = h_http_get_json(p->port, "/incidents/00000000-0000-4000-8000-000000000000", &status);
    assert_int_equal(status, 404);
    cJSON_Delete(j);
    j = h_http_get_json(p->port, "/incidents/not-an-id!", &status);
    assert_int_equal(status, 404);
    cJSON_Delete(j);
    for (int open = 0; open < 2; open++) {
        cJSON *it;
        j = h_get_json(p->port, open ? "/incidents?state=open&limit=1000"
                                     : "/incidents?state=closed&limit=20");
        assert_true(h_jnum(j, "count") > 0);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "incidents"))
            assert_string_equal(h_jstr(it, "state"), open ? "open" : "closed");
        cJSON_Delete(j);
    }
}

/* resource_exhaustion names high_cpu, high_memory and high_disk, on
 * /incidents as on /metrics/events: every member incident and no other. */
static void test_incidents_take_a_type_group(void **state)
{
    struct proc *p = start(&cases[2], 0);
    cJSON *grp, *all, *it;
    long long members = 0;

    (void)state;
    grp = h_get_json(p->port, "/incidents?type=resource_exhaustion&limit=1000");
    all = h_get_json(p->port, "/incidents?limit=1000");
    assert_true(h_jnum(all, "count") < 1000); /* all of them, to count by hand */
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(all, "incidents")) {
        const char *t = h_jstr(it, "type");
        members += strcmp(t, "high_cpu") == 0 || strcmp(t, "high_memory") == 0 ||
                   strcmp(t, "high_disk") == 0;
    }
    assert_true(members > 0);
    assert_int_equal(h_jnum(grp, "count"), members);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(grp, "incidents")) {
        const char *t = h_jstr(it, "type");
        assert_true(strcmp(t, "high_cpu") == 0 || strcmp(t, "high_memory") == 0 ||
                    strcmp(t, "high_disk") == 0);
    }
    print_message("resource_exhaustion: %lld of %lld incidents\n", members,
                  h_jnum(all, "count"));
    cJSON_Delete(grp);
    cJSON_Delete(all);
}

static void test_gateway_merges_incidents_and_finds_each(void **state)
{
    struct proc *ps[3], gw;
    char url[3][64], id[40], path[96];
    cJSON *page, *it, *one;
    int from[3] = { 0, 0, 0 };
    long status = 0;

    (void)state;
    for (int k = 0; k < 3; k++) {
        ps[k] = start(&cases[k], k);
        snprintf(url[k], sizeof url[k], "http://127.0.0.1:%d", ps[k]->port);
    }
    h_proc_init(&gw, "gw");
    assert_int_equal(h_proc_start_gateway_urls(&gw, url[0], url[1], url[2], NULL, NULL), 0);
    page = h_get_json(gw.port, "/incidents?limit=300");
    assert_int_equal(h_jnum(page, "count"), 300);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, "unavailable")),
                     0);
    {
        const char *prev = NULL;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "incidents")) {
            const char *src = h_jstr(it, "source");
            for (int k = 0; k < 3; k++)
                from[k] += strcmp(src, cases[k].name) == 0;
            assert_string_equal(src, h_jstr(it, "service"));
            if (prev)
                assert_true(strcmp(prev, h_jstr(it, "started_at")) >= 0); /* newest first */
            prev = h_jstr(it, "started_at");
        }
    }
    assert_true(from[0] > 0 && from[1] > 0 && from[2] > 0);
    cJSON_Delete(page);

    /* an auth incident, asked of the gateway: auth's answer plus source */
    newest_of(ps[1]->port, "brute_force", id);
    snprintf(path, sizeof path, "/incidents/%s", id);
    one = h_get_json(gw.port, path);
    assert_string_equal(h_jstr(one, "source"), "auth-service");
    assert_string_equal(h_jstr(one, "incident_id"), id);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "events")),
                     h_jnum(one, "event_count"));
    cJSON_Delete(one);
    one = h_http_get_json(gw.port, "/incidents/00000000-0000-4000-8000-000000000000", &status);
    assert_int_equal(status, 404);
    cJSON_Delete(one);

    /* the cursor: every change after it, per service; a type only its service has */
    page = h_get_json(gw.port, "/incidents?since=0,0,0&limit=5&type=brute_force");
    assert_int_equal(h_jnum(page, "count"), 5);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "incidents"))
        assert_string_equal(h_jstr(it, "source"), "auth-service");
    assert_non_null(h_jstr(page, "next_since"));
    assert_int_equal(strncmp(h_jstr(page, "next_since"), "0,", 2), 0);
    cJSON_Delete(page);
    expect_400(gw.port, "/incidents?since=1,2", "since");

    /* a type group (monitoring's resource_exhaustion): its members, from
     * monitoring only, the same incidents monitoring lists for it */
    page = h_get_json(gw.port, "/incidents?type=resource_exhaustion&limit=50");
    one = h_get_json(ps[2]->port, "/incidents?type=resource_exhaustion&limit=50");
    assert_true(h_jnum(page, "count") > 0);
    assert_int_equal(h_jnum(page, "count"), h_jnum(one, "count"));
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "incidents")) {
        const char *t = h_jstr(it, "type");
        assert_string_equal(h_jstr(it, "source"), "monitoring-service");
        assert_true(strcmp(t, "high_cpu") == 0 || strcmp(t, "high_memory") == 0 ||
                    strcmp(t, "high_disk") == 0);
    }
    cJSON_Delete(one);
    cJSON_Delete(page);

    /* one service gone: the others still answer, it is named */
    h_proc_finish(ps[2]);
    page = h_get_json(gw.port, "/incidents?limit=10");
    it = cJSON_GetObjectItemCaseSensitive(page, "unavailable");
    assert_int_equal(cJSON_GetArraySize(it), 1);
    assert_string_equal(cJSON_GetArrayItem(it, 0)->valuestring, "monitoring-service");
    assert_int_equal(h_jnum(page, "count"), 10);
    cJSON_Delete(page);
    h_proc_stop(&gw, NULL);
    h_proc_cleanup(&gw);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, h_procs_setup, h_procs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_incidents_cover_every_transaction_anomaly),
        T(test_incidents_cover_every_auth_anomaly),
        T(test_incidents_cover_every_monitoring_anomaly),
        T(test_incident_by_id_has_its_events_and_entities),
        T(test_incident_queries_are_checked),
        T(test_incidents_take_a_type_group),
        T(test_gateway_merges_incidents_and_finds_each),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
