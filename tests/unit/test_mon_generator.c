/* test_mon_generator.c - the monitoring generator: replay, event shape,
 * the sampling cycle, realistic normal values, the anomaly rate and type
 * shares, and the shape of every anomaly as a client reads it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "config.h"
#include "gen_check.h"
#include "mon.h"

#define MONDAY_US 1709510400000000LL /* 2024-03-04T00:00:00Z, a Monday */
#define SEC_US    1000000LL
#define HOUR_US   (3600 * SEC_US)

static struct mon_model *model;

static const double equal_w[MON_A_COUNT] = { 1, 1, 1, 1, 1, 1 };

/* A generator driven at a constant rate, as the common loop drives it. */
struct stream {
    struct mon_state st;
    struct rng r;
    struct gen_params p;
    int64_t t_us, dt_us;
    uint64_t seq;
    struct buf b;
    struct gen_event ev;
};

static void stream_init(struct stream *s, uint64_t seed, double rate, const double *w,
                        double eps, int64_t start_us)
{
    memset(s, 0, sizeof *s);
    rng_seed(&s->r, seed);
    mon_state_init(&s->st, &s->r);
    s->p.anomaly_rate = rate;
    for (int i = 0; i < MON_A_COUNT; i++)
        s->p.weights[i] = w[i];
    s->t_us = start_us;
    s->dt_us = llround(1e6 / eps);
    buf_init(&s->b, 64 * 1024);
}

static const char *stream_next(struct stream *s)
{
    buf_reset(&s->b);
    memset(&s->ev, 0, sizeof s->ev);
    s->ev.json = &s->b;
    assert_int_equal(mon_generate(model, &s->st, &s->p, &s->r, s->t_us, ++s->seq, &s->ev),
                     BM_OK);
    s->t_us += s->dt_us;
    return s->b.data;
}

static void stream_free(struct stream *s)
{
    buf_free(&s->b);
}

static int setup(void **state)
{
    (void)state;
    model = mon_model_new(42);
    return model ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mon_model_free(model);
    return 0;
}

/* ---- what a client reads ---- */

struct rec {
    int64_t ts_ms;
    int32_t value; /* hundredths, from the JSON text */
    int16_t series;
    int8_t type;   /* -1 normal */
    int8_t sev;
    int8_t near;   /* enum mon_near_kind, from the generator's detail */
    int32_t inc;   /* index into the incident table, -1 none */
};

struct incident {
    char id[RNG_UUID_LEN + 1];
    int type, n, series; /* series: the first event's */
    int64_t t_first, t_last;
    int32_t last_value;
    unsigned services;              /* bit per service */
    unsigned metrics[MON_N_SERVICES]; /* bit per metric, per service */
    int64_t onset[MON_N_SERVICES][MON_M_COUNT]; /* first event per service and metric */
    bool multi_series_ok;           /* false: a one-series type moved series */
    bool rising;                    /* degradation: strictly rising so far */
    bool late;                      /* begun after the events asked for */
};

#define INC_HASH 65536
#define TAIL (20 * MON_N_SERIES) /* longest incident: 24 samples of a series */
struct trace {
    struct rec *r;
    int n, asked; /* events recorded; of which asked for (then the tail) */
    struct incident *inc;
    int n_inc, cap_inc;
    int hash[INC_HASH];
};

static int find_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int host_index(const char *name)
{
    for (int h = 0; name && h < MON_N_HOSTS; h++)
        if (strcmp(mon_hosts[h].name, name) == 0)
            return h;
    return -1;
}

static int metric_index(const char *name)
{
    for (int m = 0; name && m < MON_M_COUNT; m++)
        if (strcmp(mon_metrics[m].name, name) == 0)
            return m;
    return -1;
}

static uint32_t hash_id(const char *id)
{
    uint32_t h = 2166136261u;

    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h;
}

static int incident_of(struct trace *t, const char *id, int type, const struct rec *r)
{
    uint32_t slot = hash_id(id) % INC_HASH;
    struct incident *in;

    while (t->hash[slot] >= 0) {
        if (strcmp(t->inc[t->hash[slot]].id, id) == 0)
            return t->hash[slot];
        slot = (slot + 1) % INC_HASH;
    }
    if (t->n_inc == t->cap_inc) {
        t->cap_inc = t->cap_inc ? 2 * t->cap_inc : 1024;
        t->inc = realloc(t->inc, (size_t)t->cap_inc * sizeof *t->inc);
        assert_non_null(t->inc);
    }
    assert_true(t->n_inc < INC_HASH / 2);
    in = &t->inc[t->n_inc];
    memset(in, 0, sizeof *in);
    memcpy(in->id, id, RNG_UUID_LEN + 1);
    in->type = type;
    in->series = r->series;
    in->t_first = r->ts_ms;
    in->multi_series_ok = true;
    in->rising = true;
    for (int s = 0; s < MON_N_SERVICES; s++)
        for (int m = 0; m < MON_M_COUNT; m++)
            in->onset[s][m] = -1;
    t->hash[slot] = t->n_inc;
    return t->n_inc++;
}

static void note_incident_event(struct incident *in, const struct rec *r)
{
    int host = MON_SERIES_HOST(r->series), m = MON_SERIES_METRIC(r->series);
    int sv = mon_hosts[host].service;

    if (in->n && in->type == MON_A_DEGRADATION && r->value <= in->last_value)
        in->rising = false;
    if (r->series != in->series && in->type != MON_A_CASCADE && in->type != MON_A_TIMEOUT)
        in->multi_series_ok = false;
    in->n++;
    in->t_last = r->ts_ms;
    in->last_value = r->value;
    in->services |= 1u << sv;
    in->metrics[sv] |= 1u << m;
    if (in->onset[sv][m] < 0)
        in->onset[sv][m] = r->ts_ms;
}

/* Runs n events and parses each as a client would, then a few cycles
 * more so the incidents begun in the n are complete; incidents begun in
 * the tail are marked late. */
static void trace_run(struct trace *t, struct stream *s, int n)
{
    const int total = n + TAIL;

    memset(t, 0, sizeof *t);
    t->asked = n;
    memset(t->hash, 0xff, sizeof t->hash);
    t->r = calloc((size_t)total, sizeof *t->r);
    assert_non_null(t->r);
    for (int i = 0; i < total; i++) {
        cJSON *ev = cJSON_Parse(stream_next(s));
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, "metric_value");
        const char *type = str_of(ev, "anomaly_type"), *inc = str_of(ev, "incident_id");
        struct rec *r = &t->r[t->n++];
        int host = host_index(str_of(ev, "host")), m = metric_index(str_of(ev, "metric_name"));

        assert_true(host >= 0 && m >= 0 && cJSON_IsNumber(v));
        r->ts_ms = s->ev.ts_ms;
        r->value = (int32_t)llround(v->valuedouble * 100.0);
        r->series = (int16_t)MON_SERIES(m, host);
        r->type = (int8_t)find_index(mon_anomaly_names, MON_A_COUNT, type);
        r->sev = (int8_t)find_index(mon_severity_names, MON_SEV_COUNT, str_of(ev, "severity"));
        r->inc = -1;
        r->near = (int8_t)((const struct mon_detail *)s->ev.detail)->near;
        assert_true(r->sev >= 0);
        assert_true(r->near == MON_N_NONE || r->type < 0); /* look-alikes are normal */
        assert_int_equal(type != NULL, r->type >= 0);
        assert_int_equal(inc != NULL, type != NULL); /* every monitoring anomaly is an incident */
        if (inc) {
            r->inc = incident_of(t, inc, r->type, r);
            if (t->inc[r->inc].n == 0)
                t->inc[r->inc].late = i >= n;
            assert_int_equal(t->inc[r->inc].type, r->type);
            note_incident_event(&t->inc[r->inc], r);
        }
        cJSON_Delete(ev);
    }
}

static void trace_free(struct trace *t)
{
    free(t->r);
    free(t->inc);
}

static long count_anomalous(const struct trace *t, long by_type[MON_A_COUNT])
{
    long n = 0;

    memset(by_type, 0, MON_A_COUNT * sizeof by_type[0]);
    for (int i = 0; i < t->asked; i++) {
        if (t->r[i].type >= 0) {
            n++;
            by_type[t->r[i].type]++;
        }
    }
    return n;
}

/* ---- replay ---- */

static void test_generator_same_seed_gives_identical_bytes(void **state)
{
    struct stream a, b, c;
    int differ = 0;

    (void)state;
    stream_init(&a, 1234, 0.05, equal_w, 100, MONDAY_US);
    stream_init(&b, 1234, 0.05, equal_w, 100, MONDAY_US);
    stream_init(&c, 1235, 0.05, equal_w, 100, MONDAY_US);
    for (int i = 0; i < 20000; i++) {
        const char *x = stream_next(&a);
        const char *y = stream_next(&b);

        assert_int_equal(a.b.len, b.b.len);
        assert_memory_equal(x, y, a.b.len);
        differ += strcmp(x, stream_next(&c)) != 0;
    }
    assert_memory_equal(&a.st, &b.st, sizeof a.st);
    assert_int_equal(differ, 20000);
    stream_free(&a);
    stream_free(&b);
    stream_free(&c);
}

/* The state is all there is: a copy of it (as the loop persists it with
 * every batch) continues the same stream. */
static void test_generator_restored_state_continues_the_same_stream(void **state)
{
    static struct stream a, b;

    (void)state;
    stream_init(&a, 77, 0.1, equal_w, 100, MONDAY_US);
    for (int i = 0; i < 7777; i++)
        stream_next(&a);
    stream_init(&b, 1, 0.1, equal_w, 100, MONDAY_US);
    memcpy(&b.st, &a.st, sizeof a.st);
    b.r = a.r;
    b.t_us = a.t_us;
    b.seq = a.seq;
    assert_true(mon_state_valid(&b.st));
    for (int i = 0; i < 20000; i++) {
        const char *x = stream_next(&a);

        assert_string_equal(x, stream_next(&b));
    }
    stream_free(&a);
    stream_free(&b);
}

/* ---- event shape ---- */

static const char *const field_order[] = {
    "event_id", "timestamp", "sequence", "service", "host", "metric_name", "metric_value",
    "unit", "severity", "is_anomaly", "anomaly_type", "incident_id", "origin",
};

static void check_event_shape(const char *json, uint64_t seq)
{
    static const char *const units[] = { "percent", "mbps", "ms" };
    cJSON *ev = cJSON_Parse(json), *it;
    const char *metric, *unit, *dot;
    int host;
    double v;

    check_envelope_head(ev, field_order, (int)(sizeof field_order / sizeof field_order[0]),
                        "event_id", seq);
    host = host_index(str_of(ev, "host"));
    assert_true(host >= 0);
    assert_string_equal(str_of(ev, "service"), mon_services[mon_hosts[host].service].name);
    metric = str_of(ev, "metric_name");
    unit = str_of(ev, "unit");
    assert_true(metric_index(metric) >= 0);
    assert_true(find_index(units, 3, unit) >= 0);
    if (strstr(metric, "utilization") || strcmp(metric, "error_rate") == 0)
        assert_string_equal(unit, "percent");
    else if (strstr(metric, "mbps"))
        assert_string_equal(unit, "mbps");
    else
        assert_string_equal(unit, "ms");
    it = cJSON_GetObjectItem(ev, "metric_value");
    assert_true(cJSON_IsNumber(it));
    v = it->valuedouble;
    assert_true(v >= 0.0);
    if (strcmp(unit, "percent") == 0)
        assert_true(v <= 100.0);
    dot = strstr(json, "\"metric_value\":");
    dot = strchr(dot, '.');
    assert_int_equal(strspn(dot + 1, "0123456789"), 2); /* two decimals */
    assert_true(find_index(mon_severity_names, MON_SEV_COUNT, str_of(ev, "severity")) >= 0);
    check_envelope_tail(ev, mon_anomaly_names, MON_A_COUNT, NULL);
    cJSON_Delete(ev);
}

static void test_generator_events_have_every_field_in_order_with_right_types(void **state)
{
    struct stream s;

    (void)state;
    stream_init(&s, 99, 0.1, equal_w, 100, MONDAY_US);
    for (int i = 0; i < 20000; i++) {
        const char *json = stream_next(&s);
        const struct mon_detail *d = s.ev.detail;

        check_event_shape(json, s.seq);
        assert_int_equal(s.ev.seq, s.seq);
        assert_true(s.ev.ts_ms == (s.t_us - s.dt_us) / 1000);
        assert_non_null(d);
        assert_int_equal(d->anomaly >= 0, s.ev.anomaly_type != NULL);
        if (s.ev.anomaly_type)
            assert_string_equal(s.ev.anomaly_type, mon_anomaly_names[d->anomaly]);
    }
    stream_free(&s);
}

static void test_generator_type_names_follow_the_config_weight_order(void **state)
{
    const char *const *names;

    (void)state;
    assert_int_equal(cfg_anomaly_types(SVC_MONITORING, &names), MON_A_COUNT);
    for (int i = 0; i < MON_A_COUNT; i++)
        assert_string_equal(names[i], mon_anomaly_names[i]);
}

/* ---- the sampling cycle ---- */

/* Every series once per cycle, in the same order, at a constant spacing:
 * each metric of each host is sampled every MON_N_SERIES events. */
static void test_generator_samples_every_series_in_a_fixed_cycle(void **state)
{
    struct stream s;
    struct trace t;

    (void)state;
    stream_init(&s, 5, 0.05, equal_w, 100, MONDAY_US);
    trace_run(&t, &s, 10 * MON_N_SERIES);
    for (int i = 0; i < t.n; i++) {
        assert_int_equal(t.r[i].series, i % MON_N_SERIES);
        if (i >= MON_N_SERIES)
            assert_true(t.r[i].ts_ms - t.r[i - MON_N_SERIES].ts_ms == MON_N_SERIES * 10);
    }
    trace_free(&t);
    stream_free(&s);
}

static bool series_is_free(const struct mon_state *st, int series)
{
    return st->ep[series].type == 0 && st->ep[series].recover == 0 &&
           st->near[series].kind == MON_N_NONE;
}

/* An injection due now starts at the next sample, its series taken out
 * of turn when the cycle is elsewhere; then the cycle goes on where it
 * was, so no series misses its turn. */
static void test_generator_injection_starts_at_the_next_sample(void **state)
{
    static const struct {
        int type, metric;
        int64_t target;
    } cases[] = {
        { MON_A_HIGH_MEMORY, MON_M_MEMORY, 5 },
        { MON_A_HIGH_CPU, MON_M_CPU, -1 },
        { MON_A_HIGH_DISK, MON_M_DISK, MON_TARGET_SERVICE + 1 },
        { MON_A_DEGRADATION, MON_M_RESPONSE, -1 },
        { MON_A_TIMEOUT, MON_M_RESPONSE, 9 },
        { MON_A_CASCADE, MON_M_RESPONSE, -1 },
    };
    int out_of_turn = 0, waited = 0, runs = 0;

    (void)state;
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        for (int skip = 0; skip < MON_N_SERIES; skip += 13) {
            struct gen_inject inj = { .type = cases[c].type,
                                      .target = cases[c].target,
                                      .size = mon_inject_sizes[cases[c].type].usual,
                                      .id = { (uint8_t)(c + 1), (uint8_t)skip } };
            struct stream s;
            uint32_t cursor;
            int series;
            bool busy_before = false;

            runs++;
            stream_init(&s, 11, 0.0, equal_w, 100, MONDAY_US);
            for (int i = 0; i < MON_N_SERIES + skip; i++)
                stream_next(&s);
            cursor = s.st.cursor;
            if (cases[c].target >= 0 && cases[c].target < MON_N_HOSTS) {
                int h = (int)cases[c].target;
                busy_before = !series_is_free(&s.st, MON_SERIES(cases[c].metric, h)) ||
                              (cases[c].type == MON_A_TIMEOUT &&
                               !series_is_free(&s.st, MON_SERIES(MON_M_ERROR, h)));
            }
            s.p.inject = &inj;
            stream_next(&s);
            s.p.inject = NULL;
            series = s.st.out.series;
            if (!s.ev.inject_taken) {
                /* only a named host's busy series makes it wait */
                assert_true(busy_before);
                waited++;
                stream_free(&s);
                continue;
            }
            assert_true(s.ev.injected);
            assert_int_equal(s.st.out.anomaly, cases[c].type);
            assert_int_equal(MON_SERIES_METRIC(series), cases[c].metric);
            if (cases[c].target >= MON_TARGET_SERVICE)
                assert_int_equal(mon_hosts[MON_SERIES_HOST(series)].service,
                                 cases[c].target - MON_TARGET_SERVICE);
            else if (cases[c].target >= 0)
                assert_int_equal(MON_SERIES_HOST(series), cases[c].target);
            out_of_turn += series != (int)cursor;
            /* the cycle resumes at its cursor (after it, if that was the one) */
            stream_next(&s);
            assert_int_equal(s.st.out.series,
                             series == (int)cursor ? (cursor + 1) % MON_N_SERIES : cursor);
            stream_free(&s);
        }
    }
    print_message("%d injections: %d out of turn, %d waited for a busy host\n", runs,
                  out_of_turn, waited);
    assert_true(out_of_turn > 0);
    assert_true(waited * 10 < runs);
}

/* ---- normal values ---- */

/* Consecutive normal samples of a series move a little at a time: no
 * jumps from nowhere (outside anomalies, look-alikes and their recovery). */
static void test_generator_normal_values_move_smoothly(void **state)
{
    struct stream s;
    struct trace t;
    int last[MON_N_SERIES], since_anomaly[MON_N_SERIES];
    int checked = 0;

    (void)state;
    stream_init(&s, 6, 0.02, equal_w, 100, MONDAY_US + 8 * HOUR_US);
    trace_run(&t, &s, scaled(200000));
    for (int i = 0; i < MON_N_SERIES; i++) {
        last[i] = -1;
        since_anomaly[i] = 1000;
    }
    for (int i = 0; i < t.n; i++) {
        const struct rec *r = &t.r[i];
        int m = MON_SERIES_METRIC(r->series), p = last[r->series];

        if (r->type >= 0 || r->near) {
            since_anomaly[r->series] = 0;
        } else if (++since_anomaly[r->series] > 5 && p >= 0 && t.r[p].type < 0) {
            double a = t.r[p].value / 100.0, b = r->value / 100.0;

            checked++;
            switch (m) {
            case MON_M_CPU:
            case MON_M_MEMORY:
                assert_true(fabs(b - a) < 6.0);
                break;
            case MON_M_DISK: /* a cleanup (a big step down) has its cause */
                assert_true(fabs(b - a) < 0.5 || b < a - 5.0);
                break;
            case MON_M_ERROR: /* relative, but a few hundredths near 0 are noise */
                if (fabs(b - a) > 0.3 && !(b / a > 1.0 / 3 && b / a < 3.0))
                    fail_msg("error_rate moved from %.2f to %.2f in one sample", a, b);
                break;
            default: /* network, latency: relative */
                if (fabs(b - a) > 0.05 && !(b / a > 0.5 && b / a < 2.0))
                    fail_msg("%s moved from %.2f to %.2f in one sample",
                             mon_metrics[m].name, a, b);
                break;
            }
        }
        last[r->series] = i;
    }
    assert_true(checked > t.n / 2);
    trace_free(&t);
    stream_free(&s);
}

/* Load follows the bank's traffic curve: busier in the morning peak than
 * at night, quieter at the weekend. */
static void test_generator_load_follows_the_traffic_curve(void **state)
{
    struct stream s;
    struct trace t;
    double sum[3][2] = { { 0 } }; /* night, peak, weekend peak x (cpu, network in) */
    int n[3][2] = { { 0 } };

    (void)state;
    /* Friday 00:00 to Saturday 24:00, a sample a second */
    stream_init(&s, 7, 0.0, equal_w, 1, MONDAY_US + 4 * 24 * HOUR_US);
    trace_run(&t, &s, 2 * 86400);
    for (int i = 0; i < t.n; i++) {
        const struct rec *r = &t.r[i];
        int m = MON_SERIES_METRIC(r->series), k, hour = (int)(r->ts_ms / 3600000 % 24);
        bool weekend = r->ts_ms >= (MONDAY_US + 5 * 24 * HOUR_US) / 1000;

        if (m != MON_M_CPU && m != MON_M_NET_IN)
            continue;
        if (hour >= 9 && hour < 11)
            k = weekend ? 2 : 1;
        else if (!weekend && hour >= 1 && hour < 5)
            k = 0;
        else
            continue;
        sum[k][m == MON_M_CPU ? 0 : 1] += r->value / 100.0;
        n[k][m == MON_M_CPU ? 0 : 1]++;
    }
    for (int j = 0; j < 2; j++) {
        double night = sum[0][j] / n[0][j], peak = sum[1][j] / n[1][j];
        double weekend = sum[2][j] / n[2][j];

        print_message("%s: night %.1f, weekday peak %.1f, weekend peak %.1f\n",
                      j ? "network_in_mbps" : "cpu_utilization", night, peak, weekend);
        assert_true(peak > 1.5 * night);
        assert_true(weekend < 0.75 * peak);
    }
    trace_free(&t);
    stream_free(&s);
}

/* Disks fill slowly: over a day each disk moves by at most a few points,
 * upwards unless its cleanup came round. */
static void test_generator_disks_fill_slowly(void **state)
{
    struct stream s;
    struct trace t;
    double first[MON_N_HOSTS], lastv[MON_N_HOSTS];
    bool wrapped[MON_N_HOSTS] = { false };
    int grew = 0;

    (void)state;
    stream_init(&s, 8, 0.0, equal_w, 1, MONDAY_US);
    trace_run(&t, &s, 86400);
    for (int h = 0; h < MON_N_HOSTS; h++)
        first[h] = -1;
    for (int i = 0; i < t.n; i++) {
        const struct rec *r = &t.r[i];
        int h = MON_SERIES_HOST(r->series);
        double v = r->value / 100.0;

        if (MON_SERIES_METRIC(r->series) != MON_M_DISK || r->near)
            continue; /* a busy disk's look-alike is no level of its fill */
        if (first[h] < 0)
            first[h] = v;
        else if (v < lastv[h] - 5.0)
            wrapped[h] = true; /* the cleanup: a big step down, once */
        lastv[h] = v;
    }
    for (int h = 0; h < MON_N_HOSTS; h++) {
        if (wrapped[h])
            continue;
        assert_true(lastv[h] - first[h] > -0.3);
        assert_true(lastv[h] - first[h] < 3.0);
        grew += lastv[h] > first[h];
    }
    assert_true(grew >= MON_N_HOSTS / 2);
    trace_free(&t);
    stream_free(&s);
}

/* ---- rates and shares ---- */

static void assert_fraction(long anomalous, long n, double p, const char *what)
{
    double frac = (double)anomalous / (double)n, tol = 4.0 * sqrt(p * (1.0 - p) / (double)n);

    if (fabs(frac - p) > tol)
        fail_msg("%s: fraction %.5f over %ld events, want %.4f +- %.5f", what, frac, n, p, tol);
}

/* The labelled fraction is the configured rate within four sigma over
 * 100,000 events (20,000 at small scale), over the whole documented range
 * with all types on. */
static void test_generator_fraction_holds_at_every_rate(void **state)
{
    static const double rates[] = { 0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5 };
    const int n = scaled(100000);

    (void)state;
    /* Over 20,000 events four sigma at 0.001 is 18 events, less than one
     * cascade: the count moves an incident at a time, so not there. */
    for (size_t i = n < 100000 ? 1 : 0; i < sizeof rates / sizeof rates[0]; i++) {
        struct stream s;
        long a = 0;
        char what[64];

        stream_init(&s, 100 + i, rates[i], equal_w, 100, MONDAY_US + 9 * HOUR_US);
        for (int k = 0; k < n; k++) {
            stream_next(&s);
            a += s.ev.anomaly_type != NULL;
        }
        snprintf(what, sizeof what, "rate %.3f", rates[i]);
        print_message("rate %.3f: %.5f\n", rates[i], (double)a / n);
        assert_fraction(a, n, rates[i], what);
        stream_free(&s);
    }
}

/* Each type's share of the anomalous events is its weight's share, for
 * one type alone or a mix; a busy series makes an incident wait for the
 * next free one, not the weights give way. */
static void test_generator_type_shares_follow_the_weights(void **state)
{
    static const double ws[][MON_A_COUNT] = {
        { 1, 1, 1, 1, 1, 1 }, { 1, 0, 0, 0, 0, 0 }, { 0, 1, 0, 0, 0, 0 }, { 0, 0, 1, 0, 0, 0 },
        { 0, 0, 0, 1, 0, 0 }, { 0, 0, 0, 0, 1, 0 }, { 0, 0, 0, 0, 0, 1 }, { 3, 1, 1, 2, 1, 0 },
        { 0, 0, 0, 2, 1, 1 },
    };
    const int n = scaled(100000);
    const double p = 0.05;

    (void)state;
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
        struct stream s;
        struct trace t;
        long by[MON_A_COUNT], a;
        double sum = 0;
        char what[64];

        for (int i = 0; i < MON_A_COUNT; i++)
            sum += ws[k][i];
        stream_init(&s, 200 + k, p, ws[k], 100, MONDAY_US + 14 * HOUR_US);
        trace_run(&t, &s, n);
        a = count_anomalous(&t, by);
        snprintf(what, sizeof what, "weights set %zu", k);
        assert_fraction(a, n, p, what);
        for (int i = 0; i < MON_A_COUNT; i++) {
            double share = (double)by[i] / (double)a, want = ws[k][i] / sum;

            if (fabs(share - want) > 0.03)
                fail_msg("weights set %zu: %s has %.3f of the anomalous events, want %.3f", k,
                         mon_anomaly_names[i], share, want);
        }
        trace_free(&t);
        stream_free(&s);
    }
}

static void test_generator_zero_rate_or_zero_weights_give_no_anomalies(void **state)
{
    static const double zero_w[MON_A_COUNT] = { 0 };
    struct stream a, b;

    (void)state;
    stream_init(&a, 9, 0.0, equal_w, 100, MONDAY_US);
    stream_init(&b, 9, 0.3, zero_w, 100, MONDAY_US);
    for (int i = 0; i < 20000; i++) {
        stream_next(&a);
        assert_null(a.ev.anomaly_type);
        stream_next(&b);
        assert_null(b.ev.anomaly_type);
    }
    /* and no debt piles up meanwhile: switching on gives the rate */
    b.p.weights[MON_A_HIGH_DISK] = 1;
    b.p.anomaly_rate = 0.02;
    {
        long n = 0;
        for (int i = 0; i < 20000; i++) {
            stream_next(&b);
            n += b.ev.anomaly_type != NULL;
        }
        assert_fraction(n, 20000, 0.02, "after switching on");
    }
    stream_free(&a);
    stream_free(&b);
}

/* A rate the estate has no room for (one utilisation type alone is at
 * most a seventh of the samples) labels what it can; going back to a
 * feasible setting gives that setting's fraction, with no burst. */
static void test_generator_infeasible_rate_does_not_leave_a_burst(void **state)
{
    static const double cpu_only[MON_A_COUNT] = { 1, 0, 0, 0, 0, 0 };
    const int n = scaled(100000);
    struct stream s;
    long a = 0;

    (void)state;
    stream_init(&s, 10, 0.5, cpu_only, 100, MONDAY_US);
    for (int i = 0; i < 50000; i++) {
        stream_next(&s);
        a += s.ev.anomaly_type != NULL;
    }
    print_message("high_cpu alone at 0.5: %.4f labelled\n", (double)a / 50000);
    assert_true(a > 50000 / 14); /* over half the cpu samples */
    for (int i = 0; i < MON_A_COUNT; i++)
        s.p.weights[i] = 1;
    s.p.anomaly_rate = 0.02;
    a = 0;
    for (int i = 0; i < n; i++) {
        stream_next(&s);
        a += s.ev.anomaly_type != NULL;
    }
    /* the episodes still under way (at most 14 of 14 samples) finish */
    if (fabs((double)a - 0.02 * n) > 4.0 * sqrt(0.02 * 0.98 * n) + 14 * 14)
        fail_msg("after the infeasible setting: %ld anomalous of %d", a, n);
    stream_free(&s);
}

/* ---- the anomalies, as a client reads them ---- */

/* Checks every SPEC shape on a trace. */
static void check_shapes(const struct trace *t)
{
    static int prev_inc[MON_N_SERIES], ended[MON_N_SERIES];
    int32_t last_normal_err[MON_N_HOSTS];
    int counted[MON_A_COUNT] = { 0 };

    for (int i = 0; i < MON_N_SERIES; i++) {
        prev_inc[i] = -1; /* the incident of the series' previous sample */
        ended[i] = -1;    /* the last incident whose run on the series ended */
    }
    for (int h = 0; h < MON_N_HOSTS; h++)
        last_normal_err[h] = -1;
    for (int i = 0; i < t->n; i++) {
        const struct rec *r = &t->r[i];
        int m = MON_SERIES_METRIC(r->series), h = MON_SERIES_HOST(r->series);
        int prev = prev_inc[r->series];
        bool util = m == MON_M_CPU || m == MON_M_MEMORY || m == MON_M_DISK;

        /* severity is a function of metric and value only */
        assert_int_equal(r->sev, mon_severity_of(m, r->value));
        if (r->type < 0) {
            if (util && r->value > 9000)
                fail_msg("normal %s of %.2f at %d", mon_metrics[m].name, r->value / 100.0, i);
            /* the baseline's ranges; look-alikes: test_generator_look_alikes_* */
            if (m == MON_M_ERROR && !r->near)
                assert_true(r->value <= MON_ERR_NORMAL_MAX);
            if (m == MON_M_RESPONSE && r->near != MON_N_SPIKE)
                assert_true(r->value <= MON_RT_NORMAL_MAX);
            if (prev >= 0)
                ended[r->series] = prev;
            if (m == MON_M_ERROR && !r->near)
                last_normal_err[h] = r->value;
            prev_inc[r->series] = -1;
            continue;
        }
        /* an incident's samples on a series are consecutive samples, and
         * two incidents never touch on one series */
        if (prev >= 0 && prev != r->inc)
            fail_msg("incident %s follows %s on %s/%s with no normal sample between",
                     t->inc[r->inc].id, t->inc[prev].id, mon_hosts[h].name, mon_metrics[m].name);
        if (prev < 0 && ended[r->series] == r->inc)
            fail_msg("incident %s has a gap on its series", t->inc[r->inc].id);
        prev_inc[r->series] = r->inc;
        counted[r->type]++;
        switch (r->type) {
        case MON_A_HIGH_CPU:
        case MON_A_HIGH_MEMORY:
        case MON_A_HIGH_DISK:
            assert_int_equal(m, MON_M_CPU + r->type);
            if (r->value <= 9000)
                fail_msg("%s event at %.2f", mon_anomaly_names[r->type], r->value / 100.0);
            break;
        case MON_A_DEGRADATION:
            assert_int_equal(m, MON_M_RESPONSE);
            assert_true(r->value < 500000);
            break;
        case MON_A_TIMEOUT:
            if (m == MON_M_RESPONSE) {
                assert_true(r->value > 500000);
            } else {
                assert_int_equal(m, MON_M_ERROR);
                /* a jump: well above anything normal and the host's last */
                assert_true(r->value >= 1000);
                assert_true(r->value > 2 * last_normal_err[h]);
            }
            break;
        default: /* cascade */
            assert_true(m == MON_M_RESPONSE || m == MON_M_ERROR);
            if (m == MON_M_ERROR) {
                assert_true(r->value >= MON_ERR_ANOMALY_MIN);
                assert_true(r->value > 2 * last_normal_err[h]);
            }
            break;
        }
    }
    for (int k = 0; k < t->n_inc; k++) {
        const struct incident *in = &t->inc[k];
        int services = __builtin_popcount(in->services);

        if (in->late)
            continue;
        assert_true(in->n >= 1 && in->n <= MON_MAX_INCIDENT);
        switch (in->type) {
        case MON_A_HIGH_CPU:
        case MON_A_HIGH_MEMORY:
        case MON_A_HIGH_DISK:
            assert_true(in->multi_series_ok);
            break;
        case MON_A_DEGRADATION:
            assert_true(in->multi_series_ok);
            if (!in->rising)
                fail_msg("degradation %s does not rise strictly", in->id);
            break;
        case MON_A_TIMEOUT:
            assert_int_equal(services, 1);
            assert_true(in->n >= 4); /* latency and errors, over several samples */
            break;
        default: {
            /* onsets in both error rate and latency of >= 3 services, all
             * within 60 s of the first */
            int both = 0;

            for (int sv = 0; sv < MON_N_SERVICES; sv++) {
                if (!(in->metrics[sv] & (1u << MON_M_RESPONSE)) ||
                    !(in->metrics[sv] & (1u << MON_M_ERROR)))
                    continue;
                both++;
                assert_true(in->onset[sv][MON_M_RESPONSE] - in->t_first <= 60000);
                assert_true(in->onset[sv][MON_M_ERROR] - in->t_first <= 60000);
            }
            if (both < 3)
                fail_msg("cascade %s reaches %d services", in->id, both);
            break;
        }
        }
    }
    for (int i = 0; i < MON_A_COUNT; i++)
        assert_true(counted[i] > 0);
}

static void test_generator_anomalies_have_their_shapes_at_100_per_second(void **state)
{
    struct stream s;
    struct trace t;

    (void)state;
    stream_init(&s, 11, 0.1, equal_w, 100, MONDAY_US + 10 * HOUR_US);
    trace_run(&t, &s, scaled(200000));
    check_shapes(&t);
    /* at 100 samples a second a whole cascade fits in a minute */
    for (int k = 0; k < t.n_inc; k++)
        if (t.inc[k].type == MON_A_CASCADE)
            assert_true(t.inc[k].t_last - t.inc[k].t_first <= 60000);
    trace_free(&t);
    stream_free(&s);
}

/* At one sample a second a cycle takes 98 s; a cascade's onsets still
 * fall within a minute (latency and error blocks are adjacent). */
static void test_generator_cascade_onsets_within_a_minute_at_one_per_second(void **state)
{
    struct stream s;
    struct trace t;

    (void)state;
    stream_init(&s, 12, 0.1, equal_w, 1, MONDAY_US);
    trace_run(&t, &s, scaled(100000));
    check_shapes(&t);
    trace_free(&t);
    stream_free(&s);
}

/* Severity follows thresholds, not labels: some normal samples are
 * warnings, some anomalous ones info. */
static void test_generator_severity_does_not_reveal_the_label(void **state)
{
    struct stream s;
    struct trace t;
    long normal_warn = 0, anomalous_info = 0;

    (void)state;
    /* a quarter-end peak, Friday 2023-03-31: the busiest traffic */
    stream_init(&s, 13, 0.05, equal_w, 20, 1680220800000000LL + 9 * HOUR_US);
    trace_run(&t, &s, scaled(200000));
    for (int i = 0; i < t.n; i++) {
        normal_warn += t.r[i].type < 0 && t.r[i].sev == MON_SEV_WARNING;
        anomalous_info += t.r[i].type >= 0 && t.r[i].sev == MON_SEV_INFO;
    }
    print_message("normal warnings %ld, anomalous info %ld\n", normal_warn, anomalous_info);
    assert_true(normal_warn > 0);
    assert_true(anomalous_info > 0);
    trace_free(&t);
    stream_free(&s);
}

/* Onsets of look-alikes (their first sample) per service: latency and
 * error rate. */
struct onset {
    int64_t ts_ms;
    int sv, metric, kind;
};

/* No look-alike meets an anomaly type's rule: utilisation stays at 90 or
 * under, a bump never rises strictly over 4 samples, a latency over 5 s
 * has no error jump on its service within a minute, and no minute holds
 * latency and error onsets of 3 services. Every kind occurs, and they
 * reach warning and critical. */
static void check_look_alikes(const struct trace *t)
{
    int kinds[MON_N_COUNT] = { 0 }, rising[MON_N_SERIES] = { 0 }, n_on = 0;
    int8_t prev_near[MON_N_SERIES];
    int32_t prev_value[MON_N_SERIES];
    long sev[MON_SEV_COUNT] = { 0 };
    struct onset *on = calloc((size_t)t->n, sizeof *on);

    assert_non_null(on);
    memset(prev_near, 0, sizeof prev_near);
    for (int i = 0; i < t->n; i++) {
        const struct rec *r = &t->r[i];
        int m = MON_SERIES_METRIC(r->series);
        int sv = mon_hosts[MON_SERIES_HOST(r->series)].service;
        bool first = r->near && prev_near[r->series] != r->near;

        if (r->near) {
            kinds[r->near]++;
            sev[r->sev]++;
        }
        if (r->near == MON_N_BUSY)
            assert_true(r->value <= MON_UTIL_NORMAL_MAX);
        if (r->near == MON_N_BUMP) {
            bool up = !first && r->value > prev_value[r->series];

            rising[r->series] = up ? rising[r->series] + 1 : 1;
            if (rising[r->series] > 4)
                fail_msg("a latency bump rises over %d samples at %d", rising[r->series], i);
        }
        if (m == MON_M_RESPONSE && r->near && r->near != MON_N_SPIKE)
            assert_true(r->value < 500000);
        if (first && (m == MON_M_RESPONSE || m == MON_M_ERROR) && r->near != MON_N_BURST) {
            on[n_on].ts_ms = r->ts_ms;
            on[n_on].sv = sv;
            on[n_on].metric = m;
            on[n_on++].kind = r->near;
        }
        prev_near[r->series] = r->near;
        prev_value[r->series] = r->value;
    }
    for (int a = 0, b = 0; a < n_on; a++) {
        unsigned lat = 0, err = 0;

        /* the minute from onset a */
        while (b < n_on && on[b].ts_ms - on[a].ts_ms <= 60000)
            b++;
        for (int k = a; k < b; k++) {
            bool one_spike = (on[k].kind == MON_N_SPIKE) != (on[a].kind == MON_N_SPIKE);

            if (on[k].metric == MON_M_RESPONSE)
                lat |= 1u << on[k].sv;
            else
                err |= 1u << on[k].sv;
            /* latency over 5 s and an error jump on one service */
            if (on[k].sv == on[a].sv && one_spike && on[k].metric != on[a].metric)
                fail_msg("a latency spike and an error jump on %s within a minute",
                         mon_services[on[a].sv].name);
        }
        if (__builtin_popcount(lat & err) >= 3)
            fail_msg("look-alikes reach %d services within a minute",
                     __builtin_popcount(lat & err));
    }
    for (int k = 1; k < MON_N_COUNT; k++) {
        print_message("%s: %d samples\n", mon_near_names[k], kinds[k]);
        assert_true(kinds[k] > 0);
    }
    assert_true(sev[MON_SEV_WARNING] > 0 && sev[MON_SEV_CRITICAL] > 0);
    free(on);
}

static void test_generator_look_alikes_meet_no_rule(void **state)
{
    static const double rates[] = { 100, 20, 1 };
    struct stream s;
    struct trace t;

    (void)state;
    for (int i = 0; i < 3; i++) {
        stream_init(&s, 14 + (uint64_t)i, 0.02, equal_w, rates[i], MONDAY_US + 9 * HOUR_US);
        /* not scaled: at a fifth, a low rate may not reach every kind of
         * look-alike (they take turns by simulated time) */
        trace_run(&t, &s, rates[i] < 10 ? 150000 : 100000);
        check_look_alikes(&t);
        check_shapes(&t);
        trace_free(&t);
        stream_free(&s);
    }
}

/* ---- failure and corrupt state ---- */

/* A call that cannot append its event leaves state and rng as they were:
 * a normal sample, an episode's step, a due start. */
static void test_generator_failed_append_changes_nothing(void **state)
{
    static struct mon_state before;
    struct stream s;
    struct rng r_before;
    int kinds = 0;

    (void)state;
    stream_init(&s, 15, 0.2, equal_w, 100, MONDAY_US);
    for (int i = 0; i < 5000; i++)
        stream_next(&s);
    while (kinds != 7) {
        const struct mon_episode *e = &s.st.ep[s.st.cursor];
        bool due = false;
        int kind;
        struct buf small;
        struct gen_event ev = { .json = &small };

        for (int t = 0; t < MON_A_COUNT; t++) /* a reservation for this metric */
            due = due || (s.st.reserved[t] &&
                          (int)MON_SERIES_METRIC(s.st.cursor) ==
                              (t <= MON_A_HIGH_DISK ? MON_M_CPU + t : MON_M_RESPONSE));
        kind = e->type ? 1 : !e->recover && due ? 2 : 0;
        buf_init(&small, 100); /* too small for any event */
        before = s.st;
        r_before = s.r;
        assert_int_not_equal(mon_generate(model, &s.st, &s.p, &s.r, s.t_us, s.seq + 1, &ev),
                             BM_OK);
        assert_memory_equal(&before, &s.st, sizeof before);
        assert_memory_equal(&r_before, &s.r, sizeof r_before);
        assert_int_equal(small.len, 0);
        buf_free(&small);
        kinds |= 1 << kind;
        stream_next(&s);
    }
    stream_free(&s);
}

static void test_generator_rejects_corrupt_state(void **state)
{
    static struct mon_state good;
    struct stream s;
    int busy = -1;

    (void)state;
    stream_init(&s, 16, 0.2, equal_w, 100, MONDAY_US);
    for (int i = 0; i < 3000; i++)
        stream_next(&s);
    for (int i = 0; i < MON_N_SERIES && busy < 0; i++)
        if (s.st.ep[i].type)
            busy = i;
    assert_true(busy >= 0);
    good = s.st;
    assert_true(mon_state_valid(&good));
#define BREAK(stmt)                                                                            \
    do {                                                                                       \
        s.st = good;                                                                           \
        stmt;                                                                                  \
        assert_false(mon_state_valid(&s.st));                                                  \
    } while (0)
    BREAK(s.st.version++);
    BREAK(s.st.cursor = MON_N_SERIES);
    BREAK(s.st.sched.n_types = ANOM_MAX_TYPES + 1);
    BREAK(s.st.reserved[4] = 200);
    BREAK(s.st.ep[busy].type = MON_A_COUNT + 1);
    BREAK(s.st.ep[busy].inc = MON_N_SERIES);
    BREAK(s.st.ep[busy].left = 0);
    BREAK(s.st.inc[s.st.ep[busy].inc].type = 0);
    BREAK(s.st.inc[0].id[RNG_UUID_LEN] = 'x');
    BREAK(s.st.noise[3] = NAN);
    BREAK(s.st.load = INFINITY);
    BREAK(s.st.phi[1] = 2.0);
#undef BREAK
    s.st = good;
    s.st.version++;
    buf_reset(&s.b);
    s.ev.json = &s.b;
    assert_int_equal(mon_generate(model, &s.st, &s.p, &s.r, s.t_us, 1, &s.ev), BM_ESTATE);
    assert_int_equal(s.b.len, 0);
    s.st = good;
    s.st.cursor = (uint32_t)busy;
    s.st.ep[busy].inc = 200;
    assert_int_equal(mon_generate(model, &s.st, &s.p, &s.r, s.t_us, 1, &s.ev), BM_ESTATE);
    s.st = good;
    stream_next(&s);
    stream_free(&s);
}

static void test_generator_state_is_small(void **state)
{
    (void)state;
    print_message("struct mon_state: %zu bytes\n", sizeof(struct mon_state));
    assert_true(sizeof(struct mon_state) <= 32 * 1024);
}

/* ---- cost ---- */

static void test_generator_costs_about_a_microsecond_per_event(void **state)
{
    struct stream s;
    struct timespec a, b;
    double us;
    const int n = 500000;

    (void)state;
    stream_init(&s, 17, 0.02, equal_w, 100, MONDAY_US);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        stream_next(&s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / n;
    print_message("mon_generate: %.3f us/event\n", us);
    assert_true(us < 1000.0); /* a sanity bound only: sanitizer builds run here too */
    stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_same_seed_gives_identical_bytes),
        cmocka_unit_test(test_generator_restored_state_continues_the_same_stream),
        cmocka_unit_test(test_generator_events_have_every_field_in_order_with_right_types),
        cmocka_unit_test(test_generator_type_names_follow_the_config_weight_order),
        cmocka_unit_test(test_generator_samples_every_series_in_a_fixed_cycle),
        cmocka_unit_test(test_generator_injection_starts_at_the_next_sample),
        cmocka_unit_test(test_generator_normal_values_move_smoothly),
        cmocka_unit_test(test_generator_load_follows_the_traffic_curve),
        cmocka_unit_test(test_generator_disks_fill_slowly),
        cmocka_unit_test(test_generator_fraction_holds_at_every_rate),
        cmocka_unit_test(test_generator_type_shares_follow_the_weights),
        cmocka_unit_test(test_generator_zero_rate_or_zero_weights_give_no_anomalies),
        cmocka_unit_test(test_generator_infeasible_rate_does_not_leave_a_burst),
        cmocka_unit_test(test_generator_anomalies_have_their_shapes_at_100_per_second),
        cmocka_unit_test(test_generator_cascade_onsets_within_a_minute_at_one_per_second),
        cmocka_unit_test(test_generator_severity_does_not_reveal_the_label),
        cmocka_unit_test(test_generator_look_alikes_meet_no_rule),
        cmocka_unit_test(test_generator_failed_append_changes_nothing),
        cmocka_unit_test(test_generator_rejects_corrupt_state),
        cmocka_unit_test(test_generator_state_is_small),
        cmocka_unit_test(test_generator_costs_about_a_microsecond_per_event),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
