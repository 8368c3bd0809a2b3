/* test_log.c - JSON-lines logger, read back through a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "timefmt.h"

struct pipe_fixture {
    int rd, wr;
};

static int setup(void **state)
{
    struct pipe_fixture *p = calloc(1, sizeof(*p));
    int fds[2];

    if (!p || pipe(fds) != 0)
        return -1;
    p->rd = fds[0];
    p->wr = fds[1];
    /* Non-blocking read end: "nothing was logged" reads as EAGAIN. */
    if (fcntl(p->rd, F_SETFL, O_NONBLOCK) != 0)
        return -1;
    log_init("transaction", LOG_DEBUG);
    log_set_fd(p->wr);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct pipe_fixture *p = *state;

    log_set_fd(1);
    close(p->rd);
    close(p->wr);
    free(p);
    return 0;
}

/* Everything currently in the pipe, NUL-terminated; returns its length. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);

        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

/* Reads exactly one line, checks it is one JSON object, returns it. */
static cJSON *read_one_line(int fd)
{
    static char buf[16384];
    size_t len = drain(fd, buf, sizeof(buf));
    cJSON *j = NULL;

    assert_true(len > 0);
    assert_int_equal(buf[len - 1], '\n');
    assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
    assert_true(len <= 4096);
    assert_int_equal(json_parse(buf, len - 1, &j), BM_OK);
    assert_true(cJSON_IsObject(j));
    return j;
}

static const char *str_member(const cJSON *j, const char *key)
{
    const char *s = NULL;

    assert_int_equal(json_as_str(json_get(j, key), &s), BM_OK);
    return s;
}

static void test_log_emit_writes_one_json_line_with_required_fields(void **state)
{
    struct pipe_fixture *p = *state;
    int64_t ts_ms = 0, before = time_now_ms();
    cJSON *j;

    log_info("listening on %d", 8081);
    j = read_one_line(p->rd);
    assert_string_equal(str_member(j, "level"), "info");
    assert_string_equal(str_member(j, "service"), "transaction");
    assert_string_equal(str_member(j, "msg"), "listening on 8081");
    assert_int_equal(strlen(str_member(j, "ts")), TIMEFMT_ISO_LEN);
    assert_int_equal(timefmt_parse_iso(str_member(j, "ts"), &ts_ms), BM_OK);
    assert_true(ts_ms >= before - 1 && ts_ms <= time_now_ms() + 1);
    cJSON_Delete(j);
}

static void test_log_level_names_each_level(void **state)
{
    struct pipe_fixture *p = *state;
    static const char *const want[] = { "debug", "info", "warn", "error" };

    for (int lvl = LOG_DEBUG; lvl <= LOG_ERROR; lvl++) {
        cJSON *j;

        assert_string_equal(log_level_names[lvl], want[lvl]);
        log_emit((enum log_level)lvl, "x");
        j = read_one_line(p->rd);
        assert_string_equal(str_member(j, "level"), want[lvl]);
        cJSON_Delete(j);
    }
    assert_null(log_level_names[4]);
}

static void test_log_level_filter_drops_lower_levels(void **state)
{
    struct pipe_fixture *p = *state;
    char buf[4096];
    cJSON *j;

    log_set_level(LOG_WARN);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    log_debug("dropped");
    log_info("dropped");
    log_request("GET", "/health", 200, 1.0, "r1");
    log_flush();
    assert_int_equal(drain(p->rd, buf, sizeof(buf)), 0);
    log_error("kept");
    j = read_one_line(p->rd);
    assert_string_equal(str_member(j, "msg"), "kept");
    cJSON_Delete(j);
}

static void test_log_escapes_quotes_backslashes_and_controls(void **state)
{
    struct pipe_fixture *p = *state;
    const char *msg = "say \"hi\" \\ path\nline2\ttab\x01 end";
    cJSON *j;

    log_warn("%s", msg);
    j = read_one_line(p->rd);
    assert_string_equal(str_member(j, "msg"), msg);
    cJSON_Delete(j);
}

static void test_log_keeps_utf8_and_replaces_invalid_bytes(void **state)
{
    struct pipe_fixture *p = *state;
    cJSON *j;

    log_info("caf\xc3\xa9 bad\xff\xc0 end");
    j = read_one_line(p->rd); /* json_parse rejects invalid UTF-8 */
    assert_string_equal(str_member(j, "msg"),
                        "caf\xc3\xa9 bad\xef\xbf\xbd\xef\xbf\xbd end");
    cJSON_Delete(j);
}

static void test_log_emit_fields_appends_extra_members(void **state)
{
    struct pipe_fixture *p = *state;
    int64_t port = 0;
    cJSON *j;

    log_emit_fields(LOG_INFO, "\"port\":8081,\"bind\":\"0.0.0.0\"", "listening");
    j = read_one_line(p->rd);
    assert_string_equal(str_member(j, "msg"), "listening");
    assert_int_equal(json_as_i64(json_get(j, "port"), 0, 65535, &port), BM_OK);
    assert_true(port == 8081);
    assert_string_equal(str_member(j, "bind"), "0.0.0.0");
    cJSON_Delete(j);
    log_emit_fields(LOG_INFO, NULL, "no extra");
    j = read_one_line(p->rd);
    assert_int_equal(cJSON_GetArraySize(j), 4);
    cJSON_Delete(j);
}

static void test_log_request_writes_access_fields(void **state)
{
    struct pipe_fixture *p = *state;
    int64_t status = 0;
    double dur = 0;
    cJSON *j;

    log_request("POST", "/transactions?x=\"1\"", 422, 1.25, "req-42");
    log_flush();
    j = read_one_line(p->rd);
    assert_string_equal(str_member(j, "level"), "info");
    assert_string_equal(str_member(j, "msg"), "request");
    assert_string_equal(str_member(j, "method"), "POST");
    assert_string_equal(str_member(j, "path"), "/transactions?x=\"1\"");
    assert_int_equal(json_as_i64(json_get(j, "status"), 100, 599, &status), BM_OK);
    assert_true(status == 422);
    assert_int_equal(json_as_double(json_get(j, "duration_ms"), &dur), BM_OK);
    assert_true(dur == 1.25);
    assert_string_equal(str_member(j, "request_id"), "req-42");
    cJSON_Delete(j);
}

static void test_log_request_writes_null_for_missing_request_id(void **state)
{
    struct pipe_fixture *p = *state;
    cJSON *j;

    log_request("GET", "/health", 200, 0.5, NULL);
    log_flush();
    j = read_one_line(p->rd);
    assert_true(cJSON_IsNull(json_get(j, "request_id")));
    cJSON_Delete(j);
}

static void test_log_cuts_long_message_to_one_valid_line(void **state)
{
    struct pipe_fixture *p = *state;
    static char big[20000];
    cJSON *j;

    /* Two-byte characters and quotes: a cut must split neither. */
    for (size_t i = 0; i + 3 < sizeof(big); i += 3) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
        big[i + 2] = '"';
    }
    big[sizeof(big) - 1] = '\0';
    log_emit_fields(LOG_INFO, "\"k\":1", "%s", big);
    j = read_one_line(p->rd);
    assert_true(strlen(str_member(j, "msg")) > 1000);
    assert_non_null(json_get(j, "k"));
    cJSON_Delete(j);
}

static void test_log_request_with_huge_path_stays_one_valid_line(void **state)
{
    struct pipe_fixture *p = *state;
    static char path[10000];
    cJSON *j;

    memset(path, '\x01', sizeof(path) - 1); /* each becomes \u0001 */
    path[sizeof(path) - 1] = '\0';
    log_request("GET", path, 414, 2.0, "id");
    log_flush();
    j = read_one_line(p->rd);
    assert_string_equal(str_member(j, "request_id"), "id");
    cJSON_Delete(j);
}

static void test_log_preserves_errno(void **state)
{
    struct pipe_fixture *p = *state;
    char buf[4096];

    errno = ENOENT;
    log_info("x");
    assert_int_equal(errno, ENOENT);
    (void)drain(p->rd, buf, sizeof(buf));
}

enum { THREADS = 4, LINES = 300 };

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;

    for (int i = 0; i < LINES; i++)
        log_emit_fields(LOG_INFO, "\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
                        "thread %d line %d", id, i);
    return NULL;
}

static void test_log_lines_from_threads_never_interleave(void **state)
{
    struct pipe_fixture *p = *state;
    pthread_t t[THREADS];
    size_t cap = 1 << 20, len = 0;
    char *all = malloc(cap);
    int lines = 0;

    assert_non_null(all);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    /* Read while they write: the pipe holds only 64 KiB. */
    while (lines < THREADS * LINES) {
        ssize_t n = read(p->rd, all + len, cap - 1 - len);

        if (n > 0) {
            for (ssize_t k = 0; k < n; k++)
                lines += all[len + (size_t)k] == '\n';
            len += (size_t)n;
        } else {
            struct timespec ms = { 0, 1000000 };

            assert_true(n < 0 && errno == EAGAIN);
            nanosleep(&ms, NULL);
        }
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    all[len] = '\0';
    for (char *line = all; *line;) {
        char *nl = strchr(line, '\n');
        cJSON *j = NULL;

        assert_non_null(nl);
        assert_int_equal(json_parse(line, (size_t)(nl - line), &j), BM_OK);
        assert_non_null(json_get(j, "pad"));
        cJSON_Delete(j);
        line = nl + 1;
    }
    free(all);
}

/* log_request builds its line by hand: it must be byte for byte the line
 * the generic path writes for the same members (the timestamp aside). */
static void test_log_request_line_equals_generic_line(void **state)
{
    struct pipe_fixture *p = *state;
    static char fast[8192], slow[8192];
    const size_t ts_end = strlen("{\"ts\":\"2024-03-04T08:00:00.000Z\"");

    log_request("GET", "/p?a=\"b\"&c=\\\xc3\xa9\x01\xff", 404, 12.3456, "id-1");
    log_flush();
    assert_true(drain(p->rd, fast, sizeof(fast)) > ts_end);
    log_emit_fields(LOG_INFO,
                    "\"method\":\"GET\",\"path\":\"/p?a=\\\"b\\\"&c=\\\\\xc3\xa9\\u0001\\ufffd\","
                    "\"status\":404,\"duration_ms\":12.346,\"request_id\":\"id-1\"",
                    "request");
    assert_true(drain(p->rd, slow, sizeof(slow)) > ts_end);
    assert_string_equal(fast + ts_end, slow + ts_end);

    log_request(NULL, "/", 0, -1.0, NULL);
    log_flush();
    assert_true(drain(p->rd, fast, sizeof(fast)) > ts_end);
    log_emit_fields(LOG_INFO,
                    "\"method\":null,\"path\":\"/\",\"status\":0,\"duration_ms\":null,"
                    "\"request_id\":null",
                    "request");
    assert_true(drain(p->rd, slow, sizeof(slow)) > ts_end);
    assert_string_equal(fast + ts_end, slow + ts_end);
}

enum { ACC_THREADS = 4, ACC_LINES = 5000 };

static void *access_writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char rid[32];

    for (int i = 0; i < ACC_LINES; i++) {
        snprintf(rid, sizeof(rid), "%d-%d", id, i);
        log_request("GET", "/health", 200, 0.25, rid);
    }
    return NULL;
}

/* Several threads' access lines, ~1.5 MB, through a pipe read slowly at
 * times so writes block and both halves of the buffer fill: every line
 * arrives once, whole, and each thread's lines in its order. */
static void test_log_access_lines_under_load_all_arrive_in_order(void **state)
{
    struct pipe_fixture *p = *state;
    pthread_t t[ACC_THREADS];
    size_t cap = 4 << 20, len = 0;
    char *all = malloc(cap);
    int next[ACC_THREADS] = { 0 }, lines = 0, reads = 0;

    assert_non_null(all);
    for (int i = 0; i < ACC_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, access_writer, (void *)(intptr_t)i), 0);
    while (lines < ACC_THREADS * ACC_LINES) {
        ssize_t n = read(p->rd, all + len, cap - 1 - len);

        if (n > 0) {
            for (ssize_t k = 0; k < n; k++)
                lines += all[len + (size_t)k] == '\n';
            len += (size_t)n;
        }
        /* now and then a slow reader: the pipe fills, writers wait */
        if (n <= 0 || ++reads % 64 == 0) {
            struct timespec ms = { 0, 2000000 };

            assert_true(n > 0 || errno == EAGAIN);
            nanosleep(&ms, NULL);
        }
        assert_true(len < cap - 1);
    }
    for (int i = 0; i < ACC_THREADS; i++)
        pthread_join(t[i], NULL);
    all[len] = '\0';
    for (char *line = all; *line;) {
        char *nl = strchr(line, '\n');
        cJSON *j = NULL;
        int id = -1, seq = -1;

        assert_non_null(nl);
        assert_int_equal(json_parse(line, (size_t)(nl - line), &j), BM_OK);
        assert_int_equal(sscanf(str_member(j, "request_id"), "%d-%d", &id, &seq), 2);
        assert_true(id >= 0 && id < ACC_THREADS);
        assert_int_equal(seq, next[id]);
        next[id]++;
        cJSON_Delete(j);
        line = nl + 1;
    }
    for (int i = 0; i < ACC_THREADS; i++)
        assert_int_equal(next[i], ACC_LINES);
    free(all);
}

static void test_log_access_lines_are_batched_in_order_and_flushed_soon(void **state)
{
    struct pipe_fixture *p = *state;
    static char buf[16384];
    const char *a, *b;
    bool found = false;

    /* another line first writes the access lines gathered before it */
    log_request("GET", "/a", 200, 1.0, "first-access");
    log_warn("after the access line");
    assert_true(drain(p->rd, buf, sizeof(buf)) > 0);
    a = strstr(buf, "first-access");
    b = strstr(buf, "after the access line");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    /* left alone, an access line is written within a second */
    log_request("GET", "/b", 200, 1.0, "second-access");
    for (int i = 0; i < 100 && !found; i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        size_t len = drain(p->rd, buf, sizeof(buf));
        found = len > 0 && strstr(buf, "second-access") != NULL;
        if (!found)
            nanosleep(&ts, NULL);
    }
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_access_lines_are_batched_in_order_and_flushed_soon,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_emit_writes_one_json_line_with_required_fields,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_level_names_each_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_level_filter_drops_lower_levels, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_escapes_quotes_backslashes_and_controls,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_keeps_utf8_and_replaces_invalid_bytes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_emit_fields_appends_extra_members, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_request_writes_access_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_request_writes_null_for_missing_request_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_cuts_long_message_to_one_valid_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_request_with_huge_path_stays_one_valid_line,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_preserves_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_request_line_equals_generic_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_access_lines_under_load_all_arrive_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_lines_from_threads_never_interleave, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
