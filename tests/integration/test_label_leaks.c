/* test_label_leaks.c - no field but a type's own measurement gives the
 * label away (SPEC §5, issue 15 item 2).
 *
 * Each service backfills about 100,000 events (20,000 at
 * BM_TEST_SCALE=small) from a fixed seed and start; the test pages them
 * as a client would and, for every field that is not ground truth
 * (nested objects flattened: location.city), finds the best single-field
 * rule for is_anomaly: each value (== v) and, for numbers, each threshold
 * (>= t, <= t) over the sorted distinct values. No rule may reach F1 >=
 * 0.8, nor precision 1.0 at recall >= 0.5, except on the measurements that
 * define a type, named per service below. The best rule of every field is
 * printed, so a failure shows its figures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "harness.h"

#define MAX_COLS   64
#define DICT_BITS  18 /* distinct strings per field: 100k events fit */
#define F1_LIMIT   0.8
#define RECALL_CAP 0.5

/* Ground truth and identifiers: never a rule's input. */
static const char *const skipped[] = {
    "is_anomaly", "anomaly_type", "incident_id", "sequence", "timestamp", "event_id",
    "transaction_id", NULL,
};

struct cat {
    char *s; /* NULL: free slot */
    long n, tp;
};

struct numv {
    double v;
    uint8_t y;
};

/* One flattened field over all events. */
struct col {
    char name[96];
    struct cat *dict; /* strings, booleans and null as text */
    long n_cat;
    struct numv *num;
    long n_num, cap_num;
};

struct table {
    struct col col[MAX_COLS];
    int n_col;
    long n, pos; /* events, of which anomalous */
};

/* The best rule found for one field. */
struct best {
    double f1, p, r;
    char rule[128];
    double p1_recall; /* the highest recall of a rule with precision 1.0 */
    char p1_rule[128];
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static struct col *col_of(struct table *t, const char *name)
{
    for (int i = 0; i < t->n_col; i++)
        if (strcmp(t->col[i].name, name) == 0)
            return &t->col[i];
    assert_true(t->n_col < MAX_COLS);
    snprintf(t->col[t->n_col].name, sizeof t->col[0].name, "%s", name);
    return &t->col[t->n_col++];
}

static void add_cat(struct col *c, const char *s, int y)
{
    size_t mask = ((size_t)1 << DICT_BITS) - 1, i;

    if (!c->dict) {
        c->dict = calloc(mask + 1, sizeof *c->dict);
        assert_non_null(c->dict);
    }
    for (i = (size_t)hash_str(s) & mask; c->dict[i].s; i = (i + 1) & mask)
        if (strcmp(c->dict[i].s, s) == 0)
            break;
    if (!c->dict[i].s) {
        assert_true(++c->n_cat < (long)(mask / 2));
        c->dict[i].s = strdup(s);
        assert_non_null(c->dict[i].s);
    }
    c->dict[i].n++;
    c->dict[i].tp += y;
}

static void add_num(struct col *c, double v, int y)
{
    if (c->n_num == c->cap_num) {
        c->cap_num = c->cap_num ? 2 * c->cap_num : 4096;
        c->num = realloc(c->num, (size_t)c->cap_num * sizeof *c->num);
        assert_non_null(c->num);
    }
    c->num[c->n_num].v = v;
    c->num[c->n_num++].y = (uint8_t)y;
}

static bool is_skipped(const char *name)
{
    for (int i = 0; skipped[i]; i++)
        if (strcmp(skipped[i], name) == 0)
            return true;
    return false;
}

static void add_fields(struct table *t, const cJSON *o, const char *prefix, int y)
{
    const cJSON *f;

    cJSON_ArrayForEach(f, o) {
        char name[96];

        snprintf(name, sizeof name, "%s%s", prefix, f->string);
        if (!*prefix && is_skipped(name))
            continue;
        if (cJSON_IsObject(f)) {
            char sub[sizeof name + 1];

            snprintf(sub, sizeof sub, "%s.", name);
            add_fields(t, f, sub, y);
        } else if (cJSON_IsNumber(f)) {
            add_num(col_of(t, name), f->valuedouble, y);
        } else if (cJSON_IsString(f)) {
            add_cat(col_of(t, name), f->valuestring, y);
        } else {
            add_cat(col_of(t, name), cJSON_IsTrue(f) ? "true" : cJSON_IsFalse(f) ? "false" : "null",
                    y);
        }
    }
}

/* ---- scoring ---- */

static void consider(struct best *b, const struct table *t, long tp, long n, const char *fmt,
                     ...)
{
    double p, r, f1;
    va_list ap;

    if (tp == 0 || n == 0)
        return;
    p = (double)tp / (double)n;
    r = (double)tp / (double)t->pos;
    f1 = 2 * p * r / (p + r);
    if (f1 > b->f1) {
        b->f1 = f1;
        b->p = p;
        b->r = r;
        va_start(ap, fmt);
        vsnprintf(b->rule, sizeof b->rule, fmt, ap);
        va_end(ap);
    }
    if (tp == n && r > b->p1_recall) {
        b->p1_recall = r;
        va_start(ap, fmt);
        vsnprintf(b->p1_rule, sizeof b->p1_rule, fmt, ap);
        va_end(ap);
    }
}

static int cmp_numv(const void *a, const void *b)
{
    double x = ((const struct numv *)a)->v, y = ((const struct numv *)b)->v;

    return x < y ? -1 : x > y;
}

static void score_numbers(const struct table *t, struct col *c, struct best *b)
{
    long tp = 0, n = 0, below_tp = 0;

    qsort(c->num, (size_t)c->n_num, sizeof *c->num, cmp_numv);
    for (long i = 0; i < c->n_num; i++)
        below_tp += c->num[i].y;
    /* ascending: <= v; the complement over the numbers: >= next v */
    for (long i = 0; i < c->n_num;) {
        long j = i, run_tp = 0;
        double v = c->num[i].v;

        while (j < c->n_num && c->num[j].v == v)
            run_tp += c->num[j++].y;
        consider(b, t, run_tp, j - i, "== %.6g", v);
        consider(b, t, below_tp - tp, c->n_num - n, ">= %.6g", v);
        tp += run_tp;
        n += j - i;
        consider(b, t, tp, n, "<= %.6g", v);
        i = j;
    }
}

static void score_col(const struct table *t, struct col *c, struct best *b)
{
    memset(b, 0, sizeof *b);
    if (c->num)
        score_numbers(t, c, b);
    if (!c->dict)
        return;
    for (size_t i = 0; i < ((size_t)1 << DICT_BITS); i++)
        if (c->dict[i].s)
            consider(b, t, c->dict[i].tp, c->dict[i].n, "== \"%s\"", c->dict[i].s);
}

static void table_free(struct table *t)
{
    for (int i = 0; i < t->n_col; i++) {
        struct col *c = &t->col[i];

        if (c->dict)
            for (size_t k = 0; k < ((size_t)1 << DICT_BITS); k++)
                free(c->dict[k].s);
        free(c->dict);
        free(c->num);
    }
    memset(t, 0, sizeof *t);
}

/* ---- a service ---- */

struct subject {
    const char *binary, *list, *tag;
    const char *backfill, *backfill_small;
    /* fields that define a type: exempt ("location." exempts the object) */
    const char *const *exempt;
};

static bool is_exempt(const struct subject *sj, const char *name)
{
    for (int i = 0; sj->exempt[i]; i++) {
        size_t n = strlen(sj->exempt[i]);

        if (sj->exempt[i][n - 1] == '.' ? strncmp(name, sj->exempt[i], n) == 0
                                        : strcmp(name, sj->exempt[i]) == 0)
            return true;
    }
    return false;
}

/* Pages the list from sequence 1 up to head into t. */
static void read_events(struct table *t, int port, const char *list, long long head)
{
    long long since = 0;

    while (since < head) {
        char path[128];
        struct resp r;
        cJSON *page, *e;

        snprintf(path, sizeof path, "%s?since=%lld&limit=%d", list, since, LIST_PAGE);
        page = h_get_page(port, path, &r);
        cJSON_ArrayForEach(e, h_events_of(page)) {
            int y = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly"));

            if (h_jnum(e, "sequence") > head)
                break;
            t->n++;
            t->pos += y;
            add_fields(t, e, "", y);
        }
        since = h_jnum(page, "next_since");
        cJSON_Delete(page);
        h_resp_free(&r);
    }
}

static void check_service(const struct subject *sj)
{
    static struct table t;
    struct proc *p = &h_procs[0];
    const char *args[] = { "--seed", "5", "--start-time", "2026-01-05T09:00:00Z", "--backfill",
                           h_test_scale_small() ? sj->backfill_small : sj->backfill, NULL };
    long long head;
    int leaks = 0;

    h_proc_start_backfilled(p, sj->tag, sj->binary, NULL, args, 120000);
    head = h_health_head(p->port);
    memset(&t, 0, sizeof t);
    read_events(&t, p->port, sj->list, head);
    h_proc_finish(p);
    print_message("%s: %ld events, %ld anomalous\n", sj->binary, t.n, t.pos);
    assert_true(t.n >= (h_test_scale_small() ? 15000 : 90000));
    assert_true(t.pos > 100);
    for (int i = 0; i < t.n_col; i++) {
        struct best b;
        bool exempt = is_exempt(sj, t.col[i].name);
        bool leak;

        score_col(&t, &t.col[i], &b);
        leak = b.f1 >= F1_LIMIT || b.p1_recall >= RECALL_CAP;
        print_message("  %-22s %-30s F1 %.3f P %.3f R %.3f%s\n", t.col[i].name, b.rule, b.f1,
                      b.p, b.r, exempt ? " (defines a type: exempt)" : "");
        if (b.p1_recall > 0)
            print_message("  %-22s %-30s precision 1.0 at R %.3f\n", "", b.p1_rule,
                          b.p1_recall);
        if (leak && !exempt) {
            print_message("  LEAK: %s %s gives is_anomaly away (F1 %.3f, P %.3f, R %.3f; "
                          "precision 1.0 up to recall %.3f)\n",
                          t.col[i].name, b.rule, b.f1, b.p, b.r, b.p1_recall);
            leaks++;
        }
    }
    table_free(&t);
    if (leaks)
        fail_msg("%s: %d field(s) give the label away (see LEAK above)", sj->binary, leaks);
}

static const char *const txn_exempt[] = { "amount", NULL };
static const char *const auth_exempt[] = { "result", "location.", NULL };
static const char *const mon_exempt[] = { "metric_value", NULL };

static void test_transaction_fields_do_not_give_the_label_away(void **state)
{
    /* about 150 events a second in the morning peak */
    static const struct subject sj = { "transaction-service", "/transactions/events",
                                       "leak-txn", "11m", "150s", txn_exempt };

    (void)state;
    check_service(&sj);
}

static void test_auth_fields_do_not_give_the_label_away(void **state)
{
    static const struct subject sj = { "auth-service", "/auth/events", "leak-auth", "11m",
                                       "150s", auth_exempt };

    (void)state;
    check_service(&sj);
}

/* severity is not exempt: it follows the value against published
 * thresholds, and normal look-alikes reach warning and critical */
static void test_monitoring_fields_do_not_give_the_label_away(void **state)
{
    static const struct subject sj = { "monitoring-service", "/metrics/events", "leak-mon",
                                       "17m", "210s", mon_exempt };

    (void)state;
    check_service(&sj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_monitoring_fields_do_not_give_the_label_away,
                                        h_procs_setup, h_procs_teardown),
        cmocka_unit_test_setup_teardown(test_transaction_fields_do_not_give_the_label_away,
                                        h_procs_setup, h_procs_teardown),
        cmocka_unit_test_setup_teardown(test_auth_fields_do_not_give_the_label_away,
                                        h_procs_setup, h_procs_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
