/* buf.c - growable byte buffer with a hard cap (curl docs/internals/DYNBUF.md).
 * Every append either succeeds whole or leaves the content as it was. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 64

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_take(struct buf *b, size_t *len)
{
    char *p = b->data;

    if (!p) {
        p = malloc(1);
        if (!p)
            return NULL;
        p[0] = '\0';
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void buf_truncate(struct buf *b, size_t len)
{
    if (!b->data || len >= b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

/* Makes room for n more bytes plus the NUL, growing geometrically but
 * never allocating more than max + 1. */
enum bm_rc buf_reserve(struct buf *b, size_t n)
{
    size_t need, ncap;
    char *p;

    if (n > b->max || b->len > b->max - n)
        return BM_ETOOBIG;
    need = b->len + n + 1;
    if (need <= b->cap)
        return BM_OK;
    ncap = b->cap ? b->cap : BUF_MIN_ALLOC;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    if (ncap > b->max + 1 && b->max < SIZE_MAX)
        ncap = b->max + 1;
    p = realloc(b->data, ncap);
    if (!p)
        return BM_ENOMEM;
    if (!b->data)
        p[0] = '\0';
    b->data = p;
    b->cap = ncap;
    return BM_OK;
}

enum bm_rc buf_append(struct buf *b, const void *p, size_t n)
{
    enum bm_rc rc;

    if (n && !p)
        return BM_EINVAL;
    /* Room already there (the usual case): buf_reserve's checks, inline. */
    if (!b->data || n > b->max || b->len > b->max - n || b->len + n + 1 > b->cap) {
        rc = buf_reserve(b, n);
        if (rc != BM_OK)
            return rc;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BM_OK;
}

enum bm_rc buf_puts(struct buf *b, const char *s)
{
    if (!s)
        return BM_EINVAL;
    return buf_append(b, s, strlen(s));
}

enum bm_rc buf_putc(struct buf *b, char c)
{
    if (b->data && b->len < b->max && b->len + 2 <= b->cap) {
        b->data[b->len++] = c; /* room there: buf_append's result, inline */
        b->data[b->len] = '\0';
        return BM_OK;
    }
    return buf_append(b, &c, 1);
}

enum bm_rc buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t room, n;
    int r;
    enum bm_rc rc;

    /* First try to format into the spare room; most calls fit. */
    room = b->data ? b->cap - b->len : 0;
    va_copy(ap2, ap);
    r = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (r < 0) {
        rc = BM_EINVAL;
        goto restore;
    }
    n = (size_t)r;
    if (n < room) {
        if (n > b->max || b->len > b->max - n) {
            rc = BM_ETOOBIG;
            goto restore;
        }
        b->len += n;
        return BM_OK;
    }
    rc = buf_reserve(b, n);
    if (rc != BM_OK)
        goto restore;
    va_copy(ap2, ap);
    r = vsnprintf(b->data + b->len, n + 1, fmt, ap2);
    va_end(ap2);
    if (r < 0 || (size_t)r != n) {
        rc = BM_EINVAL;
        goto restore;
    }
    b->len += n;
    return BM_OK;
restore:
    /* vsnprintf may have written past len: put the terminator back. */
    if (b->data)
        b->data[b->len] = '\0';
    return rc;
}

enum bm_rc buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    enum bm_rc rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Writes the decimal digits of v, right-aligned, ending at end; returns
 * the first digit. */
static char *u64_digits(uint64_t v, char *end)
{
    char *p = end;

    do {
        *--p = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    return p;
}

/* Magnitude of v without overflowing on INT64_MIN. */
static uint64_t i64_abs(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

enum bm_rc buf_put_i64(struct buf *b, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    char *p = u64_digits(i64_abs(v), end);

    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(end - p));
}

enum bm_rc buf_put_fixed(struct buf *b, int64_t v, int decimals)
{
    /* 20 digits, 18 leading zeros at most, sign, point. */
    char tmp[48];
    char *end = tmp + sizeof(tmp);
    char *p;
    size_t ndig, d;

    if (decimals < 0 || decimals > 18)
        return BM_EINVAL;
    if (decimals == 0)
        return buf_put_i64(b, v);
    d = (size_t)decimals;
    p = u64_digits(i64_abs(v), end);
    ndig = (size_t)(end - p);
    while (ndig < d + 1) {
        *--p = '0';
        ndig++;
    }
    /* Shift the integer part left by one to open the slot for '.'. */
    memmove(p - 1, p, ndig - d);
    p--;
    p[ndig - d] = '.';
    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(end - p));
}

static const char hex_digits[] = "0123456789abcdef";

/* Escape for one byte, or NULL when it is copied as is. */
static const char *json_escape_of(unsigned char c, char ubuf[7])
{
    switch (c) {
    case '"':  return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default:
        break;
    }
    if (c >= 0x20)
        return NULL;
    memcpy(ubuf, "\\u00", 4);
    ubuf[4] = hex_digits[c >> 4];
    ubuf[5] = hex_digits[c & 0xf];
    ubuf[6] = '\0';
    return ubuf;
}

size_t buf_utf8_len(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t want;
    unsigned char lo = 0x80, hi = 0xbf;

    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        want = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        want = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        want = 4;
    else
        return 0;
    if (want > n)
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    /* each byte is looked at only if the ones before it were valid, so a
     * NUL-terminated string may pass n = 4 */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < want; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return want;
}

enum bm_rc buf_put_json_str(struct buf *b, const char *s)
{
    size_t start = b->len;
    const char *run;
    enum bm_rc rc;

    if (!s)
        return BM_EINVAL;
    rc = buf_putc(b, '"');
    run = s;
    for (; rc == BM_OK; s++) {
        char ubuf[7];
        unsigned char c = (unsigned char)*s;
        const char *esc;

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
            continue; /* plain ASCII, the usual byte: part of the run */
        if (c >= 0x80) {
            size_t n = buf_utf8_len(s, 4);
            if (n > 0) {
                s += n - 1; /* part of the plain run */
                continue;
            }
            /* Client bytes and messages cut mid-character must not make
             * the document invalid: U+FFFD for each stray byte. */
            esc = "\\ufffd";
        } else {
            esc = json_escape_of(c, ubuf);
        }
        if (c != '\0' && !esc)
            continue;
        /* Copy the plain run before this byte in one append. */
        rc = buf_append(b, run, (size_t)(s - run));
        if (rc != BM_OK || *s == '\0')
            break;
        rc = buf_puts(b, esc);
        run = s + 1;
    }
    if (rc == BM_OK)
        rc = buf_putc(b, '"');
    if (rc != BM_OK)
        buf_truncate(b, start);
    return rc;
}

enum bm_rc buf_put_json_str_or_null(struct buf *b, const char *s)
{
    if (!s)
        return buf_append(b, "null", 4);
    return buf_put_json_str(b, s);
}
