/* rc.c - names for enum bm_rc, for logs and error messages. */
#include "rc.h"

const char *bm_rc_str(enum bm_rc rc)
{
    switch (rc) {
    case BM_OK:        return "ok";
    case BM_ENOMEM:    return "out of memory";
    case BM_EINVAL:    return "invalid input";
    case BM_ERANGE:    return "value out of range";
    case BM_ETOOBIG:   return "too big";
    case BM_EDB:       return "database error";
    case BM_EIO:       return "I/O error";
    case BM_EFULL:     return "queue full";
    case BM_ETIMEOUT:  return "timed out";
    case BM_ENOTFOUND: return "not found";
    case BM_ESTATE:    return "invalid state";
    }
    /* Not a switch default, so -Wswitch flags a new code left unnamed. */
    return "unknown error";
}
