/* shaping.c - the traffic shaping factor (see shaping.h). */
#include "shaping.h"

#include <stdbool.h>
#include <stddef.h>

#include "timefmt.h"

#define PEAK     1.5
#define QUIET    0.3
#define WEEKEND  0.3
#define MONTH    1.3 /* last day of a month */
#define QUARTER  1.8 /* last day of a quarter */
#define HOLIDAY  1.5

/* Fixed dates, the same every year (month, day). */
static const int holidays[][2] = {
    { 1, 1 }, { 7, 4 }, { 11, 11 }, { 12, 24 }, { 12, 25 }, { 12, 26 },
};

static bool is_holiday(int month, int day)
{
    for (size_t i = 0; i < sizeof holidays / sizeof holidays[0]; i++)
        if (holidays[i][0] == month && holidays[i][1] == day)
            return true;
    return false;
}

static double hour_factor(int hour)
{
    if ((hour >= 9 && hour < 11) || (hour >= 14 && hour < 16))
        return PEAK;
    if (hour >= 22 || hour < 5)
        return QUIET;
    return 1.0;
}

static double calendar_factor(const struct civil *c)
{
    bool last_day = c->day == timefmt_days_in_month(c->year, c->month);
    double cal = 1.0;

    if (last_day)
        cal = c->month % 3 == 0 ? QUARTER : MONTH;
    if (is_holiday(c->month, c->day) && cal < HOLIDAY)
        cal = HOLIDAY;
    return cal;
}

double shaping_factor(int64_t ms, int tz_offset_min)
{
    struct civil c;
    double f;

    timefmt_civil(ms, tz_offset_min, &c);
    f = hour_factor(c.hour);
    if (c.weekday == 0 || c.weekday == 6)
        f *= WEEKEND;
    return f * calendar_factor(&c);
}

int64_t shaping_hour(int64_t ms, int tz_offset_min)
{
    return timefmt_floor_div(ms + (int64_t)tz_offset_min * 60000, 3600000);
}
