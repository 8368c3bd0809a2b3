#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions below are called through step()
# Install missing packages, build, run the whole test suite.
#
#   scripts/test.sh              static checks, plain suite, Docker stack, ASan+UBSan suite, TSan suite
#   scripts/test.sh --quick      static checks and plain suite only
#   scripts/test.sh --sanitize   sanitizer suites only
#   scripts/test.sh --no-docker  all but the Docker stack
#
# The Docker stack (tests/deploy/test_docker.sh, `ctest -C docker -L docker`),
# the last step, starts dockerd if no engine answers, builds the image and
# runs compose: as root, ~2-3 min warm, ~5 min with no base image or build
# cache yet.
# Environment: BM_SKIP_SANITIZE=1 (same as --quick), BM_SKIP_DOCKER=1 (same
# as --no-docker), BM_SKIP_DEPS=1 (no apt), BM_SKIP_NPM=1 (no npm install of
# the pinned tools, scripts/npm_tools.sh), BM_JOBS (parallel build and test
# jobs, default 2).
# Exits non-zero if any step failed; the summary at the end says which.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

usage() {
    awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

run_plain=1
run_sanitize=1
run_docker=1
for arg in "$@"; do
    case "$arg" in
    --quick) run_sanitize=0 run_docker=0 ;;
    --no-docker) run_docker=0 ;;
    --sanitize) run_plain=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ "${BM_SKIP_SANITIZE:-0}" == 1 ]]; then
    run_sanitize=0
    run_docker=0
fi
if [[ "${BM_SKIP_DOCKER:-0}" == 1 ]]; then
    run_docker=0
fi
if ((!run_plain && !run_sanitize)); then
    echo "test.sh: --sanitize with --quick/BM_SKIP_SANITIZE=1 leaves nothing to run" >&2
    exit 2
fi

JOBS=${BM_JOBS:-2}
LOGDIR=build/test-logs
results=()   # "STATUS|step|seconds|note"

# step NAME CMD... : run CMD (in a subshell, errexit in force), record the outcome.
step() {
    local name=$1 rc t0
    shift
    echo
    echo "==> $name"
    t0=$SECONDS
    set +e
    (set -e; "$@")
    rc=$?
    set -e
    if ((rc == 0)); then
        results+=("PASS|$name|$((SECONDS - t0))|")
    else
        results+=("FAIL|$name|$((SECONDS - t0))|exit $rc")
    fi
}

skip() {
    results+=("SKIP|$1|0|$2")
}

last_ok() {
    [[ "${results[-1]}" == PASS* ]]
}

install_deps() {
    bm_deps_install "${BM_DEPS_BUILD[@]}" "${BM_DEPS_TEST[@]}"
    # redocly (tests/contract) and prism, pinned, into .cache/npm-tools
    scripts/npm_tools.sh
}

shell_files() {
    local f
    shopt -s nullglob
    for f in scripts/*.sh bench/*.sh config/*.sh tests/*/*.sh docker/*.sh deploy/*.sh deploy/*.tpl .ci/run; do
        [[ -f "$f" ]] && printf '%s\n' "$f"
    done
}

run_shellcheck() {
    local -a files
    mapfile -t files < <(shell_files)
    echo "shellcheck: ${files[*]}"
    shellcheck -x "${files[@]}"
}

# build DIR CMAKE_ARGS... : configure and build one tree.
build() {
    local dir=$1
    shift
    BM_JOBS=$JOBS scripts/build.sh "$dir" "$@"
}

# run_ctest SUITE DIR CTEST_ARGS... : run ctest (behind ${CTEST_WRAP[@]}),
# keep its output in $LOGDIR/ctest-SUITE.log for the summary.
# --no-tests=error: a suite that finds nothing has not passed.
CTEST_WRAP=()
run_ctest() {
    local suite=$1 dir=$2 rc
    shift 2
    mkdir -p "$LOGDIR"
    set +e
    "${CTEST_WRAP[@]}" ctest --test-dir "$dir" --output-on-failure --no-tests=error \
        -j "$JOBS" "$@" 2>&1 | tee "$LOGDIR/ctest-$suite.log"
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

# TSan maps memory at fixed addresses; kernels with 32 bits of mmap entropy
# break that, and running without ASLR avoids it.
no_aslr() {
    if setarch "$(uname -m)" -R true 2>/dev/null; then
        setarch "$(uname -m)" -R "$@"
    else
        "$@"
    fi
}

# The Docker stack: one test, in the CTest configuration "docker" (a plain
# ctest run leaves it out); -V shows its progress and timings in the log.
docker_suite() {
    run_ctest docker build -C docker -L docker -V
}

tsan_count() {
    ctest --test-dir build-tsan -N -L 'integration|threads' | sed -n 's/^Total Tests: //p'
}

# ignore_noninstrumented_modules: libmicrohttpd is not built with TSan, so
# TSan cannot see its own locks (MHD_resume_connection from a stream or
# proxy thread, say) and took MHD's close() of a socket our accept thread
# had accepted for a race on the descriptor.
tsan_suite() {
    CTEST_WRAP=(no_aslr)
    BM_TEST_SCALE=small \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 ${TSAN_OPTIONS:-}" \
        run_ctest tsan build-tsan -L 'integration|threads'
}

asan_suite() {
    BM_TEST_SCALE=small \
    ASAN_OPTIONS="detect_leaks=1 strict_string_checks=1 detect_stack_use_after_return=1 ${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}" \
        run_ctest asan build-asan
}

# closing_line SUITE : ctest's "N% tests passed, ..." line from that suite's log.
closing_line() {
    local log=$LOGDIR/ctest-$1.log line=
    if [[ -f "$log" ]]; then
        line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
    fi
    echo "${line:-(no closing line; see $log)}"
}

rm -f "$LOGDIR"/ctest-*.log

step "install packages" install_deps
if ! last_ok; then
    echo "test.sh: cannot install the packages it needs; stopping" >&2
    run_plain=0
    run_sanitize=0
fi

suites=()
if ((run_plain)); then
    step "checksrc" scripts/checksrc.sh
    step "shellcheck" run_shellcheck
    step "build (plain, -Werror)" build build -DBM_WERROR=ON -DBM_SANITIZE=
    if last_ok; then
        step "ctest (plain)" run_ctest plain build -LE prism
        suites+=(plain)
        # The API tests once more, each response validated against
        # openapi.yaml by a Prism proxy (tests/integration/harness_prism.c).
        # One at a time: each proxy's start is a second or two of node's
        # CPU, and the gateway test's timings share the machine with them.
        step "ctest (prism: responses against openapi.yaml)" run_ctest prism build -L prism -j 1
        suites+=(prism)
    else
        skip "ctest (plain)" "build failed"
        if ((run_docker)); then
            skip "ctest (docker)" "build failed"
            run_docker=0
        fi
    fi
fi

if ((run_sanitize)); then
    step "build (address,undefined)" build build-asan -DBM_SANITIZE=address,undefined
    if last_ok; then
        step "ctest (address,undefined; BM_TEST_SCALE=small)" asan_suite
        suites+=(asan)
    else
        skip "ctest (address,undefined)" "build failed"
    fi
    step "build (thread)" build build-tsan -DBM_SANITIZE=thread
    if ! last_ok; then
        skip "ctest (thread)" "build failed"
    elif [[ "$(tsan_count)" == 0 ]]; then
        skip "ctest (thread)" "no tests labelled integration or threads"
    else
        step "ctest (thread; labels integration, threads)" tsan_suite
        suites+=(tsan)
    fi
fi

# The Docker stack last: dockerd's iptables rules turn on the kernel's
# connection tracking, which then tracks all loopback traffic too (a suite
# with many short connections can fill its table and lose connections).
if ((run_plain && run_docker)); then
    step "ctest (docker; the stack on a real engine)" docker_suite
    suites+=(docker)
fi

failed=0
echo
echo "======================== test.sh summary ========================"
for r in "${results[@]}"; do
    IFS='|' read -r status name secs note <<<"$r"
    printf '%-5s %-50s %5ss  %s\n' "$status" "$name" "$secs" "$note"
    [[ "$status" == FAIL ]] && failed=1
done
echo "================================================================="
if ((failed)); then
    echo "test.sh: FAILED"
else
    echo "test.sh: all steps passed"
fi
# ctest's closing lines last, the full plain suite at the very end.
for s in asan tsan prism docker plain; do
    if [[ " ${suites[*]} " == *" $s "* ]]; then
        echo "ctest suite '$s':"
        closing_line "$s"
    fi
done
exit "$failed"
