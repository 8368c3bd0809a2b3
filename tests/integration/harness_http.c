/* harness_http.c - HTTP over libcurl, /health waits, JSON members. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

const char *const h_json_ct[] = { "Content-Type: application/json", NULL };

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;
    char *nb = realloc(r->body, r->len + n + 1);

    if (!nb)
        return 0;
    memcpy(nb + r->len, ptr, n);
    r->body = nb;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static void copy_header(char *dst, size_t len, const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);

    if (n > nl && strncasecmp(line, name, nl) == 0) {
        const char *v = line + nl;
        size_t vl = n - nl;
        while (vl && (*v == ' '))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(dst, len, "%.*s", (int)vl, v);
    }
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;

    copy_header(r->ctype, sizeof(r->ctype), ptr, n, "Content-Type:");
    copy_header(r->request_id, sizeof(r->request_id), ptr, n, "X-Request-ID:");
    copy_header(r->allow, sizeof(r->allow), ptr, n, "Allow:");
    return n;
}

int h_http_req(int port, const char *method, const char *path, const char *body,
               const char *const *headers, struct resp *r)
{
    return h_http_req_len(port, method, path, body, body ? strlen(body) : 0, headers, r);
}

int h_http_req_len(int port, const char *method, const char *path, const char *body, size_t len,
                   const char *const *headers, struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[2048];
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body) {
        r->body = calloc(1, 1);
    }
    return rc == CURLE_OK ? 0 : -1;
}

void h_resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

cJSON *h_http_get_json(int port, const char *path, long *status)
{
    struct resp r;
    cJSON *j = NULL;

    if (h_http_req(port, "GET", path, NULL, NULL, &r) == 0)
        j = cJSON_ParseWithLength(r.body, r.len);
    if (status)
        *status = r.status;
    h_resp_free(&r);
    return j;
}

bool h_wait_health_status(int port, const char *status, int timeout_ms)
{
    long deadline = h_now_ms() + timeout_ms;

    while (h_now_ms() < deadline) {
        cJSON *h = h_http_get_json(port, "/health", NULL);
        cJSON *s = cJSON_GetObjectItemCaseSensitive(h, "status");
        bool ok = cJSON_IsString(s) && strcmp(s->valuestring, status) == 0;
        cJSON_Delete(h);
        if (ok)
            return true;
        h_sleep_ms(20);
    }
    return false;
}

cJSON *h_get_json(int port, const char *path)
{
    struct resp r;
    cJSON *j;

    if (h_http_req(port, "GET", path, NULL, NULL, &r) != 0)
        fail_msg("GET %s: no answer", path);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    if (!strstr(r.ctype, "application/json"))
        fail_msg("GET %s: Content-Type \"%s\"", path, r.ctype);
    j = cJSON_ParseWithLength(r.body, r.len);
    if (!j)
        fail_msg("GET %s: not JSON: %.200s", path, r.body);
    h_resp_free(&r);
    return j;
}

char *h_get_config(int port)
{
    struct resp r;

    assert_int_equal(h_http_req(port, "GET", "/config", NULL, NULL, &r), 0);
    if (r.status != 200)
        fail_msg("GET /config: %ld %s", r.status, r.body);
    return r.body;
}

long long h_health_head(int port)
{
    cJSON *h = h_get_json(port, "/health");
    long long head = h_jnum(h, "head_sequence");

    cJSON_Delete(h);
    return head;
}

bool h_wait_head(int port, long long min, int timeout_ms)
{
    long deadline = h_now_ms() + timeout_ms;

    while (h_now_ms() < deadline) {
        if (h_health_head(port) >= min)
            return true;
        h_sleep_ms(20);
    }
    return false;
}

bool h_wait_backfilled(int port, int timeout_ms)
{
    long deadline = h_now_ms() + timeout_ms, moved = h_now_ms();
    long long last_head = -1;

    while (h_now_ms() < deadline) {
        cJSON *h = h_get_json(port, "/health");
        const cJSON *bf = cJSON_GetObjectItemCaseSensitive(h, "backfill");
        const char *st = h_jstr(h, "status");
        bool ok;

        /* a broken daemon fails now, not at the deadline */
        if (!st || !cJSON_IsObject(bf))
            fail_msg("/health answered without a status and a backfill: daemon broken");
        ok = strcmp(st, "ok") == 0 && h_jnum(bf, "total") > 0 &&
             h_jnum(bf, "done") == h_jnum(bf, "total");
        if (h_jnum(h, "head_sequence") != last_head) {
            last_head = h_jnum(h, "head_sequence");
            moved = h_now_ms();
        }
        cJSON_Delete(h);
        if (ok)
            return true;
        if (h_now_ms() - moved > 15000)
            fail_msg("backfill stalled at sequence %lld for 15 s", last_head);
        h_sleep_ms(20);
    }
    return false;
}

void h_proc_start_backfilled(struct proc *p, const char *tag, const char *binary,
                             const char *config, const char *const *args, int timeout_ms)
{
    h_proc_init(p, tag);
    if (config)
        h_proc_write_config(p, config);
    assert_int_equal(h_proc_start(p, binary, args), 0);
    assert_true(h_wait_backfilled(p->port, timeout_ms));
}

cJSON *h_wait_first_events(int port, const char *path)
{
    cJSON *j = NULL;

    for (int tries = 0; tries < 50; tries++) {
        cJSON_Delete(j);
        j = h_http_get_json(port, path, NULL);
        if (cJSON_GetArraySize(h_events_of(j)) > 0)
            break;
        h_sleep_ms(100);
    }
    return j;
}

/* ------------------------------------------------------------------ */
/* JSON members                                                         */

const char *h_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long h_jnum(const cJSON *o, const char *k)
{
    return (long long)h_jdbl(o, k);
}

double h_jdbl(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("\"%s\" is not a number", k);
    return v->valuedouble;
}

bool h_is_str_or_null(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && (cJSON_IsString(v) || cJSON_IsNull(v));
}

bool h_is_num_or_null(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && (cJSON_IsNumber(v) || cJSON_IsNull(v));
}

bool h_is_uuid_v4(const char *s)
{
    if (!s || strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

int h_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
