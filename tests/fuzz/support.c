/* support.c - helpers shared by the fuzz targets. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "json.h"
#include "timefmt.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

bool fuzz_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

bool fuzz_json_ok(const char *text, size_t len)
{
    cJSON *root = NULL;
    bool ok = json_parse(text, len, &root) == BM_OK;

    cJSON_Delete(root);
    return ok;
}

/* The same members, in the same way, as http_server.c's send_error_v(). */
bool fuzz_fail_body_ok(const struct api_fail *f)
{
    struct buf b;
    bool ok;

    if ((int)f->err < 0 || (int)f->err >= (int)API_ERR_COUNT ||
        !fuzz_terminated(f->field, sizeof(f->field)) || !fuzz_terminated(f->msg, sizeof(f->msg)))
        return false;
    buf_init(&b, 4096);
    ok = buf_puts(&b, "{\"error\":{\"code\":") == BM_OK &&
         buf_put_json_str(&b, api_error_table[f->err].code) == BM_OK &&
         buf_puts(&b, ",\"message\":") == BM_OK && buf_put_json_str(&b, f->msg) == BM_OK &&
         buf_puts(&b, ",\"field\":") == BM_OK &&
         buf_put_json_str_or_null(&b, f->field[0] ? f->field : NULL) == BM_OK &&
         buf_puts(&b, "}}") == BM_OK && fuzz_json_ok(b.data, b.len);
    buf_free(&b);
    return ok;
}

bool fuzz_fail_is_422(const struct api_fail *f)
{
    return f->err == API_UNKNOWN_FIELD || f->err == API_BAD_TYPE || f->err == API_BAD_VALUE ||
           f->err == API_READONLY;
}

static bool in_range(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

void fuzz_check_config(const struct bm_config *c)
{
    int tz = 0;

    FUZZ_CHECK(c->port >= 0 && c->port <= 65535);
    FUZZ_CHECK(fuzz_terminated(c->bind, sizeof(c->bind)));
    FUZZ_CHECK(fuzz_terminated(c->db_path, sizeof(c->db_path)));
    FUZZ_CHECK(fuzz_terminated(c->config_path, sizeof(c->config_path)));
    FUZZ_CHECK(fuzz_terminated(c->admin_token, sizeof(c->admin_token)));
    FUZZ_CHECK(fuzz_terminated(c->txn_urls, sizeof(c->txn_urls)));
    FUZZ_CHECK(fuzz_terminated(c->auth_urls, sizeof(c->auth_urls)));
    FUZZ_CHECK(fuzz_terminated(c->mon_urls, sizeof(c->mon_urls)));
    FUZZ_CHECK(c->backfill_s >= 0 && c->backfill_s <= 365 * 86400);
    FUZZ_CHECK(c->log_level >= 0 && c->log_level <= 3);
    FUZZ_CHECK(in_range(c->anomaly_rate, 0, 0.5));
    /* a type's absolute rate, or unset (it shares what anomaly_rate leaves) */
    for (int i = 0; i < GEN_MAX_TYPES; i++)
        FUZZ_CHECK(c->weights[i] == CFG_RATE_UNSET || in_range(c->weights[i], 0, 0.5));
    FUZZ_CHECK(in_range(c->failed_login_rate, 0, 0.5));
    FUZZ_CHECK(in_range(c->events_per_second, 0.01, 5000));
    FUZZ_CHECK(c->retention_events >= 1000 && c->retention_events <= 100000000);
    FUZZ_CHECK(c->batch_size >= 1 && c->batch_size <= 100000);
    /* the text kept for display reads back as the offset in use */
    FUZZ_CHECK(fuzz_terminated(c->timezone, sizeof(c->timezone)));
    FUZZ_CHECK(timefmt_parse_tz(c->timezone, &tz) == BM_OK && tz == c->tz_offset_min);
    for (int i = 0; i < 3; i++)
        FUZZ_CHECK(in_range(c->segments[i], 0, 1));
    FUZZ_CHECK(fabs(c->segments[0] + c->segments[1] + c->segments[2] - 1.0) <= 1e-6);
    FUZZ_CHECK(c->poll_interval_ms >= 50 && c->poll_interval_ms <= 600000);
    FUZZ_CHECK(c->upstream_timeout_ms >= 10 && c->upstream_timeout_ms <= 600000);
    FUZZ_CHECK(c->buffer_bytes >= 65536 && c->buffer_bytes <= 1073741824);
}

/* == rather than memcmp: -0.0 and 0.0 are the same setting. */
static bool doubles_same(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

bool fuzz_config_same(const struct bm_config *a, const struct bm_config *b)
{
    return a->port == b->port && strcmp(a->bind, b->bind) == 0 &&
           strcmp(a->db_path, b->db_path) == 0 && strcmp(a->config_path, b->config_path) == 0 &&
           a->config_explicit == b->config_explicit && a->seed == b->seed &&
           a->seed_set == b->seed_set && a->start_time_ms == b->start_time_ms &&
           a->start_time_set == b->start_time_set && a->backfill_s == b->backfill_s &&
           a->reset_config == b->reset_config && a->check_config == b->check_config &&
           a->help == b->help && a->version == b->version && a->log_level == b->log_level &&
           strcmp(a->admin_token, b->admin_token) == 0 && a->anomaly_rate == b->anomaly_rate &&
           doubles_same(a->weights, b->weights, GEN_MAX_TYPES) &&
           a->failed_login_rate == b->failed_login_rate &&
           a->events_per_second == b->events_per_second && a->paused == b->paused &&
           a->retention_events == b->retention_events && a->batch_size == b->batch_size &&
           a->tz_offset_min == b->tz_offset_min && strcmp(a->timezone, b->timezone) == 0 &&
           doubles_same(a->segments, b->segments, 3) &&
           a->poll_interval_ms == b->poll_interval_ms &&
           a->upstream_timeout_ms == b->upstream_timeout_ms &&
           a->buffer_bytes == b->buffer_bytes && strcmp(a->txn_urls, b->txn_urls) == 0 &&
           strcmp(a->auth_urls, b->auth_urls) == 0 && strcmp(a->mon_urls, b->mon_urls) == 0;
}
