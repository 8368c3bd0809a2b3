/* post.c - authentication service: POST /auth bodies, parsed into a
 * struct auth_input field by field, and checked against the population. */
#include <string.h>

#include "auth_internal.h"
#include "json.h"

enum in_field {
    IF_USERNAME,
    IF_RESULT,
    IF_IP,
    IF_CUSTOMER,
    IF_REASON,
    IF_METHOD,
    IF_LOCATION,
    IF_DEVICE,
    IF_COUNT
};
#define IF_LAST_REQUIRED IF_IP

static const char *const in_names[IF_COUNT] = {
    "username", "result", "ip_address", "customer_id",
    "failure_reason", "auth_method", "location", "device",
};

/* Set by the server; a client sending one is told so, not ignored. */
static const char *const readonly_names[] = {
    "event_id", "timestamp", "sequence", "risk_score", "is_anomaly",
    "anomaly_type", "incident_id", "origin",
};

/* 1..size-1 bytes, each in `allowed` (or any printable byte if NULL). */
static enum bm_rc in_text(const cJSON *it, const char *name, const char *allowed, char *out,
                          size_t size, struct api_fail *fail)
{
    const char *s;
    size_t n;
    bool ok;

    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    n = strlen(s);
    ok = n > 0 && n < size;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        ok = allowed ? (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || (c && strchr(allowed, c))
                     : c >= 0x20 && c != 0x7f;
    }
    if (!ok) {
        if (allowed)
            api_fail_set(fail, API_BAD_VALUE, name,
                         "%s must be 1-%zu characters of A-Z a-z 0-9 and %s", name, size - 1,
                         allowed);
        else
            api_fail_set(fail, API_BAD_VALUE, name, "%s must be 1-%zu printable bytes", name,
                         size - 1);
        return BM_EINVAL;
    }
    memcpy(out, s, n + 1);
    return BM_OK;
}

/* Dotted quad, each part 0..255 without leading zeros. */
bool auth_parse_ipv4(const char *s, uint32_t *out)
{
    uint32_t ip = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        int digits = 0;

        if (part && *s++ != '.')
            return false;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            if (digits == 1 && v == 0)
                return false; /* leading zero */
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || v > 255)
            return false;
        ip = ip << 8 | v;
    }
    if (*s)
        return false;
    *out = ip;
    return true;
}

static enum bm_rc in_ip(const cJSON *it, struct auth_input *in, struct api_fail *fail)
{
    const char *s;
    uint32_t ip;

    if (json_want_str(it, "ip_address", &s, fail) != BM_OK)
        return BM_EINVAL;
    if (strlen(s) >= sizeof in->ip || !auth_parse_ipv4(s, &ip)) {
        api_fail_set(fail, API_BAD_VALUE, "ip_address",
                     "ip_address must be a dotted IPv4 address");
        return BM_EINVAL;
    }
    memcpy(in->ip, s, strlen(s) + 1);
    return BM_OK;
}

static enum bm_rc in_coord(const cJSON *it, const char *name, double lim, double *out,
                           struct api_fail *fail)
{
    double d;

    if (!cJSON_IsNumber(it)) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must be a number", name);
        return BM_EINVAL;
    }
    if (json_as_double(it, &d) != BM_OK || d < -lim || d > lim) {
        api_fail_set(fail, API_BAD_VALUE, name, "%s must be within -%g..%g", name, lim, lim);
        return BM_EINVAL;
    }
    *out = d;
    return BM_OK;
}

static const char *const loc_names[] = { "country", "city", "latitude", "longitude" };

static enum bm_rc in_loc_member(const cJSON *c, int k, void *ctx, struct api_fail *fail)
{
    struct auth_input *in = ctx;

    switch (k) {
    case 0:
        return json_want_country(c, "location.country", in->country, fail);
    case 1:
        if (cJSON_IsNull(c))
            return BM_OK;
        return in_text(c, "location.city", NULL, in->city, sizeof in->city, fail);
    case 2:
        return in_coord(c, "location.latitude", 90.0, &in->lat, fail);
    default:
        return in_coord(c, "location.longitude", 180.0, &in->lon, fail);
    }
}

static const char *const dev_names[] = { "fingerprint", "type", "os" };

static enum bm_rc in_dev_member(const cJSON *c, int k, void *ctx, struct api_fail *fail)
{
    struct auth_input *in = ctx;

    if (cJSON_IsNull(c))
        return BM_OK;
    switch (k) {
    case 0:
        return in_text(c, "device.fingerprint", "_-", in->fingerprint, sizeof in->fingerprint,
                       fail);
    case 1:
        return json_want_choice(c, "device.type", auth_device_names, AUTH_D_COUNT, &in->device_type,
                         fail);
    default:
        return in_text(c, "device.os", NULL, in->os, sizeof in->os, fail);
    }
}

static enum bm_rc in_field(const cJSON *it, int f, void *ctx, struct api_fail *fail)
{
    static const struct json_members loc = {
        .obj = "location", .names = loc_names, .n = 4, .required = 0xdu, .one = in_loc_member,
    };
    static const struct json_members dev = {
        .obj = "device", .names = dev_names, .n = 3, .one = in_dev_member,
    };
    struct auth_input *in = ctx;
    const char *name = in_names[f];

    /* Required fields: null is a wrong type, not an absence. */
    if (f <= IF_LAST_REQUIRED && cJSON_IsNull(it)) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must not be null", name);
        return BM_EINVAL;
    }
    if (cJSON_IsNull(it))
        return BM_OK;
    switch (f) {
    case IF_USERNAME:
        return in_text(it, name, "._@+-", in->username, sizeof in->username, fail);
    case IF_RESULT:
        return json_want_choice(it, name, (const char *const[]){ "success", "failure" }, 2,
                         &in->result, fail);
    case IF_IP:
        return in_ip(it, in, fail);
    case IF_CUSTOMER:
        return json_want_code(it, name, "CUST_", 6, in->customer_id, sizeof in->customer_id,
                              fail);
    case IF_REASON:
        return json_want_choice(it, name, auth_reason_names, AUTH_R_COUNT, &in->reason, fail);
    case IF_METHOD:
        return json_want_choice(it, name, auth_method_names, AUTH_M_COUNT, &in->method, fail);
    case IF_LOCATION:
        in->has_location = true;
        return json_want_members(it, &loc, in, fail);
    default:
        in->has_device = true;
        return json_want_members(it, &dev, in, fail);
    }
}

enum bm_rc auth_input_from_json(const struct cJSON *body, struct auth_input *in,
                                struct api_fail *fail)
{
    static const struct json_members fields = {
        .obj = "",
        .names = in_names,
        .n = IF_COUNT,
        .required = (1u << (IF_LAST_REQUIRED + 1)) - 1, /* the first fields */
        .readonly = readonly_names,
        .n_readonly = sizeof readonly_names / sizeof readonly_names[0],
        .one = in_field,
    };

    memset(in, 0, sizeof *in);
    in->reason = -1;
    in->method = -1;
    in->device_type = -1;
    if (json_want_members(body, &fields, in, fail) != BM_OK)
        return BM_EINVAL;
    if (in->result == 0 && in->reason >= 0) {
        api_fail_set(fail, API_BAD_VALUE, "failure_reason",
                     "failure_reason applies to failed logins only");
        return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc auth_input_check(const struct auth_model *m, const struct auth_input *in,
                            struct api_fail *fail)
{
    int64_t u = auth_find_user(m, in->username);
    char mine[16];

    if (u < 0 || !in->customer_id[0])
        return BM_OK;
    auth_fmt_cust(mine, sizeof mine, m->users[u].num);
    if (strcmp(mine, in->customer_id) != 0) {
        api_fail_set(fail, API_BAD_VALUE, "customer_id",
                     "customer_id does not belong to username %s", m->users[u].username);
        return BM_EINVAL;
    }
    return BM_OK;
}
