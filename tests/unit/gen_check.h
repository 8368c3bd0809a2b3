/* gen_check.h - helpers shared by the generator tests (test_txn_generator.c,
 * test_auth_generator.c, test_mon_generator.c): the test scale and checks
 * of an event's text and of the envelope all events share. Not a module:
 * static inline, each test its own copy. */
#ifndef BM_TESTS_UNIT_GEN_CHECK_H
#define BM_TESTS_UNIT_GEN_CHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

/* BM_TEST_SCALE=small (sanitizer and CI smoke runs): a fifth of the
 * events; the bounds scale with n. */
static inline int scaled(int n)
{
    const char *s = getenv("BM_TEST_SCALE");

    return s && strcmp(s, "small") == 0 ? n / 5 : n;
}

/* A string member of o, NULL if absent or not a string. */
static inline const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static inline bool one_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

/* d: digit, h: lower-case hex, U: upper-case letter, else itself. */
static inline bool matches(const char *s, const char *pattern)
{
    if (!s)
        return false;
    for (; *pattern; s++, pattern++) {
        bool ok = *pattern == 'd'   ? *s >= '0' && *s <= '9'
                  : *pattern == 'h' ? (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')
                  : *pattern == 'U' ? *s >= 'A' && *s <= 'Z'
                                    : *s == *pattern;

        if (!ok)
            return false;
    }
    return *s == '\0';
}

#define UUID_PATTERN "hhhhhhhh-hhhh-4hhh-hhhh-hhhhhhhhhhhh"

/* The envelope every generated event opens with (jw_event_head): exactly
 * the members `order` in that order, a UUID v4 under id_key, an ISO 8601
 * UTC timestamp in ms, the sequence seq. */
static inline void check_envelope_head(const cJSON *ev, const char *const *order, int n,
                                       const char *id_key, uint64_t seq)
{
    const cJSON *it;
    int i = 0;

    assert_non_null(ev);
    for (it = ev->child; it; it = it->next, i++) {
        assert_true(i < n);
        assert_string_equal(it->string, order[i]);
    }
    assert_int_equal(i, n);
    assert_true(matches(str_of(ev, id_key), UUID_PATTERN));
    assert_true(matches(str_of(ev, "timestamp"), "dddd-dd-ddTdd:dd:dd.dddZ"));
    it = cJSON_GetObjectItemCaseSensitive(ev, "sequence");
    assert_true(cJSON_IsNumber(it) && it->valuedouble == (double)seq);
}

/* ... and closes with (jw_event_tail): is_anomaly; anomaly_type one of
 * types[n] or null; incident_id a UUID v4 for an anomaly (null for the
 * one-event type `single`, NULL if none) and null otherwise; origin
 * "generated". */
static inline void check_envelope_tail(const cJSON *ev, const char *const *types, int n,
                                       const char *single)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(ev, "is_anomaly");
    const char *atype = str_of(ev, "anomaly_type");

    assert_true(cJSON_IsBool(it));
    if (cJSON_IsTrue(it)) {
        assert_true(one_of(atype, types, n));
        if (single && strcmp(atype, single) == 0)
            assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ev, "incident_id")));
        else
            assert_true(matches(str_of(ev, "incident_id"), UUID_PATTERN));
    } else {
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ev, "anomaly_type")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ev, "incident_id")));
    }
    assert_string_equal(str_of(ev, "origin"), "generated");
}

#endif
