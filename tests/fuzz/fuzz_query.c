/* fuzz_query.c - the query string of an event list (GET /<svc>/events,
 * the gateway's GET /events): split into arguments the way MHD 0.9 splits
 * them ('&' between arguments, the first '=' between key and value, '+'
 * a space), each key and value decoded by the daemons' percent-decoder
 * (http_unescape), then validated by query_parse_list for every service,
 * and for the gateway with its anomaly_type rule (any service's type).
 *
 * Invariants: decoding never grows a string, never yields a NUL ("%00"
 * stays literal), agrees with a plain reference decoder, and undoes a
 * full percent-encoding of its own output; validation accepts exactly
 * the canonical values (limit 1..1000, since 0..2^63-1, anomalies_only
 * true/false/1/0, anomaly_type one of the service's types), fills the
 * query with them (limit 100 when absent), and otherwise names the first
 * bad parameter in a 400 whose error body is valid JSON. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "http_server.h"
#include "query.h"
#include "support.h"

#define QUERY_MAX_ARGS 16 /* http_server.c answers 400 past this */

enum { P_LIMIT, P_SINCE, P_ANOMALIES_ONLY, P_ANOMALY_TYPE, P_COUNT };
static const char *const param_names[P_COUNT] = {
    "limit", "since", "anomalies_only", "anomaly_type",
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The decoding the daemons promise, written plainly, into out. */
static void reference_decode(const char *in, char *out)
{
    while (*in) {
        int hi = in[0] == '%' ? hex_digit(in[1]) : -1;
        int lo = hi >= 0 ? hex_digit(in[2]) : -1;
        if (hi >= 0 && lo >= 0 && (hi || lo)) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
}

/* Decodes s in place with http_unescape and checks the result. */
static void decode(char *s)
{
    size_t before = strlen(s), n;
    char *want = malloc(before + 1), *enc = malloc(3 * before + 1);

    FUZZ_CHECK(want && enc);
    reference_decode(s, want);
    n = http_unescape(s);
    FUZZ_CHECK(n == strlen(s) && n <= before);
    FUZZ_CHECK(strcmp(s, want) == 0);
    for (size_t i = 0; i < n; i++)
        snprintf(enc + 3 * i, 4, "%%%02X", (unsigned)(unsigned char)s[i]);
    enc[3 * n] = '\0';
    FUZZ_CHECK(http_unescape(enc) == n && memcmp(enc, s, n + 1) == 0);
    free(enc);
    free(want);
}

struct arg {
    char *key;
    char *val; /* NULL for "?key" without '=' */
};

static void add_arg(struct arg *args, size_t *n, bool *over, char *key, char *val)
{
    if (*n == QUERY_MAX_ARGS) {
        *over = true;
        return;
    }
    for (char *p = key; *p; p++)
        if (*p == '+')
            *p = ' ';
    for (char *p = val; p && *p; p++)
        if (*p == '+')
            *p = ' ';
    decode(key);
    if (val)
        decode(val);
    args[*n].key = key;
    args[*n].val = val;
    (*n)++;
}

/* MHD_parse_arguments_'s splitting; q is clobbered. */
static size_t split(char *q, struct arg *args, bool *over)
{
    size_t n = 0;

    while (q && *q && !*over) {
        char *amp = strchr(q, '&'), *eq = strchr(q, '=');
        if (amp)
            *amp = '\0';
        if (eq && (!amp || eq < amp))
            *eq++ = '\0';
        else
            eq = NULL;
        add_arg(args, &n, over, q, eq);
        q = amp ? amp + 1 : NULL;
    }
    return n;
}

/* parse_i64's contract, written plainly: [-]digits, nothing else. */
static bool int_ok(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool neg = *s == '-';
    unsigned long long v = 0;
    bool big = false;

    if (neg)
        s++;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (ULLONG_MAX - 9) / 10)
            big = true;
        else
            v = v * 10 + (unsigned)(*s - '0');
    }
    if (*s || big || v > (unsigned long long)INT64_MAX + (neg ? 1u : 0u))
        return false;
    *out = neg ? (v == (unsigned long long)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v)
               : (int64_t)v;
    return *out >= min && *out <= max;
}

static bool bool_ok(const char *s, bool *out)
{
    *out = strcmp(s, "true") == 0 || strcmp(s, "1") == 0;
    return *out || strcmp(s, "false") == 0 || strcmp(s, "0") == 0;
}

/* The anomaly type of svc named t (any service's for the gateway). */
static const char *type_of(enum bm_svc svc, const char *t)
{
    for (int s = 0; s < SVC_GATEWAY; s++) {
        const char *const *names;
        int n = cfg_anomaly_types((enum bm_svc)s, &names);
        if (svc != SVC_GATEWAY && s != (int)svc)
            continue;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], t) == 0)
                return names[i];
    }
    return NULL;
}

/* What query_parse_list must make of v[] for svc: the index of the
 * first bad parameter, or -1 with *want filled in. */
static int expected(enum bm_svc svc, const char *const *v, struct db_list_query *want)
{
    int64_t since = 0;

    memset(want, 0, sizeof(*want));
    want->limit = 100;
    if (v[P_LIMIT] && !int_ok(v[P_LIMIT], 1, 1000, &want->limit))
        return P_LIMIT;
    if (v[P_SINCE]) {
        if (!int_ok(v[P_SINCE], 0, INT64_MAX, &since))
            return P_SINCE;
        want->has_since = true;
        want->since = (uint64_t)since;
    }
    if (v[P_ANOMALIES_ONLY] && !bool_ok(v[P_ANOMALIES_ONLY], &want->anomalies_only))
        return P_ANOMALIES_ONLY;
    if (v[P_ANOMALY_TYPE] && !(want->anomaly_type = type_of(svc, v[P_ANOMALY_TYPE])))
        return P_ANOMALY_TYPE;
    return -1;
}

static void check_service(enum bm_svc svc, const char *const *v)
{
    struct db_list_query q, want;
    struct api_fail f;
    int bad = expected(svc, v, &want);
    /* the gateway validates anomaly_type itself (routes.c), the rest here */
    const char *type_arg = svc == SVC_GATEWAY ? NULL : v[P_ANOMALY_TYPE];
    enum bm_rc rc;

    memset(&f, 0, sizeof(f));
    rc = query_parse_list(svc, v[P_LIMIT], v[P_SINCE], v[P_ANOMALIES_ONLY], type_arg, &q, &f);
    if (svc == SVC_GATEWAY && bad == P_ANOMALY_TYPE)
        bad = -1;
    if (bad >= 0) {
        FUZZ_CHECK(rc == BM_EINVAL);
        FUZZ_CHECK(f.err == API_BAD_PARAM);
        FUZZ_CHECK(strcmp(f.field, param_names[bad]) == 0);
        FUZZ_CHECK(fuzz_fail_body_ok(&f));
        return;
    }
    FUZZ_CHECK(rc == BM_OK);
    FUZZ_CHECK(q.limit == want.limit && q.has_since == want.has_since &&
               q.since == want.since && q.anomalies_only == want.anomalies_only);
    if (svc != SVC_GATEWAY)
        FUZZ_CHECK(q.anomaly_type == want.anomaly_type);
    else
        FUZZ_CHECK(q.anomaly_type == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arg args[QUERY_MAX_ARGS];
    const char *v[P_COUNT] = { NULL, NULL, NULL, NULL };
    char *q = malloc(size + 1);
    bool over = false, ok = true;
    size_t n;

    FUZZ_CHECK(q != NULL);
    memcpy(q, data, size);
    q[size] = '\0'; /* the URL reaches the daemon as a C string */
    n = split(q, args, &over);
    /* http_req_args_check: at most 16, known keys only, each once */
    for (size_t i = 0; i < n && ok && !over; i++) {
        int k = -1;
        for (int p = 0; p < P_COUNT; p++)
            if (strcmp(args[i].key, param_names[p]) == 0)
                k = p;
        ok = k >= 0 && !v[k];
        if (ok)
            v[k] = args[i].val ? args[i].val : ""; /* http_req_arg's "" */
    }
    if (ok && !over)
        for (int s = 0; s < SVC_COUNT; s++)
            check_service((enum bm_svc)s, v);
    free(q);
    return 0;
}
