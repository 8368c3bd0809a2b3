/* parse.c - strict text-to-number parsing; the only user of strtoll/strtod.
 * The C library's parsers skip leading space, accept "+", hex, "inf" and
 * stop silently at garbage; each wrapper rules those out first. */
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_DURATION_MAX 31536000 /* 365 days in seconds */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum bm_rc parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *digits;
    char *end;
    long long v;

    if (!s)
        return BM_EINVAL;
    digits = s[0] == '-' ? s + 1 : s;
    if (!is_digit(digits[0]))
        return BM_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return BM_EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return BM_ERANGE;
    if (errno != 0)
        return BM_EINVAL;
    *out = (int64_t)v;
    return BM_OK;
}

enum bm_rc parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    /* strtoull would take "-1" and wrap it: digits only. */
    if (!s || !is_digit(s[0]))
        return BM_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return BM_EINVAL;
    if (errno == ERANGE)
        return BM_ERANGE;
    if (errno != 0)
        return BM_EINVAL;
    *out = (uint64_t)v;
    return BM_OK;
}

/* Plain decimal: [-]digits[.digits][e[-+]digits], at least one digit in
 * the mantissa; a leading "+" is refused as in parse_i64. Rules out nan,
 * inf, hex and spaces before strtod sees the text. */
static bool is_decimal(const char *s)
{
    bool mant = false;

    if (*s == '-')
        s++;
    for (; is_digit(*s); s++)
        mant = true;
    if (*s == '.')
        for (s++; is_digit(*s); s++)
            mant = true;
    if (!mant)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

enum bm_rc parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    if (!s || !is_decimal(s))
        return BM_EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0')
        return BM_EINVAL;
    /* ERANGE covers overflow and underflow to a denormal or zero. */
    if (errno == ERANGE || !isfinite(v))
        return BM_ERANGE;
    if (errno != 0)
        return BM_EINVAL;
    if (!(v >= min && v <= max))
        return BM_ERANGE;
    *out = v;
    return BM_OK;
}

enum bm_rc parse_bool(const char *s, bool *out)
{
    if (!s)
        return BM_EINVAL;
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return BM_OK;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return BM_OK;
    }
    return BM_EINVAL;
}

enum bm_rc parse_duration(const char *s, int64_t *seconds)
{
    int64_t v = 0, unit;
    bool big = false;

    if (!s || !is_digit(*s))
        return BM_EINVAL;
    for (; is_digit(*s); s++) {
        /* Saturate instead of overflowing; the range check follows. */
        if (v > PARSE_DURATION_MAX)
            big = true;
        else
            v = v * 10 + (*s - '0');
    }
    switch (*s) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default:  return BM_EINVAL;
    }
    if (s[1] != '\0')
        return BM_EINVAL;
    if (big || v > PARSE_DURATION_MAX / unit)
        return BM_ERANGE;
    *seconds = v * unit;
    return BM_OK;
}
