/* token.c - admin token comparison that leaks no timing about where the
 * given token first differs from the expected one. */
#include "token.h"

#include <stddef.h>
#include <string.h>

/* Walks the given bytes fully, cycling through expected, so the time
 * depends only on the lengths. elen > 0. */
static bool ct_equal(const char *expected, size_t elen, const char *given,
                     size_t glen)
{
    volatile unsigned char diff = (unsigned char)(elen != glen);

    for (size_t i = 0; i < glen; i++)
        diff |= (unsigned char)((unsigned char)given[i] ^
                                (unsigned char)expected[i % elen]);
    return diff == 0;
}

bool token_equal(const char *expected, const char *given)
{
    /* An empty token would let anyone in: treat it as not set. */
    if (!expected || !given || expected[0] == '\0')
        return false;
    return ct_equal(expected, strlen(expected), given, strlen(given));
}

static bool ascii_ieq(char a, char b)
{
    if (a >= 'A' && a <= 'Z')
        a = (char)(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z')
        b = (char)(b - 'A' + 'a');
    return a == b;
}

bool token_check_bearer(const char *token, const char *header)
{
    static const char scheme[] = "bearer";
    size_t i, end;

    if (!token || !header || token[0] == '\0')
        return false;
    /* The auth scheme is case-insensitive (RFC 7235 2.1); a NUL in header
     * mismatches before anything past it is read. */
    for (i = 0; i < sizeof(scheme) - 1; i++)
        if (!ascii_ieq(header[i], scheme[i]))
            return false;
    if (header[i] != ' ')
        return false;
    while (header[i] == ' ')
        i++;
    end = strlen(header);
    while (end > i && (header[end - 1] == ' ' || header[end - 1] == '\t'))
        end--;
    if (end == i)
        return false;
    return ct_equal(token, strlen(token), header + i, end - i);
}
