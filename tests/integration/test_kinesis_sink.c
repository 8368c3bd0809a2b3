/* test_kinesis_sink.c - the Kinesis sink against kinesalite (an npm tool
 * pinned in scripts/npm_tools.sh, started here on a free loopback port
 * with its data on disk, so a restart keeps the stream).
 *
 * Every event must arrive, exactly once after deduplication by
 * sequence, in order per entity (per partition key within a shard),
 * across a kill -9 of the service and a restart of kinesalite; and again
 * behind a proxy that throttles whole requests and fails some records of
 * others (it forwards only the records it does not fail, as Kinesis
 * would have stored them). A stream that does not exist shows as a
 * failing sink and a degraded /health while the service serves; past
 * sink_max_lag_events the oldest undelivered events are dropped and
 * counted.
 *
 * Exit 77 (a skip) when kinesalite is not installed: scripts/test.sh
 * installs it (scripts/npm_tools.sh). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"

#define STREAM_SHARDS 4
#define MAX_EVENTS    400000

static char kinesalite_bin[512];

/* ------------------------------------------------------------------ */
/* kinesalite                                                           */

struct kinesalite {
    pid_t pid;
    int port;
    char dir[256];
};

/* The running kinesalite's pid (-1 none), for the teardown when a check
 * fails midway (the test's struct is gone with its frame by then). */
static pid_t live_kinesalite = -1;

static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* One Kinesis API call (signed as the service signs): the answer's body
 * (malloc'ed, NUL-terminated; NULL if none) and status. */
static char *kin_raw(int port, const char *op, const char *body, long *status)
{
    char url[64], target[96];
    struct curl_slist *h = NULL;
    CURL *e = curl_easy_init();
    FILE *mem;
    char *data = NULL;
    size_t len = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    snprintf(target, sizeof(target), "X-Amz-Target: Kinesis_20131202.%s", op);
    h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
    h = curl_slist_append(h, target);
    mem = open_memstream(&data, &len);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:kinesis");
    curl_easy_setopt(e, CURLOPT_USERPWD, "AKIDTEST:secret");
    curl_easy_setopt(e, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    *status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    fclose(mem);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return data;
}

/* kin_raw's answer parsed, or NULL. */
static cJSON *kin_call(int port, const char *op, const char *body, long *status)
{
    char *data = kin_raw(port, op, body, status);
    cJSON *out = data ? cJSON_Parse(data) : NULL;

    free(data);
    return out;
}

static void kinesalite_start(struct kinesalite *k)
{
    char port_s[16], log[320];
    long deadline = h_now_ms() + 20000, st;

    snprintf(port_s, sizeof(port_s), "%d", k->port);
    snprintf(log, sizeof(log), "%s/kinesalite.log", k->dir);
    k->pid = fork();
    assert_true(k->pid >= 0);
    if (k->pid == 0) {
        int fd;
        setpgid(0, 0);
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(kinesalite_bin, kinesalite_bin, "--port", port_s, "--path", k->dir,
              "--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0",
              "--shardLimit", "50", (char *)NULL);
        _exit(127);
    }
    live_kinesalite = k->pid;
    while (h_now_ms() < deadline) {
        cJSON *j = kin_call(k->port, "ListStreams", "{}", &st);
        cJSON_Delete(j);
        if (st == 200)
            return;
        h_sleep_ms(100);
    }
    fail_msg("kinesalite did not answer on port %d (see %s)", k->port, log);
}

static void kinesalite_stop(struct kinesalite *k)
{
    int st;

    if (k->pid <= 0)
        return;
    kill(-k->pid, SIGTERM);
    kill(k->pid, SIGTERM);
    waitpid(k->pid, &st, 0);
    k->pid = -1;
    live_kinesalite = -1;
}

static void kinesalite_init(struct kinesalite *k)
{
    snprintf(k->dir, sizeof(k->dir), "/tmp/bm-kinesalite-XXXXXX");
    assert_non_null(mkdtemp(k->dir));
    k->port = free_port();
    assert_true(k->port > 0);
    kinesalite_start(k);
}

static void kinesalite_finish(struct kinesalite *k)
{
    char cmd[320];

    kinesalite_stop(k);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
    assert_int_equal(system(cmd), 0);
}

/* The harness's teardown, then a kinesalite a failed test left. */
static int kin_teardown(void **state)
{
    int rc = h_procs_teardown(state);

    if (live_kinesalite > 0) {
        struct kinesalite k = { .pid = live_kinesalite };
        kinesalite_stop(&k);
    }
    return rc;
}

static void create_stream(int port, const char *name)
{
    char body[160];
    long st, deadline = h_now_ms() + 10000;
    cJSON *j;

    snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name,
             STREAM_SHARDS);
    j = kin_call(port, "CreateStream", body, &st);
    cJSON_Delete(j);
    assert_int_equal(st, 200);
    snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", name);
    while (h_now_ms() < deadline) {
        const char *state;
        j = kin_call(port, "DescribeStream", body, &st);
        state = h_jstr(cJSON_GetObjectItemCaseSensitive(j, "StreamDescription"),
                       "StreamStatus");
        if (state && strcmp(state, "ACTIVE") == 0) {
            cJSON_Delete(j);
            return;
        }
        cJSON_Delete(j);
        h_sleep_ms(50);
    }
    fail_msg("stream %s did not become ACTIVE", name);
}

/* ------------------------------------------------------------------ */
/* Reading the stream back                                              */

struct got {
    int *count;       /* by sequence */
    long long max_seq;
    long long records;
    long long order_breaks;
    char first_break[200];
};

struct last_of {
    char key[64];
    long long seq;
};

static int b64v(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static char *unbase64(const char *in, size_t *outlen)
{
    size_t n = strlen(in), o = 0;
    char *out = malloc(n + 1);
    uint32_t acc = 0;
    int bits = 0;

    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        int v = b64v((unsigned char)in[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Per shard: the newest sequence kept (first sightings only) per key. */
static void check_record(struct got *g, struct last_of *last, size_t *nlast, size_t maxlast,
                         const char *data_b64, const char *key_field, const char *pkey)
{
    size_t len, i;
    char *json = unbase64(data_b64, &len);
    cJSON *ev = cJSON_ParseWithLength(json, len);
    long long seq = (long long)h_jnum(ev, "sequence");
    const char *ent = h_jstr(ev, key_field);

    assert_non_null(ent);
    assert_string_equal(ent, pkey);
    assert_true(seq >= 1 && seq < MAX_EVENTS);
    g->records++;
    if (seq > g->max_seq)
        g->max_seq = seq;
    if (g->count[seq]++ == 0) {
        for (i = 0; i < *nlast && strcmp(last[i].key, pkey) != 0; i++)
            ;
        if (i == *nlast) {
            assert_true(*nlast < maxlast);
            snprintf(last[i].key, sizeof(last[i].key), "%s", pkey);
            last[i].seq = 0;
            (*nlast)++;
        }
        if (seq < last[i].seq) {
            if (!g->order_breaks++)
                snprintf(g->first_break, sizeof(g->first_break), "%s: %lld after %lld", pkey,
                         seq, last[i].seq);
        } else {
            last[i].seq = seq;
        }
    }
    cJSON_Delete(ev);
    free(json);
}

static void read_shard(int port, const char *stream, const char *shard, struct got *g,
                       const char *key_field)
{
    size_t maxlast = 200000, nlast = 0;
    struct last_of *last = calloc(maxlast, sizeof(*last));
    char body[512], *iter;
    long st;
    cJSON *j;
    int empty = 0;

    assert_non_null(last);
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"%s\",\"ShardId\":\"%s\",\"ShardIteratorType\":\"TRIM_HORIZON\"}",
             stream, shard);
    j = kin_call(port, "GetShardIterator", body, &st);
    assert_int_equal(st, 200);
    iter = strdup(h_jstr(j, "ShardIterator"));
    cJSON_Delete(j);
    while (iter && empty < 2) {
        cJSON *recs, *it;
        const char *next;
        size_t cap = strlen(iter) + 64;
        char *req = malloc(cap);
        assert_non_null(req);
        snprintf(req, cap, "{\"ShardIterator\":\"%s\",\"Limit\":10000}", iter);
        j = kin_call(port, "GetRecords", req, &st);
        free(req);
        assert_int_equal(st, 200);
        recs = cJSON_GetObjectItemCaseSensitive(j, "Records");
        empty = cJSON_GetArraySize(recs) == 0 ? empty + 1 : 0;
        cJSON_ArrayForEach(it, recs)
            check_record(g, last, &nlast, maxlast, h_jstr(it, "Data"), key_field,
                         h_jstr(it, "PartitionKey"));
        next = h_jstr(j, "NextShardIterator");
        free(iter);
        iter = next ? strdup(next) : NULL;
        cJSON_Delete(j);
    }
    free(iter);
    free(last);
}

/* Reads every shard of the stream from TRIM_HORIZON and checks that
 * sequences 1..head each arrived, nothing beyond, and order per key. */
static void assert_stream_holds(int port, const char *stream, long long head,
                                const char *key_field)
{
    struct got g = { .count = calloc(MAX_EVENTS, sizeof(int)) };
    char body[160];
    long st;
    cJSON *j, *shards, *it;
    long long missing = 0, dups = 0;

    assert_non_null(g.count);
    assert_true(head > 0 && head < MAX_EVENTS);
    snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", stream);
    j = kin_call(port, "DescribeStream", body, &st);
    assert_int_equal(st, 200);
    shards = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "StreamDescription"), "Shards");
    assert_int_equal(cJSON_GetArraySize(shards), STREAM_SHARDS);
    cJSON_ArrayForEach(it, shards)
        read_shard(port, stream, h_jstr(it, "ShardId"), &g, key_field);
    cJSON_Delete(j);
    for (long long s = 1; s <= head; s++) {
        if (g.count[s] == 0)
            missing++;
        else
            dups += g.count[s] - 1;
    }
    print_message("stream %s: %lld records for %lld events (%lld duplicates), "
                  "%lld missing, %lld order breaks\n",
                  stream, g.records, head, dups, missing, g.order_breaks);
    assert_int_equal(missing, 0);
    assert_true(g.max_seq == head);
    if (g.order_breaks)
        fail_msg("order per entity broken %lld times, first %s", g.order_breaks, g.first_break);
    free(g.count);
}

/* ------------------------------------------------------------------ */
/* The service                                                          */

static void aws_env(int port)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    setenv("AWS_ENDPOINT_URL", url, 1);
    unsetenv("AWS_ENDPOINT_URL_KINESIS");
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static cJSON *sink_of(int port, cJSON **health)
{
    *health = h_get_json(port, "/health");
    return cJSON_GetObjectItemCaseSensitive(*health, "sink");
}

static long long sink_num(int port, const char *k)
{
    cJSON *h, *s = sink_of(port, &h);
    long long v = h_jnum(s, k);

    cJSON_Delete(h);
    return v;
}

/* Waits until the sink has delivered at least n records. */
static void wait_delivered(int port, long long n, long timeout_ms)
{
    long deadline = h_now_ms() + timeout_ms;

    while (h_now_ms() < deadline) {
        if (sink_num(port, "delivered") >= n)
            return;
        h_sleep_ms(50);
    }
    fail_msg("the sink delivered fewer than %lld records in %ld ms", n, timeout_ms);
}

/* Pauses generation, then waits for the sink to catch up; the head. */
static long long pause_and_drain(int port, long timeout_ms)
{
    struct resp r;
    long deadline = h_now_ms() + timeout_ms;

    assert_int_equal(h_http_req(port, "POST", "/config", "{\"paused\":true}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    while (h_now_ms() < deadline) {
        cJSON *h, *s = sink_of(port, &h);
        long long lag = h_jnum(s, "lag_events");
        long long head = h_jnum(h, "head_sequence");
        const char *state = h_jstr(s, "state");
        bool done = lag == 0 && state && strcmp(state, "ok") == 0;
        if (!done && h_now_ms() + 100 >= deadline) {
            char *text = cJSON_PrintUnformatted(s);
            print_message("sink at the deadline: %s\n", text);
            free(text);
        }
        cJSON_Delete(h);
        if (done)
            return head;
        h_sleep_ms(100);
    }
    fail_msg("the sink did not catch up in %ld ms", timeout_ms);
    return -1;
}

static long scaled(long plain, long small)
{
    return h_test_scale_small() ? small : plain;
}

/* Config: a flat rate, so the backfill's size is known. */
static void write_rate_config(struct proc *p, int eps, const char *extra)
{
    char cfg[512];

    snprintf(cfg, sizeof(cfg),
             "{\"generation_settings\":{\"events_per_second\":%d,\"time_shaping\":false,"
             "\"retention_events\":1000000}%s}",
             eps, extra ? extra : "");
    h_proc_write_config(p, cfg);
}

/* ------------------------------------------------------------------ */
/* A throttling proxy in front of kinesalite                            */

struct proxy {
    int lfd, port, upstream;
    pthread_t thread;
    atomic_bool stop;
    bool faults;  /* throttle and fail records (else forward all) */
    atomic_long throttled, partial, failed_records, forwarded;
    unsigned seed;
    /* as an instance metadata stand-in (paths under /latest/) */
    atomic_long imds_tokens, imds_creds, signed_with_token;
    int creds_ttl_s; /* the credentials' Expiration from now */
};

/* The request's method and path, and whether it carries the session
 * token the stand-in hands out / its IMDS token. */
struct req_info {
    char method[8];
    char path[160];
    char target[128];
    bool imds_token, session_token;
};

static const char throttle_body[] =
    "{\"__type\":\"ProvisionedThroughputExceededException\","
    "\"message\":\"Rate exceeded for shard in stream (injected by the test)\"}";

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool respond(int fd, long status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %ld %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     status, status == 200 ? "OK" : "Bad Request", strlen(body));
    return send_all(fd, head, (size_t)n) && send_all(fd, body, strlen(body));
}

/* Fails about a third of the records (at least one): forwards only the
 * others, then answers as PutRecords does, the failed ones in place. */
static char *partial_put(struct proxy *px, const char *body, long *status)
{
    cJSON *req = cJSON_Parse(body), *recs, *fwd, *keep, *ans = NULL, *out, *outrecs, *it;
    int n, i, nfail = 0;
    bool *fails;
    char *text, *answer = NULL;

    assert_non_null(req);
    recs = cJSON_GetObjectItemCaseSensitive(req, "Records");
    n = cJSON_GetArraySize(recs);
    fails = calloc((size_t)n + 1, sizeof(bool));
    assert_non_null(fails);
    for (i = 0; i < n; i++)
        if (rand_r(&px->seed) % 3 == 0)
            fails[i] = true, nfail++;
    if (nfail == 0 && n > 0)
        fails[n - 1] = true, nfail++;
    fwd = cJSON_CreateObject();
    cJSON_AddStringToObject(fwd, "StreamName",
                            h_jstr(req, "StreamName") ? h_jstr(req, "StreamName") : "");
    keep = cJSON_AddArrayToObject(fwd, "Records");
    i = 0;
    cJSON_ArrayForEach(it, recs) {
        if (!fails[i++])
            cJSON_AddItemToArray(keep, cJSON_Duplicate(it, true));
    }
    *status = 200;
    if (nfail < n) {
        text = cJSON_PrintUnformatted(fwd);
        answer = kin_raw(px->upstream, "PutRecords", text, status);
        free(text);
        ans = answer ? cJSON_Parse(answer) : NULL;
        free(answer);
        answer = NULL;
    }
    out = cJSON_CreateObject();
    outrecs = cJSON_CreateArray();
    if (*status == 200) {
        cJSON *up = cJSON_GetObjectItemCaseSensitive(ans, "Records");
        int upi = 0, upfailed = 0;
        for (i = 0; i < n; i++) {
            cJSON *r;
            if (fails[i]) {
                r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "ErrorCode", "ProvisionedThroughputExceededException");
                cJSON_AddStringToObject(r, "ErrorMessage", "Rate exceeded (injected)");
            } else {
                r = cJSON_Duplicate(cJSON_GetArrayItem(up, upi++), true);
                if (cJSON_GetObjectItemCaseSensitive(r, "ErrorCode"))
                    upfailed++;
            }
            cJSON_AddItemToArray(outrecs, r);
        }
        cJSON_AddNumberToObject(out, "FailedRecordCount", nfail + upfailed);
        cJSON_AddItemToObject(out, "Records", outrecs);
        answer = cJSON_PrintUnformatted(out);
        atomic_fetch_add(&px->partial, 1);
        atomic_fetch_add(&px->failed_records, nfail);
    } else {
        cJSON_Delete(outrecs);
        answer = strdup("{\"__type\":\"InternalFailure\",\"message\":\"upstream\"}");
    }
    cJSON_Delete(out);
    cJSON_Delete(ans);
    cJSON_Delete(fwd);
    cJSON_Delete(req);
    free(fails);
    return answer;
}

/* IMDSv2: a token for a PUT, then the role's name and credentials to
 * GETs that carry it. */
static bool imds_handle(struct proxy *px, int fd, const struct req_info *ri)
{
    static const char creds_path[] = "/latest/meta-data/iam/security-credentials/";
    char body[512], exp[32];
    time_t t = time(NULL) + px->creds_ttl_s;
    struct tm tm;

    if (strcmp(ri->method, "PUT") == 0 && strcmp(ri->path, "/latest/api/token") == 0) {
        atomic_fetch_add(&px->imds_tokens, 1);
        return respond(fd, 200, "imds-token-1");
    }
    if (!ri->imds_token)
        return respond(fd, 401, "");
    if (strcmp(ri->path, creds_path) == 0)
        return respond(fd, 200, "bankmock-role\n");
    if (strcmp(ri->path, "/latest/meta-data/iam/security-credentials/bankmock-role") != 0)
        return respond(fd, 404, "");
    atomic_fetch_add(&px->imds_creds, 1);
    gmtime_r(&t, &tm);
    strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(body, sizeof(body),
             "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAROLE\","
             "\"SecretAccessKey\":\"rolesecret\",\"Token\":\"session-token-1\","
             "\"Expiration\":\"%s\"}",
             exp);
    return respond(fd, 200, body);
}

static bool proxy_handle(struct proxy *px, int fd, const struct req_info *ri, const char *body)
{
    const char *op = strrchr(ri->target, '.');
    long status = 0;
    char *answer;
    bool ok;
    unsigned r;

    if (strncmp(ri->path, "/latest/", 8) == 0)
        return imds_handle(px, fd, ri);
    if (ri->session_token)
        atomic_fetch_add(&px->signed_with_token, 1);
    op = op ? op + 1 : ri->target;
    r = px->faults ? (unsigned)rand_r(&px->seed) % 10 : 9;
    if (strcmp(op, "PutRecords") == 0 && r < 2) {
        atomic_fetch_add(&px->throttled, 1);
        return respond(fd, 400, throttle_body);
    }
    if (strcmp(op, "PutRecords") == 0 && r < 5) {
        answer = partial_put(px, body, &status);
    } else {
        answer = kin_raw(px->upstream, op, body, &status);
        atomic_fetch_add(&px->forwarded, 1);
    }
    if (status == 0) {
        free(answer);
        return false; /* upstream gone: drop the connection */
    }
    ok = respond(fd, status, answer ? answer : "{}");
    free(answer);
    return ok;
}

/* Serves one connection's requests (Content-Length bodies, keep-alive). */
static void proxy_conn(struct proxy *px, int fd)
{
    size_t cap = 8u << 20, len = 0;
    char *buf = malloc(cap + 1);

    assert_non_null(buf);
    while (!atomic_load(&px->stop)) {
        char *end, *p;
        struct req_info ri = { .method = "" };
        size_t hlen, clen = 0;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t got;

        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end) {
            hlen = (size_t)(end - buf) + 4;
            sscanf(buf, "%7s %159s", ri.method, ri.path);
            for (p = buf; p && p < end; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL) {
                long v;
                if (strncasecmp(p, "Content-Length:", 15) == 0 && h_num_at(p + 15, &v) && v >= 0)
                    clen = (size_t)v;
                else if (strncasecmp(p, "X-Amz-Target:", 13) == 0)
                    sscanf(p + 13, " %127[^\r\n]", ri.target);
                else if (strncasecmp(p, "X-aws-ec2-metadata-token: imds-token-1\r", 39) == 0)
                    ri.imds_token = true;
                else if (strncasecmp(p, "X-Amz-Security-Token: session-token-1\r", 38) == 0)
                    ri.session_token = true;
            }
            if (len >= hlen + clen) {
                char save = buf[hlen + clen];
                buf[hlen + clen] = '\0';
                if (!proxy_handle(px, fd, &ri, buf + hlen))
                    break;
                buf[hlen + clen] = save;
                memmove(buf, buf + hlen + clen, len - hlen - clen);
                len -= hlen + clen;
                continue;
            }
        }
        if (len == cap || poll(&pfd, 1, 100) < 0)
            break;
        if (!(pfd.revents & (POLLIN | POLLHUP)))
            continue;
        got = recv(fd, buf + len, cap - len, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    free(buf);
    close(fd);
}

static void *proxy_main(void *arg)
{
    struct proxy *px = arg;

    while (!atomic_load(&px->stop)) {
        struct pollfd pfd = { .fd = px->lfd, .events = POLLIN };
        int fd;
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        fd = accept(px->lfd, NULL, NULL);
        if (fd >= 0)
            proxy_conn(px, fd);
    }
    return NULL;
}

static void proxy_start(struct proxy *px, int upstream)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);

    memset(px, 0, sizeof(*px));
    px->faults = true;
    px->upstream = upstream;
    px->seed = 20;
    px->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(px->lfd >= 0);
    assert_int_equal(bind(px->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(px->lfd, 8), 0);
    assert_int_equal(getsockname(px->lfd, (struct sockaddr *)&a, &len), 0);
    px->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&px->thread, NULL, proxy_main, px), 0);
}

static void proxy_stop(struct proxy *px)
{
    atomic_store(&px->stop, true);
    pthread_join(px->thread, NULL);
    close(px->lfd);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_every_event_arrives_once_in_entity_order_across_kill9_and_kinesalite_restart(
    void **state)
{
    struct kinesalite k;
    struct proc *p = &h_procs[0];
    long n = scaled(100000, 20000);
    char backfill[32];
    const char *args[] = { "--seed", "7", "--start-time", "2026-01-05T00:00:00Z", "--backfill",
                           backfill, "--sink", "kinesis:bm-events", NULL };
    long long head;

    (void)state;
    snprintf(backfill, sizeof(backfill), "%lds", n / 2000);
    kinesalite_init(&k);
    create_stream(k.port, "bm-events");
    aws_env(k.port);
    h_proc_init(p, "kin-events");
    write_rate_config(p, 2000, NULL);
    assert_int_equal(h_proc_start(p, "transaction-service", args), 0);
    wait_delivered(p->port, n / 3, 120000);
    h_proc_kill9(p);
    assert_int_equal(h_proc_restart(p, "transaction-service", args), 0);
    wait_delivered(p->port, n / 6, 120000);
    kinesalite_stop(&k);
    h_sleep_ms(300);
    kinesalite_start(&k); /* same port, same data directory */
    head = pause_and_drain(p->port, 180000);
    assert_true(head >= n * 9 / 10);
    /* a clean stop stores the cursor: everything is acknowledged */
    assert_int_equal(h_proc_stop(p, NULL), 0);
    {
        struct sqlite3 *db = h_db_open_checked(p->db);
        assert_int_equal(h_db_int(db, "SELECT CAST(value AS INTEGER) FROM meta "
                                      "WHERE key = 'sink_cursor:bm-events'"),
                         head);
        h_db_close(db);
    }
    h_proc_finish(p);
    assert_stream_holds(k.port, "bm-events", head, "customer_id");
    kinesalite_finish(&k);
}

static void test_throttling_and_partial_failures_are_retried_in_entity_order(void **state)
{
    struct kinesalite k;
    struct proxy px;
    struct proc *p = &h_procs[0];
    long n = scaled(20000, 5000);
    char backfill[32];
    const char *args[] = { "--seed", "11", "--start-time", "2026-01-05T00:00:00Z", "--backfill",
                           backfill, "--sink", "kinesis:bm-throttled", NULL };
    long long head;
    cJSON *m;

    (void)state;
    snprintf(backfill, sizeof(backfill), "%lds", n / 1000);
    kinesalite_init(&k);
    create_stream(k.port, "bm-throttled");
    proxy_start(&px, k.port);
    aws_env(px.port);
    h_proc_init(p, "kin-throttle");
    write_rate_config(p, 1000, NULL);
    assert_int_equal(h_proc_start(p, "auth-service", args), 0);
    assert_true(h_wait_backfilled(p->port, 120000));
    head = pause_and_drain(p->port, 180000);
    assert_true(head >= n * 9 / 10);
    m = h_get_json(p->port, "/metrics");
    print_message("proxy: %ld throttled requests, %ld partial (%ld records failed), "
                  "%ld forwarded; sink delivered %lld\n",
                  atomic_load(&px.throttled), atomic_load(&px.partial),
                  atomic_load(&px.failed_records), atomic_load(&px.forwarded),
                  h_jnum(cJSON_GetObjectItemCaseSensitive(m, "sink"), "delivered"));
    cJSON_Delete(m);
    assert_true(atomic_load(&px.throttled) > 0);
    assert_true(atomic_load(&px.partial) > 0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
    proxy_stop(&px);
    assert_stream_holds(k.port, "bm-throttled", head, "username");
    kinesalite_finish(&k);
}

static bool sink_state_is(int port, const char *want, const char *health_status)
{
    cJSON *h, *s = sink_of(port, &h);
    const char *st = h_jstr(s, "state"), *hs = h_jstr(h, "status");
    bool ok = st && strcmp(st, want) == 0 && hs && strcmp(hs, health_status) == 0;

    cJSON_Delete(h);
    return ok;
}

static void test_a_missing_stream_fails_the_sink_and_past_the_bound_events_are_dropped(
    void **state)
{
    struct kinesalite k;
    struct proc *p = &h_procs[0];
    const char *args[] = { "--seed", "5", "--start-time", "2026-01-05T00:00:00Z", "--backfill",
                           "12s", "--sink", "kinesis:bm-later", "--sink-max-lag-events", "2000",
                           NULL };
    long deadline;
    struct resp r;
    cJSON *h, *s, *page;
    long long head, delivered, dropped;

    (void)state;
    kinesalite_init(&k);
    aws_env(k.port);
    h_proc_init(p, "kin-missing");
    h_proc_write_config(p, "{\"generation_settings\":{\"events_per_second\":1000,"
                           "\"time_shaping\":false,\"retention_events\":1000}}");
    assert_int_equal(h_proc_start(p, "transaction-service", args), 0);
    deadline = h_now_ms() + 30000;
    while (!sink_state_is(p->port, "failing", "degraded") && h_now_ms() < deadline)
        h_sleep_ms(50);
    s = sink_of(p->port, &h);
    assert_string_equal(h_jstr(h, "status"), "degraded");
    assert_string_equal(h_jstr(s, "state"), "failing");
    assert_string_equal(h_jstr(s, "stream"), "bm-later");
    assert_non_null(strstr(h_jstr(s, "error"), "ResourceNotFoundException"));
    cJSON_Delete(h);
    /* the service still serves */
    page = h_get_json(p->port, "/transactions/events?limit=5");
    assert_int_equal(h_jnum(page, "count"), 5);
    cJSON_Delete(page);
    assert_int_equal(h_http_req(p->port, "GET", "/metrics?format=prometheus", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "bankmock_sink_failing{service=\"transaction-service\","
                                   "stream=\"bm-later\"} 1\n"));
    h_resp_free(&r);
    /* 12,000 events while nothing is delivered: at most 2,000 wait */
    assert_true(h_wait_head(p->port, 11000, 60000));
    h_sleep_ms(500);
    create_stream(k.port, "bm-later");
    head = pause_and_drain(p->port, 120000);
    s = sink_of(p->port, &h);
    delivered = h_jnum(s, "delivered");
    dropped = h_jnum(s, "dropped");
    print_message("head %lld: %lld delivered, %lld dropped\n", head, delivered, dropped);
    assert_string_equal(h_jstr(h, "status"), "paused"); /* no longer degraded */
    assert_true(dropped > 0);
    assert_int_equal(delivered + dropped, head);
    cJSON_Delete(h);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
    kinesalite_finish(&k);
}

static void test_instance_role_credentials_are_fetched_by_imdsv2_and_refreshed(void **state)
{
    struct kinesalite k;
    struct proxy px, imds;
    struct proc *p = &h_procs[0];
    const char *args[] = { "--seed", "3", "--start-time", "2026-01-05T00:00:00Z", "--backfill",
                           "4s", "--sink", "kinesis:bm-role", NULL };
    char url[64];
    long long head;

    (void)state;
    kinesalite_init(&k);
    create_stream(k.port, "bm-role");
    proxy_start(&px, k.port); /* counts requests signed with the session token */
    px.faults = false;
    proxy_start(&imds, k.port);
    /* refreshed 5 min before they expire: these are due again in ~2 s */
    imds.creds_ttl_s = 302;
    aws_env(px.port);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", imds.port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    h_proc_init(p, "kin-role");
    write_rate_config(p, 500, NULL);
    assert_int_equal(h_proc_start(p, "monitoring-service", args), 0);
    assert_true(h_wait_backfilled(p->port, 60000));
    h_sleep_ms(3000);
    head = pause_and_drain(p->port, 60000);
    print_message("imds: %ld tokens, %ld credential fetches; %ld requests signed with the "
                  "session token\n",
                  atomic_load(&imds.imds_tokens), atomic_load(&imds.imds_creds),
                  atomic_load(&px.signed_with_token));
    assert_true(atomic_load(&imds.imds_tokens) >= 1);
    assert_true(atomic_load(&imds.imds_creds) >= 2); /* fetched, then refreshed */
    assert_true(atomic_load(&px.signed_with_token) >= 1);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
    proxy_stop(&imds);
    proxy_stop(&px);
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    assert_stream_holds(k.port, "bm-role", head, "host");
    kinesalite_finish(&k);
}

/* The path of the pinned kinesalite, or false. */
static bool find_kinesalite(void)
{
    FILE *f = popen(BM_SOURCE_DIR "/scripts/npm_tools.sh --bin kinesalite 2>/dev/null", "r");
    bool ok;

    if (!f)
        return false;
    ok = fgets(kinesalite_bin, sizeof(kinesalite_bin), f) != NULL;
    pclose(f);
    kinesalite_bin[strcspn(kinesalite_bin, "\n")] = '\0';
    return ok && access(kinesalite_bin, X_OK) == 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, h_procs_setup, kin_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_event_arrives_once_in_entity_order_across_kill9_and_kinesalite_restart),
        T(test_throttling_and_partial_failures_are_retried_in_entity_order),
        T(test_a_missing_stream_fails_the_sink_and_past_the_bound_events_are_dropped),
        T(test_instance_role_credentials_are_fetched_by_imdsv2_and_refreshed),
    };

    signal(SIGPIPE, SIG_IGN);
    if (!find_kinesalite()) {
        printf("test_kinesis_sink: skipped: kinesalite is not installed "
               "(scripts/npm_tools.sh installs it)\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
