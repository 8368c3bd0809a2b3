/* timefmt.h - UTC calendar arithmetic and ISO 8601 text without the C
 * library's time zone machinery. Times are int64 milliseconds (or
 * microseconds where named _us) since 1970-01-01T00:00:00Z. */
#ifndef BM_COMMON_TIMEFMT_H
#define BM_COMMON_TIMEFMT_H

#include <stdint.h>

#include "rc.h"

#define TIMEFMT_ISO_LEN 24 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */

struct civil {
    int year;    /* e.g. 2026 */
    int month;   /* 1..12 */
    int day;     /* 1..31 */
    int hour;    /* 0..23 */
    int minute;  /* 0..59 */
    int second;  /* 0..59 */
    int ms;      /* 0..999 */
    int weekday; /* 0 = Sunday .. 6 = Saturday */
};

/* a / b rounded towards minus infinity (b != 0). */
int64_t timefmt_floor_div(int64_t a, int64_t b);
/* The millisecond a microsecond time falls in (floored: -1 us is -1 ms). */
int64_t timefmt_ms_of_us(int64_t us);
/* The hour of the day (0..23) at ms in a zone offset_min minutes east of
 * UTC; floored, so also right before 1970. */
int timefmt_local_hour(int64_t ms, int offset_min);
/* Break ms (UTC) shifted by offset_min minutes into calendar fields. */
void timefmt_civil(int64_t ms, int offset_min, struct civil *out);
/* Days since epoch of a calendar date (proleptic Gregorian). */
int64_t timefmt_days_from_civil(int year, int month, int day);
int timefmt_days_in_month(int year, int month);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into out[TIMEFMT_ISO_LEN + 1]. Years 0..9999. */
void timefmt_iso(int64_t ms, char *out);
/* Accepts YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, optional .fff (1-6 digits,
 * truncated to ms), optional Z or +HH:MM / -HH:MM. */
enum bm_rc timefmt_parse_iso(const char *s, int64_t *ms) BM_WUR;
/* "UTC" or "+HH:MM"/"-HH:MM" (|offset| <= 14:00) -> minutes east of UTC. */
enum bm_rc timefmt_parse_tz(const char *s, int *offset_min) BM_WUR;
/* Wall clock (CLOCK_REALTIME) and monotonic clock. */
int64_t time_now_ms(void);
int64_t time_mono_us(void);

#endif
