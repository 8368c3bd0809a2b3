/* incident_api.c - incidents as objects (see incident_api.h).
 *
 * The incidents table holds what the writer knows as it goes (type,
 * origin, first and last sequence, times, count, open); the entities are
 * read back from the incident's events, which pruning keeps whole with
 * it, so nothing is stored twice and an old database gets them too. */
#include "incident_api.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "parse.h"
#include "service.h"
#include "timefmt.h"

#define LIST_BODY_MAX (16u * 1024 * 1024)
#define ONE_BODY_MAX  (8u * 1024 * 1024)
#define ENTITY_KEYS   4
#define ENTITY_LEN    64

/* The fields of a service's events that name who or what an incident
 * involves. */
static const char *const entity_keys[SVC_NSOURCES][ENTITY_KEYS + 1] = {
    [SVC_TRANSACTION] = { "customer_id", "account_id", "merchant_id", "counterparty_account",
                          NULL },
    [SVC_AUTH] = { "username", "ip_address", "customer_id", NULL },
    [SVC_MONITORING] = { "service", "host", NULL },
};

const char *incident_api_origin_name(int origin)
{
    switch (origin) {
    case DB_ORIGIN_API:
        return "api";
    case DB_ORIGIN_INJECTED:
        return "injected";
    default:
        return "generated";
    }
}

bool incident_api_id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 36)
        return false;
    return strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* Distinct values per entity key, gathered over the incident's events. */
struct entities {
    const char *const *keys;
    int n[ENTITY_KEYS];
    char v[ENTITY_KEYS][INCIDENT_API_ENTITY_MAX][ENTITY_LEN];
    struct buf *events; /* NULL: entities only */
    int64_t nevents;
};

static void add_value(struct entities *e, int k, const char *v)
{
    for (int i = 0; i < e->n[k]; i++)
        if (strcmp(e->v[k][i], v) == 0)
            return;
    if (e->n[k] < INCIDENT_API_ENTITY_MAX && strlen(v) < ENTITY_LEN)
        snprintf(e->v[k][e->n[k]++], ENTITY_LEN, "%s", v);
}

static enum bm_rc on_event(void *ud, uint64_t seq, const char *body, size_t len)
{
    struct entities *e = ud;
    cJSON *obj = NULL;

    (void)seq;
    if (e->events && ((e->nevents && buf_putc(e->events, ',') != BM_OK) ||
                      buf_append(e->events, body, len) != BM_OK))
        return BM_ETOOBIG;
    e->nevents++;
    if (json_parse(body, len, &obj) != BM_OK)
        return BM_OK; /* stored by us: cannot happen; nothing to add */
    for (int k = 0; e->keys[k]; k++) {
        const char *v;
        if (json_as_str(json_get(obj, e->keys[k]), &v) == BM_OK)
            add_value(e, k, v);
    }
    cJSON_Delete(obj);
    return BM_OK;
}

static enum bm_rc put_entities(const struct entities *e, struct buf *out)
{
    enum bm_rc rc = buf_puts(out, ",\"entities\":{");

    for (int k = 0; rc == BM_OK && e->keys[k]; k++) {
        rc = buf_printf(out, "%s\"%s\":[", k ? "," : "", e->keys[k]);
        for (int i = 0; rc == BM_OK && i < e->n[k]; i++) {
            if (i)
                rc = buf_putc(out, ',');
            if (rc == BM_OK)
                rc = buf_put_json_str(out, e->v[k][i]);
        }
        if (rc == BM_OK)
            rc = buf_putc(out, ']');
    }
    return rc == BM_OK ? buf_putc(out, '}') : rc;
}

enum bm_rc incident_api_put(struct db *d, enum bm_svc svc, const struct db_incident *in, bool events,
                       struct buf *out)
{
    static _Thread_local struct entities e; /* ~8 KB: not on the stack */
    struct buf evs;
    char started[TIMEFMT_ISO_LEN + 1], ended[TIMEFMT_ISO_LEN + 1];
    enum bm_rc rc;

    memset(&e, 0, sizeof e);
    e.keys = entity_keys[svc < SVC_NSOURCES ? svc : SVC_TRANSACTION];
    buf_init(&evs, ONE_BODY_MAX);
    e.events = events ? &evs : NULL;
    rc = db_incident_events(d, in->id, on_event, &e);
    if (rc != BM_OK)
        goto out;
    timefmt_iso(in->started_ms, started);
    timefmt_iso(in->ended_ms, ended);
    rc = buf_puts(out, "{\"incident_id\":");
    if (rc == BM_OK)
        rc = buf_put_json_str(out, in->id);
    if (rc == BM_OK)
        rc = buf_puts(out, ",\"type\":");
    if (rc == BM_OK)
        rc = buf_put_json_str(out, in->type);
    if (rc == BM_OK)
        rc = buf_printf(out,
                        ",\"service\":\"%s\",\"state\":\"%s\",\"started_at\":\"%s\","
                        "\"ended_at\":%s%s%s,\"event_count\":%lld,\"first_sequence\":%llu,"
                        "\"last_sequence\":%llu,\"origin\":\"%s\"",
                        svc_info(svc)->name, in->open ? "open" : "closed", started,
                        in->open ? "" : "\"", in->open ? "null" : ended, in->open ? "" : "\"",
                        (long long)in->event_count, (unsigned long long)in->first_seq,
                        (unsigned long long)in->last_seq, incident_api_origin_name(in->origin));
    if (rc == BM_OK)
        rc = put_entities(&e, out);
    if (rc == BM_OK && events)
        rc = buf_puts(out, ",\"events\":[");
    if (rc == BM_OK && events && evs.len)
        rc = buf_append(out, evs.data, evs.len);
    if (rc == BM_OK && events)
        rc = buf_putc(out, ']');
    if (rc == BM_OK)
        rc = buf_putc(out, '}');
out:
    buf_free(&evs);
    return rc;
}

/* ---- handlers ---- */

static void send_unavailable(struct http_req *req, enum bm_rc rc)
{
    http_add_header(req, "Retry-After", "1");
    http_send_error(req, API_UNAVAIL, "", "cannot do that now: %s", bm_rc_str(rc));
}

static bool parse_query(struct http_req *req, enum bm_svc svc, struct db_incident_query *q)
{
    static const char *const allowed[] = { "limit", "since", "type", "state", NULL };
    const char *limit = http_req_arg(req, "limit"), *since = http_req_arg(req, "since");
    const char *type = http_req_arg(req, "type"), *state = http_req_arg(req, "state");
    int i;

    if (!http_req_args_check(req, allowed))
        return false;
    memset(q, 0, sizeof *q);
    q->limit = INCIDENT_API_LIMIT_DEF;
    q->open = -1;
    if (limit && parse_i64(limit, 1, INCIDENT_API_LIMIT_MAX, &q->limit) != BM_OK) {
        http_send_error(req, API_BAD_PARAM, "limit", "limit must be an integer from 1 to %d",
                        INCIDENT_API_LIMIT_MAX);
        return false;
    }
    if (since) {
        if (parse_u64(since, &q->since) != BM_OK || q->since > INT64_MAX) {
            http_send_error(req, API_BAD_PARAM, "since", "since must be a sequence number");
            return false;
        }
        q->has_since = true;
    }
    if (type) {
        const struct svc_type_group *g = svc_type_group(svc, type);
        i = svc_anomaly_index(svc, type);
        if (g) {
            q->type = g->name;
            q->types = g->members;
            q->ntypes = g->nmembers;
        } else if (i < 0) {
            http_send_error(req, API_BAD_PARAM, "type", "\"%.60s\" is no anomaly type of %s",
                            type, svc_info(svc)->name);
            return false;
        } else {
            q->type = svc_info(svc)->anomaly_types[i];
        }
    }
    if (state) {
        if (strcmp(state, "open") != 0 && strcmp(state, "closed") != 0) {
            http_send_error(req, API_BAD_PARAM, "state", "state must be open or closed");
            return false;
        }
        q->open = state[0] == 'o';
    }
    return true;
}

struct lister {
    struct db *d;
    enum bm_svc svc;
    struct buf *out;
    int64_t count;
    uint64_t last;
};

static enum bm_rc list_one(void *ud, const struct db_incident *in)
{
    struct lister *l = ud;
    enum bm_rc rc = BM_OK;

    if (l->count)
        rc = buf_putc(l->out, ',');
    if (rc == BM_OK)
        rc = incident_api_put(l->d, l->svc, in, false, l->out);
    l->count++;
    l->last = in->last_seq;
    return rc;
}

void incident_api_h_list(struct http_req *req)
{
    struct app *app = http_req_app(req);
    enum bm_svc svc = app->def->svc;
    struct db_incident_query q;
    struct lister l = { .svc = svc };
    uint64_t head = 0, oldest = 0, next;
    struct db *db;
    struct buf b;
    enum bm_rc rc;

    if (!parse_query(req, svc, &q))
        return;
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc != BM_OK) {
        send_unavailable(req, rc);
        return;
    }
    buf_init(&b, LIST_BODY_MAX);
    l.d = db;
    l.out = &b;
    if (db_read_begin(db) != BM_OK) {
        buf_free(&b);
        send_unavailable(req, BM_EDB);
        return;
    }
    rc = db_bounds(db, &head, &oldest);
    if (rc == BM_OK)
        rc = buf_puts(&b, "{\"incidents\":[");
    if (rc == BM_OK)
        rc = db_list_incidents(db, &q, list_one, &l);
    if (db_read_end(db) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    /* Like the event list's cursor, on the incidents' last sequence: a
     * client polling with it sees each incident again when it grows and
     * when it closes. */
    if (!q.has_since)
        next = head;
    else if (l.count == q.limit)
        next = l.last;
    else
        next = head > q.since ? head : q.since;
    if (rc == BM_OK)
        rc = buf_printf(&b, "],\"count\":%lld,\"next_since\":%llu}", (long long)l.count,
                        (unsigned long long)next);
    if (rc == BM_ETOOBIG)
        http_send_error(req, API_INTERNAL, "", "response too large: ask for a smaller limit");
    else if (rc != BM_OK)
        send_unavailable(req, rc);
    else
        http_send_buf(req, 200, HTTP_CT_JSON, &b);
    buf_free(&b);
}

void incident_api_h_get(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    const char *id = http_req_path(req) + strlen("/incidents/");
    struct db_incident in;
    bool found = false;
    struct db *db;
    struct buf b;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if (!incident_api_id_ok(id)) {
        http_send_error(req, API_NOT_FOUND, "incident_id", "no incident \"%.40s\"", id);
        return;
    }
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc != BM_OK) {
        send_unavailable(req, rc);
        return;
    }
    buf_init(&b, ONE_BODY_MAX + 64 * 1024);
    if (db_read_begin(db) != BM_OK) {
        buf_free(&b);
        send_unavailable(req, BM_EDB);
        return;
    }
    rc = db_get_incident(db, id, &in, &found);
    if (rc == BM_OK && found)
        rc = incident_api_put(db, app->def->svc, &in, true, &b);
    if (db_read_end(db) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    if (rc != BM_OK)
        send_unavailable(req, rc);
    else if (!found)
        http_send_error(req, API_NOT_FOUND, "incident_id", "no incident \"%s\"", id);
    else
        http_send_buf(req, 200, HTTP_CT_JSON, &b);
    buf_free(&b);
}
