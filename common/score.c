/* score.c - scoring detections against the labels: request parsing, the
 * tally, merging tallies, the answer (definitions in score.h). */
#include "score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "svc.h"
#include "timefmt.h"

/* ------------------------------------------------------------------ */
/* The request                                                          */

static bool type_known(const char *name)
{
    for (int s = 0; s < SVC_NSOURCES; s++)
        if (svc_anomaly_index((enum bm_svc)s, name) >= 0)
            return true;
    return false;
}

static enum bm_rc want_iso(const cJSON *it, const char *field, int64_t *ms, struct api_fail *f)
{
    if (!cJSON_IsString(it)) {
        api_fail_set(f, API_BAD_TYPE, field, "%s must be an ISO 8601 time string", field);
        return BM_EINVAL;
    }
    if (timefmt_parse_iso(it->valuestring, ms) != BM_OK) {
        api_fail_set(f, API_BAD_VALUE, field, "%s is not an ISO 8601 time", field);
        return BM_EINVAL;
    }
    return BM_OK;
}

static enum bm_rc want_id(const cJSON *it, const char *field, const char **out,
                          struct api_fail *f)
{
    size_t n;

    if (!cJSON_IsString(it)) {
        api_fail_set(f, API_BAD_TYPE, field, "%s must be a string", field);
        return BM_EINVAL;
    }
    n = strlen(it->valuestring);
    if (n == 0 || n >= SCORE_ID_MAX) {
        api_fail_set(f, API_BAD_VALUE, field, "%s must be 1 to %d characters", field,
                     SCORE_ID_MAX - 1);
        return BM_EINVAL;
    }
    *out = it->valuestring;
    return BM_OK;
}

static enum bm_rc parse_det(const cJSON *o, size_t i, struct score_det *d, struct api_fail *f)
{
    char field[64];
    const cJSON *it;
    int ids = 0;

    d->type = -1;
    d->at_ms = -1;
    d->ev_ms = -1;
    if (!cJSON_IsObject(o)) {
        snprintf(field, sizeof(field), "detections[%zu]", i);
        api_fail_set(f, API_BAD_TYPE, field, "%s must be an object", field);
        return BM_EINVAL;
    }
    cJSON_ArrayForEach(it, o) {
        const char *k = it->string;
        snprintf(field, sizeof(field), "detections[%zu].%.24s", i, k);
        if (strcmp(k, "event_id") == 0 || strcmp(k, "transaction_id") == 0 ||
            strcmp(k, "incident_id") == 0) {
            if (want_id(it, field, &d->id, f) != BM_OK)
                return BM_EINVAL;
            d->incident = k[0] == 'i';
            ids++;
        } else if (strcmp(k, "type") == 0) {
            if (!cJSON_IsString(it) || !type_known(it->valuestring)) {
                api_fail_set(f, API_BAD_VALUE, field, "%s is not an anomaly type of any service",
                             field);
                return BM_EINVAL;
            }
            d->type_name = it->valuestring;
        } else if (strcmp(k, "detected_at") == 0) {
            if (want_iso(it, field, &d->at_ms, f) != BM_OK)
                return BM_EINVAL;
        } else {
            api_fail_set(f, API_UNKNOWN_FIELD, field, "unknown field %s", field);
            return BM_EINVAL;
        }
    }
    if (ids != 1) {
        snprintf(field, sizeof(field), "detections[%zu]", i);
        api_fail_set(f, API_BAD_VALUE, field,
                     "%s needs exactly one of event_id, transaction_id, incident_id", field);
        return BM_EINVAL;
    }
    return BM_OK;
}

static enum bm_rc parse_dets(const cJSON *arr, struct score_req *r, struct api_fail *f)
{
    int n;
    const cJSON *it;
    size_t i = 0;

    if (!cJSON_IsArray(arr)) {
        api_fail_set(f, API_BAD_TYPE, "detections", "detections must be an array");
        return BM_EINVAL;
    }
    n = cJSON_GetArraySize(arr);
    if (n > SCORE_MAX_DETECTIONS) {
        api_fail_set(f, API_BAD_VALUE, "detections", "%d detections: at most %d per request", n,
                     SCORE_MAX_DETECTIONS);
        return BM_EINVAL;
    }
    r->dets = calloc(n > 0 ? (size_t)n : 1, sizeof(*r->dets));
    if (!r->dets)
        return BM_ENOMEM;
    cJSON_ArrayForEach(it, arr) {
        if (parse_det(it, i, &r->dets[i], f) != BM_OK)
            return BM_EINVAL;
        i++;
    }
    r->ndets = i;
    return BM_OK;
}

static enum bm_rc want_flag(const cJSON *it, const char *field, bool *out, struct api_fail *f)
{
    if (json_as_bool(it, out) != BM_OK) {
        api_fail_set(f, API_BAD_TYPE, field, "%s must be true or false", field);
        return BM_EINVAL;
    }
    return BM_OK;
}

static enum bm_rc parse_member(const cJSON *it, struct score_req *r, struct api_fail *f)
{
    const char *k = it->string;

    if (strcmp(k, "detections") == 0)
        return parse_dets(it, r, f);
    if (strcmp(k, "from") == 0) {
        r->has_from = true;
        return want_iso(it, "from", &r->from_ms, f);
    }
    if (strcmp(k, "to") == 0) {
        r->has_to = true;
        return want_iso(it, "to", &r->to_ms, f);
    }
    if (strcmp(k, "detail") == 0)
        return want_flag(it, "detail", &r->detail, f);
    if (strcmp(k, "store") == 0)
        return want_flag(it, "store", &r->store, f);
    if (strcmp(k, "unknown_ids") == 0) {
        if (!cJSON_IsString(it) || (strcmp(it->valuestring, "error") != 0 &&
                                    strcmp(it->valuestring, "report") != 0)) {
            api_fail_set(f, API_BAD_VALUE, "unknown_ids", "unknown_ids must be error or report");
            return BM_EINVAL;
        }
        r->report_unknown = it->valuestring[0] == 'r';
        return BM_OK;
    }
    api_fail_set(f, API_UNKNOWN_FIELD, "", "unknown field %.40s", k);
    snprintf(f->field, sizeof(f->field), "%.60s", k);
    return BM_EINVAL;
}

enum bm_rc score_req_parse(const char *body, size_t len, struct score_req *out,
                           struct api_fail *f)
{
    const cJSON *it;
    bool seen_dets = false;
    enum bm_rc rc;

    memset(out, 0, sizeof(*out));
    out->store = true;
    rc = json_parse(body, len, &out->root);
    if (rc == BM_ENOMEM)
        return rc;
    if (rc != BM_OK || !cJSON_IsObject(out->root)) {
        api_fail_set(f, API_BAD_JSON, "", "the body must be a JSON object");
        return BM_EINVAL;
    }
    cJSON_ArrayForEach(it, out->root) {
        if (strcmp(it->string, "detections") == 0) {
            if (seen_dets) {
                api_fail_set(f, API_BAD_VALUE, "detections", "detections given twice");
                return BM_EINVAL;
            }
            seen_dets = true;
        }
        rc = parse_member(it, out, f);
        if (rc != BM_OK)
            return rc;
    }
    if (!seen_dets) {
        api_fail_set(f, API_BAD_VALUE, "detections", "detections is required");
        return BM_EINVAL;
    }
    if (out->has_from && out->has_to && out->from_ms >= out->to_ms) {
        api_fail_set(f, API_BAD_VALUE, "from", "from must be before to");
        return BM_EINVAL;
    }
    return BM_OK;
}

void score_req_free(struct score_req *r)
{
    cJSON_Delete(r->root);
    free(r->dets);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* The tally                                                            */

void score_tally_init(struct score_tally *t)
{
    memset(t, 0, sizeof(*t));
}

void score_tally_free(struct score_tally *t)
{
    free(t->inc);
    memset(t, 0, sizeof(*t));
}

int score_type_index(struct score_tally *t, const char *name)
{
    for (int i = 0; i < t->ntypes; i++)
        if (strcmp(t->types[i], name) == 0)
            return i;
    if (t->ntypes == SCORE_MAX_TYPES || strlen(name) >= SCORE_TYPE_MAX)
        return -1;
    snprintf(t->types[t->ntypes], SCORE_TYPE_MAX, "%s", name);
    return t->ntypes++;
}

struct score_incident *score_incident_add(struct score_tally *t, const char *id, int type)
{
    struct score_incident *x;

    if (t->ninc == t->inc_cap) {
        size_t cap = t->inc_cap ? t->inc_cap * 2 : 256;
        struct score_incident *n = realloc(t->inc, cap * sizeof(*n));
        if (!n)
            return NULL;
        t->inc = n;
        t->inc_cap = cap;
    }
    x = &t->inc[t->ninc++];
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), "%s", id);
    x->type = type;
    x->win_start_ms = -1;
    x->det_ms = -1;
    x->nab_ms = -1;
    return x;
}

void score_note_outside(struct score_tally *t, const char *id)
{
    t->outside++;
    if (t->noutside_first < SCORE_FIRST_MAX)
        snprintf(t->outside_first[t->noutside_first++], SCORE_ID_MAX, "%s", id);
}

static int cmp_inc(const void *a, const void *b)
{
    return strcmp(((const struct score_incident *)a)->id,
                  ((const struct score_incident *)b)->id);
}

static int64_t min_set(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

void score_tally_merge_dups(struct score_tally *t)
{
    size_t w = 0;

    if (t->ninc < 2)
        return;
    qsort(t->inc, t->ninc, sizeof(*t->inc), cmp_inc);
    for (size_t i = 1; i < t->ninc; i++) {
        struct score_incident *a = &t->inc[w], *b = &t->inc[i];
        if (strcmp(a->id, b->id) != 0) {
            t->inc[++w] = *b;
            continue;
        }
        a->start_ms = a->start_ms < b->start_ms ? a->start_ms : b->start_ms;
        a->end_ms = a->end_ms > b->end_ms ? a->end_ms : b->end_ms;
        a->win_start_ms = min_set(a->win_start_ms, b->win_start_ms);
        a->events += b->events;
        a->flagged += b->flagged;
        a->det_ms = min_set(a->det_ms, b->det_ms);
        a->nab_ms = min_set(a->nab_ms, b->nab_ms);
    }
    t->ninc = w + 1;
}

/* ------------------------------------------------------------------ */
/* Figures                                                              */

double score_nab_sigmoid(double y)
{
    return 2.0 / (1.0 + exp(5.0 * y)) - 1.0;
}

int64_t score_quantile(const int64_t *sorted, size_t n, double q)
{
    size_t rank;

    if (n == 0)
        return 0;
    rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[(rank > n ? n : rank) - 1];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* What one line of the answer (overall, or a type) is made of. */
struct agg {
    int64_t ev_tp, ev_fp, ev_fn, ev_tn;
    int64_t inc_tp, inc_fn;
    int64_t *ttd; /* found incidents' delays, ms */
    size_t nttd;
    double nab_raw;
};

/* An incident that began before the scored window is scored on its part
 * in the window: its earlier events could not be flagged there, so a
 * detection at its first event in the window is as early as can be. */
static double nab_of(const struct score_incident *x)
{
    int64_t start = x->win_start_ms >= 0 ? x->win_start_ms : x->start_ms;
    double len, y;

    if (x->nab_ms < 0)
        return SCORE_NAB_FN;
    len = (double)(x->end_ms - start);
    if (len < SCORE_NAB_WINDOW_MS)
        len = SCORE_NAB_WINDOW_MS;
    y = ((double)x->nab_ms - ((double)start + len)) / len;
    if (y < -1.0)
        y = -1.0;
    return SCORE_NAB_TP * score_nab_sigmoid(y);
}

/* type -1: every type. ttd has room for t->ninc. */
static void aggregate(const struct score_tally *t, int type, int64_t *ttd, struct agg *a)
{
    memset(a, 0, sizeof(*a));
    a->ttd = ttd;
    for (size_t i = 0; i < t->ninc; i++) {
        const struct score_incident *x = &t->inc[i];
        if ((type >= 0 && x->type != type) || x->events == 0)
            continue;
        a->ev_tp += x->flagged;
        a->ev_fn += x->events - x->flagged;
        if (x->flagged > 0) {
            a->inc_tp++;
            if (x->det_ms >= 0)
                a->ttd[a->nttd++] = x->det_ms > x->start_ms ? x->det_ms - x->start_ms : 0;
        } else {
            a->inc_fn++;
        }
        a->nab_raw += nab_of(x);
    }
    if (type >= 0) {
        a->ev_fp = t->fp_typed[type];
    } else {
        a->ev_fp = t->fp_untyped;
        for (int k = 0; k < t->ntypes; k++)
            a->ev_fp += t->fp_typed[k];
    }
    a->ev_tn = t->normal - a->ev_fp;
    a->nab_raw += SCORE_NAB_FP * (double)a->ev_fp;
    qsort(a->ttd, a->nttd, sizeof(*a->ttd), cmp_i64);
}

static enum bm_rc put_ratio(struct buf *b, const char *key, int64_t num, int64_t den)
{
    if (den <= 0)
        return buf_printf(b, "\"%s\":null", key);
    return buf_printf(b, "\"%s\":%.6f", key, (double)num / (double)den);
}

static enum bm_rc put_prf(struct buf *b, int64_t tp, int64_t fp, int64_t fn)
{
    if (put_ratio(b, "precision", tp, tp + fp) != BM_OK || buf_putc(b, ',') != BM_OK ||
        put_ratio(b, "recall", tp, tp + fn) != BM_OK || buf_putc(b, ',') != BM_OK)
        return BM_ETOOBIG;
    return put_ratio(b, "f1", 2 * tp, 2 * tp + fp + fn);
}

static enum bm_rc put_agg(struct buf *b, const struct agg *a, double hours)
{
    int64_t ninc = a->inc_tp + a->inc_fn;
    double perfect = (double)ninc * SCORE_NAB_TP * score_nab_sigmoid(-1.0);
    double null = (double)ninc * SCORE_NAB_FN;

    if (buf_printf(b, "{\"event\":{\"tp\":%lld,\"fp\":%lld,\"fn\":%lld,\"tn\":%lld,",
                   (long long)a->ev_tp, (long long)a->ev_fp, (long long)a->ev_fn,
                   (long long)a->ev_tn) != BM_OK ||
        put_prf(b, a->ev_tp, a->ev_fp, a->ev_fn) != BM_OK ||
        buf_printf(b, "},\"incident\":{\"total\":%lld,\"tp\":%lld,\"fp\":%lld,\"fn\":%lld,",
                   (long long)ninc, (long long)a->inc_tp, (long long)a->ev_fp,
                   (long long)a->inc_fn) != BM_OK ||
        put_prf(b, a->inc_tp, a->ev_fp, a->inc_fn) != BM_OK)
        return BM_ETOOBIG;
    if (a->nttd == 0) {
        if (buf_puts(b, "},\"time_to_detect\":{\"count\":0,\"median_s\":null,\"p90_s\":null}") !=
            BM_OK)
            return BM_ETOOBIG;
    } else if (buf_printf(b, "},\"time_to_detect\":{\"count\":%zu,\"median_s\":%.3f,"
                             "\"p90_s\":%.3f}",
                          a->nttd, (double)score_quantile(a->ttd, a->nttd, 0.5) / 1000.0,
                          (double)score_quantile(a->ttd, a->nttd, 0.9) / 1000.0) != BM_OK) {
        return BM_ETOOBIG;
    }
    if (buf_printf(b, ",\"false_positives_per_hour\":%.4f,\"nab\":{\"score\":",
                   hours > 0 ? (double)a->ev_fp / hours : 0.0) != BM_OK)
        return BM_ETOOBIG;
    if (ninc == 0 ? buf_puts(b, "null") != BM_OK
                  : buf_printf(b, "%.3f", 100.0 * (a->nab_raw - null) / (perfect - null)) !=
                        BM_OK)
        return BM_ETOOBIG;
    return buf_printf(b, ",\"raw\":%.4f,\"perfect\":%.4f,\"null\":%.4f}}", a->nab_raw, perfect,
                      null);
}

static enum bm_rc put_iso(struct buf *b, const char *key, int64_t ms)
{
    char iso[TIMEFMT_ISO_LEN + 1];

    timefmt_iso(ms, iso);
    return buf_printf(b, "\"%s\":\"%s\"", key, iso);
}

static enum bm_rc put_head(struct buf *b, const struct score_tally *t, const char *id,
                           const char *service, int64_t created_ms)
{
    double hours = (double)(t->to_ms - t->from_ms) / 3600000.0;
    int64_t events = t->normal;

    for (size_t i = 0; i < t->ninc; i++)
        events += t->inc[i].events;
    if (buf_puts(b, "{\"score_id\":") != BM_OK || buf_put_json_str(b, id) != BM_OK ||
        buf_puts(b, ",\"service\":") != BM_OK || buf_put_json_str(b, service) != BM_OK ||
        buf_putc(b, ',') != BM_OK || put_iso(b, "created_at", created_ms) != BM_OK ||
        buf_putc(b, ',') != BM_OK || put_iso(b, "submitted_at", t->submitted_ms) != BM_OK ||
        buf_puts(b, ",\"window\":{") != BM_OK || put_iso(b, "from", t->from_ms) != BM_OK ||
        buf_putc(b, ',') != BM_OK || put_iso(b, "to", t->to_ms) != BM_OK ||
        buf_printf(b, ",\"hours\":%.4f,\"events\":%lld}", hours,
                   (long long)events) != BM_OK)
        return BM_ETOOBIG;
    if (buf_printf(b, ",\"detections\":{\"received\":%lld,\"scored\":%lld,\"duplicates\":%lld,"
                      "\"type_mismatch\":%lld,\"unknown\":%lld,\"outside_window\":{\"count\":%lld,"
                      "\"first\":[",
                   (long long)t->received, (long long)t->scored, (long long)t->duplicates,
                   (long long)t->mismatched, (long long)t->unknown,
                   (long long)t->outside) != BM_OK)
        return BM_ETOOBIG;
    for (int i = 0; i < t->noutside_first; i++)
        if ((i && buf_putc(b, ',') != BM_OK) || buf_put_json_str(b, t->outside_first[i]) != BM_OK)
            return BM_ETOOBIG;
    return buf_printf(b, "]}},\"nab_profile\":{\"name\":\"standard\",\"tp\":%.2f,\"fp\":%.2f,"
                         "\"fn\":%.2f,\"min_window_s\":%d}",
                      SCORE_NAB_TP, SCORE_NAB_FP, SCORE_NAB_FN, SCORE_NAB_WINDOW_MS / 1000);
}

/* The tally itself, for the gateway to merge. */
static enum bm_rc put_tally(struct buf *b, const struct score_tally *t, const struct score_req *r)
{
    bool first = true;

    if (buf_printf(b, ",\"tally\":{\"from_ms\":%lld,\"to_ms\":%lld,\"submitted_ms\":%lld,"
                      "\"normal\":%lld,\"fp_untyped\":%lld,\"types\":[",
                   (long long)t->from_ms, (long long)t->to_ms, (long long)t->submitted_ms,
                   (long long)t->normal, (long long)t->fp_untyped) != BM_OK)
        return BM_ETOOBIG;
    for (int i = 0; i < t->ntypes; i++)
        if (buf_printf(b, "%s{\"type\":\"%s\",\"fp\":%lld}", i ? "," : "", t->types[i],
                       (long long)t->fp_typed[i]) != BM_OK)
            return BM_ETOOBIG;
    if (buf_puts(b, "],\"incidents\":[") != BM_OK)
        return BM_ETOOBIG;
    for (size_t i = 0; i < t->ninc; i++) {
        const struct score_incident *x = &t->inc[i];
        if (buf_puts(b, i ? ",{\"id\":" : "{\"id\":") != BM_OK ||
            buf_put_json_str(b, x->id) != BM_OK ||
            buf_printf(b, ",\"type\":\"%s\",\"start_ms\":%lld,\"end_ms\":%lld,"
                          "\"win_start_ms\":%lld,\"events\":%lld,"
                          "\"flagged\":%lld,\"det_ms\":%lld,\"nab_ms\":%lld}",
                       t->types[x->type], (long long)x->start_ms, (long long)x->end_ms,
                       (long long)x->win_start_ms, (long long)x->events, (long long)x->flagged, (long long)x->det_ms,
                       (long long)x->nab_ms) != BM_OK)
            return BM_ETOOBIG;
    }
    if (buf_puts(b, "],\"known\":[") != BM_OK)
        return BM_ETOOBIG;
    for (size_t i = 0; i < r->ndets; i++) {
        if (r->dets[i].state == SCORE_DET_UNKNOWN)
            continue;
        if ((!first && buf_putc(b, ',') != BM_OK) || buf_put_i64(b, (int64_t)i) != BM_OK)
            return BM_ETOOBIG;
        first = false;
    }
    return buf_puts(b, "]}");
}

enum bm_rc score_render(const struct score_tally *t, const struct score_req *req,
                        const char *id, const char *service, int64_t created_ms,
                        struct buf *out)
{
    double hours = (double)(t->to_ms - t->from_ms) / 3600000.0;
    int64_t *ttd = malloc((t->ninc ? t->ninc : 1) * sizeof(*ttd));
    struct agg a;
    enum bm_rc rc = BM_ETOOBIG;

    if (!ttd)
        return BM_ENOMEM;
    if (put_head(out, t, id, service, created_ms) != BM_OK ||
        buf_puts(out, ",\"overall\":") != BM_OK)
        goto out;
    aggregate(t, -1, ttd, &a);
    if (put_agg(out, &a, hours) != BM_OK || buf_puts(out, ",\"by_type\":{") != BM_OK)
        goto out;
    for (int k = 0; k < t->ntypes; k++) {
        aggregate(t, k, ttd, &a);
        if (buf_printf(out, "%s\"%s\":", k ? "," : "", t->types[k]) != BM_OK ||
            put_agg(out, &a, hours) != BM_OK)
            goto out;
    }
    if (buf_putc(out, '}') != BM_OK ||
        (req && req->detail && put_tally(out, t, req) != BM_OK) || buf_putc(out, '}') != BM_OK)
        goto out;
    rc = BM_OK;
out:
    free(ttd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Merging a service's answer (the gateway)                              */

static int64_t num_of(const cJSON *o, const char *key)
{
    const cJSON *it = json_get(o, key);
    return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : 0;
}

static enum bm_rc add_incidents(struct score_tally *t, const cJSON *arr)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr) {
        const cJSON *id = json_get(it, "id"), *ty = json_get(it, "type");
        struct score_incident *x;
        int k;
        if (!cJSON_IsString(id) || !cJSON_IsString(ty))
            return BM_EINVAL;
        k = score_type_index(t, ty->valuestring);
        if (k < 0)
            return BM_EINVAL;
        x = score_incident_add(t, id->valuestring, k);
        if (!x)
            return BM_ENOMEM;
        x->start_ms = num_of(it, "start_ms");
        x->end_ms = num_of(it, "end_ms");
        x->win_start_ms = cJSON_IsNumber(json_get(it, "win_start_ms"))
                              ? num_of(it, "win_start_ms") : -1;
        x->events = num_of(it, "events");
        x->flagged = num_of(it, "flagged");
        x->det_ms = num_of(it, "det_ms");
        x->nab_ms = num_of(it, "nab_ms");
    }
    return BM_OK;
}

static void add_outside(struct score_tally *t, const cJSON *det)
{
    const cJSON *ow = json_get(det, "outside_window"), *it;
    int64_t n = num_of(ow, "count");
    int listed = 0;

    cJSON_ArrayForEach(it, json_get(ow, "first")) {
        if (cJSON_IsString(it)) {
            score_note_outside(t, it->valuestring);
            listed++;
        }
    }
    t->outside += n - listed;
}

enum bm_rc score_tally_add_json(struct score_tally *t, const cJSON *answer, uint8_t *known,
                                size_t n)
{
    const cJSON *tal = json_get(answer, "tally"), *det = json_get(answer, "detections"), *it;

    if (!cJSON_IsObject(tal) || !cJSON_IsObject(det))
        return BM_EINVAL;
    t->normal += num_of(tal, "normal");
    t->fp_untyped += num_of(tal, "fp_untyped");
    cJSON_ArrayForEach(it, json_get(tal, "types")) {
        const cJSON *ty = json_get(it, "type");
        int k = cJSON_IsString(ty) ? score_type_index(t, ty->valuestring) : -1;
        if (k < 0)
            return BM_EINVAL;
        t->fp_typed[k] += num_of(it, "fp");
    }
    t->scored += num_of(det, "scored");
    t->duplicates += num_of(det, "duplicates");
    t->mismatched += num_of(det, "type_mismatch");
    add_outside(t, det);
    cJSON_ArrayForEach(it, json_get(tal, "known")) {
        int64_t i = cJSON_IsNumber(it) ? (int64_t)it->valuedouble : -1;
        if (i >= 0 && (size_t)i < n)
            known[i] = 1;
    }
    return add_incidents(t, json_get(tal, "incidents"));
}

/* ------------------------------------------------------------------ */
/* /metrics                                                              */

static double dbl_at(const cJSON *root, const char *path, bool *ok)
{
    const cJSON *it = json_get_path(root, path);

    *ok = cJSON_IsNumber(it);
    return *ok ? it->valuedouble : 0.0;
}

enum bm_rc score_metrics_append(const char *answer, size_t len, bool text, const char *service,
                                struct buf *out)
{
    static const char *const keys[] = { "overall.event.precision", "overall.event.recall",
                                        "overall.event.f1", "overall.incident.recall",
                                        "overall.nab.score" };
    static const char *const names[] = { "event_precision", "event_recall", "event_f1",
                                         "incident_recall", "nab_score" };
    cJSON *root = NULL;
    const cJSON *id;
    enum bm_rc rc = BM_OK;

    if (answer && json_parse(answer, len, &root) != BM_OK)
        root = NULL;
    id = json_get(root, "score_id");
    if (!text) {
        if (out->len == 0 || out->data[out->len - 1] != '}') {
            rc = BM_EINVAL;
            goto out;
        }
        out->len--;
        if (!cJSON_IsString(id)) {
            rc = buf_puts(out, ",\"last_score\":null}");
            goto out;
        }
        if (buf_puts(out, ",\"last_score\":{\"score_id\":") != BM_OK ||
            buf_put_json_str(out, id->valuestring) != BM_OK) {
            rc = BM_ETOOBIG;
            goto out;
        }
    } else if (!cJSON_IsString(id)) {
        goto out;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        bool ok;
        double v = dbl_at(root, keys[i], &ok);
        if (text)
            rc = ok ? buf_printf(out,
                                 "# HELP bankmock_last_score_%s The newest POST /score "
                                 "result's %s.\n# TYPE bankmock_last_score_%s gauge\n"
                                 "bankmock_last_score_%s{service=\"%s\"} %.6f\n",
                                 names[i], keys[i], names[i], names[i], service, v)
                    : BM_OK;
        else
            rc = ok ? buf_printf(out, ",\"%s\":%.6f", names[i], v)
                    : buf_printf(out, ",\"%s\":null", names[i]);
        if (rc != BM_OK)
            goto out;
    }
    if (!text)
        rc = buf_puts(out, "}}");
out:
    cJSON_Delete(root);
    return rc;
}
