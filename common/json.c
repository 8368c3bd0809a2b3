/* json.c - cJSON 1.7.15 wrappers. cJSON is lenient (control bytes count as
 * whitespace, "01" and raw control characters in strings pass, invalid
 * UTF-8 is copied, nesting up to 1000), so a strict pre-scan runs first and
 * a depth check after; cJSON_GetErrorPtr is not thread safe, so the end
 * pointer comes from cJSON_ParseWithLengthOpts. */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define JSON_MAX_DEPTH 32
#define JSON_MAX_SAFE_INT 9007199254740991.0 /* 2^53 - 1 */
#define JSON_PATH_KEY_MAX 128
#define JSON_COPY_STACK 2048 /* bodies below this are copied on the stack */

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 8259 number at s[0..n): -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?,
 * not followed by another number character. Its length, or 0. */
static size_t number_len(const unsigned char *s, size_t n)
{
    size_t i = 0;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        if (++i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                  s[i] == '+' || s[i] == '-'))
        return 0;
    return i;
}

/* Length of the escape at s[0..n) (s[0] is the backslash), 0 if invalid.
 * \u0000 is refused: cJSON would cut the string there. */
static size_t escape_len(const unsigned char *s, size_t n)
{
    if (n < 2)
        return 0;
    if (strchr("\"\\/bfnrt", s[1]) && s[1] != '\0')
        return 2;
    if (s[1] != 'u' || n < 6)
        return 0;
    for (size_t i = 2; i < 6; i++)
        if (!is_hex(s[i]))
            return 0;
    if (memcmp(s + 2, "0000", 4) == 0)
        return 0;
    return 6;
}

/* What cJSON does not check: UTF-8 validity, control bytes, strict number
 * grammar, escapes, and depth (counted before cJSON recurses). */
static bool prescan(const unsigned char *s, size_t n)
{
    size_t i = 0, k;
    int depth = 0;
    bool in_str = false;

    while (i < n) {
        unsigned char c = s[i];

        if (c >= 0x80) {
            k = buf_utf8_len((const char *)s + i, n - i);
        } else if (in_str) {
            if (c < 0x20)
                return false;
            if (c == '"')
                in_str = false;
            k = c == '\\' ? escape_len(s + i, n - i) : 1;
        } else if (c == '"') {
            in_str = true;
            k = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > JSON_MAX_DEPTH)
                return false;
            k = 1;
        } else if (c == '}' || c == ']') {
            depth--; /* unbalanced input is cJSON's to refuse */
            k = 1;
        } else if (c == '-' || is_digit(c)) {
            k = number_len(s + i, n - i);
        } else if (c < 0x20) {
            k = is_ws(c) ? 1 : 0;
        } else {
            k = 1;
        }
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static bool depth_ok(const cJSON *it, int depth)
{
    if (!cJSON_IsArray(it) && !cJSON_IsObject(it))
        return true;
    if (depth >= JSON_MAX_DEPTH)
        return false;
    for (const cJSON *c = it->child; c; c = c->next)
        if (!depth_ok(c, depth + 1))
            return false;
    return true;
}

/* Parses a NUL-terminated copy: cJSON 1.7.15 reads one byte past the
 * length on input such as {"a":1, (DaveGamble/cJSON#800, CVE-2023-53154,
 * fixed in 1.7.17), and callers' buffers need not have that byte. */
enum bm_rc json_parse(const char *text, size_t len, cJSON **out)
{
    char small[JSON_COPY_STACK];
    char *copy = small;
    const char *end = NULL;
    cJSON *root = NULL;
    enum bm_rc rc = BM_EINVAL;

    *out = NULL;
    if (!text || len == 0 || len == SIZE_MAX ||
        !prescan((const unsigned char *)text, len))
        return BM_EINVAL;
    if (len >= sizeof(small)) {
        copy = malloc(len + 1);
        if (!copy)
            return BM_ENOMEM;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
    if (!root || !end || end < copy || end > copy + len)
        goto out;
    while (end < copy + len && is_ws((unsigned char)*end))
        end++;
    if (end != copy + len || !depth_ok(root, 0))
        goto out;
    *out = root;
    root = NULL;
    rc = BM_OK;
out:
    cJSON_Delete(root);
    if (copy != small)
        free(copy);
    return rc;
}

cJSON *json_get(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj) || !key)
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

enum bm_rc json_as_double(const cJSON *it, double *out)
{
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return BM_EINVAL;
    *out = it->valuedouble;
    return BM_OK;
}

enum bm_rc json_as_i64(const cJSON *it, int64_t min, int64_t max, int64_t *out)
{
    double d;
    int64_t v;

    if (!cJSON_IsNumber(it))
        return BM_EINVAL;
    d = it->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return BM_EINVAL;
    /* Past 2^53 - 1 the double may already be a rounded neighbour. */
    if (fabs(d) > JSON_MAX_SAFE_INT)
        return BM_ERANGE;
    v = (int64_t)d;
    if (v < min || v > max)
        return BM_ERANGE;
    *out = v;
    return BM_OK;
}

enum bm_rc json_as_bool(const cJSON *it, bool *out)
{
    if (!cJSON_IsBool(it))
        return BM_EINVAL;
    *out = cJSON_IsTrue(it) != 0;
    return BM_OK;
}

enum bm_rc json_as_str(const cJSON *it, const char **out)
{
    if (!cJSON_IsString(it) || !it->valuestring)
        return BM_EINVAL;
    *out = it->valuestring;
    return BM_OK;
}

cJSON *json_get_path(const cJSON *root, const char *path)
{
    const cJSON *obj = root;
    cJSON *cur;
    char key[JSON_PATH_KEY_MAX];

    if (!path)
        return NULL;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);

        if (n == 0 || n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_get(obj, key);
        if (!cur || !dot)
            return cur;
        obj = cur;
        path = dot + 1;
    }
}

enum bm_rc json_want_str(const cJSON *it, const char *name, const char **out,
                         struct api_fail *fail)
{
    if (json_as_str(it, out) != BM_OK) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must be a string", name);
        return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc json_want_choice(const cJSON *it, const char *name, const char *const *names, int n,
                            int *out, struct api_fail *fail)
{
    const char *s;

    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return BM_OK;
        }
    }
    api_fail_set(fail, API_BAD_VALUE, name, "%s is not one of the allowed values", name);
    return BM_EINVAL;
}

enum bm_rc json_want_code(const cJSON *it, const char *name, const char *prefix, int digits,
                          char *out, size_t size, struct api_fail *fail)
{
    size_t np = strlen(prefix), n = np + (size_t)digits;
    const char *s;
    bool ok;

    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    ok = n < size && strlen(s) == n && strncmp(s, prefix, np) == 0;
    for (size_t i = np; ok && i < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
        api_fail_set(fail, API_BAD_VALUE, name, "%s must be %s followed by %d digits", name,
                     prefix, digits);
        return BM_EINVAL;
    }
    memcpy(out, s, n + 1);
    return BM_OK;
}

enum bm_rc json_want_country(const cJSON *it, const char *name, char out[3],
                             struct api_fail *fail)
{
    const char *s;

    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z') {
        api_fail_set(fail, API_BAD_VALUE, name, "%s must be an ISO 3166 alpha-2 code", name);
        return BM_EINVAL;
    }
    memcpy(out, s, 3);
    return BM_OK;
}

/* Appends a client's key to out (length *n, capacity size) made safe to
 * echo in "field": printable ASCII, cut short. */
static void put_safe(char *out, size_t size, size_t *n, const char *key)
{
    for (; *key && *n + 1 < size; key++)
        out[(*n)++] = (*key >= 0x20 && *key < 0x7f) ? *key : '?';
    out[*n] = '\0';
}

/* "obj.key", or "key" for a request body (obj ""). */
static void member_name(char *out, size_t size, const char *obj, const char *key)
{
    size_t n = 0;

    out[0] = '\0';
    if (*obj) {
        put_safe(out, size, &n, obj);
        put_safe(out, size, &n, ".");
    }
    put_safe(out, size, &n, key);
}

static bool one_of(const char *key, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(key, names[i]) == 0)
            return true;
    return false;
}

/* The index of member `key` in spec->names, or -1 with *fail set. */
static int member_index(const struct json_members *spec, const char *key, const char *name,
                        struct api_fail *fail)
{
    for (int i = 0; i < spec->n; i++)
        if (strcmp(key, spec->names[i]) == 0)
            return i;
    if (one_of(key, spec->readonly, spec->n_readonly))
        api_fail_set(fail, API_READONLY, name, "%s is set by the server", name);
    else
        api_fail_set(fail, API_UNKNOWN_FIELD, name, "unknown field %s", name);
    return -1;
}

enum bm_rc json_want_members(const cJSON *it, const struct json_members *spec, void *ctx,
                             struct api_fail *fail)
{
    uint32_t seen = 0;
    char name[64];

    if (spec->n < 0 || spec->n > 32)
        return BM_EINVAL;
    if (!cJSON_IsObject(it)) {
        if (*spec->obj)
            api_fail_set(fail, API_BAD_TYPE, spec->obj, "%s must be an object", spec->obj);
        else
            api_fail_set(fail, API_BAD_TYPE, "", "the body must be a JSON object");
        return BM_EINVAL;
    }
    for (const cJSON *c = it->child; c; c = c->next) {
        int k;

        member_name(name, sizeof name, spec->obj, c->string);
        k = member_index(spec, c->string, name, fail);
        if (k < 0)
            return BM_EINVAL;
        if (seen & (1u << k)) {
            api_fail_set(fail, API_BAD_VALUE, name, "duplicate field %s", name);
            return BM_EINVAL;
        }
        seen |= 1u << k;
        if (spec->one(c, k, ctx, fail) != BM_OK)
            return BM_EINVAL;
    }
    for (int i = 0; i < spec->n; i++) {
        if ((spec->required & (1u << i)) && !(seen & (1u << i))) {
            member_name(name, sizeof name, spec->obj, spec->names[i]);
            api_fail_set(fail, API_BAD_VALUE, name, "%s is required", name);
            return BM_EINVAL;
        }
    }
    return BM_OK;
}
