/* support.h - shared by the fuzz targets of tests/fuzz: the libFuzzer entry
 * point's prototype, an invariant check that survives NDEBUG, and checks
 * of what the daemons would send back. */
#ifndef BM_TESTS_FUZZ_SUPPORT_H
#define BM_TESTS_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_errors.h"
#include "config.h"

/* Each fuzz_<name>.c defines it; libFuzzer or regress_main.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: says which and where, then aborts (a crash to
 * libFuzzer, a failure to ctest). assert() would vanish under NDEBUG,
 * which the RelWithDebInfo build defines. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond))                                                                       \
            fuzz_fail(__FILE__, __LINE__, #cond);                                          \
    } while (0)

__attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what);

/* s[0..size) holds a NUL. */
bool fuzz_terminated(const char *s, size_t size);

/* text[0..len) is JSON that json_parse() accepts (so valid UTF-8). */
bool fuzz_json_ok(const char *text, size_t len);

/* The error body http_send_fail() would write for f (code, message,
 * field as JSON strings) parses as JSON. */
bool fuzz_fail_body_ok(const struct api_fail *f);

/* f says a 422 (unknown field, wrong type, bad value, read-only field). */
bool fuzz_fail_is_422(const struct api_fail *f);

/* Every field of c is within what the config table allows. */
void fuzz_check_config(const struct bm_config *c);

/* a and b hold the same settings, field by field (not padding). */
bool fuzz_config_same(const struct bm_config *a, const struct bm_config *b);

#endif
