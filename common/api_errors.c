/* api_errors.c - the API error table, expanded from the same X-macro as
 * enum api_err so the two cannot drift apart (lwan lwan-tables.c). */
#include "api_errors.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define API_AS_ROW(id, st, cd) [id] = { .status = (st), .code = (cd) },
const struct api_error_info api_error_table[API_ERR_COUNT] = {
    API_ERRORS(API_AS_ROW)
};
#undef API_AS_ROW

/* A cut message ends in "..." at a character boundary, not mid-UTF-8. */
static void mark_truncated(char *s, size_t size)
{
    size_t n = size - 4;

    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    s[n] = '.';
    s[n + 1] = '.';
    s[n + 2] = '.';
    s[n + 3] = '\0';
}

void api_fail_set(struct api_fail *f, enum api_err err, const char *field,
                  const char *fmt, ...)
{
    va_list ap;
    int n;

    f->err = err;
    n = snprintf(f->field, sizeof(f->field), "%s", field ? field : "");
    if (n < 0)
        f->field[0] = '\0';
    else if ((size_t)n >= sizeof(f->field))
        mark_truncated(f->field, sizeof(f->field));
    if (!fmt) {
        f->msg[0] = '\0';
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        f->msg[0] = '\0';
    else if ((size_t)n >= sizeof(f->msg))
        mark_truncated(f->msg, sizeof(f->msg));
}
