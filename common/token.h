/* token.h - admin token check. */
#ifndef BM_COMMON_TOKEN_H
#define BM_COMMON_TOKEN_H

#include <stdbool.h>

/* Compares in time that depends only on the lengths, never on where the
 * first difference is. NULL never matches. */
bool token_equal(const char *expected, const char *given);
/* Checks an Authorization header value "Bearer <token>" against token. */
bool token_check_bearer(const char *token, const char *header);

#endif
