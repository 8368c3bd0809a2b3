/* test_incident_api.c - incidents as objects: the incident reads of db.c
 * (list filters and cursor, one by id, its events) and the JSON
 * incident_api_put builds from them (state, times, origin, entities). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "db_fixture.h"
#include "incident_api.h"

#define ID_A "aaaaaaaa-0000-4000-8000-000000000001" /* fraud, 3 events, closed */
#define ID_B "bbbbbbbb-0000-4000-8000-000000000002" /* laundering, 2 events so far, open */
#define ID_C "cccccccc-0000-4000-8000-000000000003" /* high amount, 1 event, injected */

struct fixture {
    struct db_fixture db;
};

static enum bm_rc put(struct db *w, uint64_t seq, const char *type, const char *id,
                      const char *cust, const char *acct, int origin, bool open)
{
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"sequence\":%llu,\"customer_id\":\"%s\",\"account_id\":\"%s\","
                     "\"merchant_id\":null,\"anomaly_type\":%s%s%s}",
                     (unsigned long long)seq, cust, acct, type ? "\"" : "", type ? type : "null",
                     type ? "\"" : "");
    enum bm_rc rc = db_insert_event(w, seq, (int64_t)seq * 1000, type, false, body, (size_t)n);

    if (rc == BM_OK && id)
        rc = db_note_incident_as(w, id, type, origin, seq, (int64_t)seq * 1000, open);
    return rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    bool ok;

    if (!f || db_fixture_open(&f->db, "bminc", NULL) != 0 ||
        db_begin(f->db.w) != BM_OK)
        return -1;
    ok = put(f->db.w, 1, NULL, NULL, "CUST_100001", "ACC1", 0, false) == BM_OK &&
         put(f->db.w, 2, "fraud_pattern", ID_A, "CUST_100002", "ACC2", 0, true) == BM_OK &&
         put(f->db.w, 3, "money_laundering", ID_B, "CUST_100003", "ACC3", 0, true) == BM_OK &&
         put(f->db.w, 4, "fraud_pattern", ID_A, "CUST_100002", "ACC2", 0, true) == BM_OK &&
         put(f->db.w, 5, NULL, NULL, "CUST_100001", "ACC1", 0, false) == BM_OK &&
         put(f->db.w, 6, "fraud_pattern", ID_A, "CUST_100002", "ACC9", 0, false) == BM_OK &&
         put(f->db.w, 7, "suspicious_high_amount", ID_C, "CUST_100004", "ACC4",
             DB_ORIGIN_INJECTED, false) == BM_OK &&
         put(f->db.w, 8, "money_laundering", ID_B, "CUST_100003", "ACC3", 0, true) == BM_OK;
    if (!ok || db_commit(f->db.w) != BM_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    db_fixture_close(&f->db);
    free(f);
    return 0;
}

struct ids {
    int n;
    char id[8][40];
    uint64_t last[8];
};

static enum bm_rc collect(void *ud, const struct db_incident *in)
{
    struct ids *x = ud;

    if (x->n == 8)
        return BM_ETOOBIG;
    snprintf(x->id[x->n], sizeof x->id[x->n], "%s", in->id);
    x->last[x->n++] = in->last_seq;
    return BM_OK;
}

static struct ids list(struct fixture *f, struct db_incident_query q)
{
    struct ids x = { .n = 0 };

    assert_int_equal(db_list_incidents(f->db.w, &q, collect, &x), BM_OK);
    return x;
}

static void test_incident_list_newest_change_first(void **state)
{
    struct ids x = list(*state, (struct db_incident_query){ .limit = 10, .open = -1 });

    assert_int_equal(x.n, 3);
    assert_string_equal(x.id[0], ID_B); /* last event 8 */
    assert_string_equal(x.id[1], ID_C); /* 7 */
    assert_string_equal(x.id[2], ID_A); /* 6 */
}

static void test_incident_list_since_gives_changes_after_the_cursor(void **state)
{
    struct ids x = list(*state, (struct db_incident_query){ .limit = 10, .open = -1,
                                                            .has_since = true, .since = 6 });

    assert_int_equal(x.n, 2);
    assert_string_equal(x.id[0], ID_C);
    assert_string_equal(x.id[1], ID_B);
    x = list(*state, (struct db_incident_query){ .limit = 1, .open = -1, .has_since = true });
    assert_int_equal(x.n, 1);
    assert_string_equal(x.id[0], ID_A);
}

static void test_incident_list_filters_by_type_and_state(void **state)
{
    struct ids x = list(*state, (struct db_incident_query){ .limit = 10, .open = -1,
                                                            .type = "fraud_pattern" });

    assert_int_equal(x.n, 1);
    assert_string_equal(x.id[0], ID_A);
    x = list(*state, (struct db_incident_query){ .limit = 10, .open = 1 });
    assert_int_equal(x.n, 1);
    assert_string_equal(x.id[0], ID_B);
    x = list(*state, (struct db_incident_query){ .limit = 10, .open = 0 });
    assert_int_equal(x.n, 2);
}

/* A type group stands for its members, two or three of them (a group
 * with fewer repeats its last; an unlisted type is not taken). */
static void test_incident_list_takes_a_type_group(void **state)
{
    static const char *const two[] = { "fraud_pattern", "suspicious_high_amount" };
    static const char *const three[] = { "fraud_pattern", "money_laundering",
                                         "suspicious_high_amount" };
    struct ids x = list(*state, (struct db_incident_query){ .limit = 10, .open = -1,
                                                            .type = "grp", .types = two,
                                                            .ntypes = 2 });

    assert_int_equal(x.n, 2);
    assert_string_equal(x.id[0], ID_C);
    assert_string_equal(x.id[1], ID_A);
    x = list(*state, (struct db_incident_query){ .limit = 10, .open = -1, .type = "grp",
                                                 .types = three, .ntypes = 3 });
    assert_int_equal(x.n, 3);
    x = list(*state, (struct db_incident_query){ .limit = 10, .open = 1, .type = "grp",
                                                 .types = three, .ntypes = 3 });
    assert_int_equal(x.n, 1);
    assert_string_equal(x.id[0], ID_B);
    x = list(*state, (struct db_incident_query){ .limit = 10, .open = -1, .type = "grp",
                                                 .types = three + 1, .ntypes = 1 });
    assert_int_equal(x.n, 1);
    assert_string_equal(x.id[0], ID_B);
}

static cJSON *put_json(struct fixture *f, const char *id, bool events)
{
    struct db_incident in;
    bool found = false;
    struct buf b;
    cJSON *j;

    assert_int_equal(db_get_incident(f->db.w, id, &in, &found), BM_OK);
    assert_true(found);
    buf_init(&b, 1 << 20);
    assert_int_equal(incident_api_put(f->db.w, SVC_TRANSACTION, &in, events, &b), BM_OK);
    j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    buf_free(&b);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

    assert_true(cJSON_IsNumber(it));
    return it->valuedouble;
}

static void test_incident_object_has_times_count_and_distinct_entities(void **state)
{
    cJSON *j = put_json(*state, ID_A, false);
    const cJSON *ent = cJSON_GetObjectItemCaseSensitive(j, "entities");
    const cJSON *acct = cJSON_GetObjectItemCaseSensitive(ent, "account_id");

    assert_string_equal(str(j, "incident_id"), ID_A);
    assert_string_equal(str(j, "type"), "fraud_pattern");
    assert_string_equal(str(j, "service"), "transaction-service");
    assert_string_equal(str(j, "state"), "closed");
    assert_string_equal(str(j, "started_at"), "1970-01-01T00:00:02.000Z");
    assert_string_equal(str(j, "ended_at"), "1970-01-01T00:00:06.000Z");
    assert_string_equal(str(j, "origin"), "generated");
    assert_int_equal((int)num(j, "event_count"), 3);
    assert_int_equal((int)num(j, "first_sequence"), 2);
    assert_int_equal((int)num(j, "last_sequence"), 6);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "events"));
    /* one customer over three events; two accounts, each once; a null
     * merchant is no entity */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ent, "customer_id")), 1);
    assert_int_equal(cJSON_GetArraySize(acct), 2);
    assert_string_equal(cJSON_GetArrayItem(acct, 0)->valuestring, "ACC2");
    assert_string_equal(cJSON_GetArrayItem(acct, 1)->valuestring, "ACC9");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ent, "merchant_id")), 0);
    cJSON_Delete(j);
}

static void test_incident_open_has_null_end_and_its_events_in_order(void **state)
{
    cJSON *j = put_json(*state, ID_B, true);
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "events");

    assert_string_equal(str(j, "state"), "open");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "ended_at")));
    assert_int_equal(cJSON_GetArraySize(evs), 2);
    assert_int_equal((int)num(cJSON_GetArrayItem(evs, 0), "sequence"), 3);
    assert_int_equal((int)num(cJSON_GetArrayItem(evs, 1), "sequence"), 8);
    cJSON_Delete(j);
}

static void test_incident_of_one_event_keeps_its_origin(void **state)
{
    cJSON *j = put_json(*state, ID_C, true);

    assert_string_equal(str(j, "origin"), "injected");
    assert_int_equal((int)num(j, "event_count"), 1);
    assert_string_equal(str(j, "started_at"), str(j, "ended_at"));
    cJSON_Delete(j);
}

static void test_incident_unknown_id_is_not_found(void **state)
{
    struct fixture *f = *state;
    struct db_incident in;
    bool found = true;

    assert_int_equal(db_get_incident(f->db.w, "dddddddd-0000-4000-8000-000000000004", &in, &found),
                     BM_OK);
    assert_false(found);
}

static void test_incident_id_check_takes_uuid_characters_only(void **state)
{
    (void)state;
    assert_true(incident_api_id_ok(ID_A));
    assert_false(incident_api_id_ok(""));
    assert_false(incident_api_id_ok("x"));
    assert_false(incident_api_id_ok("aaaaaaaa-0000-4000-8000-0000000000011")); /* 37 */
    assert_false(incident_api_id_ok("a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incident_list_newest_change_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_list_since_gives_changes_after_the_cursor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_list_takes_a_type_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_list_filters_by_type_and_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_incident_object_has_times_count_and_distinct_entities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_open_has_null_end_and_its_events_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_of_one_event_keeps_its_origin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incident_unknown_id_is_not_found, setup, teardown),
        cmocka_unit_test(test_incident_id_check_takes_uuid_characters_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
