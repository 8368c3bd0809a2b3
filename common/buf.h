/* buf.h - growable byte buffer with a hard cap; appends past the cap fail
 * and leave the buffer as it was. The text is always NUL-terminated. */
#ifndef BM_COMMON_BUF_H
#define BM_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

struct buf {
    char *data;  /* NULL until the first append */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* largest len allowed */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Forget the content, keep the allocation. */
void buf_reset(struct buf *b);
/* Hand the data to the caller (who frees it); the buffer is empty after.
 * Returns "" (allocated) for an empty buffer, NULL only on ENOMEM. */
char *buf_take(struct buf *b, size_t *len);
/* Cut back to len bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);

/* Room for n more bytes without another allocation (a size hint). */
enum bm_rc buf_reserve(struct buf *b, size_t n) BM_WUR;
enum bm_rc buf_append(struct buf *b, const void *p, size_t n) BM_WUR;
enum bm_rc buf_puts(struct buf *b, const char *s) BM_WUR;
enum bm_rc buf_putc(struct buf *b, char c) BM_WUR;
enum bm_rc buf_printf(struct buf *b, const char *fmt, ...) BM_WUR
    __attribute__((format(printf, 2, 3)));
enum bm_rc buf_vprintf(struct buf *b, const char *fmt, va_list ap) BM_WUR;
/* Decimal integer, no locale, no printf. */
enum bm_rc buf_put_i64(struct buf *b, int64_t v) BM_WUR;
/* Fixed-point: v / 10^decimals with exactly `decimals` digits after the
 * point (e.g. cents: buf_put_fixed(b, 12345, 2) -> "123.45"). */
enum bm_rc buf_put_fixed(struct buf *b, int64_t v, int decimals) BM_WUR;
/* Length of the valid UTF-8 sequence at text, of at most n readable
 * bytes: 1 for ASCII, 2..4, or 0 for none (a stray continuation byte, an
 * overlong form, a surrogate, past U+10FFFF, or cut short). */
size_t buf_utf8_len(const char *text, size_t n);
/* A JSON string literal with quotes; escapes ", \ and control characters.
 * Valid UTF-8 is copied; a byte that is not part of a valid sequence
 * (client input, a message cut mid-character) becomes \ufffd, so the
 * result is always valid JSON. */
enum bm_rc buf_put_json_str(struct buf *b, const char *s) BM_WUR;
/* JSON string or null when s == NULL. */
enum bm_rc buf_put_json_str_or_null(struct buf *b, const char *s) BM_WUR;

#endif
