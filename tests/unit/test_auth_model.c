/* test_auth_model.c - the auth population, places, distances and the
 * travel rule, POST /auth validation and the labelling of API logins. */
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

#include "auth.h"
#include "auth_internal.h"
#include "json.h"

#define T0_US 1767614400000000LL /* 2026-01-05T12:00:00Z */

static struct auth_model *model;

static int setup(void **state)
{
    (void)state;
    model = auth_model_new(42);
    return model ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    auth_model_free(model);
    return 0;
}

/* ---- population ---- */

static void test_model_population_is_deterministic_in_seed(void **state)
{
    struct auth_model *a = auth_model_new(7), *b = auth_model_new(7), *c = auth_model_new(8);

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(auth_model_users(a), AUTH_N_USERS);
    assert_memory_equal(a->users, b->users, AUTH_N_USERS * sizeof *a->users);
    assert_memory_equal(a->prob, b->prob, AUTH_N_USERS * sizeof *a->prob);
    assert_memory_equal(a->alias, b->alias, AUTH_N_USERS * sizeof *a->alias);
    assert_true(memcmp(a->users, c->users, AUTH_N_USERS * sizeof *a->users) != 0);
    auth_model_free(a);
    auth_model_free(b);
    auth_model_free(c);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static void test_model_ids_and_usernames_are_unique_and_well_formed(void **state)
{
    uint32_t *nums = malloc(model->n_users * sizeof *nums);

    (void)state;
    assert_non_null(nums);
    for (uint32_t i = 0; i < model->n_users; i++) {
        const char *name = model->users[i].username;
        size_t n = strlen(name);

        nums[i] = model->users[i].num;
        assert_true(nums[i] >= 100000 && nums[i] <= 999999);
        assert_true(n >= 3 && n < sizeof model->users[i].username);
        for (size_t k = 0; k < n; k++)
            assert_true((name[k] >= 'a' && name[k] <= 'z') || (name[k] >= '0' && name[k] <= '9') ||
                        name[k] == '.');
        /* the lookup finds every user, and only by its exact name */
        assert_int_equal(auth_find_user(model, name), i);
    }
    qsort(nums, model->n_users, sizeof *nums, cmp_u32);
    for (uint32_t i = 1; i < model->n_users; i++)
        assert_true(nums[i] != nums[i - 1]);
    for (uint32_t i = 1; i < model->n_users; i++) /* by_name is sorted: names unique */
        assert_true(strcmp(model->users[model->by_name[i - 1]].username,
                           model->users[model->by_name[i]].username) < 0);
    assert_int_equal(auth_find_user(model, "no.such.user.here"), -1);
    assert_int_equal(auth_find_user(model, ""), -1);
    free(nums);
}

static bool public_ip(uint32_t ip)
{
    uint32_t a = ip >> 24, b = ip >> 16 & 0xff, d = ip & 0xff;

    return a != 0 && a != 10 && a != 127 && a < 224 && !(a == 172 && b >= 16 && b < 32) &&
           !(a == 192 && b == 168) && !(a == 100 && b >= 64 && b < 128) && b != 0 && d != 0 &&
           d != 255;
}

static void test_model_users_have_devices_addresses_homes_and_hours(void **state)
{
    int never = 0, two_devices = 0, work = 0;

    (void)state;
    for (uint32_t i = 0; i < model->n_users; i++) {
        const struct auth_user *us = &model->users[i];
        const struct auth_city *c = &auth_cities[us->city];

        assert_true(us->city < AUTH_N_CITIES && c->home > 0);
        /* home within ~15 km of the city's centre */
        assert_true(auth_distance_km(us->home_lat, us->home_lon, c->lat, c->lon) < 16.0);
        assert_true(us->ndev == 1 || us->ndev == 2);
        two_devices += us->ndev == 2;
        for (int k = 0; k < 2; k++) {
            assert_true(us->dev_type[k] < AUTH_D_COUNT && us->dev_os[k] < AUTH_N_OS);
            assert_int_equal(auth_os_table[us->dev_os[k]].type, us->dev_type[k]);
        }
        assert_true(us->dev_type[0] != us->dev_type[1]);
        assert_true(public_ip(us->home_ip));
        assert_true(public_ip(us->carrier | 0x0101u));
        assert_int_equal(us->carrier & 0xffffu, 0);
        if (us->work_ip) {
            work++;
            assert_true(public_ip(us->work_ip));
        }
        assert_false(auth_is_datacenter(us->home_ip));
        assert_true(us->hour_lo < us->hour_hi && us->hour_hi <= 24);
        assert_true(us->phase < 10 && us->trip_pm <= 400);
        never += us->trip_pm == 0;
    }
    /* a third never travel, so someone can always log in */
    assert_true(never >= (int)model->n_users / 3);
    assert_true(two_devices > 5000 && two_devices < 7000);
    assert_true(work > 2000 && work < 3000);
}

static void test_model_unknown_usernames_never_name_a_user(void **state)
{
    char name[AUTH_USERNAME_MAX + 1];
    uint64_t space = auth_unknown_space();

    (void)state;
    assert_true(space > 1000000);
    for (uint64_t k = 0; k < space; k += 7) {
        auth_unknown_username(k, name, sizeof name);
        assert_true(strchr(name, '_') || strchr(name, '@'));
        assert_true(strlen(name) >= 4 && strlen(name) < 48);
        if (k % 97 == 0)
            assert_int_equal(auth_find_user(model, name), -1);
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A stuffing list walks these with a stride: distinct k, distinct names. */
static void test_model_unknown_usernames_are_distinct(void **state)
{
    const uint64_t space = auth_unknown_space(), n = 200000;
    char *names = malloc(n * 48);
    const char **sorted = malloc(n * sizeof *sorted);

    (void)state;
    assert_non_null(names);
    assert_non_null(sorted);
    for (uint64_t i = 0; i < n; i++) {
        auth_unknown_username(i * (space / n) + i % 97, names + i * 48, 48);
        sorted[i] = names + i * 48;
    }
    qsort(sorted, n, sizeof *sorted, cmp_name);
    for (uint64_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            fail_msg("%s twice", sorted[i]);
    free(sorted);
    free(names);
}

static void test_model_stays_small(void **state)
{
    size_t bytes = sizeof *model +
                   model->n_users * (sizeof *model->users + 3 * sizeof(uint32_t));

    (void)state;
    assert_true(bytes < 1024 * 1024);
}

/* ---- places and the travel rule ---- */

static void test_distance_matches_known_great_circles(void **state)
{
    (void)state;
    /* New York - London 5,570 km; Los Angeles - Tokyo 8,815 km */
    assert_true(fabs(auth_distance_km(40.7128, -74.0060, 51.5074, -0.1278) - 5570) < 15);
    assert_true(fabs(auth_distance_km(34.0522, -118.2437, 35.6762, 139.6503) - 8815) < 25);
    assert_true(auth_distance_km(10, 20, 10, 20) == 0.0);
    /* antipodes: half the circumference */
    assert_true(fabs(auth_distance_km(0, 0, 0, 180) - 20015.1) < 1.0);
    assert_true(AUTH_TRAVEL_SPAN_MS / 3600000.0 * AUTH_TRAVEL_MAX_KMH >= 20015.1);
}

static void test_travel_rule_needs_500_km_and_over_1000_kmh(void **state)
{
    (void)state;
    assert_true(auth_impossible_travel(600.0, 30 * 60000));      /* 1,200 km/h */
    assert_false(auth_impossible_travel(600.0, 36 * 60000));     /* exactly 1,000 */
    assert_false(auth_impossible_travel(600.0, 60 * 60000));     /* 600 km/h */
    assert_false(auth_impossible_travel(499.9, 1));              /* too near */
    assert_true(auth_impossible_travel(500.0, 0));               /* dt 0: infinite */
    assert_true(auth_impossible_travel(800.0, -5));
    assert_false(auth_impossible_travel(400.0, 0));
    assert_false(auth_impossible_travel(NAN, 0));
}

static void test_every_city_is_well_formed(void **state)
{
    int homes = 0, attack = 0;

    (void)state;
    for (int c = 0; c < AUTH_N_CITIES; c++) {
        const struct auth_city *ci = &auth_cities[c];

        assert_int_equal(strlen(ci->country), 2);
        assert_true(ci->country[0] >= 'A' && ci->country[0] <= 'Z');
        assert_true(fabs(ci->lat) <= 90 && fabs(ci->lon) <= 180);
        assert_true(ci->region < AUTH_RG_COUNT);
        homes += ci->home > 0;
        attack += ci->attack;
        /* wherever a user is, attackers far enough for an unusual_location */
        if (ci->home || ci->travel) {
            int far = 0;

            for (int a = 0; a < model->n_attack; a++)
                far += model->dist[c][model->attack[a]] >= 3000.0f;
            assert_true(far >= 3);
        }
    }
    assert_true(homes >= 30 && attack >= 10);
    for (int c = 0; c < AUTH_N_CITIES; c++) {
        double km;

        assert_int_equal(auth_nearest_city(auth_cities[c].lat, auth_cities[c].lon, &km), c);
        assert_true(km < 1e-6);
    }
}

static void test_ip_and_fingerprint_text(void **state)
{
    char ip[16], fp[65];

    (void)state;
    auth_ip_fmt(0x01020304u, ip);
    assert_string_equal(ip, "1.2.3.4");
    auth_ip_fmt(0xfffefd00u, ip);
    assert_string_equal(ip, "255.254.253.0");
    auth_ip_fmt(0x0a000a64u, ip);
    assert_string_equal(ip, "10.0.10.100");
    auth_fp_fmt(0x0123456789abcdefull, 0xfedcba9876543210ull, fp);
    assert_string_equal(fp, "0123456789abcdeffedcba9876543210");
    for (int i = 0; i < 1000; i++)
        assert_true(auth_is_datacenter(auth_datacenter_block((uint64_t)i * 7919u)));
}

/* ---- POST /auth bodies ---- */

struct bad_body {
    const char *json;
    enum api_err err;
    const char *field;
};

#define OK_REST "\"result\":\"success\",\"ip_address\":\"1.2.3.4\""
#define USER "\"username\":\"jsmith\""

static const struct bad_body bad_bodies[] = {
    { "[]", API_BAD_TYPE, "" },
    { "\"x\"", API_BAD_TYPE, "" },
    { "{}", API_BAD_VALUE, "username" },
    { "{" OK_REST "}", API_BAD_VALUE, "username" },
    { "{" USER ",\"ip_address\":\"1.2.3.4\"}", API_BAD_VALUE, "result" },
    { "{" USER ",\"result\":\"success\"}", API_BAD_VALUE, "ip_address" },
    { "{\"username\":5," OK_REST "}", API_BAD_TYPE, "username" },
    { "{\"username\":null," OK_REST "}", API_BAD_TYPE, "username" },
    { "{\"username\":\"\"," OK_REST "}", API_BAD_VALUE, "username" },
    { "{\"username\":\"a b\"," OK_REST "}", API_BAD_VALUE, "username" },
    { "{\"username\":\"a\\\"b\"," OK_REST "}", API_BAD_VALUE, "username" },
    { "{\"username\":\"caf\\u00e9\"," OK_REST "}", API_BAD_VALUE, "username" },
    { "{\"username\":"
      "\"u1234567890123456789012345678901234567890123456789012345678901234\"," OK_REST "}",
      API_BAD_VALUE, "username" },
    { "{" USER ",\"result\":\"ok\",\"ip_address\":\"1.2.3.4\"}", API_BAD_VALUE, "result" },
    { "{" USER ",\"result\":true,\"ip_address\":\"1.2.3.4\"}", API_BAD_TYPE, "result" },
    { "{" USER ",\"result\":null,\"ip_address\":\"1.2.3.4\"}", API_BAD_TYPE, "result" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":\"1.2.3\"}", API_BAD_VALUE,
      "ip_address" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":\"1.2.3.256\"}", API_BAD_VALUE,
      "ip_address" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":\"01.2.3.4\"}", API_BAD_VALUE,
      "ip_address" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":\"1.2.3.4 \"}", API_BAD_VALUE,
      "ip_address" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":\"::1\"}", API_BAD_VALUE, "ip_address" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":\"1.2.3.4.5\"}", API_BAD_VALUE,
      "ip_address" },
    { "{" USER ",\"result\":\"success\",\"ip_address\":16909060}", API_BAD_TYPE, "ip_address" },
    { "{" USER "," OK_REST ",\"customer_id\":\"CUST_12345\"}", API_BAD_VALUE, "customer_id" },
    { "{" USER "," OK_REST ",\"customer_id\":123456}", API_BAD_TYPE, "customer_id" },
    { "{" USER "," OK_REST ",\"failure_reason\":\"invalid_password\"}", API_BAD_VALUE,
      "failure_reason" },
    { "{" USER ",\"result\":\"failure\",\"ip_address\":\"1.2.3.4\",\"failure_reason\":\"typo\"}",
      API_BAD_VALUE, "failure_reason" },
    { "{" USER "," OK_REST ",\"auth_method\":\"sms\"}", API_BAD_VALUE, "auth_method" },
    { "{" USER "," OK_REST ",\"auth_method\":1}", API_BAD_TYPE, "auth_method" },
    { "{" USER "," OK_REST ",\"location\":\"US\"}", API_BAD_TYPE, "location" },
    { "{" USER "," OK_REST ",\"location\":{\"latitude\":1,\"longitude\":2}}", API_BAD_VALUE,
      "location.country" },
    { "{" USER "," OK_REST ",\"location\":{\"country\":\"us\",\"latitude\":1,\"longitude\":2}}",
      API_BAD_VALUE, "location.country" },
    { "{" USER "," OK_REST ",\"location\":{\"country\":\"US\",\"longitude\":2}}", API_BAD_VALUE,
      "location.latitude" },
    { "{" USER "," OK_REST ",\"location\":{\"country\":\"US\",\"latitude\":1}}", API_BAD_VALUE,
      "location.longitude" },
    { "{" USER "," OK_REST
      ",\"location\":{\"country\":\"US\",\"latitude\":\"1\",\"longitude\":2}}",
      API_BAD_TYPE, "location.latitude" },
    { "{" USER "," OK_REST ",\"location\":{\"country\":\"US\",\"latitude\":90.5,\"longitude\":2}}",
      API_BAD_VALUE, "location.latitude" },
    { "{" USER "," OK_REST
      ",\"location\":{\"country\":\"US\",\"latitude\":1,\"longitude\":-180.01}}",
      API_BAD_VALUE, "location.longitude" },
    { "{" USER "," OK_REST
      ",\"location\":{\"country\":\"US\",\"latitude\":1,\"longitude\":2,\"zip\":1}}",
      API_UNKNOWN_FIELD, "location.zip" },
    { "{" USER "," OK_REST
      ",\"location\":{\"country\":\"US\",\"city\":\"\",\"latitude\":1,\"longitude\":2}}",
      API_BAD_VALUE, "location.city" },
    { "{" USER "," OK_REST
      ",\"location\":{\"country\":\"US\",\"latitude\":1,\"latitude\":1,\"longitude\":2}}",
      API_BAD_VALUE, "location.latitude" },
    { "{" USER "," OK_REST ",\"device\":[]}", API_BAD_TYPE, "device" },
    { "{" USER "," OK_REST ",\"device\":{\"type\":\"watch\"}}", API_BAD_VALUE, "device.type" },
    { "{" USER "," OK_REST ",\"device\":{\"fingerprint\":\"a b\"}}", API_BAD_VALUE,
      "device.fingerprint" },
    { "{" USER "," OK_REST ",\"device\":{\"os\":7}}", API_BAD_TYPE, "device.os" },
    { "{" USER "," OK_REST ",\"device\":{\"browser\":\"x\"}}", API_UNKNOWN_FIELD,
      "device.browser" },
    { "{" USER "," OK_REST ",\"is_anomaly\":false}", API_READONLY, "is_anomaly" },
    { "{\"anomaly_type\":null," USER "," OK_REST "}", API_READONLY, "anomaly_type" },
    { "{" USER "," OK_REST ",\"incident_id\":\"x\"}", API_READONLY, "incident_id" },
    { "{" USER "," OK_REST ",\"event_id\":\"x\"}", API_READONLY, "event_id" },
    { "{" USER "," OK_REST ",\"timestamp\":\"x\"}", API_READONLY, "timestamp" },
    { "{" USER "," OK_REST ",\"sequence\":1}", API_READONLY, "sequence" },
    { "{" USER "," OK_REST ",\"origin\":\"api\"}", API_READONLY, "origin" },
    { "{" USER "," OK_REST ",\"risk_score\":0.1}", API_READONLY, "risk_score" },
    { "{" USER "," OK_REST ",\"foo\":1}", API_UNKNOWN_FIELD, "foo" },
    { "{" USER "," OK_REST ",\"Username\":\"x\"}", API_UNKNOWN_FIELD, "Username" },
    { "{" USER "," OK_REST ",\"username\":\"y\"}", API_BAD_VALUE, "username" },
};

static void test_input_rejects_each_bad_body_naming_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        const struct bad_body *b = &bad_bodies[i];
        struct auth_input in;
        struct api_fail f;
        cJSON *body = NULL;

        memset(&f, 0, sizeof f);
        assert_int_equal(json_parse(b->json, strlen(b->json), &body), BM_OK);
        if (auth_input_from_json(body, &in, &f) != BM_EINVAL)
            fail_msg("accepted: %s", b->json);
        if (f.err != b->err || strcmp(f.field, b->field) != 0)
            fail_msg("%s: got %s field '%s' (%s)", b->json, api_error_table[f.err].code, f.field,
                     f.msg);
        cJSON_Delete(body);
    }
}

static void parse_input(const char *json, struct auth_input *in)
{
    struct api_fail f;
    cJSON *body = NULL;

    assert_int_equal(json_parse(json, strlen(json), &body), BM_OK);
    if (auth_input_from_json(body, in, &f) != BM_OK)
        fail_msg("%s rejected: %s %s", json, f.field, f.msg);
    cJSON_Delete(body);
}

static void test_input_accepts_good_bodies_and_keeps_defaults(void **state)
{
    struct auth_input in;

    (void)state;
    parse_input("{" USER "," OK_REST "}", &in);
    assert_string_equal(in.username, "jsmith");
    assert_int_equal(in.result, 0);
    assert_int_equal(in.reason, -1);
    assert_int_equal(in.method, -1);
    assert_false(in.has_location);
    assert_false(in.has_device);
    parse_input("{\"username\":\"Jane.Doe+x@mail-1.com\",\"result\":\"failure\","
                "\"failure_reason\":\"expired_password\",\"auth_method\":\"mfa\","
                "\"ip_address\":\"255.0.10.1\",\"customer_id\":null,"
                "\"location\":{\"country\":\"FR\",\"city\":\"Paris \\\"Centre\\\"\","
                "\"latitude\":48.8566,\"longitude\":2.3522},"
                "\"device\":{\"fingerprint\":\"abc_DEF-1\",\"type\":\"tablet\",\"os\":null}}",
                &in);
    assert_int_equal(in.result, 1);
    assert_int_equal(in.reason, AUTH_R_EXPIRED_PASSWORD);
    assert_int_equal(in.method, AUTH_M_MFA);
    assert_true(in.has_location && in.has_device);
    assert_string_equal(in.city, "Paris \"Centre\"");
    assert_int_equal(in.device_type, AUTH_D_TABLET);
    assert_string_equal(in.os, "");
    parse_input("{" USER "," OK_REST ",\"location\":null,\"device\":null,\"auth_method\":null}",
                &in);
    assert_false(in.has_location);
}

static void test_input_check_rejects_another_users_customer_id(void **state)
{
    const struct auth_user *us = &model->users[17];
    char json[256];
    struct auth_input in;
    struct api_fail f;

    (void)state;
    snprintf(json, sizeof json,
             "{\"username\":\"%s\",\"customer_id\":\"CUST_%06u\"," OK_REST "}", us->username,
             us->num);
    parse_input(json, &in);
    assert_int_equal(auth_input_check(model, &in, &f), BM_OK);
    snprintf(json, sizeof json,
             "{\"username\":\"%s\",\"customer_id\":\"CUST_%06u\"," OK_REST "}", us->username,
             model->users[18].num);
    parse_input(json, &in);
    assert_int_equal(auth_input_check(model, &in, &f), BM_EINVAL);
    assert_string_equal(f.field, "customer_id");
    /* an unknown username may bring any customer id */
    parse_input("{\"username\":\"nobody_x\",\"customer_id\":\"CUST_000001\"," OK_REST "}", &in);
    assert_int_equal(auth_input_check(model, &in, &f), BM_OK);
}

/* ---- labelling API logins ---- */

static cJSON *from_input(const char *json, const struct auth_history *h, struct auth_detail *d)
{
    struct auth_input in;
    struct rng r;
    struct buf b;
    struct gen_event ev = { 0 };
    cJSON *out = NULL;

    parse_input(json, &in);
    rng_seed(&r, 5);
    buf_init(&b, 16 * 1024);
    ev.json = &b;
    assert_int_equal(auth_from_input(model, &in, h, &r, T0_US, 77, &ev, d), BM_OK);
    assert_int_equal(json_parse(b.data, b.len, &out), BM_OK);
    assert_true(ev.detail == d);
    assert_int_equal(ev.seq, 77);
    assert_int_equal(ev.ts_ms, T0_US / 1000);
    assert_int_equal(cJSON_IsTrue(json_get(out, "is_anomaly")), ev.anomaly_type != NULL);
    buf_free(&b);
    return out;
}

static const char *type_of(const cJSON *e)
{
    const cJSON *t = json_get(e, "anomaly_type");

    return cJSON_IsString(t) ? t->valuestring : "";
}

static void test_from_input_labels_unusual_location_by_the_previous_login(void **state)
{
    static const char tokyo[] =
        "{\"username\":\"jsmith\",\"result\":\"success\",\"ip_address\":\"1.2.3.4\","
        "\"location\":{\"country\":\"JP\",\"latitude\":35.6762,\"longitude\":139.6503}}";
    struct auth_history h = { 0 };
    struct auth_detail d;
    cJSON *e;

    (void)state;
    /* no previous login: nothing to compare with */
    e = from_input(tokyo, &h, &d);
    assert_string_equal(type_of(e), "");
    assert_int_equal(d.baseline, 1);
    cJSON_Delete(e);
    /* New York an hour ago: 10,850 km in an hour */
    h.has_prev = true;
    h.prev_lat = 40.7128;
    h.prev_lon = -74.0060;
    h.prev_ts_ms = T0_US / 1000 - 3600 * 1000;
    e = from_input(tokyo, &h, &d);
    assert_string_equal(type_of(e), "unusual_location");
    assert_true(cJSON_IsNull(json_get(e, "incident_id")));
    assert_string_equal(json_get(e, "origin")->valuestring, "api");
    assert_int_equal(d.baseline, 0); /* an anomaly moves no baseline */
    cJSON_Delete(e);
    /* thirteen hours ago: 835 km/h, a flight */
    h.prev_ts_ms = T0_US / 1000 - 13 * 3600 * 1000;
    e = from_input(tokyo, &h, &d);
    assert_string_equal(type_of(e), "");
    cJSON_Delete(e);
    /* the same instant counts as infinitely fast */
    h.prev_ts_ms = T0_US / 1000;
    e = from_input(tokyo, &h, &d);
    assert_string_equal(type_of(e), "unusual_location");
    cJSON_Delete(e);
    /* near the previous login: never */
    h.prev_lat = 35.0;
    h.prev_lon = 139.0;
    e = from_input(tokyo, &h, &d);
    assert_string_equal(type_of(e), "");
    cJSON_Delete(e);
}

static void test_from_input_labels_the_tenth_failure_in_five_minutes_brute_force(void **state)
{
    static const char fail[] =
        "{\"username\":\"jsmith\",\"result\":\"failure\",\"ip_address\":\"1.2.3.4\"}";
    static const char ok[] =
        "{\"username\":\"jsmith\",\"result\":\"success\",\"ip_address\":\"1.2.3.4\"}";
    struct auth_history h = { 0 };
    struct auth_detail d;
    cJSON *e;

    (void)state;
    h.failures = AUTH_BRUTE_MIN_FAILURES - 2;
    e = from_input(fail, &h, &d);
    assert_string_equal(type_of(e), "");
    assert_int_equal(d.failure, 1);
    cJSON_Delete(e);
    h.failures = AUTH_BRUTE_MIN_FAILURES - 1;
    e = from_input(fail, &h, &d);
    assert_string_equal(type_of(e), "brute_force");
    cJSON_Delete(e);
    e = from_input(ok, &h, &d); /* a success is not a failure */
    assert_string_equal(type_of(e), "");
    cJSON_Delete(e);
}

static void test_from_input_fills_user_defaults_and_escapes_client_text(void **state)
{
    const struct auth_user *us = &model->users[3];
    struct auth_history h = { 0 };
    struct auth_detail d;
    char json[512];
    cJSON *e, *loc, *dev;
    char cust[16];

    (void)state;
    snprintf(json, sizeof json,
             "{\"username\":\"%s\",\"result\":\"failure\",\"ip_address\":\"8.8.4.4\"}",
             us->username);
    e = from_input(json, &h, &d);
    snprintf(cust, sizeof cust, "CUST_%06u", us->num);
    assert_string_equal(json_get(e, "customer_id")->valuestring, cust);
    assert_string_equal(json_get(e, "failure_reason")->valuestring, "invalid_password");
    assert_string_equal(json_get(e, "auth_method")->valuestring, "password");
    loc = json_get(e, "location"); /* not given: not made up */
    assert_true(cJSON_IsNull(json_get(loc, "city")) && cJSON_IsNull(json_get(loc, "latitude")));
    assert_int_equal(d.baseline, 0);
    dev = json_get(e, "device");
    assert_true(cJSON_IsNull(json_get(dev, "fingerprint")));
    assert_true(cJSON_IsNumber(json_get(e, "risk_score")));
    cJSON_Delete(e);
    e = from_input("{\"username\":\"ghost_9\",\"result\":\"failure\",\"ip_address\":\"8.8.4.4\","
                   "\"location\":{\"country\":\"US\",\"city\":\"a\\\"b\\\\c\","
                   "\"latitude\":-33.5,\"longitude\":-0.25},"
                   "\"device\":{\"os\":\"Win\\\\dows\"}}",
                   &h, &d);
    assert_true(cJSON_IsNull(json_get(e, "customer_id")));
    assert_string_equal(json_get(e, "failure_reason")->valuestring, "unknown_user");
    loc = json_get(e, "location");
    assert_string_equal(json_get(loc, "city")->valuestring, "a\"b\\c");
    assert_true(json_get(loc, "latitude")->valuedouble == -33.5);
    assert_true(json_get(loc, "longitude")->valuedouble == -0.25);
    assert_string_equal(json_get(json_get(e, "device"), "os")->valuestring, "Win\\dows");
    cJSON_Delete(e);
}

static void test_from_input_failed_append_leaves_rng_unchanged(void **state)
{
    struct auth_input in;
    struct auth_history h = { 0 };
    struct auth_detail d;
    struct rng r, before;
    struct buf b;
    struct gen_event ev = { 0 };

    (void)state;
    parse_input("{" USER "," OK_REST "}", &in);
    rng_seed(&r, 9);
    before = r;
    buf_init(&b, 64);
    ev.json = &b;
    assert_int_not_equal(auth_from_input(model, &in, &h, &r, T0_US, 1, &ev, &d), BM_OK);
    assert_memory_equal(&r, &before, sizeof r);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_population_is_deterministic_in_seed),
        cmocka_unit_test(test_model_ids_and_usernames_are_unique_and_well_formed),
        cmocka_unit_test(test_model_users_have_devices_addresses_homes_and_hours),
        cmocka_unit_test(test_model_unknown_usernames_never_name_a_user),
        cmocka_unit_test(test_model_unknown_usernames_are_distinct),
        cmocka_unit_test(test_model_stays_small),
        cmocka_unit_test(test_distance_matches_known_great_circles),
        cmocka_unit_test(test_travel_rule_needs_500_km_and_over_1000_kmh),
        cmocka_unit_test(test_every_city_is_well_formed),
        cmocka_unit_test(test_ip_and_fingerprint_text),
        cmocka_unit_test(test_input_rejects_each_bad_body_naming_the_field),
        cmocka_unit_test(test_input_accepts_good_bodies_and_keeps_defaults),
        cmocka_unit_test(test_input_check_rejects_another_users_customer_id),
        cmocka_unit_test(test_from_input_labels_unusual_location_by_the_previous_login),
        cmocka_unit_test(test_from_input_labels_the_tenth_failure_in_five_minutes_brute_force),
        cmocka_unit_test(test_from_input_fills_user_defaults_and_escapes_client_text),
        cmocka_unit_test(test_from_input_failed_append_leaves_rng_unchanged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
