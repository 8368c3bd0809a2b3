/* sink.c - the Kinesis sink (sink.h, docs/kinesis.md).
 *
 * One thread: it reads committed events in sequence order past what it
 * has read into a window, sends PutRecords batches of them on its own
 * connection, and moves the cursor over the acknowledged prefix of the
 * window. Order per entity: a batch holds at most one record of a
 * partition key, and a record goes out only once every earlier record of
 * its key is acknowledged (the earlier one, if it failed, is picked again
 * first, and blocks the key for that batch). So a record that failed is
 * never overtaken in the stream by a later one of its entity; PutRecords
 * itself orders nothing between records of a request.
 *
 * At least once: the cursor is stored (meta "sink_cursor:STREAM")
 * through the generator loop's queue a little after it moves, so a
 * restart resends what was acknowledged after the last store; consumers
 * deduplicate by (service, sequence). */
#include "sink.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "genloop.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "rng.h"
#include "timefmt.h"

#define BATCH_RECORDS    500                 /* PutRecords: at most 500 records */
#define BATCH_BYTES      (4u * 1024 * 1024)  /* and 5 MiB; what we count is close */
#define WINDOW_MAX       4000                /* events read ahead of the cursor */
#define REQUEST_MS       10000
#define IDLE_WAIT_MS     20                  /* nothing to send: look again */
#define PERSIST_EVERY_US 200000              /* store the cursor at most this often */
#define BACKOFF_BASE_MS  50
#define BACKOFF_CAP_MS   3000
#define FAILING_AFTER    3                   /* transient failures in a row */
#define KEYSET_SLOTS     1024                /* > 2 x BATCH_RECORDS */
#define SAMPLES          512
#define RESP_MAX         (1u << 20)

struct rec {
    uint64_t seq;
    char *key;    /* partition key, NUL-terminated */
    char *data;   /* base64 of the event's JSON */
    size_t data_len;
    bool acked;
};

/* When the head was seen to reach a sequence: lag in seconds is the age
 * of the first sample past the cursor. */
struct sample {
    uint64_t head;
    int64_t at_us;
};

struct creds {
    char key_id[128];
    char secret[128];
    char token[2048];
    int64_t expires_ms; /* 0: never (from the environment) */
    bool from_imds;
};

struct sink {
    enum bm_svc svc;
    const char *entity;  /* svc_info's entity_field */
    char db_path[512];
    const struct db_sql *sql;
    struct genloop *gl;
    char stream[SINK_STREAM_MAX + 1];
    char region[64];
    char url[512];
    char sigv4[128];
    char imds[256];      /* IMDS base URL, "" disabled */
    struct creds creds;
    char cursor_key[SINK_STREAM_MAX + 16];

    /* thread-private */
    struct hc_conn *conn;
    struct db *db;
    struct rng rng;
    struct rec *win;
    size_t wlen;
    uint64_t read_upto;   /* newest sequence read into the window */
    uint64_t persisted;   /* cursor as last stored */
    int64_t persisted_us;
    struct sample samples[SAMPLES];
    size_t nsamples;
    int fails;            /* failed requests in a row */

    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards wake's wait and everything below */
    pthread_cond_t wake;
    uint64_t cursor;
    int64_t waiting_since_us; /* first sample past the cursor, 0 none */
    int64_t sampled_us;       /* the newest sample */
    bool failing;
    char error[256];
    uint64_t delivered, dropped, requests, retries, throttled, failed_records;
};

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

static bool stream_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > SINK_STREAM_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

enum bm_rc sink_check_config(const struct bm_config *c, char *err, size_t errlen)
{
    if (!c->sink[0])
        return BM_OK;
    if (strncmp(c->sink, "kinesis:", 8) != 0 || !stream_name_ok(c->sink + 8)) {
        snprintf(err, errlen,
                 "sink: expected kinesis:STREAM (1-128 of A-Z a-z 0-9 _ . -), got \"%s\"",
                 c->sink);
        return BM_EINVAL;
    }
    return BM_OK;
}

static const char *env_or(const char *a, const char *b, const char *def)
{
    const char *v = getenv(a);

    if ((!v || !*v) && b)
        v = getenv(b);
    return v && *v ? v : def;
}

static void set_error(struct sink *s, bool failing, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(struct sink *s, bool failing, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    bool was;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->lock);
    was = s->failing;
    if (failing) {
        s->failing = true;
        snprintf(s->error, sizeof(s->error), "%s", msg);
    }
    pthread_mutex_unlock(&s->lock);
    if (failing && !was)
        log_warn("sink %s failing: %s", s->stream, msg);
    else
        log_debug("sink %s: %s", s->stream, msg);
}

static void set_ok(struct sink *s)
{
    bool was;

    pthread_mutex_lock(&s->lock);
    was = s->failing;
    s->failing = false;
    s->error[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    if (was)
        log_info("sink %s delivering again", s->stream);
}

/* Endpoint, region and credentials as the AWS SDKs read them. */
static void read_env(struct sink *s)
{
    const char *region = env_or("AWS_REGION", "AWS_DEFAULT_REGION", "us-east-1");
    const char *ep = env_or("AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL", NULL);
    const char *imds = env_or("AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL,
                              "http://169.254.169.254");
    const char *off = env_or("AWS_EC2_METADATA_DISABLED", NULL, "");
    size_t n;

    snprintf(s->region, sizeof(s->region), "%s", region);
    if (ep)
        snprintf(s->url, sizeof(s->url), "%s", ep);
    else
        snprintf(s->url, sizeof(s->url), "https://kinesis.%s.amazonaws.com", s->region);
    n = strlen(s->url);
    while (n > 0 && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    /* the path the request signs */
    if (n + 1 < sizeof(s->url))
        s->url[n] = '/', s->url[n + 1] = '\0';
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:kinesis", s->region);
    if (strcmp(off, "true") != 0)
        snprintf(s->imds, sizeof(s->imds), "%s", imds);
    n = strlen(s->imds);
    while (n > 0 && s->imds[n - 1] == '/')
        s->imds[--n] = '\0';
    snprintf(s->creds.key_id, sizeof(s->creds.key_id), "%s",
             env_or("AWS_ACCESS_KEY_ID", NULL, ""));
    snprintf(s->creds.secret, sizeof(s->creds.secret), "%s",
             env_or("AWS_SECRET_ACCESS_KEY", NULL, ""));
    snprintf(s->creds.token, sizeof(s->creds.token), "%s",
             env_or("AWS_SESSION_TOKEN", NULL, ""));
}

/* ------------------------------------------------------------------ */
/* Instance role credentials (IMDSv2)                                   */

static bool imds_get(struct sink *s, const char *method, const char *path,
                     const char *header, struct buf *out)
{
    char url[512];
    const char *hdrs[] = { header, NULL };
    struct hc_request rq = { .method = method, .url = url, .headers = hdrs,
                             .timeout_ms = 2000, .max_body = 16384, .cancel = &s->stop };
    struct hc_resp r;
    bool ok;

    snprintf(url, sizeof(url), "%s%s", s->imds, path);
    hc_request(&rq, &r);
    ok = r.result == HC_OK && r.status == 200 && r.body.len > 0;
    if (ok)
        ok = buf_append(out, r.body.data, r.body.len) == BM_OK && buf_putc(out, '\0') == BM_OK;
    else
        set_error(s, true, "instance credentials: %s %s: %s (HTTP %ld)", method, path,
                  r.result == HC_OK ? "refused" : r.error, r.status);
    hc_resp_free(&r);
    return ok;
}

static bool copy_str(const cJSON *root, const char *key, char *out, size_t len)
{
    const cJSON *v = json_get(root, key);
    const char *str;

    if (json_as_str(v, &str) != BM_OK || strlen(str) >= len)
        return false;
    memcpy(out, str, strlen(str) + 1);
    return true;
}

static bool imds_parse(struct sink *s, const struct buf *b)
{
    cJSON *root = NULL;
    char exp[64] = "";
    bool ok;

    if (json_parse(b->data, b->len - 1, &root) != BM_OK)
        return false;
    ok = copy_str(root, "AccessKeyId", s->creds.key_id, sizeof(s->creds.key_id)) &&
         copy_str(root, "SecretAccessKey", s->creds.secret, sizeof(s->creds.secret)) &&
         copy_str(root, "Token", s->creds.token, sizeof(s->creds.token));
    /* Without a readable Expiration, ask again in ten minutes. */
    s->creds.expires_ms = time_now_ms() + 600000;
    if (ok && copy_str(root, "Expiration", exp, sizeof(exp)) &&
        timefmt_parse_iso(exp, &s->creds.expires_ms) != BM_OK)
        s->creds.expires_ms = time_now_ms() + 600000;
    cJSON_Delete(root);
    return ok;
}

static bool imds_fetch(struct sink *s)
{
    struct buf tok, role, body;
    char hdr[1200], path[512];
    bool ok = false;

    buf_init(&tok, 4096);
    buf_init(&role, 4096);
    buf_init(&body, 16384);
    if (!imds_get(s, "PUT", "/latest/api/token",
                  "X-aws-ec2-metadata-token-ttl-seconds: 21600", &tok))
        goto out;
    snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", tok.data);
    if (!imds_get(s, "GET", "/latest/meta-data/iam/security-credentials/", hdr, &role))
        goto out;
    role.data[strcspn(role.data, "\r\n")] = '\0';
    snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role.data);
    if (!imds_get(s, "GET", path, hdr, &body))
        goto out;
    ok = imds_parse(s, &body);
    if (!ok)
        set_error(s, true, "instance credentials: unreadable answer for role %s", role.data);
    else
        s->creds.from_imds = true;
out:
    buf_free(&body);
    buf_free(&role);
    buf_free(&tok);
    return ok;
}

/* Credentials usable now: the environment's, or the instance role's,
 * fetched again five minutes before they expire. */
static bool creds_ready(struct sink *s, bool force)
{
    if (!s->creds.from_imds && s->creds.key_id[0] && s->creds.secret[0])
        return true;
    if (!s->imds[0]) {
        set_error(s, true, "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return false;
    }
    if (!force && s->creds.from_imds && time_now_ms() < s->creds.expires_ms - 300000)
        return true;
    if (imds_fetch(s))
        return true;
    /* a failed refresh: the ones held serve until they expire */
    return !force && s->creds.from_imds && time_now_ms() < s->creds.expires_ms;
}

/* ------------------------------------------------------------------ */
/* The window of events read ahead                                      */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *in, size_t n, size_t *outlen)
{
    size_t len = 4 * ((n + 2) / 3), o = 0;
    char *out = malloc(len + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* The entity's id: the value of the top-level "field":"..." the encoders
 * write before any nested object; the service's name if it is missing. */
static const char *find(const char *hay, size_t len, const char *needle, size_t n)
{
    const char *p = hay, *end = hay + len;

    while (n && (size_t)(end - p) >= n && (p = memchr(p, needle[0], (size_t)(end - p) - n + 1))) {
        if (memcmp(p, needle, n) == 0)
            return p;
        p++;
    }
    return NULL;
}

static char *entity_of(const struct sink *s, const char *body, size_t len)
{
    char needle[64];
    const char *p, *end = body + len, *q;
    size_t n;

    n = (size_t)snprintf(needle, sizeof(needle), "\"%s\":\"", s->entity ? s->entity : "");
    p = s->entity ? find(body, len, needle, n) : NULL;
    if (p) {
        p += n;
        for (q = p; q < end && *q != '"' && *q != '\\'; q++)
            ;
        if (q < end && *q == '"' && q > p && q - p <= 256)
            return strndup(p, (size_t)(q - p));
    }
    return strdup(svc_info(s->svc)->name);
}

static void rec_free(struct rec *r)
{
    free(r->key);
    free(r->data);
}

struct fill {
    struct sink *s;
    uint64_t gap; /* events missing between reads: pruned before delivery */
    bool nomem;
};

static bool on_event(void *ud, uint64_t seq, int64_t ts_ms, const char *type, const char *body,
                     size_t len)
{
    struct fill *f = ud;
    struct sink *s = f->s;
    struct rec *r = &s->win[s->wlen];

    (void)ts_ms;
    (void)type;
    r->seq = seq;
    r->acked = false;
    r->key = entity_of(s, body, len);
    r->data = base64(body, len, &r->data_len);
    if (!r->key || !r->data) {
        rec_free(r);
        f->nomem = true;
        return false;
    }
    if (seq > s->read_upto + 1)
        f->gap += seq - s->read_upto - 1;
    s->read_upto = seq;
    s->wlen++;
    return true;
}

/* Reads what was committed after the window into it. */
static void fill_window(struct sink *s)
{
    struct fill f = { .s = s };
    uint64_t head = genloop_head(s->gl);

    if (s->wlen >= WINDOW_MAX || head <= s->read_upto)
        return;
    if (db_read_after(s->db, s->read_upto, (int64_t)(WINDOW_MAX - s->wlen), on_event, &f) !=
        BM_OK)
        log_warn("sink %s: reading events failed: %s", s->stream, db_errmsg(s->db));
    if (f.gap) {
        pthread_mutex_lock(&s->lock);
        s->dropped += f.gap;
        pthread_mutex_unlock(&s->lock);
        log_warn("sink %s: %llu events were pruned before delivery (sink_max_lag_events)",
                 s->stream, (unsigned long long)f.gap);
    }
}

/* The time the head was first seen past the cursor, from the samples. */
static void note_head(struct sink *s, uint64_t cursor)
{
    uint64_t head = genloop_head(s->gl);
    int64_t now = time_mono_us();
    size_t drop = 0;

    if (s->nsamples == 0 || head > s->samples[s->nsamples - 1].head) {
        if (s->nsamples == SAMPLES) {
            /* full: the newest sample keeps its older time (overstates) */
            s->samples[s->nsamples - 1].head = head;
        } else {
            s->samples[s->nsamples].head = head;
            s->samples[s->nsamples].at_us = now;
            s->nsamples++;
        }
    }
    while (drop < s->nsamples && s->samples[drop].head <= cursor)
        drop++;
    if (drop) {
        memmove(s->samples, s->samples + drop, (s->nsamples - drop) * sizeof(s->samples[0]));
        s->nsamples -= drop;
    }
    pthread_mutex_lock(&s->lock);
    s->waiting_since_us = s->nsamples ? s->samples[0].at_us : 0;
    s->sampled_us = now;
    pthread_mutex_unlock(&s->lock);
}

/* Moves the cursor over the acknowledged front of the window. */
static void advance(struct sink *s)
{
    size_t i = 0;
    uint64_t cursor;

    while (i < s->wlen && s->win[i].acked)
        rec_free(&s->win[i++]);
    if (i) {
        memmove(s->win, s->win + i, (s->wlen - i) * sizeof(*s->win));
        s->wlen -= i;
    }
    cursor = s->wlen ? s->win[0].seq - 1 : s->read_upto;
    pthread_mutex_lock(&s->lock);
    if (cursor > s->cursor)
        s->cursor = cursor;
    cursor = s->cursor;
    pthread_mutex_unlock(&s->lock);
    genloop_sink_floor(s->gl, (int64_t)cursor);
    note_head(s, cursor);
}

/* ------------------------------------------------------------------ */
/* The cursor in the database                                           */

struct cursor_write {
    char key[SINK_STREAM_MAX + 16];
    char val[24];
};

static enum bm_rc write_cursor(void *arg, struct db *db)
{
    const struct cursor_write *w = arg;

    return db_meta_set(db, w->key, w->val, strlen(w->val));
}

static void persist(struct sink *s, bool now)
{
    struct cursor_write w;
    uint64_t cursor;
    int64_t t = time_mono_us();

    pthread_mutex_lock(&s->lock);
    cursor = s->cursor;
    pthread_mutex_unlock(&s->lock);
    if (cursor <= s->persisted || (!now && t - s->persisted_us < PERSIST_EVERY_US))
        return;
    snprintf(w.key, sizeof(w.key), "%s", s->cursor_key);
    snprintf(w.val, sizeof(w.val), "%llu", (unsigned long long)cursor);
    s->persisted_us = t;
    if (genloop_submit_write(s->gl, write_cursor, &w, sizeof(w)) == BM_OK)
        s->persisted = cursor;
    else
        log_debug("sink %s: cursor not stored yet", s->stream);
}

/* The stored cursor, or (a new sink) just before the oldest event kept. */
static enum bm_rc load_cursor(struct sink *s)
{
    struct buf b;
    bool found = false;
    uint64_t head, oldest, v = 0;
    enum bm_rc rc;

    buf_init(&b, 64);
    rc = db_meta_get(s->db, s->cursor_key, &b, &found);
    if (rc == BM_OK && found) {
        char text[24];
        snprintf(text, sizeof(text), "%.*s", (int)b.len, b.data ? b.data : "");
        if (parse_u64(text, &v) != BM_OK)
            found = false;
    }
    if (rc == BM_OK && !found) {
        rc = db_bounds(s->db, &head, &oldest);
        v = oldest ? oldest - 1 : head;
    }
    buf_free(&b);
    if (rc != BM_OK)
        return rc;
    pthread_mutex_lock(&s->lock);
    s->cursor = v; /* /health reads it */
    pthread_mutex_unlock(&s->lock);
    s->read_upto = v;
    s->persisted = found ? v : 0;
    log_info("sink %s: %s at sequence %llu", s->stream, found ? "resuming" : "starting",
             (unsigned long long)v);
    return BM_OK;
}

/* ------------------------------------------------------------------ */
/* PutRecords                                                           */

static size_t key_slot(const char *k)
{
    uint64_t h = 1469598103934665603ull;

    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return (size_t)(h & (KEYSET_SLOTS - 1));
}

/* The batch: in window order, the first unacknowledged record of each
 * partition key (a later one of a key waits for the earlier's ack), up to
 * the request's limits. Returns the count; idx gets window positions. */
static size_t pick(const struct sink *s, size_t *idx)
{
    const char *slots[KEYSET_SLOTS] = { NULL };
    size_t n = 0, bytes = 64;

    for (size_t i = 0; i < s->wlen && n < BATCH_RECORDS; i++) {
        const struct rec *r = &s->win[i];
        size_t h, need;
        bool taken = false;

        if (r->acked)
            continue;
        for (h = key_slot(r->key); slots[h]; h = (h + 1) & (KEYSET_SLOTS - 1))
            if (strcmp(slots[h], r->key) == 0) {
                taken = true;
                break;
            }
        if (taken)
            continue;
        need = r->data_len + 6 * strlen(r->key) + 40;
        if (n > 0 && bytes + need > BATCH_BYTES)
            break;
        slots[h] = r->key;
        bytes += need;
        idx[n++] = i;
    }
    return n;
}

static enum bm_rc build_body(const struct sink *s, const size_t *idx, size_t n, struct buf *b)
{
    enum bm_rc rc = buf_puts(b, "{\"StreamName\":");

    if (rc == BM_OK)
        rc = buf_put_json_str(b, s->stream);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"Records\":[");
    for (size_t i = 0; i < n && rc == BM_OK; i++) {
        const struct rec *r = &s->win[idx[i]];
        rc = buf_puts(b, i ? ",{\"Data\":\"" : "{\"Data\":\"");
        if (rc == BM_OK)
            rc = buf_append(b, r->data, r->data_len);
        if (rc == BM_OK)
            rc = buf_puts(b, "\",\"PartitionKey\":");
        if (rc == BM_OK)
            rc = buf_put_json_str(b, r->key);
        if (rc == BM_OK)
            rc = buf_putc(b, '}');
    }
    if (rc == BM_OK)
        rc = buf_puts(b, "]}");
    return rc;
}

enum outcome {
    SENT,      /* every record acknowledged */
    PARTIAL,   /* some failed: they go again */
    THROTTLED, /* the stream is over its throughput: all go again */
    TRANSIENT, /* 5xx, connection, timeout: all go again */
    REFUSED,   /* a stream that does not exist, bad credentials, ... */
    STOPPED
};

/* Marks the acknowledged records of a 200 answer; PARTIAL if any failed. */
static enum outcome take_answer(struct sink *s, const size_t *idx, size_t n,
                                const struct hc_resp *r)
{
    cJSON *root = NULL;
    const cJSON *recs, *it;
    uint64_t ok = 0, failed = 0, throttled = 0;
    size_t i = 0;
    char first[160] = "";

    if (json_parse(r->body.data ? r->body.data : "", r->body.len, &root) != BM_OK ||
        !cJSON_IsArray(recs = json_get(root, "Records")) ||
        (size_t)cJSON_GetArraySize(recs) != n) {
        cJSON_Delete(root);
        set_error(s, false, "PutRecords: unreadable answer");
        return TRANSIENT;
    }
    cJSON_ArrayForEach(it, recs) {
        const char *code = NULL;
        if (json_as_str(json_get(it, "ErrorCode"), &code) == BM_OK) {
            failed++;
            if (strcmp(code, "ProvisionedThroughputExceededException") == 0)
                throttled++;
            if (!first[0])
                snprintf(first, sizeof(first), "%s", code);
        } else {
            s->win[idx[i]].acked = true;
            ok++;
        }
        i++;
    }
    cJSON_Delete(root);
    pthread_mutex_lock(&s->lock);
    s->delivered += ok;
    s->failed_records += failed;
    s->throttled += throttled;
    pthread_mutex_unlock(&s->lock);
    if (failed)
        log_debug("sink %s: %llu of %zu records failed (%s)", s->stream,
                  (unsigned long long)failed, n, first);
    return failed ? PARTIAL : SENT;
}

/* The error type of an AWS JSON answer ("ns#Type" -> "Type"). */
static void error_of(const struct hc_resp *r, char *type, size_t tlen, char *msg, size_t mlen)
{
    cJSON *root = NULL;
    const char *t = NULL, *m = NULL;

    snprintf(type, tlen, "HTTP %ld", r->status);
    msg[0] = '\0';
    if (json_parse(r->body.data ? r->body.data : "", r->body.len, &root) != BM_OK)
        return;
    if (json_as_str(json_get(root, "__type"), &t) == BM_OK) {
        const char *hash = strrchr(t, '#');
        snprintf(type, tlen, "%s", hash ? hash + 1 : t);
    }
    if (json_as_str(json_get(root, "message"), &m) == BM_OK ||
        json_as_str(json_get(root, "Message"), &m) == BM_OK)
        snprintf(msg, mlen, "%s", m);
    cJSON_Delete(root);
}

static bool is_throttle(const char *type)
{
    return strcmp(type, "ProvisionedThroughputExceededException") == 0 ||
           strcmp(type, "LimitExceededException") == 0 ||
           strcmp(type, "ThrottlingException") == 0 ||
           strcmp(type, "KMSThrottlingException") == 0;
}

static enum outcome classify(struct sink *s, const struct hc_resp *r)
{
    char type[96], msg[160];

    if (r->result == HC_CANCELLED)
        return STOPPED;
    if (r->result != HC_OK) {
        set_error(s, ++s->fails >= FAILING_AFTER, "PutRecords to %s: %s", s->url, r->error);
        return TRANSIENT;
    }
    error_of(r, type, sizeof(type), msg, sizeof(msg));
    if (r->status == 400 && is_throttle(type)) {
        pthread_mutex_lock(&s->lock);
        s->throttled++;
        pthread_mutex_unlock(&s->lock);
        return THROTTLED;
    }
    if (r->status >= 500) {
        set_error(s, ++s->fails >= FAILING_AFTER, "%s: %s", type, msg);
        return TRANSIENT;
    }
    if (s->creds.from_imds &&
        (r->status == 403 || strcmp(type, "ExpiredTokenException") == 0))
        s->creds.expires_ms = 0; /* fetch the role's credentials again */
    s->fails++;
    set_error(s, true, "%s: %s", type, msg);
    return REFUSED;
}

static enum outcome send_batch(struct sink *s, const size_t *idx, size_t n, struct buf *body)
{
    char token[2100], userpwd[260];
    const char *hdrs[] = { "Content-Type: application/x-amz-json-1.1",
                           "X-Amz-Target: Kinesis_20131202.PutRecords", NULL, NULL };
    struct hc_request rq = { .method = "POST", .url = s->url, .headers = hdrs,
                             .timeout_ms = REQUEST_MS, .max_body = RESP_MAX,
                             .aws_sigv4 = s->sigv4, .userpwd = userpwd, .cancel = &s->stop };
    struct hc_resp r;
    enum outcome o;

    buf_reset(body);
    if (build_body(s, idx, n, body) != BM_OK)
        return TRANSIENT;
    rq.body = body->data;
    rq.body_len = body->len;
    snprintf(userpwd, sizeof(userpwd), "%s:%s", s->creds.key_id, s->creds.secret);
    if (s->creds.token[0]) {
        snprintf(token, sizeof(token), "X-Amz-Security-Token: %s", s->creds.token);
        hdrs[2] = token;
    }
    hc_conn_request(s->conn, &rq, &r);
    pthread_mutex_lock(&s->lock);
    s->requests++;
    pthread_mutex_unlock(&s->lock);
    if (r.result == HC_OK && r.status == 200) {
        o = take_answer(s, idx, n, &r);
        if (o != TRANSIENT) {
            s->fails = 0;
            set_ok(s);
        }
    } else {
        o = classify(s, &r);
    }
    hc_resp_free(&r);
    return o;
}

/* ------------------------------------------------------------------ */
/* The thread                                                           */

static void nap(struct sink *s, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    if (!atomic_load(&s->stop))
        (void)pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    pthread_mutex_unlock(&s->lock);
}

/* Exponential backoff with full jitter: a random wait below
 * min(cap, base x 2^attempt). */
static void backoff(struct sink *s, int attempt)
{
    int64_t ceil_ms = BACKOFF_BASE_MS;

    for (int i = 0; i < attempt && ceil_ms < BACKOFF_CAP_MS; i++)
        ceil_ms *= 2;
    if (ceil_ms > BACKOFF_CAP_MS)
        ceil_ms = BACKOFF_CAP_MS;
    if (attempt > 0) {
        pthread_mutex_lock(&s->lock);
        s->retries++;
        pthread_mutex_unlock(&s->lock);
    }
    nap(s, 1 + (int64_t)rng_below(&s->rng, (uint64_t)ceil_ms));
}

static bool open_reader(struct sink *s)
{
    int attempt = 0;

    while (!atomic_load(&s->stop)) {
        if (db_reader(s->db_path, s->sql, &s->db) == BM_OK && load_cursor(s) == BM_OK) {
            genloop_sink_floor(s->gl, (int64_t)s->read_upto);
            return true;
        }
        set_error(s, true, "cannot read the database");
        backoff(s, attempt < 10 ? ++attempt : attempt);
    }
    return false;
}

static void run(struct sink *s, size_t *idx, struct buf *body)
{
    int attempt = 0;
    bool refresh = false;

    while (!atomic_load(&s->stop)) {
        enum outcome o;
        size_t n;

        fill_window(s);
        advance(s);
        persist(s, false);
        n = pick(s, idx);
        if (n == 0) {
            nap(s, IDLE_WAIT_MS);
            continue;
        }
        if (!creds_ready(s, refresh)) {
            backoff(s, attempt < 10 ? ++attempt : attempt);
            continue;
        }
        o = send_batch(s, idx, n, body);
        refresh = s->creds.from_imds && s->creds.expires_ms == 0;
        advance(s);
        if (o == SENT) {
            attempt = 0;
        } else if (o != STOPPED) {
            if (attempt < 10)
                attempt++;
            backoff(s, attempt);
        }
    }
}

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    size_t *idx = calloc(BATCH_RECORDS, sizeof(*idx));
    struct buf body;

    buf_init(&body, BATCH_BYTES + 65536);
    if (!idx) {
        set_error(s, true, "out of memory");
    } else if (open_reader(s)) {
        run(s, idx, &body);
        advance(s);
        persist(s, true);
    }
    buf_free(&body);
    free(idx);
    return NULL;
}

enum bm_rc sink_start(const struct sink_opts *o, struct sink **out)
{
    struct sink *s;

    *out = NULL;
    if (!o->target || !o->target[0])
        return BM_OK;
    s = calloc(1, sizeof(*s));
    if (!s)
        return BM_ENOMEM;
    s->svc = o->svc;
    s->entity = svc_info(o->svc)->entity_field;
    snprintf(s->db_path, sizeof(s->db_path), "%s", o->db_path);
    s->sql = o->sql;
    s->gl = o->gl;
    snprintf(s->stream, sizeof(s->stream), "%s", o->target + strlen("kinesis:"));
    snprintf(s->cursor_key, sizeof(s->cursor_key), "sink_cursor:%s", s->stream);
    read_env(s);
    rng_seed(&s->rng, rng_os_u64());
    atomic_init(&s->stop, false);
    s->win = calloc(WINDOW_MAX, sizeof(*s->win));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (!s->win || hc_conn_new(&s->conn) != BM_OK) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s->win);
        free(s);
        return BM_ENOMEM;
    }
    /* Until the thread has read the cursor, prune nothing it may owe. */
    genloop_sink_floor(s->gl, 0);
    if (pthread_create(&s->thread, NULL, sink_main, s) != 0) {
        genloop_sink_floor(s->gl, -1);
        hc_conn_free(s->conn);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s->win);
        free(s);
        return BM_EIO;
    }
    log_info("sink: kinesis stream %s at %s (region %s)", s->stream, s->url, s->region);
    *out = s;
    return BM_OK;
}

void sink_stop(struct sink *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->wlen; i++)
        rec_free(&s->win[i]);
    free(s->win);
    hc_conn_free(s->conn);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Status                                                               */

void sink_status(struct sink *s, struct sink_status *st)
{
    uint64_t head;
    int64_t since;

    memset(st, 0, sizeof(*st));
    st->state = "off";
    if (!s)
        return;
    head = genloop_head(s->gl);
    pthread_mutex_lock(&s->lock);
    st->state = s->failing ? "failing" : "ok";
    snprintf(st->stream, sizeof(st->stream), "%s", s->stream);
    snprintf(st->error, sizeof(st->error), "%s", s->error);
    st->cursor = s->cursor;
    st->delivered = s->delivered;
    st->dropped = s->dropped;
    st->requests = s->requests;
    st->retries = s->retries;
    st->throttled = s->throttled;
    st->failed_records = s->failed_records;
    since = s->waiting_since_us ? s->waiting_since_us : s->sampled_us;
    pthread_mutex_unlock(&s->lock);
    st->lag_events = head > st->cursor ? head - st->cursor : 0;
    if (st->lag_events && since)
        st->lag_seconds = (double)(time_mono_us() - since) / 1e6;
}

enum bm_rc sink_json(struct sink *s, bool comma, struct buf *out)
{
    struct sink_status st;
    enum bm_rc rc;

    sink_status(s, &st);
    rc = buf_printf(out, "%s\"sink\":{\"state\":\"%s\",\"stream\":", comma ? "," : "", st.state);
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(out, s ? st.stream : NULL);
    if (rc == BM_OK)
        rc = buf_puts(out, ",\"error\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(out, st.error[0] ? st.error : NULL);
    if (rc == BM_OK)
        rc = buf_printf(out,
                        ",\"lag_events\":%llu,\"lag_seconds\":%.3f,\"delivered\":%llu,"
                        "\"dropped\":%llu}",
                        (unsigned long long)st.lag_events, st.lag_seconds,
                        (unsigned long long)st.delivered, (unsigned long long)st.dropped);
    return rc;
}

enum bm_rc sink_prometheus(struct sink *s, const char *service, struct buf *out)
{
    static const struct {
        const char *name, *kind, *help;
    } fam[] = {
        { "sink_lag_events", "gauge", "Committed events the sink has not delivered yet." },
        { "sink_lag_seconds", "gauge", "How long the oldest undelivered event has waited." },
        { "sink_delivered_total", "counter", "Records the sink delivered (acknowledged)." },
        { "sink_dropped_total", "counter", "Events pruned before the sink delivered them." },
        { "sink_retries_total", "counter", "PutRecords requests sent again after a failure." },
        { "sink_throttled_total", "counter", "Throttled requests and records." },
        { "sink_failing", "gauge", "1 while the sink is failing (see /health)." },
    };
    struct sink_status st;
    enum bm_rc rc = BM_OK;

    if (!s)
        return BM_OK;
    sink_status(s, &st);
    for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]) && rc == BM_OK; i++) {
        double v[] = { (double)st.lag_events, st.lag_seconds, (double)st.delivered,
                       (double)st.dropped, (double)st.retries, (double)st.throttled,
                       strcmp(st.state, "failing") == 0 ? 1.0 : 0.0 };
        rc = buf_printf(out,
                        "# HELP bankmock_%s %s\n# TYPE bankmock_%s %s\n"
                        "bankmock_%s{service=\"%s\",stream=\"%s\"} %.*f\n",
                        fam[i].name, fam[i].help, fam[i].name, fam[i].kind, fam[i].name,
                        service, st.stream, i == 1 ? 3 : 0, v[i]);
    }
    return rc;
}
