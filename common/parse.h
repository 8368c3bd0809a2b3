/* parse.h - strict parsing of numbers, booleans and durations from text.
 * A value is accepted only if the whole string is consumed, it is in
 * [min, max], and no leading/trailing space is present. */
#ifndef BM_COMMON_PARSE_H
#define BM_COMMON_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "rc.h"

/* BM_EINVAL: not a number; BM_ERANGE: outside [min, max]. */
enum bm_rc parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) BM_WUR;
enum bm_rc parse_u64(const char *s, uint64_t *out) BM_WUR;
/* Finite decimal number (no nan/inf/hex). */
enum bm_rc parse_double(const char *s, double min, double max, double *out) BM_WUR;
/* "true"/"false" (also "1"/"0"). */
enum bm_rc parse_bool(const char *s, bool *out) BM_WUR;
/* "<int>s|m|h|d", 0s .. 365d; result in seconds. */
enum bm_rc parse_duration(const char *s, int64_t *seconds) BM_WUR;

#endif
