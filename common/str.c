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

void str_one_line(char *s, size_t size)
{
    for (size_t i = 0; i < size && s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = '?';
}
