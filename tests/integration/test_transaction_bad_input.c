/* test_transaction_bad_input.c - transaction-service under bad input of
 * every kind: each answer has the documented status, error body and
 * headers, and no bad request changes the service's state (SPEC §4 "no
 * input can crash a daemon ... or change its state partially"). */
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

#define BODY_MAX (64 * 1024)
#define FUZZ_ITERATIONS 200

static const char *const live_args[] = { "--seed", "5", NULL };

/* The slots' teardown, and ADMIN_TOKEN unset: an assertion may end
 * test_admin_token_guards_every_post_and_leaves_gets_open while it is set. */
static int badin_teardown(void **state)
{
    h_procs_teardown(state);
    unsetenv("ADMIN_TOKEN");
    return 0;
}

/* Header sets. libcurl adds a form Content-Type to every POST with a body;
 * "Content-Type:" (no value) makes it send none at all. */
static const char *const ct_json[] = { "Content-Type: application/json", NULL };
static const char *const ct_json_mixed[] = { "Content-Type: Application/JSON; charset=UTF-8",
                                             NULL };
static const char *const ct_text[] = { "Content-Type: text/plain", NULL };
static const char *const ct_none[] = { "Content-Type:", NULL };
static const char *const ct_form[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
static const char *const ct_jsonp[] = { "Content-Type: application/jsonp", NULL };
static const char *const ct_json_chunked[] = { "Content-Type: application/json",
                                               "Transfer-Encoding: chunked", NULL };

/* Built at run time: bodies at and past the 64 KiB cap, deep nesting. */
static char body_at_cap[BODY_MAX + 1];
static char body_over_cap[BODY_MAX + 2];
static char body_deep[128];

struct row {
    const char *what;
    const char *method;
    const char *path;
    const char *const *hdrs;
    const char *body;  /* NULL: no body */
    long status;
    const char *code;  /* NULL: a success whose body is the unchanged config */
    const char *field; /* NULL: "field" must be null; "a|b": either name */
    const char *allow; /* 405: methods the Allow header must list */
    long alt_status;   /* another acceptable status (its code among `code`), 0: none */
};

#define CFG(what, body, st, code, field) \
    { what, "POST", "/config", ct_json, body, st, code, field, NULL, 0 }
#define TXN(what, body, st, code, field) \
    { what, "POST", "/transactions", ct_json, body, st, code, field, NULL, 0 }
#define QRY(what, query, field) \
    { what, "GET", "/transactions/events?" query, NULL, NULL, 400, "invalid_parameter", \
      field, NULL, 0 }
#define TXN_OK "\"customer_id\":\"CUST_123456\",\"amount\":10,\"transaction_type\":\"purchase\""

static const struct row rows[] = {
    /* unparseable JSON: 400 */
    CFG("missing colon", "{\"anomaly_rate\" 0.1}", 400, "invalid_json", NULL),
    CFG("unquoted key", "{anomaly_rate:0.1}", 400, "invalid_json", NULL),
    CFG("single quotes", "{'anomaly_rate':0.1}", 400, "invalid_json", NULL),
    CFG("trailing comma", "{\"anomaly_rate\":0.1,}", 400, "invalid_json", NULL),
    CFG("NaN literal", "{\"anomaly_rate\":NaN}", 400, "invalid_json", NULL),
    CFG("leading zero", "{\"anomaly_rate\":00.1}", 400, "invalid_json", NULL),
    CFG("hex number", "{\"retention_events\":0x1000}", 400, "invalid_json", NULL),
    CFG("truncated after colon", "{\"anomaly_rate\":", 400, "invalid_json", NULL),
    CFG("truncated before brace", "{\"anomaly_rate\":0.1", 400, "invalid_json", NULL),
    CFG("truncated number", "{\"anomaly_rate\":0.", 400, "invalid_json", NULL),
    CFG("truncated key", "{\"anomaly_ra", 400, "invalid_json", NULL),
    CFG("lone brace", "{", 400, "invalid_json", NULL),
    CFG("trailing garbage", "{\"anomaly_rate\":0.1}x", 400, "invalid_json", NULL),
    CFG("two objects", "{\"anomaly_rate\":0.1}{\"paused\":true}", 400, "invalid_json", NULL),
    CFG("trailing comment", "{\"anomaly_rate\":0.1} // why", 400, "invalid_json", NULL),
    CFG("invalid UTF-8 key", "{\"\xff\xfe\":1}", 400, "invalid_json", NULL),
    CFG("raw control byte in string", "{\"a\x01\":1}", 400, "invalid_json", NULL),
    CFG("escaped NUL in key", "{\"anomaly_rate\\u0000\":0.1}", 400, "invalid_json", NULL),
    CFG("nesting too deep", body_deep, 400, "invalid_json", NULL),
    CFG("whitespace only", "   \n", 400, "invalid_json", NULL),
    CFG("empty body", "", 400, "invalid_json", NULL),
    { "empty body, no Content-Length", "POST", "/config", ct_json, NULL, 400, "invalid_json",
      NULL, NULL, 0 },

    /* well-formed but not an object: 422 */
    CFG("array", "[]", 422, "invalid_type", NULL),
    CFG("number", "3", 422, "invalid_type", NULL),
    CFG("string", "\"x\"", 422, "invalid_type", NULL),
    CFG("null", "null", 422, "invalid_type", NULL),
    CFG("true", "true", 422, "invalid_type", NULL),
    CFG("array of the object", "[{\"anomaly_rate\":0.1}]", 422, "invalid_type", NULL),

    /* wrong types */
    CFG("rate as string", "{\"anomaly_rate\":\"0.1\"}", 422, "invalid_type", "anomaly_rate"),
    CFG("rate null", "{\"anomaly_rate\":null}", 422, "invalid_type", "anomaly_rate"),
    CFG("rate array", "{\"anomaly_rate\":[0.1]}", 422, "invalid_type", "anomaly_rate"),
    CFG("rate object", "{\"anomaly_rate\":{}}", 422, "invalid_type", "anomaly_rate"),
    CFG("paused as 1", "{\"paused\":1}", 422, "invalid_type", "paused"),
    CFG("paused as string", "{\"paused\":\"true\"}", 422, "invalid_type", "paused"),
    CFG("retention fractional", "{\"retention_events\":1.5}", 422, "invalid_type",
        "retention_events"),
    CFG("retention as string", "{\"retention_events\":\"1000\"}", 422, "invalid_type",
        "retention_events"),
    CFG("rate per second bool", "{\"events_per_second\":true}", 422, "invalid_type",
        "events_per_second"),
    CFG("weight as string", "{\"fraud_pattern_rate\":\"1\"}", 422, "invalid_type",
        "fraud_pattern_rate"),

    /* out of range */
    CFG("rate below 0", "{\"anomaly_rate\":-0.1}", 422, "invalid_value", "anomaly_rate"),
    CFG("rate above 0.5", "{\"anomaly_rate\":0.51}", 422, "invalid_value", "anomaly_rate"),
    CFG("eps 0", "{\"events_per_second\":0}", 422, "invalid_value", "events_per_second"),
    CFG("eps 0.001", "{\"events_per_second\":0.001}", 422, "invalid_value", "events_per_second"),
    CFG("eps 5001", "{\"events_per_second\":5001}", 422, "invalid_value", "events_per_second"),
    CFG("retention 999", "{\"retention_events\":999}", 422, "invalid_value", "retention_events"),
    CFG("retention 1e8+1", "{\"retention_events\":100000001}", 422, "invalid_value",
        "retention_events"),
    CFG("retention negative", "{\"retention_events\":-1000}", 422, "invalid_value",
        "retention_events"),
    CFG("retention 1e300", "{\"retention_events\":1e300}", 422, "invalid_value",
        "retention_events"),
    CFG("weight negative", "{\"fraud_pattern_rate\":-1}", 422, "invalid_value",
        "fraud_pattern_rate"),

    /* all or nothing: a good key before a bad one does not stick */
    CFG("good then out of range", "{\"anomaly_rate\":0.3,\"retention_events\":5}", 422,
        "invalid_value", "retention_events"),
    CFG("good then unknown", "{\"anomaly_rate\":0.3,\"paused\":true,\"foo\":1}", 422,
        "unknown_field", "foo"),
    CFG("good then wrong type", "{\"events_per_second\":7,\"paused\":\"no\"}", 422,
        "invalid_type", "paused"),

    /* unknown, foreign and static keys */
    CFG("unknown field", "{\"foo\":1}", 422, "unknown_field", "foo"),
    CFG("key case differs", "{\"Anomaly_Rate\":0.1}", 422, "unknown_field", "Anomaly_Rate"),
    CFG("auth service key", "{\"brute_force_rate\":1}", 422, "unknown_field", "brute_force_rate"),
    CFG("auth-only runtime key", "{\"failed_login_rate\":0.1}", 422, "unknown_field",
        "failed_login_rate"),
    CFG("monitoring key", "{\"high_cpu_rate\":1}", 422, "unknown_field", "high_cpu_rate"),
    CFG("monitoring alias", "{\"memory_leak_rate\":1}", 422, "unknown_field", "memory_leak_rate"),
    CFG("static batch_size", "{\"batch_size\":10}", 422, "unknown_field", "batch_size"),
    CFG("static timezone", "{\"timezone\":\"UTC\"}", 422, "unknown_field", "timezone"),
    CFG("process seed", "{\"seed\":1}", 422, "unknown_field", "seed"),
    CFG("process port", "{\"port\":1}", 422, "unknown_field", "port"),
    CFG("process admin_token", "{\"admin_token\":\"x\"}", 422, "unknown_field", "admin_token"),
    CFG("file path, not flat", "{\"generation_settings\":{\"events_per_second\":5}}", 422,
        "unknown_field", "generation_settings"),
    CFG("nested within limits", "{\"a\":[[[[[[[[[[]]]]]]]]]]}", 422, "unknown_field", "a"),

    /* an alias and its key, or a key twice, must agree */
    CFG("alias conflict",
        "{\"suspicious_transaction_rate\":0.001,\"suspicious_high_amount_rate\":0.002}",
        422, "invalid_value", "suspicious_high_amount_rate|suspicious_transaction_rate"),
    CFG("alias conflict reversed",
        "{\"suspicious_high_amount_rate\":0.002,\"suspicious_transaction_rate\":0.003}", 422,
        "invalid_value", "suspicious_high_amount_rate|suspicious_transaction_rate"),
    CFG("key twice, differing", "{\"anomaly_rate\":0.1,\"anomaly_rate\":0.2}", 422,
        "invalid_value", "anomaly_rate"),
    /* type rates are absolute: their sum may not pass anomaly_rate */
    CFG("type rates above anomaly_rate", "{\"anomaly_rate\":0.01,\"fraud_pattern_rate\":0.02}",
        422, "invalid_value", "anomaly_rate"),
    CFG("type rate above one half", "{\"fraud_pattern_rate\":0.6}", 422, "invalid_value",
        "fraud_pattern_rate"),

    /* body size: the cap is 64 KiB, inclusive */
    CFG("body exactly 64 KiB", body_at_cap, 422, "unknown_field", "pad"),
    CFG("body 64 KiB + 1", body_over_cap, 413, "payload_too_large", NULL),
    { "body 64 KiB + 1, chunked", "POST", "/config", ct_json_chunked, body_over_cap, 413,
      "payload_too_large", NULL, NULL, 0 },

    /* media type */
    { "text/plain", "POST", "/config", ct_text, "{\"anomaly_rate\":0.1}", 415,
      "unsupported_media_type", NULL, NULL, 0 },
    { "no Content-Type", "POST", "/config", ct_none, "{\"anomaly_rate\":0.1}", 415,
      "unsupported_media_type", NULL, NULL, 0 },
    { "form Content-Type", "POST", "/config", ct_form, "{\"anomaly_rate\":0.1}", 415,
      "unsupported_media_type", NULL, NULL, 0 },
    { "application/jsonp", "POST", "/config", ct_jsonp, "{\"anomaly_rate\":0.1}", 415,
      "unsupported_media_type", NULL, NULL, 0 },
    { "text/plain on /transactions", "POST", "/transactions", ct_text, "{" TXN_OK "}", 415,
      "unsupported_media_type", NULL, NULL, 0 },

    /* accepted forms that change nothing */
    CFG("empty object", "{}", 200, NULL, NULL),
    CFG("current value again", "{\"anomaly_rate\":0.015}", 200, NULL, NULL),
    { "media type case and charset", "POST", "/config", ct_json_mixed, "{}", 200, NULL, NULL,
      NULL, 0 },

    /* methods */
    { "DELETE /config", "DELETE", "/config", NULL, NULL, 405, "method_not_allowed", NULL,
      "GET,POST", 0 },
    { "PUT /config", "PUT", "/config", ct_json, "{}", 405, "method_not_allowed", NULL,
      "GET,POST", 0 },
    { "PATCH /config", "PATCH", "/config", ct_json, "{}", 405, "method_not_allowed", NULL,
      "GET,POST", 0 },
    { "PUT /transactions", "PUT", "/transactions", ct_json, "{" TXN_OK "}", 405,
      "method_not_allowed", NULL, "POST", 0 },
    { "GET /transactions", "GET", "/transactions", NULL, NULL, 405, "method_not_allowed", NULL,
      "POST", 0 },
    { "POST /health", "POST", "/health", ct_json, "{}", 405, "method_not_allowed", NULL, "GET", 0 },
    { "DELETE /health", "DELETE", "/health", NULL, NULL, 405, "method_not_allowed", NULL, "GET",
      0 },
    { "POST /metrics", "POST", "/metrics", ct_json, "{}", 405, "method_not_allowed", NULL,
      "GET", 0 },
    { "POST /transactions/events", "POST", "/transactions/events", ct_json, "{}", 405,
      "method_not_allowed", NULL, "GET", 0 },

    /* paths */
    { "unknown path", "GET", "/nope", NULL, NULL, 404, "not_found", NULL, NULL, 0 },
    { "root", "GET", "/", NULL, NULL, 404, "not_found", NULL, NULL, 0 },
    { "trailing slash", "GET", "/transactions/events/", NULL, NULL, 404, "not_found", NULL,
      NULL, 0 },
    { "path below an endpoint", "GET", "/config/anomaly_rate", NULL, NULL, 404, "not_found", NULL,
      NULL, 0 },
    { "path case differs", "GET", "/Health", NULL, NULL, 404, "not_found", NULL, NULL, 0 },
    { "gateway path on a service", "GET", "/services/transaction-service/health", NULL, NULL, 404,
      "not_found", NULL, NULL, 0 },
    { "POST to unknown path", "POST", "/nope", ct_json, "{}", 404, "not_found", NULL, NULL, 0 },
    { "other service's list", "GET", "/auth/events", NULL, NULL, 404, "not_found", NULL, NULL, 0 },

    /* query strings */
    QRY("limit 0", "limit=0", "limit"),
    QRY("limit 1001", "limit=1001", "limit"),
    QRY("limit abc", "limit=abc", "limit"),
    QRY("limit negative", "limit=-1", "limit"),
    QRY("limit fractional", "limit=1.5", "limit"),
    QRY("limit plus sign", "limit=%2B5", "limit"),
    QRY("limit empty", "limit=", "limit"),
    QRY("limit without value", "limit", "limit"),
    QRY("limit huge", "limit=99999999999999999999", "limit"),
    QRY("since -1", "since=-1", "since"),
    QRY("since x", "since=x", "since"),
    QRY("since fractional", "since=1.5", "since"),
    QRY("since exponent", "since=1e3", "since"),
    QRY("since empty", "since=", "since"),
    QRY("since overflow", "since=99999999999999999999", "since"),
    QRY("anomalies_only maybe", "anomalies_only=maybe", "anomalies_only"),
    QRY("anomalies_only empty", "anomalies_only=", "anomalies_only"),
    QRY("anomaly_type nope", "anomaly_type=nope", "anomaly_type"),
    QRY("anomaly_type of auth", "anomaly_type=brute_force", "anomaly_type"),
    QRY("anomaly_type case", "anomaly_type=FRAUD_PATTERN", "anomaly_type"),
    QRY("unknown parameter", "foo=1", "foo"),
    QRY("unknown after good ones", "limit=5&since=0&foo=1", "foo"),
    QRY("limit twice", "limit=5&limit=6", "limit"),
    QRY("limit twice, same value", "limit=5&limit=5", "limit"),
    QRY("since twice", "since=1&since=2", "since"),
    { "17 parameters", "GET",
      "/transactions/events?a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1",
      NULL, NULL, 400, "invalid_parameter|bad_request", NULL, NULL, 0 },
    { "parameter on /config", "GET", "/config?x=1", NULL, NULL, 400, "invalid_parameter", "x",
      NULL, 0 },
    { "parameter on /health", "GET", "/health?verbose=1", NULL, NULL, 400, "invalid_parameter",
      "verbose", NULL, 0 },
    { "parameter on POST /config", "POST", "/config?dry_run=1", ct_json, "{\"anomaly_rate\":0.3}",
      400, "invalid_parameter", "dry_run", NULL, 0 },
    { "bad metrics format", "GET", "/metrics?format=xml", NULL, NULL, 400, "invalid_parameter",
      "format", NULL, 0 },

    /* POST /transactions */
    TXN("missing customer_id", "{\"amount\":10,\"transaction_type\":\"purchase\"}", 422,
        "invalid_value", "customer_id"),
    TXN("missing amount", "{\"customer_id\":\"CUST_123456\",\"transaction_type\":\"purchase\"}",
        422, "invalid_value", "amount"),
    TXN("missing transaction_type", "{\"customer_id\":\"CUST_123456\",\"amount\":10}", 422,
        "invalid_value", "transaction_type"),
    TXN("customer_id null",
        "{\"customer_id\":null,\"amount\":10,\"transaction_type\":\"purchase\"}", 422,
        "invalid_type", "customer_id"),
    TXN("customer_id number",
        "{\"customer_id\":123456,\"amount\":10,\"transaction_type\":\"purchase\"}", 422,
        "invalid_type", "customer_id"),
    TXN("customer_id malformed",
        "{\"customer_id\":\"C1\",\"amount\":10,\"transaction_type\":\"purchase\"}", 422,
        "invalid_value", "customer_id"),
    TXN("amount negative",
        "{\"customer_id\":\"CUST_123456\",\"amount\":-5,\"transaction_type\":\"purchase\"}", 422,
        "invalid_value", "amount"),
    TXN("amount zero",
        "{\"customer_id\":\"CUST_123456\",\"amount\":0,\"transaction_type\":\"purchase\"}", 422,
        "invalid_value", "amount"),
    TXN("amount 3 decimals",
        "{\"customer_id\":\"CUST_123456\",\"amount\":1.234,\"transaction_type\":\"purchase\"}",
        422, "invalid_value", "amount"),
    TXN("amount as string",
        "{\"customer_id\":\"CUST_123456\",\"amount\":\"10\",\"transaction_type\":\"purchase\"}",
        422, "invalid_type", "amount"),
    TXN("amount above the cap",
        "{\"customer_id\":\"CUST_123456\",\"amount\":1000000.01,\"transaction_type\":\"purchase\"}",
        422, "invalid_value", "amount"),
    TXN("unknown transaction_type",
        "{\"customer_id\":\"CUST_123456\",\"amount\":10,\"transaction_type\":\"gift\"}", 422,
        "invalid_value", "transaction_type"),
    TXN("transaction_type number",
        "{\"customer_id\":\"CUST_123456\",\"amount\":10,\"transaction_type\":1}", 422,
        "invalid_type", "transaction_type"),
    TXN("channel not allowed for type", "{" TXN_OK ",\"channel\":\"atm\"}", 422, "invalid_value",
        "channel"),
    TXN("currency EUR", "{" TXN_OK ",\"currency\":\"EUR\"}", 422, "invalid_value", "currency"),
    TXN("country not alpha-2", "{" TXN_OK ",\"location\":{\"country\":\"usa\"}}", 422,
        "invalid_value", "location.country"),
    TXN("location as string", "{" TXN_OK ",\"location\":\"US\"}", 422, "invalid_type",
        "location"),
    TXN("unknown location field", "{" TXN_OK ",\"location\":{\"country\":\"US\",\"zip\":\"1\"}}",
        422, "unknown_field", "location.zip"),
    TXN("client is_anomaly", "{" TXN_OK ",\"is_anomaly\":false}", 422, "read_only_field",
        "is_anomaly"),
    TXN("client anomaly_type", "{" TXN_OK ",\"anomaly_type\":null}", 422, "read_only_field",
        "anomaly_type"),
    TXN("client incident_id", "{" TXN_OK ",\"incident_id\":null}", 422, "read_only_field",
        "incident_id"),
    TXN("client transaction_id",
        "{" TXN_OK ",\"transaction_id\":\"3bc0a6a8-1bfb-498b-8266-39ca44426166\"}", 422,
        "read_only_field", "transaction_id"),
    TXN("client sequence", "{" TXN_OK ",\"sequence\":5}", 422, "read_only_field", "sequence"),
    TXN("client timestamp", "{" TXN_OK ",\"timestamp\":\"2026-01-01T00:00:00.000Z\"}", 422,
        "read_only_field", "timestamp"),
    TXN("client origin", "{" TXN_OK ",\"origin\":\"generated\"}", 422, "read_only_field",
        "origin"),
    TXN("client risk_score", "{" TXN_OK ",\"risk_score\":0.1}", 422, "read_only_field",
        "risk_score"),
    TXN("unknown field", "{" TXN_OK ",\"foo\":1}", 422, "unknown_field", "foo"),
    TXN("field twice", "{" TXN_OK ",\"amount\":11}", 422, "invalid_value", "amount"),
    TXN("array body", "[]", 422, "invalid_type", NULL),
    TXN("malformed body", "{\"customer_id\":", 400, "invalid_json", NULL),
    TXN("empty body", "", 400, "invalid_json", NULL),
    TXN("body 64 KiB + 1", body_over_cap, 413, "payload_too_large", NULL),
};

static void build_bodies(void)
{
    static const char pre[] = "{\"pad\":\"";
    size_t n;

    /* {"pad":"aaa...a"} of exactly BODY_MAX and BODY_MAX + 1 bytes */
    n = BODY_MAX - (sizeof(pre) - 1) - 2;
    memcpy(body_at_cap, pre, sizeof(pre) - 1);
    memset(body_at_cap + sizeof(pre) - 1, 'a', n);
    memcpy(body_at_cap + sizeof(pre) - 1 + n, "\"}", 3);
    assert_int_equal(strlen(body_at_cap), BODY_MAX);
    memcpy(body_over_cap, pre, sizeof(pre) - 1);
    memset(body_over_cap + sizeof(pre) - 1, 'a', n + 1);
    memcpy(body_over_cap + sizeof(pre) - 1 + n + 1, "\"}", 3);
    assert_int_equal(strlen(body_over_cap), BODY_MAX + 1);

    /* {"a": followed by 40 nested arrays: past any sane depth limit */
    n = 0;
    memcpy(body_deep, "{\"a\":", 5);
    n = 5;
    for (int i = 0; i < 40; i++)
        body_deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        body_deep[n++] = ']';
    body_deep[n++] = '}';
    body_deep[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* Checks                                                               */

/* "a|b|c" contains s as one of its alternatives. */
static bool alt_match(const char *alts, const char *s)
{
    size_t n = strlen(s);

    for (const char *p = alts; p; p = strchr(p, '|'), p = p ? p + 1 : NULL) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return true;
    }
    return false;
}

/* 1-64 characters of [A-Za-z0-9._-] (SPEC §4). */
static bool rid_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool is_json_ctype(const char *ct)
{
    return strncmp(ct, "application/json", 16) == 0 && (ct[16] == '\0' || ct[16] == ';');
}

/* Is method (n bytes) one of the comma/space-separated words of list? */
static bool word_in(const char *list, const char *method, size_t n)
{
    const char *p = list;

    while (*p) {
        size_t len;
        while (*p == ',' || *p == ' ')
            p++;
        len = strcspn(p, ", ");
        if (len && len == n && strncmp(p, method, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Every method of want is in the Allow header, and the header lists
 * nothing but those and HEAD. */
static bool allow_ok(const char *header, const char *want)
{
    const char *p;

    for (p = want; *p;) {
        size_t len;
        while (*p == ',' || *p == ' ')
            p++;
        len = strcspn(p, ", ");
        if (len && !word_in(header, p, len))
            return false;
        p += len;
    }
    for (p = header; *p;) {
        size_t len;
        while (*p == ',' || *p == ' ')
            p++;
        len = strcspn(p, ", ");
        /* HEAD goes with GET; OPTIONS (the CORS preflight) with every path */
        if (len && !(len == 4 && strncmp(p, "HEAD", 4) == 0) &&
            !(len == 7 && strncmp(p, "OPTIONS", 7) == 0) && !word_in(want, p, len))
            return false;
        p += len;
    }
    return header[0] != '\0';
}

/* The documented error body: exactly {"error":{"code","message","field"}}.
 * Returns a reason for the mismatch, or NULL. */
static const char *error_body_problem(const char *body, const char *code, const char *field)
{
    static char why[256];
    cJSON *j = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "field");
    const char *res = NULL;

    if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 1 || !cJSON_IsObject(e)) {
        res = "body is not {\"error\":{...}}";
    } else if (cJSON_GetArraySize(e) != 3 || !cJSON_IsString(c) || !cJSON_IsString(m) ||
               !f || !(cJSON_IsString(f) || cJSON_IsNull(f))) {
        res = "error object is not exactly {code, message, field}";
    } else if (m->valuestring[0] == '\0') {
        res = "empty message";
    } else if (!alt_match(code, c->valuestring)) {
        snprintf(why, sizeof(why), "code \"%s\", want \"%s\"", c->valuestring, code);
        res = why;
    } else if (!field && !cJSON_IsNull(f)) {
        snprintf(why, sizeof(why), "field \"%s\", want null", f->valuestring);
        res = why;
    } else if (field && (!cJSON_IsString(f) || !alt_match(field, f->valuestring))) {
        snprintf(why, sizeof(why), "field %s%s%s, want \"%s\"", cJSON_IsString(f) ? "\"" : "",
                 cJSON_IsString(f) ? f->valuestring : "null", cJSON_IsString(f) ? "\"" : "",
                 field);
        res = why;
    }
    cJSON_Delete(j);
    return res;
}

static long long api_event_count(int port)
{
    long st = 0;
    cJSON *m = h_http_get_json(port, "/metrics", &st);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(m, "events");
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(ev, "api");
    long long n;

    assert_int_equal(st, 200);
    assert_true(cJSON_IsNumber(api));
    n = (long long)api->valuedouble;
    cJSON_Delete(m);
    return n;
}

/* Runs one row; prints and counts what is wrong rather than stopping, so
 * one run shows every failing row. */
static int check_row(int port, const struct row *w, const char *config0, long long api0,
                     char *prev_rid, size_t rid_len)
{
    struct resp r;
    const char *why = NULL;
    char *config;
    int bad = 0;

    if (h_http_req(port, w->method, w->path, w->body, w->hdrs, &r) != 0) {
        printf("  FAIL [%s] %s %s: no answer\n", w->what, w->method, w->path);
        h_resp_free(&r);
        return 1;
    }
#define ROW_FAIL(...)                                                 \
    do {                                                              \
        printf("  FAIL [%s] %s %s: ", w->what, w->method, w->path);   \
        printf(__VA_ARGS__);                                          \
        printf("\n");                                                 \
        bad++;                                                        \
    } while (0)
    if (r.status != w->status && (!w->alt_status || r.status != w->alt_status))
        ROW_FAIL("status %ld, want %ld (body %.200s)", r.status, w->status, r.body);
    if (!is_json_ctype(r.ctype))
        ROW_FAIL("Content-Type \"%s\"", r.ctype);
    if (!rid_ok(r.request_id))
        ROW_FAIL("X-Request-ID \"%s\"", r.request_id);
    else if (strcmp(r.request_id, prev_rid) == 0)
        ROW_FAIL("X-Request-ID \"%s\" repeated from the previous answer", r.request_id);
    snprintf(prev_rid, rid_len, "%s", r.request_id);
    if (w->code && (why = error_body_problem(r.body, w->code, w->field)) != NULL)
        ROW_FAIL("%s (body %.200s)", why, r.body);
    if (!w->code && strcmp(r.body, config0) != 0)
        ROW_FAIL("answer is not the unchanged config: %.200s", r.body);
    if (w->allow && !allow_ok(r.allow, w->allow))
        ROW_FAIL("Allow \"%s\", want %s (and HEAD, OPTIONS)", r.allow, w->allow);
    h_resp_free(&r);

    config = h_get_config(port);
    if (strcmp(config, config0) != 0)
        ROW_FAIL("GET /config changed to %s", config);
    free(config);
    if (api_event_count(port) != api0)
        ROW_FAIL("an API event was stored");
#undef ROW_FAIL
    return bad;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_bad_input_table_answers_documented_errors_and_changes_nothing(void **state)
{
    struct proc *p = &h_procs[0];
    char *config0;
    char prev_rid[96] = "";
    long long api0;
    int failures = 0;
    size_t n = sizeof(rows) / sizeof(rows[0]);

    (void)state;
    build_bodies();
    h_proc_init(p, "badin");
    assert_int_equal(h_proc_start(p, "transaction-service", live_args), 0);
    config0 = h_get_config(p->port);
    api0 = api_event_count(p->port);
    for (size_t i = 0; i < n; i++)
        failures += check_row(p->port, &rows[i], config0, api0, prev_rid, sizeof(prev_rid));
    printf("  %zu rows, %d failed checks\n", n, failures);
    free(config0);
    /* still serving after all of it */
    {
        long st = 0;
        cJSON *h = h_http_get_json(p->port, "/health", &st);
        assert_int_equal(st, 200);
        cJSON_Delete(h);
    }
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
    assert_int_equal(failures, 0);
}

/* A NUL byte decoded from %00 must not cut a path or a parameter short:
 * "/health%00x" is not /health, "limit=1%00" is not limit=1. */
static void test_encoded_nul_in_path_or_query_is_rejected(void **state)
{
    static const struct row nul_rows[] = {
        { "NUL in path", "GET", "/health%00x", NULL, NULL, 404, "not_found|bad_request", NULL,
          NULL, 400 },
        { "NUL in path end", "GET", "/config%00", NULL, NULL, 404, "not_found|bad_request", NULL,
          NULL, 400 },
        QRY("NUL in limit", "limit=1%00", "limit"),
        QRY("NUL in since", "since=5%00junk", "since"),
        QRY("NUL in anomaly_type", "anomaly_type=fraud_pattern%00x", "anomaly_type"),
    };
    struct proc *p = &h_procs[0];
    char *config0;
    char prev_rid[96] = "";
    long long api0;
    int failures = 0;

    (void)state;
    h_proc_init(p, "nul");
    assert_int_equal(h_proc_start(p, "transaction-service", live_args), 0);
    config0 = h_get_config(p->port);
    api0 = api_event_count(p->port);
    for (size_t i = 0; i < sizeof(nul_rows) / sizeof(nul_rows[0]); i++)
        failures += check_row(p->port, &nul_rows[i], config0, api0, prev_rid, sizeof(prev_rid));
    free(config0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
    assert_int_equal(failures, 0);
}

static void test_request_id_is_echoed_when_valid_and_replaced_when_not(void **state)
{
    static const char id64[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._";
    static const char id65[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    static const struct {
        const char *hdr;
        const char *given; /* NULL: must be replaced */
    } cases[] = {
        { "X-Request-ID: abc-123_x.Y", "abc-123_x.Y" },
        { "X-Request-ID: a", "a" },
        { "x-request-id: lower-case-header", "lower-case-header" },
        { "X-Request-ID: "
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._", id64 },
        { "X-Request-ID: "
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", NULL },
        { "X-Request-ID: has space", NULL },
        { "X-Request-ID: slash/inside", NULL },
        { "X-Request-ID: colon:inside", NULL },
        { "X-Request-ID: quote\"inside", NULL },
        { "X-Request-ID: caf\xc3\xa9", NULL },
        { "X-Request-ID;", NULL }, /* libcurl: the header with an empty value */
    };
    static const char *const paths[][2] = {
        { "GET", "/health" },           /* success */
        { "GET", "/nope" },             /* error before routing */
        { "GET", "/transactions/events?limit=0" }, /* handler error */
    };
    struct proc *p = &h_procs[0];
    char seen[64][96];
    int nseen = 0;

    (void)state;
    assert_int_equal(strlen(id64), 64);
    assert_int_equal(strlen(id65), 65);
    h_proc_init(p, "rid");
    assert_int_equal(h_proc_start(p, "transaction-service", live_args), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
            const char *const hdrs[] = { cases[i].hdr, NULL };
            struct resp r;

            assert_int_equal(h_http_req(p->port, paths[k][0], paths[k][1], NULL, hdrs, &r), 0);
            if (cases[i].given) {
                if (strcmp(r.request_id, cases[i].given) != 0)
                    fail_msg("%s on %s: X-Request-ID \"%s\", want it echoed", cases[i].hdr,
                             paths[k][1], r.request_id);
            } else {
                if (!rid_ok(r.request_id))
                    fail_msg("%s on %s: replacement X-Request-ID \"%s\" is not valid",
                             cases[i].hdr, paths[k][1], r.request_id);
                if (strstr(cases[i].hdr, r.request_id))
                    fail_msg("%s on %s: invalid id echoed", cases[i].hdr, paths[k][1]);
                /* a new one each time */
                for (int s = 0; s < nseen; s++)
                    if (strcmp(seen[s], r.request_id) == 0)
                        fail_msg("replacement X-Request-ID \"%s\" handed out twice",
                                 r.request_id);
                if (nseen < 64)
                    snprintf(seen[nseen++], sizeof(seen[0]), "%s", r.request_id);
            }
            h_resp_free(&r);
        }
    }
    /* no header at all: a fresh id too */
    {
        struct resp a, b;
        assert_int_equal(h_http_req(p->port, "GET", "/health", NULL, NULL, &a), 0);
        assert_int_equal(h_http_req(p->port, "GET", "/health", NULL, NULL, &b), 0);
        assert_true(rid_ok(a.request_id));
        assert_true(rid_ok(b.request_id));
        assert_string_not_equal(a.request_id, b.request_id);
        h_resp_free(&a);
        h_resp_free(&b);
    }
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

static void expect_status(int port, const char *method, const char *path, const char *body,
                          const char *const *hdrs, long status, const char *code,
                          const char *field)
{
    struct resp r;

    assert_int_equal(h_http_req(port, method, path, body, hdrs, &r), 0);
    if (r.status != status)
        fail_msg("%s %s (%s): status %ld, want %ld: %s", method, path,
                 hdrs && hdrs[1] ? hdrs[1] : "no auth", r.status, status, r.body);
    if (code) {
        const char *why = error_body_problem(r.body, code, field);
        if (why)
            fail_msg("%s %s: %s: %s", method, path, why, r.body);
        assert_true(rid_ok(r.request_id));
        assert_true(is_json_ctype(r.ctype));
    }
    h_resp_free(&r);
}

static void test_admin_token_guards_every_post_and_leaves_gets_open(void **state)
{
    static const char token[] = "s3cret-Token_42";
    static const char *const no_auth[] = { "Content-Type: application/json", NULL };
    static const char *const bad_auth[][2] = {
        { "Content-Type: application/json", "Authorization: Bearer wrong" },
        { "Content-Type: application/json", "Authorization: Bearer s3cret-Token_4" },
        { "Content-Type: application/json", "Authorization: Bearer s3cret-Token_420" },
        { "Content-Type: application/json", "Authorization: Bearer S3CRET-TOKEN_42" },
        { "Content-Type: application/json", "Authorization: s3cret-Token_42" },
        { "Content-Type: application/json", "Authorization: Basic czNjcmV0LVRva2VuXzQy" },
        { "Content-Type: application/json", "Authorization: Bearer" },
        { "Content-Type: application/json", "Authorization: Bearer " },
    };
    static const char *const good_auth[] = { "Content-Type: application/json",
                                             "Authorization: Bearer s3cret-Token_42", NULL };
    static const char *const good_auth_lc[] = { "Content-Type: application/json",
                                                "Authorization: bearer s3cret-Token_42", NULL };
    static const char txn[] = "{\"customer_id\":\"CUST_123456\",\"amount\":10,"
                              "\"transaction_type\":\"purchase\"}";
    struct proc *p = &h_procs[0];
    char *config0, *config;
    int rc;

    (void)state;
    h_proc_init(p, "token");
    /* the child inherits the environment; nothing else sees it */
    assert_int_equal(setenv("ADMIN_TOKEN", token, 1), 0);
    rc = h_proc_start(p, "transaction-service", live_args);
    assert_int_equal(unsetenv("ADMIN_TOKEN"), 0);
    assert_int_equal(rc, 0);

    config0 = h_get_config(p->port);
    expect_status(p->port, "POST", "/config", "{\"anomaly_rate\":0.4}", no_auth, 401,
                  "unauthorized", NULL);
    expect_status(p->port, "POST", "/transactions", txn, no_auth, 401, "unauthorized", NULL);
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        const char *const hdrs[] = { bad_auth[i][0], bad_auth[i][1], NULL };
        expect_status(p->port, "POST", "/config", "{\"anomaly_rate\":0.4}", hdrs, 401,
                      "unauthorized", NULL);
        expect_status(p->port, "POST", "/transactions", txn, hdrs, 401, "unauthorized", NULL);
    }
    /* refused means unchanged */
    config = h_get_config(p->port);
    assert_string_equal(config, config0);
    free(config);
    assert_int_equal(api_event_count(p->port), 0);

    /* reads stay open */
    expect_status(p->port, "GET", "/config", NULL, NULL, 200, NULL, NULL);
    expect_status(p->port, "GET", "/health", NULL, NULL, 200, NULL, NULL);
    expect_status(p->port, "GET", "/metrics", NULL, NULL, 200, NULL, NULL);
    expect_status(p->port, "GET", "/transactions/events?limit=5", NULL, NULL, 200, NULL, NULL);

    /* the right token: accepted (the scheme name is case-insensitive) */
    expect_status(p->port, "POST", "/config", "{\"anomaly_rate\":0.015}", good_auth, 200, NULL,
                  NULL);
    expect_status(p->port, "POST", "/config", "{}", good_auth_lc, 200, NULL, NULL);
    expect_status(p->port, "POST", "/transactions", txn, good_auth, 201, NULL, NULL);
    /* and still validated behind it */
    expect_status(p->port, "POST", "/config", "{\"anomaly_rate\":0.9}", good_auth, 422,
                  "invalid_value", "anomaly_rate");
    config = h_get_config(p->port);
    assert_string_equal(config, config0);
    free(config);
    {
        struct resp r;
        assert_int_equal(h_http_req(p->port, "POST", "/config", "{\"anomaly_rate\":0.04}",
                                    good_auth, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"anomaly_rate\":0.04"));
        h_resp_free(&r);
    }
    free(config0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Fuzz                                                                 */

/* xorshift64*: a fixed, portable stream (no libc rand). */
static uint64_t fz_state = 0x9e3779b97f4a7c15ULL;

static uint64_t fz_next(void)
{
    fz_state ^= fz_state >> 12;
    fz_state ^= fz_state << 25;
    fz_state ^= fz_state >> 27;
    return fz_state * 0x2545f4914f6cdd1dULL;
}

static size_t fz_below(size_t n)
{
    return (size_t)(fz_next() % (uint64_t)n);
}

/* One to three edits: flip a bit, overwrite, insert or delete a byte, or
 * insert a JSON token, so mutants stay near the grammar often enough to
 * reach the validator and not only the parser. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char *const tokens[] = { "{", "}", "[", "]", "\"", ",", ":", "-", ".", "e",
                                          "0", "1e999", "null", "true", "\\u0000", "\xff",
                                          "\"x\":", "\"paused\":", "\"anomaly_rate\":" };
    int edits = 1 + (int)fz_below(3);

    for (int e = 0; e < edits; e++) {
        size_t at = len ? fz_below(len) : 0;
        switch (fz_below(7)) {
        case 0:
            if (len)
                buf[at] = (char)(buf[at] ^ (1 << fz_below(8)));
            break;
        case 1:
            if (len)
                buf[at] = (char)fz_below(256);
            break;
        case 2:
            if (len + 1 < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (char)fz_below(256);
                len++;
            }
            break;
        case 3:
            if (len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        default: {
            const char *t = tokens[fz_below(sizeof(tokens) / sizeof(tokens[0]))];
            size_t tl = strlen(t);
            if (len + tl < cap) {
                memmove(buf + at + tl, buf + at, len - at);
                memcpy(buf + at, t, tl);
                len += tl;
            }
            break;
        }
        }
    }
    return len;
}

static void test_mutated_config_bodies_never_crash_or_change_state_partially(void **state)
{
    static const char seed_body[] =
        "{\"anomaly_rate\":0.02,\"events_per_second\":100,\"paused\":false,"
        "\"retention_events\":500000,\"fraud_pattern_rate\":0.005,\"money_laundering_rate\":0.005}";
    static const char *const ct[] = { "Content-Type: application/json", NULL };
    struct proc *p = &h_procs[0];
    char *config0;
    char buf[512];
    int counts[3] = { 0, 0, 0 };

    (void)state;
    fz_state = 0x9e3779b97f4a7c15ULL;
    h_proc_init(p, "fuzz");
    assert_int_equal(h_proc_start(p, "transaction-service", live_args), 0);
    config0 = h_get_config(p->port);
    /* mutants hold NUL bytes and broken UTF-8, on which Prism 5.16 hangs
     * instead of forwarding: they go straight to the daemon */
    h_prism_bypass(true);
    for (int i = 0; i < FUZZ_ITERATIONS; i++) {
        struct resp r;
        size_t len;
        char *config;

        memcpy(buf, seed_body, sizeof(seed_body) - 1);
        len = mutate(buf, sizeof(seed_body) - 1, sizeof(buf));
        /* the body may hold NUL bytes */
        if (h_http_req_len(p->port, "POST", "/config", buf, len, ct, &r) != 0)
            fail_msg("iteration %d: no answer to %.*s", i, (int)len, buf);
        if (r.status != 200 && r.status != 400 && r.status != 422)
            fail_msg("iteration %d: status %ld for %.*s: %s", i, r.status, (int)len, buf,
                     r.body);
        counts[r.status == 200 ? 0 : r.status == 400 ? 1 : 2]++;
        config = h_get_config(p->port);
        if (r.status == 200) {
            struct resp back;
            /* the answer is the config now in force; then put it back */
            if (strcmp(r.body, config) != 0)
                fail_msg("iteration %d: POST answered %s but GET says %s", i, r.body, config);
            assert_int_equal(h_http_req(p->port, "POST", "/config", config0, ct, &back), 0);
            assert_int_equal(back.status, 200);
            h_resp_free(&back);
            free(config);
            config = h_get_config(p->port);
        }
        if (strcmp(config, config0) != 0)
            fail_msg("iteration %d: status %ld for %.*s left config %s", i, r.status, (int)len,
                     buf, config);
        free(config);
        h_resp_free(&r);
    }
    printf("  %d mutants: %d accepted, %d unparseable, %d invalid\n", FUZZ_ITERATIONS,
           counts[0], counts[1], counts[2]);
    {
        long st = 0;
        cJSON *h = h_http_get_json(p->port, "/health", &st);
        assert_int_equal(st, 200);
        cJSON_Delete(h);
    }
    free(config0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* Request headers live in each connection's memory pool (HTTP_CONN_POOL,
 * 16 KiB): 12 KiB of them are answered as usual; 20 KiB get a 431,
 * and the service goes on answering. */
static void test_large_request_headers_fit_or_get_431(void **state)
{
    static char req[24 * 1024], out[8192];
    struct proc *p = &h_procs[0];
    long st = 0;
    cJSON *h;

    (void)state;
    h_proc_init(p, "bighdr");
    assert_int_equal(h_proc_start(p, "transaction-service", live_args), 0);
    for (int round = 0; round < 2; round++) {
        size_t kib = round == 0 ? 12 : 20;
        int n = snprintf(req, sizeof(req), "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");

        assert_true(n > 0 && (size_t)n + kib * 1024 + 64 < sizeof(req));
        memset(req + n, 'a', kib * 1024);
        snprintf(req + n + kib * 1024, sizeof(req) - (size_t)n - kib * 1024,
                 "\r\nConnection: close\r\n\r\n");
        assert_int_equal(h_raw_http(p->port, req, out, sizeof(out), 5000), round == 0 ? 200 : 431);
    }
    h = h_http_get_json(p->port, "/health", &st);
    assert_int_equal(st, 200);
    assert_non_null(h);
    cJSON_Delete(h);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, h_procs_setup, badin_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_bad_input_table_answers_documented_errors_and_changes_nothing),
        T(test_encoded_nul_in_path_or_query_is_rejected),
        T(test_request_id_is_echoed_when_valid_and_replaced_when_not),
        T(test_admin_token_guards_every_post_and_leaves_gets_open),
        T(test_mutated_config_bodies_never_crash_or_change_state_partially),
        T(test_large_request_headers_fit_or_get_431),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
