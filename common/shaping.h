/* shaping.h - the traffic shaping factor of SPEC §5: the rate of generated
 * events is events_per_second x shaping_factor(t). Pure: the factor is a
 * function of the simulated time and the bank's fixed time-zone offset
 * only (no TZ, no DST, no clock), so a replay is exact.
 *
 * factor = hour x weekend x calendar, all in the bank's local time:
 *   hour     peak 09-11 and 14-16: 1.5; quiet 22-05: 0.3; else 1.0
 *   weekend  Saturday and Sunday: 0.3, else 1.0
 *   calendar the largest that applies of: last day of a month 1.3, last
 *            day of a quarter 1.8, a fixed holiday 1.5; else 1.0
 *
 * The factor is constant within a local hour (the offset is whole
 * minutes, so that hour need not start on a UTC hour): shaping_hour() is
 * the key a caller caches it on. */
#ifndef BM_COMMON_SHAPING_H
#define BM_COMMON_SHAPING_H

#include <stdint.h>

/* The factor at ms (UTC) in a time zone tz_offset_min minutes east of UTC. */
double shaping_factor(int64_t ms, int tz_offset_min);
/* The local hour ms falls in, as whole hours since the local epoch
 * (floored, so negative times work too): the factor's cache key. */
int64_t shaping_hour(int64_t ms, int tz_offset_min);

#endif
