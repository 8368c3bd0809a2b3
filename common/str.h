/* str.h - fixed-size C strings. */
#ifndef BM_COMMON_STR_H
#define BM_COMMON_STR_H

#include <stddef.h>

/* src into dst[size] (size > 0), cut to size - 1 bytes; always
 * terminated. For fixed-size record fields filled from tables and
 * validated input. */
void str_copy(char *dst, size_t size, const char *src);

/* Replaces each control byte and DEL in s (at most size bytes, up to its
 * NUL) with '?', so that a message quoting outside input stays on one
 * line and sends no terminal escapes. */
void str_one_line(char *s, size_t size);

#endif
