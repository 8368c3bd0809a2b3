#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz and fuzz each for a bounded time.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]
#   scripts/fuzz.sh --list
#
# TARGET is the <name> of a tests/fuzz/fuzz_<name>.c (default: all of them).
# Installs missing packages (clang among them), builds with CC=clang into
# build-fuzz through scripts/build.sh (-DBM_FUZZ=ON, ASan+UBSan), then for
# each target: copies tests/fuzz/corpus/<name>/ to build-fuzz/corpus/<name>/
# (the repository's corpus is only read), fuzzes that copy for N seconds
# (with tests/fuzz/dict/<name>.dict when there is one) and prints PASS or
# FAIL with executions per second and the corpus size before and after.
# Inputs that crash, leak, break an invariant, run over 10 s or use over
# 2 GB are saved in build-fuzz/artifacts/<name>/, each run's output in
# build-fuzz/logs/<name>.log. The grown corpus stays in build-fuzz/corpus/
# until the next run; to keep a few of its inputs, merge them into the
# repository's corpus, e.g.
#   build-fuzz/bin/fuzz_query -merge=1 tests/fuzz/corpus/query build-fuzz/corpus/query
# The plain and ASan suites of scripts/test.sh replay every corpus
# once through ctest (label fuzz); this script is not part of them.
#
# Options: --seconds N (default: $FUZZ_SECONDS, else 60), --list, -h/--help.
# Environment: FUZZ_SECONDS, BM_JOBS (build jobs, default 2), BM_SKIP_DEPS=1.
# Exits 0 if no target found anything, 1 if one did or a target could not
# be built or run, 2 on a usage error.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

BUILD=build-fuzz

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

all_targets() {
    local f
    shopt -s nullglob
    for f in tests/fuzz/fuzz_*.c; do
        f=${f##*/fuzz_}
        printf '%s\n' "${f%.c}"
    done
}

seconds=${FUZZ_SECONDS:-60}
targets=()
list=0
while (($#)); do
    case "$1" in
    --seconds)
        (($# >= 2)) || { echo "fuzz.sh: --seconds needs a value" >&2; exit 2; }
        seconds=$2
        shift 2
        ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --list) list=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "fuzz.sh: --seconds (or FUZZ_SECONDS) must be a whole number of seconds >= 1, got \"$seconds\"" >&2
    exit 2
fi

mapfile -t known < <(all_targets)
if ((list)); then
    printf '%s\n' "${known[@]}"
    exit 0
fi
if ((${#targets[@]} == 0)); then
    targets=("${known[@]}")
fi
for t in "${targets[@]}"; do
    if [[ " ${known[*]} " != *" $t "* ]]; then
        echo "fuzz.sh: no target \"$t\" (tests/fuzz/fuzz_$t.c); targets: ${known[*]}" >&2
        exit 2
    fi
done

if ! bm_deps_install "${BM_DEPS_BUILD[@]}" clang; then
    echo "fuzz.sh: cannot install the packages it needs" >&2
    exit 1
fi
echo "==> build ($BUILD: clang, libFuzzer, address,undefined)"
CC=clang scripts/build.sh "$BUILD" -DBM_FUZZ=ON -DBM_SANITIZE=address,undefined

# final_stat NAME LOG : a "stat::NAME: value" line of libFuzzer's final stats.
final_stat() {
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

count_files() {
    find "$1" -maxdepth 1 -type f | wc -l
}

results=()
failed=0
for t in "${targets[@]}"; do
    bin=$BUILD/bin/fuzz_$t
    work=$BUILD/corpus/$t
    art=$BUILD/artifacts/$t
    log=$BUILD/logs/$t.log
    dict=tests/fuzz/dict/$t.dict
    if [[ ! -x "$bin" ]]; then
        results+=("FAIL|$t|not built ($bin)")
        failed=1
        continue
    fi
    rm -rf "$work"
    mkdir -p "$work" "$art" "$BUILD/logs"
    if [[ -d tests/fuzz/corpus/$t ]]; then
        cp -R "tests/fuzz/corpus/$t/." "$work/"
    fi
    seeds=$(count_files "$work")
    found_before=$(count_files "$art")
    opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -close_fd_mask=1 -artifact_prefix="$art/")
    if [[ -f "$dict" ]]; then
        opts+=(-dict="$dict")
    fi
    echo
    echo "==> fuzz_$t: ${seconds}s from $seeds seed inputs (log: $log)"
    # The outer timeout only guards against a run that ignores its own limit.
    if ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:${ASAN_OPTIONS:-}" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
        timeout --kill-after=10 "$((seconds + 300))" "$bin" "${opts[@]}" "$work" >"$log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    found=$(($(count_files "$art") - found_before))
    execs=$(final_stat average_exec_per_sec "$log")
    note="${execs:-?} exec/s, corpus $seeds -> $(count_files "$work") inputs"
    if ((rc != 0 || found > 0)); then
        failed=1
        results+=("FAIL|$t|$note; exit $rc, $found new input(s) in $art/")
        grep -E 'ERROR:|invariant broken|runtime error:|Test unit written' "$log" | head -n 5 || true
    else
        results+=("PASS|$t|$note")
    fi
    tail -n 3 "$log"
done

echo
echo "======================== fuzz.sh summary (${seconds}s per target) ========================"
for r in "${results[@]}"; do
    IFS='|' read -r status name note <<<"$r"
    printf '%-5s %-12s %s\n' "$status" "$name" "$note"
done
if ((failed)); then
    echo "fuzz.sh: FOUND SOMETHING (or could not run); see $BUILD/logs and $BUILD/artifacts"
else
    echo "fuzz.sh: nothing found"
fi
exit "$failed"
