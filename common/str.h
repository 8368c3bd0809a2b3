/* str.h - fixed-size C strings. */
#ifndef BM_COMMON_STR_H
#define BM_COMMON_STR_H

#include <stddef.h>

/* src into dst[size] (size > 0), cut to size - 1 bytes; always
 * terminated. For fixed-size record fields filled from tables and
 * validated input. */
void str_copy(char *dst, size_t size, const char *src);

#endif
