/* str.c - fixed-size C strings (see str.h). */
#include "str.h"

#include <string.h>

void str_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
