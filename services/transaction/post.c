/* post.c - transaction service: POST /transactions bodies, parsed into
 * a struct txn_input field by field and checked for consistency. */
#include <math.h>
#include <string.h>

#include "json.h"
#include "txn_internal.h"

#define MAX_AMOUNT_CENTS 100000000            /* $1,000,000 via the API */

enum in_field {
    IF_CUSTOMER,
    IF_AMOUNT,
    IF_TYPE,
    IF_CHANNEL,
    IF_MERCHANT,
    IF_CATEGORY,
    IF_COUNTERPARTY,
    IF_ACCOUNT,
    IF_LOCATION,
    IF_CURRENCY,
    IF_COUNT
};

static const char *const in_names[IF_COUNT] = {
    "customer_id", "amount", "transaction_type", "channel", "merchant_id",
    "merchant_category", "counterparty_account", "account_id", "location", "currency",
};

/* Set by the server; a client sending one is told so, not ignored. */
static const char *const readonly_names[] = {
    "transaction_id", "timestamp", "sequence", "customer_segment", "status",
    "processing_time_ms", "risk_score", "is_anomaly", "anomaly_type", "incident_id",
    "origin",
};

/* Channels each type can use; the generator keeps to the same table. */
static const unsigned type_channels[TXN_T_COUNT] = {
    [TXN_T_PURCHASE] = 1u << TXN_C_ONLINE | 1u << TXN_C_MOBILE | 1u << TXN_C_POS,
    [TXN_T_TRANSFER] = 1u << TXN_C_ONLINE | 1u << TXN_C_MOBILE | 1u << TXN_C_BRANCH,
    [TXN_T_WITHDRAWAL] = 1u << TXN_C_ATM | 1u << TXN_C_BRANCH,
    [TXN_T_DEPOSIT] = 1u << TXN_C_ATM | 1u << TXN_C_BRANCH | 1u << TXN_C_MOBILE,
};
static const int default_channel[TXN_T_COUNT] = {
    TXN_C_ONLINE, TXN_C_ONLINE, TXN_C_ATM, TXN_C_BRANCH,
};

static bool is_ident_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* An optional identifier: 1..size-1 bytes of [A-Za-z0-9_-]; null = absent. */
static enum bm_rc in_ident(const cJSON *it, const char *name, char *out, size_t size,
                           struct api_fail *fail)
{
    const char *s;
    size_t n;
    bool ok;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    n = strlen(s);
    ok = n > 0 && n < size;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_ident_char(s[i]);
    if (!ok) {
        api_fail_set(fail, API_BAD_VALUE, name,
                     "%s must be 1-%zu characters of A-Z a-z 0-9 _ -", name, size - 1);
        return BM_EINVAL;
    }
    memcpy(out, s, n + 1);
    return BM_OK;
}

static enum bm_rc in_amount(const cJSON *it, struct txn_input *in, struct api_fail *fail)
{
    double d, c;

    if (!cJSON_IsNumber(it)) {
        api_fail_set(fail, API_BAD_TYPE, "amount", "amount must be a number");
        return BM_EINVAL;
    }
    /* json_as_double() refuses non-finite values such as 1e999. */
    if (json_as_double(it, &d) != BM_OK || d <= 0.0 || d > MAX_AMOUNT_CENTS / 100) {
        api_fail_set(fail, API_BAD_VALUE, "amount", "amount must be > 0 and <= 1000000");
        return BM_EINVAL;
    }
    c = d * 100.0;
    /* Cents are exact; the tolerance only absorbs binary fractions. */
    if (fabs(c - round(c)) > 1e-6 || round(c) < 1.0) {
        api_fail_set(fail, API_BAD_VALUE, "amount", "amount must have at most 2 decimals");
        return BM_EINVAL;
    }
    in->amount_cents = llround(c);
    return BM_OK;
}

static enum bm_rc in_city(const cJSON *it, struct txn_input *in, struct api_fail *fail)
{
    const char *s;
    size_t n;
    bool ok;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (json_want_str(it, "location.city", &s, fail) != BM_OK)
        return BM_EINVAL;
    n = strlen(s);
    ok = n > 0 && n < sizeof in->city;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok) {
        api_fail_set(fail, API_BAD_VALUE, "location.city",
                     "location.city must be 1-%zu printable bytes", sizeof in->city - 1);
        return BM_EINVAL;
    }
    memcpy(in->city, s, n + 1);
    return BM_OK;
}

static const char *const loc_names[] = { "country", "city" };

static enum bm_rc in_loc_member(const cJSON *it, int k, void *ctx, struct api_fail *fail)
{
    struct txn_input *in = ctx;

    if (k == 0)
        return json_want_country(it, "location.country", in->country, fail);
    return in_city(it, in, fail);
}

static enum bm_rc in_location(const cJSON *it, struct txn_input *in, struct api_fail *fail)
{
    static const struct json_members loc = {
        .obj = "location", .names = loc_names, .n = 2, .required = 1u, .one = in_loc_member,
    };

    if (cJSON_IsNull(it))
        return BM_OK;
    return json_want_members(it, &loc, in, fail);
}

static enum bm_rc in_currency(const cJSON *it, struct api_fail *fail)
{
    const char *s;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (json_want_str(it, "currency", &s, fail) != BM_OK)
        return BM_EINVAL;
    if (strcmp(s, "USD") != 0) {
        api_fail_set(fail, API_BAD_VALUE, "currency", "only USD is supported");
        return BM_EINVAL;
    }
    return BM_OK;
}

static enum bm_rc in_field(const cJSON *it, int f, void *ctx, struct api_fail *fail)
{
    struct txn_input *in = ctx;
    const char *name = in_names[f];

    /* Required fields: null is a wrong type, not an absence. */
    if (f <= IF_TYPE && cJSON_IsNull(it)) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must not be null", name);
        return BM_EINVAL;
    }
    switch (f) {
    case IF_CUSTOMER:
        return json_want_code(it, name, "CUST_", 6, in->customer_id, sizeof in->customer_id,
                              fail);
    case IF_AMOUNT:
        return in_amount(it, in, fail);
    case IF_TYPE:
        return json_want_choice(it, name, txn_type_names, TXN_T_COUNT, &in->type, fail);
    case IF_CHANNEL:
        if (cJSON_IsNull(it))
            return BM_OK;
        return json_want_choice(it, name, txn_channel_names, TXN_C_COUNT, &in->channel, fail);
    case IF_MERCHANT:
        return in_ident(it, name, in->merchant_id, sizeof in->merchant_id, fail);
    case IF_CATEGORY:
        return in_ident(it, name, in->merchant_category, sizeof in->merchant_category, fail);
    case IF_COUNTERPARTY:
        return in_ident(it, name, in->counterparty_account, sizeof in->counterparty_account,
                        fail);
    case IF_ACCOUNT:
        return in_ident(it, name, in->account_id, sizeof in->account_id, fail);
    case IF_LOCATION:
        return in_location(it, in, fail);
    default:
        return in_currency(it, fail);
    }
}

/* Rules across fields, checked once every field is known to be sound. */
static enum bm_rc in_consistent(struct txn_input *in, struct api_fail *fail)
{
    if (in->channel < 0)
        in->channel = default_channel[in->type];
    if (!(type_channels[in->type] & (1u << in->channel))) {
        api_fail_set(fail, API_BAD_VALUE, "channel", "channel %s does not allow a %s",
                     txn_channel_names[in->channel], txn_type_names[in->type]);
        return BM_EINVAL;
    }
    if (in->type != TXN_T_PURCHASE && (in->merchant_id[0] || in->merchant_category[0])) {
        const char *f = in->merchant_id[0] ? "merchant_id" : "merchant_category";

        api_fail_set(fail, API_BAD_VALUE, f, "%s applies to purchases only", f);
        return BM_EINVAL;
    }
    if (in->type != TXN_T_TRANSFER && in->counterparty_account[0]) {
        api_fail_set(fail, API_BAD_VALUE, "counterparty_account",
                     "counterparty_account applies to transfers only");
        return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc txn_input_from_json(const struct cJSON *body, struct txn_input *in,
                               struct api_fail *fail)
{
    static const struct json_members fields = {
        .obj = "",
        .names = in_names,
        .n = IF_COUNT,
        .required = 1u << IF_CUSTOMER | 1u << IF_AMOUNT | 1u << IF_TYPE,
        .readonly = readonly_names,
        .n_readonly = sizeof readonly_names / sizeof readonly_names[0],
        .one = in_field,
    };

    memset(in, 0, sizeof *in);
    in->channel = -1;
    if (json_want_members(body, &fields, in, fail) != BM_OK)
        return BM_EINVAL;
    return in_consistent(in, fail);
}
