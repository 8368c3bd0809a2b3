/* timefmt.c - UTC calendar arithmetic and ISO 8601 text. Civil dates use
 * H. Hinnant's days_from_civil/civil_from_days (howardhinnant.github.io/
 * date_algorithms.html), so no TZ, locale or libc time state is involved. */
#include "timefmt.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define MS_PER_DAY INT64_C(86400000)
/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
#define ISO_MIN_MS (INT64_C(-719528) * MS_PER_DAY)
#define ISO_MAX_MS (INT64_C(2932897) * MS_PER_DAY - 1)
#define TZ_MAX_MIN (14 * 60)

int64_t timefmt_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t timefmt_ms_of_us(int64_t us)
{
    return timefmt_floor_div(us, 1000);
}

int timefmt_local_hour(int64_t ms, int offset_min)
{
    int64_t h = timefmt_floor_div(ms + (int64_t)offset_min * 60000, 3600000) % 24;

    return (int)(h < 0 ? h + 24 : h);
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int timefmt_days_in_month(int year, int month)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && is_leap(year))
        return 29;
    return days[month - 1];
}

int64_t timefmt_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = timefmt_floor_div(y, 400);
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t mp = (month + 9) % 12;                                /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + day - 1;                   /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */

    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct civil *c)
{
    int64_t era, doe, yoe, doy, mp, y;

    z += 719468;
    era = timefmt_floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    y = yoe + era * 400;
    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->year = (int)(y + (c->month <= 2));
}

void timefmt_civil(int64_t ms, int offset_min, struct civil *out)
{
    int64_t t = ms + (int64_t)offset_min * 60000;
    int64_t days = timefmt_floor_div(t, MS_PER_DAY);
    int64_t rem = t - days * MS_PER_DAY;

    civil_from_days(days, out);
    out->hour = (int)(rem / 3600000);
    out->minute = (int)(rem / 60000 % 60);
    out->second = (int)(rem / 1000 % 60);
    out->ms = (int)(rem % 1000);
    /* 1970-01-01 was a Thursday. */
    out->weekday = (int)(days - timefmt_floor_div(days + 4, 7) * 7 + 4);
}

static char *put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

void timefmt_iso(int64_t ms, char *out)
{
    struct civil c;
    char *p = out;

    /* Clamped so the text always has its fixed width. */
    if (ms < ISO_MIN_MS)
        ms = ISO_MIN_MS;
    if (ms > ISO_MAX_MS)
        ms = ISO_MAX_MS;
    timefmt_civil(ms, 0, &c);
    p = put_digits(p, c.year, 4);
    *p++ = '-';
    p = put_digits(p, c.month, 2);
    *p++ = '-';
    p = put_digits(p, c.day, 2);
    *p++ = 'T';
    p = put_digits(p, c.hour, 2);
    *p++ = ':';
    p = put_digits(p, c.minute, 2);
    *p++ = ':';
    p = put_digits(p, c.second, 2);
    *p++ = '.';
    p = put_digits(p, c.ms, 3);
    *p++ = 'Z';
    *p = '\0';
}

/* Exactly n digits at *s, advancing it; -1 if any is missing. */
static int take_digits(const char **s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char ch = (*s)[i];

        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *s += n;
    return v;
}

/* "+HH:MM" / "-HH:MM" at *s, |offset| <= 14:00. */
static enum bm_rc take_offset(const char **s, int *offset_min)
{
    const char *p = *s;
    int sign, hh, mm, off;

    if (*p != '+' && *p != '-')
        return BM_EINVAL;
    sign = *p++ == '-' ? -1 : 1;
    hh = take_digits(&p, 2);
    if (hh < 0 || *p++ != ':')
        return BM_EINVAL;
    mm = take_digits(&p, 2);
    if (mm < 0 || mm > 59)
        return BM_EINVAL;
    off = hh * 60 + mm;
    if (off > TZ_MAX_MIN)
        return BM_ERANGE;
    *offset_min = sign * off;
    *s = p;
    return BM_OK;
}

enum bm_rc timefmt_parse_tz(const char *s, int *offset_min)
{
    enum bm_rc rc;
    int off;

    if (!s)
        return BM_EINVAL;
    if ((s[0] == 'U' && s[1] == 'T' && s[2] == 'C' && s[3] == '\0') ||
        (s[0] == 'Z' && s[1] == '\0')) {
        *offset_min = 0;
        return BM_OK;
    }
    rc = take_offset(&s, &off);
    if (rc != BM_OK)
        return rc;
    if (*s != '\0')
        return BM_EINVAL;
    *offset_min = off;
    return BM_OK;
}

/* "HH:MM:SS[.f{1,6}]" at *s; milliseconds into the day in *ms. */
static enum bm_rc take_time(const char **s, int64_t *ms)
{
    const char *p = *s;
    int hh, mi, ss, frac = 0, n = 0;

    hh = take_digits(&p, 2);
    if (hh < 0 || hh > 23 || *p++ != ':')
        return BM_EINVAL;
    mi = take_digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':')
        return BM_EINVAL;
    ss = take_digits(&p, 2);
    if (ss < 0 || ss > 59)
        return BM_EINVAL;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 6)
                return BM_EINVAL;
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        }
        if (n == 0)
            return BM_EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    *ms = ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + frac;
    *s = p;
    return BM_OK;
}

enum bm_rc timefmt_parse_iso(const char *s, int64_t *ms)
{
    int year, month, day, off = 0;
    int64_t tod = 0;
    enum bm_rc rc;

    if (!s)
        return BM_EINVAL;
    year = take_digits(&s, 4);
    if (year < 0 || *s++ != '-')
        return BM_EINVAL;
    month = take_digits(&s, 2);
    if (month < 1 || month > 12 || *s++ != '-')
        return BM_EINVAL;
    day = take_digits(&s, 2);
    if (day < 1 || day > timefmt_days_in_month(year, month))
        return BM_EINVAL;
    if (*s == 'T') {
        s++;
        rc = take_time(&s, &tod);
        if (rc != BM_OK)
            return rc;
        if (*s == 'Z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            rc = take_offset(&s, &off);
            if (rc != BM_OK)
                return rc;
        }
    }
    if (*s != '\0')
        return BM_EINVAL;
    *ms = timefmt_days_from_civil(year, month, day) * MS_PER_DAY + tod -
          (int64_t)off * 60000;
    return BM_OK;
}

int64_t time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + (int64_t)ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + (int64_t)ts.tv_nsec / 1000;
}
