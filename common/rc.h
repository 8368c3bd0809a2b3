/* rc.h - return codes shared by every fallible function in bankmock. */
#ifndef BM_COMMON_RC_H
#define BM_COMMON_RC_H

#define BM_WUR __attribute__((warn_unused_result))

enum bm_rc {
    BM_OK = 0,
    BM_ENOMEM,    /* allocation failed */
    BM_EINVAL,    /* bad input */
    BM_ERANGE,    /* value out of range */
    BM_ETOOBIG,   /* a capped buffer would overflow */
    BM_EDB,       /* SQLite error */
    BM_EIO,       /* system call failed */
    BM_EFULL,     /* queue full */
    BM_ETIMEOUT,  /* waited too long */
    BM_ENOTFOUND, /* no such thing */
    BM_ESTATE     /* operation not valid in this state */
};

const char *bm_rc_str(enum bm_rc rc);

#endif
