/* json.h - cJSON wrappers: bounded parsing and strict typed getters. */
#ifndef BM_COMMON_JSON_H
#define BM_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "api_errors.h"
#include "rc.h"

/* Parses exactly len bytes (no NUL needed). Fails (BM_EINVAL) on invalid
 * JSON, trailing garbage, nesting deeper than 32, or invalid UTF-8. */
enum bm_rc json_parse(const char *text, size_t len, cJSON **out) BM_WUR;
/* Case-sensitive member lookup; NULL if obj is not an object. */
cJSON *json_get(const cJSON *obj, const char *key);
/* Typed reads: BM_EINVAL if the item has the wrong type. */
enum bm_rc json_as_double(const cJSON *it, double *out) BM_WUR;
/* A number that is integral and within [min, max]. */
enum bm_rc json_as_i64(const cJSON *it, int64_t min, int64_t max, int64_t *out) BM_WUR;
enum bm_rc json_as_bool(const cJSON *it, bool *out) BM_WUR;
/* Borrowed pointer into the cJSON tree. */
enum bm_rc json_as_str(const cJSON *it, const char **out) BM_WUR;
/* The same reads for a field of a request body: on failure *fail says
 * what to answer (422 invalid_type / invalid_value naming the field). */
enum bm_rc json_want_str(const cJSON *it, const char *name, const char **out,
                         struct api_fail *fail) BM_WUR;
/* A string that must be one of names[0..n); *out is its index. */
enum bm_rc json_want_choice(const cJSON *it, const char *name, const char *const *names, int n,
                            int *out, struct api_fail *fail) BM_WUR;
/* A string of `prefix` and then exactly `digits` decimal digits ("CUST_"
 * and 6), copied into out[size]. */
enum bm_rc json_want_code(const cJSON *it, const char *name, const char *prefix, int digits,
                          char *out, size_t size, struct api_fail *fail) BM_WUR;
/* An ISO 3166 alpha-2 country code (two capital letters) into out[3]. */
enum bm_rc json_want_country(const cJSON *it, const char *name, char out[3],
                             struct api_fail *fail) BM_WUR;

/* A request body, or an object member of one, whose members are each one
 * of a fixed set of names, at most once. An unknown name is a 422
 * unknown_field (read_only_field if it is one of `readonly`, the values
 * the server sets), a repeated one invalid_value; each member goes to
 * one() with its index; then each member in `required` must have come.
 * Field names in *fail read "obj.key" ("key" in a body), made safe to
 * echo. Stops at the first failure. */
struct json_members {
    const char *obj;             /* the member's name; "" for a request body */
    const char *const *names;    /* the members known, [0, n) */
    int n;                       /* 0 .. 32 */
    unsigned required;           /* bit i: names[i] must be present */
    const char *const *readonly; /* [0, n_readonly) */
    int n_readonly;
    enum bm_rc (*one)(const cJSON *it, int i, void *ctx, struct api_fail *fail);
};
enum bm_rc json_want_members(const cJSON *it, const struct json_members *spec, void *ctx,
                             struct api_fail *fail) BM_WUR;
/* A.B.C path lookup through nested objects; NULL if any step is missing. */
cJSON *json_get_path(const cJSON *root, const char *path);

#endif
