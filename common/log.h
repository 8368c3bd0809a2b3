/* log.h - JSON-lines logger: one object per line on stdout; lines from
 * different threads never interleave. */
#ifndef BM_COMMON_LOG_H
#define BM_COMMON_LOG_H

#include <stdbool.h>

#include "rc.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern const char *const log_level_names[]; /* "debug", ..., NULL */

void log_init(const char *service, enum log_level min);
void log_set_level(enum log_level min);
bool log_enabled(enum log_level lvl);
/* Redirect output (tests); fd 1 by default. */
void log_set_fd(int fd);
/* {"ts":..,"level":..,"service":..,"msg":<formatted>} */
void log_emit(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, with extra pre-rendered JSON members appended inside the object;
 * `extra` is either NULL or text like "\"port\":8081" (no leading comma). */
void log_emit_fields(enum log_level lvl, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Access log line: level info, msg "request". Buffered: written within
 * 50 ms, or at once by log_flush() or before the next other line. */
void log_request(const char *method, const char *path, int status,
                 double duration_ms, const char *request_id);

/* Writes the access lines gathered so far. */
void log_flush(void);

#define log_debug(...) log_emit(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_emit(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_emit(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)

#endif
