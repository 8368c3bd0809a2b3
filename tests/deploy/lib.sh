# shellcheck shell=bash
# Sourced by tests/deploy/test_*.sh: paths, assertions, a closing line.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   check "what it asserts" COMMAND...     pass if COMMAND exits 0 (returns 1 if not)
#   contains "what" "$text" NEEDLE         pass if NEEDLE is in text
#   lacks "what" "$text" NEEDLE            pass if it is not
#   finish                                 print "N passed, N failed", exit 0/1
#   skip "reason"                          exit 77 (ctest SKIP_RETURN_CODE)
#   $WORK                                  a temporary directory, removed at exit
#
# BM_SOURCE_DIR (the repository) and BM_BUILD_DIR (the CMake tree, whose
# bin/ holds the daemons) come from tests/deploy/CMakeLists.txt; run by hand,
# they default to this checkout and its build/.
set -uo pipefail

SRC=${BM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BM_BUILD_DIR:-$SRC/build}
BIN=$BUILD/bin
DAEMONS=(transaction-service auth-service monitoring-service api-gateway)
TEST_NAME=$(basename "$0" .sh)
passed=0
failed=0

pass() {
    passed=$((passed + 1))
    printf 'ok      %s\n' "$1"
}

failure() {
    failed=$((failed + 1))
    printf 'FAILED  %s\n' "$1"
    if [[ -n "${2:-}" ]]; then
        printf '%s\n' "$2" | head -n 40 | sed 's/^/        | /'
    fi
    return 1
}

check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        pass "$what"
    else
        failure "$what" "$out"
    fi
}

contains() {
    if [[ "$2" == *"$3"* ]]; then
        pass "$1"
    else
        failure "$1" "expected to find: $3"
    fi
}

lacks() {
    if [[ "$2" != *"$3"* ]]; then
        pass "$1"
    else
        failure "$1" "did not expect: $3"
    fi
}

skip() {
    printf 'SKIPPED %s: %s\n' "$TEST_NAME" "$1"
    exit 77
}

finish() {
    echo "$TEST_NAME: $passed passed, $failed failed"
    ((failed == 0))
}

# WORK: a private temporary directory, removed when the test exits.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bm-deploy-test.XXXXXX")
MAIN_PID=$BASHPID
# Only the test's own shell removes it, not a subshell that exits early.
trap '[[ $BASHPID != "$MAIN_PID" ]] || rm -rf "$WORK"' EXIT

# built_daemons : the daemons present in $BIN, one a line.
built_daemons() {
    local d
    for d in "${DAEMONS[@]}"; do
        [[ -x "$BIN/$d" ]] && printf '%s\n' "$d"
    done
    return 0
}
