/* score_api.c - a service's POST /score and GET /score/{id}: one read of
 * its store (every event, oldest first, in one snapshot) fills the tally
 * (score.h); the answer is kept through the writer's queue. */
#include "score_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "genloop.h"
#include "log.h"
#include "rng.h"
#include "score.h"
#include "svc.h"
#include "timefmt.h"

/* ------------------------------------------------------------------ */
/* An open-addressing map from an id to an index; the keys live in the
 * caller's records (key_of). */

struct idmap {
    int32_t *slot; /* -1: empty */
    size_t mask;
    const char *(*key_of)(const void *ud, int32_t v);
    const void *ud;
};

static uint64_t hash_of(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static enum bm_rc idmap_init(struct idmap *m, size_t n, const char *(*key_of)(const void *, int32_t),
                             const void *ud)
{
    size_t cap = 64;

    while (cap < n * 2)
        cap *= 2;
    m->slot = malloc(cap * sizeof(*m->slot));
    if (!m->slot)
        return BM_ENOMEM;
    memset(m->slot, 0xff, cap * sizeof(*m->slot));
    m->mask = cap - 1;
    m->key_of = key_of;
    m->ud = ud;
    return BM_OK;
}

/* The slot of key[0..n): holding it, or the empty one where it would go. */
static size_t idmap_slot(const struct idmap *m, const char *key, size_t n)
{
    size_t i = (size_t)hash_of(key, n) & m->mask;

    while (m->slot[i] >= 0) {
        const char *k = m->key_of(m->ud, m->slot[i]);
        if (strncmp(k, key, n) == 0 && k[n] == '\0')
            break;
        i = (i + 1) & m->mask;
    }
    return i;
}

/* ------------------------------------------------------------------ */
/* The scan                                                             */

struct scan {
    struct score_req *req;
    struct score_tally *t;
    struct idmap dets;     /* event-id detections */
    struct idmap incs;     /* incidents seen, by id */
    size_t incs_cap;       /* the incidents map holds up to half its slots */
    char prefix[48];       /* {"transaction_id":" : every event begins so */
    size_t plen;
    int64_t from, to;      /* the window as scanned */
    int64_t min_ts, max_ts;
    int64_t rows;
};

static const char *det_key(const void *ud, int32_t v)
{
    return ((const struct score_req *)ud)->dets[v].id;
}

static const char *inc_key(const void *ud, int32_t v)
{
    return ((const struct score_tally *)ud)->inc[v].id;
}

static enum bm_rc grow_incs(struct scan *s)
{
    struct idmap m;

    if (idmap_init(&m, s->incs_cap * 2, inc_key, s->t) != BM_OK)
        return BM_ENOMEM;
    for (size_t v = 0; v < s->t->ninc; v++) {
        const char *k = s->t->inc[v].id;
        m.slot[idmap_slot(&m, k, strlen(k))] = (int32_t)v;
    }
    free(s->incs.slot);
    s->incs = m;
    s->incs_cap *= 2;
    return BM_OK;
}

static struct score_incident *incident_of(struct scan *s, const char *key, size_t n,
                                          const char *type, int64_t ts)
{
    size_t i = idmap_slot(&s->incs, key, n);
    struct score_incident *x;
    char id[SCORE_ID_MAX];
    int k;

    if (s->incs.slot[i] >= 0) {
        x = &s->t->inc[s->incs.slot[i]];
        if (ts < x->start_ms)
            x->start_ms = ts;
        if (ts > x->end_ms)
            x->end_ms = ts;
        return x;
    }
    if (s->t->ninc + 1 > s->incs_cap) {
        if (grow_incs(s) != BM_OK)
            return NULL;
        i = idmap_slot(&s->incs, key, n);
    }
    k = score_type_index(s->t, type);
    if (k < 0 || n >= sizeof(id))
        return NULL;
    memcpy(id, key, n);
    id[n] = '\0';
    x = score_incident_add(s->t, id, k);
    if (!x)
        return NULL;
    s->incs.slot[i] = (int32_t)(s->t->ninc - 1);
    x->start_ms = ts;
    x->end_ms = ts;
    return x;
}

static void flag_anomaly(struct scan *s, struct score_det *d, struct score_incident *x,
                         int64_t ts)
{
    int64_t nab = d->at_ms >= 0 && d->at_ms > ts ? d->at_ms : ts;
    int64_t det = d->at_ms >= 0 ? d->at_ms : s->t->submitted_ms;

    x->flagged++;
    x->det_ms = x->det_ms < 0 || det < x->det_ms ? det : x->det_ms;
    x->nab_ms = x->nab_ms < 0 || nab < x->nab_ms ? nab : x->nab_ms;
    if (d->type >= 0 && d->type != x->type)
        s->t->mismatched++;
}

static enum bm_rc on_row(void *ud, const struct db_scan_row *r)
{
    struct scan *s = ud;
    const char *id = NULL, *end;
    size_t idlen = 0;
    struct score_det *d = NULL;
    bool in = r->ts_ms >= s->from && r->ts_ms < s->to;

    if (s->rows++ == 0)
        s->min_ts = r->ts_ms;
    if (r->ts_ms > s->max_ts)
        s->max_ts = r->ts_ms;
    if (r->len > s->plen && memcmp(r->body, s->prefix, s->plen) == 0 &&
        (end = memchr(r->body + s->plen, '"', r->len - s->plen)) != NULL) {
        id = r->body + s->plen;
        idlen = (size_t)(end - id);
        size_t i = idmap_slot(&s->dets, id, idlen);
        if (s->dets.slot[i] >= 0)
            d = &s->req->dets[s->dets.slot[i]];
    }
    if (r->anomaly_type && (id || r->incident_id)) {
        const char *key = r->incident_id ? r->incident_id : id;
        size_t n = r->incident_id ? strlen(r->incident_id) : idlen;
        struct score_incident *x = incident_of(s, key, n, r->anomaly_type, r->ts_ms);
        if (!x)
            return BM_ENOMEM;
        if (in) {
            x->events++;
            if (x->win_start_ms < 0 || r->ts_ms < x->win_start_ms)
                x->win_start_ms = r->ts_ms;
        }
        if (d && in)
            flag_anomaly(s, d, x, r->ts_ms);
    } else if (in) {
        s->t->normal++;
        if (d && d->type >= 0)
            s->t->fp_typed[d->type]++;
        else if (d)
            s->t->fp_untyped++;
    }
    if (d) {
        d->state = in ? SCORE_DET_SCORED : SCORE_DET_OUTSIDE;
        d->ev_ms = r->ts_ms;
    }
    return BM_OK;
}

/* Incident-id detections, once every incident is known: each flags all
 * its events in the window. */
static void flag_incidents(struct scan *s)
{
    for (size_t i = 0; i < s->req->ndets; i++) {
        struct score_det *d = &s->req->dets[i];
        struct score_incident *x;
        size_t slot;
        int64_t det, nab;
        if (!d->incident)
            continue;
        slot = idmap_slot(&s->incs, d->id, strlen(d->id));
        if (s->incs.slot[slot] < 0)
            continue; /* unknown */
        x = &s->t->inc[s->incs.slot[slot]];
        if (x->events == 0) {
            d->state = SCORE_DET_OUTSIDE;
            continue;
        }
        d->state = SCORE_DET_SCORED;
        det = d->at_ms >= 0 ? d->at_ms : s->t->submitted_ms;
        nab = d->at_ms > x->start_ms ? d->at_ms : x->start_ms;
        x->flagged = x->events;
        x->det_ms = x->det_ms < 0 || det < x->det_ms ? det : x->det_ms;
        x->nab_ms = x->nab_ms < 0 || nab < x->nab_ms ? nab : x->nab_ms;
        if (d->type >= 0 && d->type != x->type)
            s->t->mismatched++;
    }
}

/* The event-id detections mapped; a repeated id is a duplicate whose
 * earlier detected_at counts. Types are resolved to the tally's. */
static enum bm_rc map_dets(struct scan *s)
{
    struct score_req *r = s->req;

    if (idmap_init(&s->dets, r->ndets, det_key, r) != BM_OK)
        return BM_ENOMEM;
    for (size_t i = 0; i < r->ndets; i++) {
        struct score_det *d = &r->dets[i];
        size_t slot;
        if (d->type_name)
            d->type = score_type_index(s->t, d->type_name);
        if (d->incident)
            continue;
        slot = idmap_slot(&s->dets, d->id, strlen(d->id));
        if (s->dets.slot[slot] < 0) {
            s->dets.slot[slot] = (int32_t)i;
            continue;
        }
        struct score_det *first = &r->dets[s->dets.slot[slot]];
        if (d->at_ms >= 0 && (first->at_ms < 0 || d->at_ms < first->at_ms))
            first->at_ms = d->at_ms;
        d->state = SCORE_DET_DUPLICATE; /* counted once its first is known */
    }
    return BM_OK;
}

/* Drops the incidents with no event in the window. */
static void keep_in_window(struct score_tally *t)
{
    size_t w = 0;

    for (size_t i = 0; i < t->ninc; i++)
        if (t->inc[i].events > 0)
            t->inc[w++] = t->inc[i];
    t->ninc = w;
}

static enum bm_rc scan_store(struct db *db, struct scan *s)
{
    enum bm_rc rc;

    if (db_read_begin(db) != BM_OK)
        return BM_EDB;
    rc = db_scan_all(db, on_row, s);
    if (db_read_end(db) != BM_OK && rc == BM_OK)
        rc = BM_EDB;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                             */

static bool window_ok(struct http_req *req, const struct scan *s)
{
    char a[TIMEFMT_ISO_LEN + 1], b[TIMEFMT_ISO_LEN + 1];

    if (s->rows == 0) {
        http_send_error(req, API_BAD_VALUE, "from", "the store holds no events yet");
        return false;
    }
    timefmt_iso(s->min_ts, a);
    timefmt_iso(s->max_ts, b);
    if (s->req->has_from && s->req->from_ms < s->min_ts - SCORE_SLACK_MS) {
        http_send_error(req, API_BAD_VALUE, "from",
                        "from is more than %d s before the oldest stored event: the store "
                        "holds %s to %s",
                        SCORE_SLACK_MS / 1000, a, b);
        return false;
    }
    if (s->req->has_to && s->req->to_ms > s->max_ts + SCORE_SLACK_MS) {
        http_send_error(req, API_BAD_VALUE, "to",
                        "to is beyond the newest stored event (%s) by more than %d s", b,
                        SCORE_SLACK_MS / 1000);
        return false;
    }
    return true;
}

static bool unknown_ok(struct http_req *req, struct scan *s)
{
    const struct score_det *first = NULL;
    size_t at = 0;

    for (size_t i = 0; i < s->req->ndets; i++) {
        struct score_det *d = &s->req->dets[i];
        if (d->state == SCORE_DET_DUPLICATE) {
            size_t slot = idmap_slot(&s->dets, d->id, strlen(d->id));
            if (s->req->dets[s->dets.slot[slot]].state == SCORE_DET_UNKNOWN)
                d->state = SCORE_DET_UNKNOWN; /* another service's, or none's */
            else
                s->t->duplicates++;
        }
        if (d->state == SCORE_DET_OUTSIDE)
            score_note_outside(s->t, d->id);
        else if (d->state == SCORE_DET_SCORED)
            s->t->scored++;
        else if (d->state == SCORE_DET_UNKNOWN) {
            s->t->unknown++;
            if (!first) {
                first = d;
                at = i;
            }
        }
    }
    if (!first || s->req->report_unknown)
        return true;
    http_send_error(req, API_BAD_VALUE, "detections",
                    "%lld detection(s) name no stored event or incident, the first "
                    "detections[%zu]: %.64s",
                    (long long)s->t->unknown, at, first->id);
    return false;
}

struct stored {
    char id[RNG_UUID_LEN + 1];
    int64_t created_ms;
    size_t len;
    char json[];
};

static enum bm_rc put_stored(void *arg, struct db *db)
{
    const struct stored *st = arg;
    return db_score_put(db, st->id, st->created_ms, st->json, st->len);
}

static enum bm_rc store_answer(struct app *app, const char *id, int64_t created,
                               const struct buf *b)
{
    size_t n = sizeof(struct stored) + b->len + 1;
    struct stored *st = malloc(n);
    enum bm_rc rc;

    if (!st)
        return BM_ENOMEM;
    snprintf(st->id, sizeof(st->id), "%s", id);
    st->created_ms = created;
    st->len = b->len;
    memcpy(st->json, b->data, b->len + 1);
    rc = genloop_submit_write(app->gl, put_stored, st, n);
    free(st);
    return rc;
}

static void new_id(char out[RNG_UUID_LEN + 1])
{
    static _Thread_local struct rng r;
    static _Thread_local bool ready;

    if (!ready) {
        rng_seed(&r, rng_os_u64());
        ready = true;
    }
    rng_uuid4(&r, out);
}

static void answer(struct http_req *req, struct app *app, struct scan *s)
{
    char id[RNG_UUID_LEN + 1];
    int64_t created = time_now_ms();
    struct buf b;
    enum bm_rc rc;

    new_id(id);
    buf_init(&b, SCORE_BODY_MAX);
    rc = score_render(s->t, s->req, id, svc_info(app->def->svc)->name, created, &b);
    if (rc != BM_OK) {
        buf_free(&b);
        http_send_error(req, API_INTERNAL, "", "answer too large");
        return;
    }
    if (s->req->store && (rc = store_answer(app, id, created, &b)) != BM_OK) {
        buf_free(&b);
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "could not store the result: %s", bm_rc_str(rc));
        return;
    }
    http_send_buf(req, 200, HTTP_CT_JSON, &b);
}

static void run(struct http_req *req, struct app *app, struct score_req *r,
                struct score_tally *t, struct scan *s)
{
    const struct svc_info *si = svc_info(app->def->svc);
    struct genloop_status st;
    struct db *db;
    enum bm_rc rc;

    genloop_status(app->gl, &st);
    t->submitted_ms = st.sim_now_ms;
    t->received = (int64_t)r->ndets;
    for (int i = 0; i < si->nanomaly_types; i++)
        (void)score_type_index(t, si->anomaly_types[i]);
    s->req = r;
    s->t = t;
    s->from = r->has_from ? r->from_ms : INT64_MIN;
    s->to = r->has_to ? r->to_ms : INT64_MAX;
    s->plen = (size_t)snprintf(s->prefix, sizeof(s->prefix), "{\"%s\":\"", si->id_field);
    s->incs_cap = 1024;
    if (map_dets(s) != BM_OK || idmap_init(&s->incs, s->incs_cap, inc_key, t) != BM_OK) {
        http_send_error(req, API_INTERNAL, "", "out of memory");
        return;
    }
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc == BM_OK)
        rc = scan_store(db, s);
    if (rc != BM_OK) {
        http_send_error(req, rc == BM_ENOMEM ? API_INTERNAL : API_UNAVAIL, "",
                        "could not read the store: %s", bm_rc_str(rc));
        return;
    }
    if (!window_ok(req, s))
        return;
    t->from_ms = r->has_from ? r->from_ms : s->min_ts;
    t->to_ms = r->has_to ? r->to_ms : s->max_ts + 1;
    flag_incidents(s);
    if (!unknown_ok(req, s))
        return;
    keep_in_window(t);
    answer(req, app, s);
}

void score_api_h_post(struct http_req *req)
{
    struct app *app = http_req_app(req);
    struct score_req r;
    struct score_tally t;
    struct scan s;
    struct api_fail f;
    size_t len;
    const char *body = http_req_body(req, &len);
    enum bm_rc rc;

    memset(&s, 0, sizeof(s));
    score_tally_init(&t);
    rc = score_req_parse(body, len, &r, &f);
    if (rc == BM_OK)
        run(req, app, &r, &t, &s);
    else if (rc == BM_ENOMEM)
        http_send_error(req, API_INTERNAL, "", "out of memory");
    else
        http_send_fail(req, &f);
    free(s.dets.slot);
    free(s.incs.slot);
    score_tally_free(&t);
    score_req_free(&r);
}

void score_api_h_get(struct http_req *req)
{
    struct app *app = http_req_app(req);
    const char *id = http_req_path(req) + strlen("/score/");
    struct db *db;
    struct buf b;
    bool found = false;
    enum bm_rc rc;

    if (!http_req_args_check(req, (const char *const[]){ NULL }))
        return;
    if (!*id || strlen(id) >= SCORE_ID_MAX || strchr(id, '/')) {
        http_send_error(req, API_NOT_FOUND, "id", "no such score: %.64s", id);
        return;
    }
    buf_init(&b, SCORE_BODY_MAX);
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc == BM_OK)
        rc = db_score_get(db, id, &b, &found);
    if (rc != BM_OK) {
        buf_free(&b);
        http_send_error(req, API_UNAVAIL, "", "could not read the store: %s", bm_rc_str(rc));
        return;
    }
    if (!found) {
        buf_free(&b);
        http_send_error(req, API_NOT_FOUND, "id", "no such score: %.64s", id);
        return;
    }
    http_send_buf(req, 200, HTTP_CT_JSON, &b);
}

enum bm_rc score_api_metrics(const struct app *app, bool text, struct buf *out)
{
    struct db *db;
    struct buf b;
    bool found = false;
    enum bm_rc rc;

    buf_init(&b, SCORE_BODY_MAX);
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc == BM_OK)
        rc = db_score_get(db, NULL, &b, &found);
    if (rc == BM_OK)
        rc = score_metrics_append(found ? b.data : NULL, b.len, text,
                                  svc_info(app->def->svc)->name, out);
    buf_free(&b);
    return rc;
}
