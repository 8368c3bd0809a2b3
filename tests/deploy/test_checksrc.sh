#!/usr/bin/env bash
# scripts/checksrc.sh finds each kind of finding it names, on a fixture tree
# with one of each, and passes a tree without any.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T=$WORK/tree
mkdir -p "$T/common" "$T/services/auth" "$T/gateway" "$T/tests/integration" "$T/bench"

# A clean tree: right guards and prefixes, checked strtol in a test,
# stderr in a main.c, a static helper without a prefix.
cat >"$T/common/buf.h" <<'C'
/* buf.h */
#ifndef BM_COMMON_BUF_H
#define BM_COMMON_BUF_H
int buf_len(void);
#endif
C
cat >"$T/common/buf.c" <<'C'
#include "buf.h"
static int helper(void)
{
    return 0;
}

int buf_len(void)
{
    return helper(); /* strtol(s, NULL, 10) and sprintf( in a comment */
}
C
cat >"$T/gateway/main.c" <<'C'
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "usage\n");
    return 0;
}
C
cat >"$T/tests/integration/harness_x.c" <<'C'
#include <stdlib.h>
long h_num(const char *s)
{
    char *end;
    return strtol(s, &end, 10);
}
C
out=$(CHECKSRC_ROOT=$T "$SRC/scripts/checksrc.sh" 2>&1)
rc=$?
if ((rc == 0)); then
    pass "a clean tree passes (exit 0)"
else
    failure "a clean tree passes (exit 0)" "$out"
fi

# One finding of each kind.
cat >"$T/services/auth/auth.h" <<'C'
#ifndef BM_AUTH_H
#define BM_AUTH_H
#endif
C
cat >"$T/gateway/poller.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
void gw_poll(void)
{
    char *end;
    fprintf(stderr, "late\n");
    (void)strtoul("1", &end, 10);
}

void poll_once(void)
{
    char b[8];
    sprintf(b, "x");
}
C
{
    echo '#include <stdlib.h>'
    echo 'int main(void)'
    echo '{'
    for _ in $(seq 101); do echo '    ;'; done
    echo '    return (int)strtol("1", NULL, 10);'
    echo '}'
} >"$T/bench/long.c"
out=$(CHECKSRC_ROOT=$T "$SRC/scripts/checksrc.sh" 2>&1)
rc=$?
check "a tree with findings fails (exit 1)" test "$rc" = 1
contains "guard: a guard that is not the path" "$out" \
    "services/auth/auth.h:1: error: guard: #ifndef BM_AUTH_H, want BM_SERVICES_AUTH_AUTH_H"
contains "prefix: an export without the module prefix" "$out" \
    "gateway/poller.c:10: error: prefix: poll_once() is exported without its module prefix (gw_)"
lacks "prefix: gw_poll is the gateway's" "$out" "gw_poll()"
contains "banned: sprintf" "$out" "gateway/poller.c:13: error: banned: sprintf()"
contains "stderr: after start-up, outside main.c" "$out" "gateway/poller.c:6: error: stderr:"
lacks "stderr: main.c may" "$out" "gateway/main.c"
contains "strto: outside parse.c in the daemon tree" "$out" "gateway/poller.c:7: error: strto:"
contains "strto: without an end pointer" "$out" "bench/long.c:105: error: strto: strto*() without an end pointer"
contains "long: a function over 100 lines is a warning" "$out" "bench/long.c:3: warning: long: main() is 104 lines"
lacks "comments and literals are not code" "$out" "common/buf.c"
finish
