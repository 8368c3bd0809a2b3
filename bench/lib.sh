# shellcheck shell=bash disable=SC2034 # any_fail and others are read by the callers
# Sourced by bench/run.sh and bench/soak.sh, from the repository root:
# processes, free loopback ports, HTTP waits, /proc figures, the result table
# (metric, measured, reference, ratio, target, ok/FAIL) and the Release build
# in build-bench/.
#
#   TAG=bench KEEP=0
#   . bench/lib.sh
#   trap cleanup EXIT; trap 'exit 130' INT TERM
#
# TAG prefixes log lines; KEEP=1 keeps $TMP (logs, wrk output) at exit.

# shellcheck source=scripts/deps.sh
. scripts/deps.sh

BUILD=build-bench
BIN=$BUILD/bin

log() { printf '%s: %s\n' "${TAG:-bench}" "$*" >&2; }
die() { printf '%s: %s\n' "${TAG:-bench}" "$*" >&2; exit 1; }

# ---- processes ------------------------------------------------------------

pids=()
TMP=

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Stops everything start() started, newest first (the gateway before the
# services it polls, readers before what they read), then removes $TMP.
cleanup() {
    local i
    trap '' INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        [[ -n "${pids[$i]:-}" ]] && stop_pid "${pids[$i]}"
    done
    pids=()
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "${KEEP:-0}" == 1 ]]; then
            log "kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
}

# start LOGNAME CMD... : run CMD in the background, output to $TMP/LOGNAME.log;
# its pid is in $started.
started=
start() {
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 </dev/null &
    started=$!
    pids+=("$started")
}

stop() {
    local pid=$1 i
    stop_pid "$pid"
    for i in "${!pids[@]}"; do
        [[ "${pids[$i]}" == "$pid" ]] && pids[i]=
    done
    return 0
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port below the kernel's ephemeral range that nothing listens on.
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        port_busy "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

# wait_http URL PID TIMEOUT_S : until URL answers 2xx; fail if PID dies.
wait_http() {
    local url=$1 pid=$2 deadline=$((SECONDS + $3))
    until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# wait_port PORT PID TIMEOUT_S : until something listens on PORT.
wait_port() {
    local deadline=$((SECONDS + $3))
    until port_busy "$1"; do
        kill -0 "$2" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

json_field() {  # json_field URL JQ_EXPR
    curl -fsS --max-time 2 "$1" 2>/dev/null | jq -r "$2 // empty" 2>/dev/null || true
}

# Admin header for POSTs when the environment sets ADMIN_TOKEN.
admin_args() {
    if [[ -n "${ADMIN_TOKEN:-}" ]]; then
        printf '%s\n' -H "Authorization: Bearer $ADMIN_TOKEN"
    fi
}

# post_config BASE_URL JSON : POST /config; fails unless 2xx.
post_config() {
    local -a hdr
    mapfile -t hdr < <(admin_args)
    curl -fsS -o /dev/null --max-time 5 -X POST -H 'Content-Type: application/json' \
        "${hdr[@]}" --data "$2" "$1/config"
}

# proc_mb PID FIELD : VmRSS or VmHWM of PID in MB (one decimal), "-" if gone.
proc_mb() {
    awk -v f="$2:" '$1 == f { printf "%.1f\n", $2 / 1024; found = 1 }
                    END { if (!found) print "-" }' "/proc/$1/status" 2>/dev/null || echo "-"
}

rss_mb() { proc_mb "$1" VmRSS; }

# ---- table ------------------------------------------------------------------

rows=()
any_fail=0

calc() { awk "BEGIN { $1 }"; }

# row METRIC MEASURED REFERENCE RATIO TARGET VERDICT
row() {
    rows+=("$1|$2|$3|$4|$5|$6")
    [[ "$6" == FAIL* ]] && any_fail=1
    return 0
}

# verdict EXPR : "ok" if the awk expression holds, else "FAIL"; "-" operands fail.
verdict() {
    if [[ " $1 " == *" - "* ]]; then echo FAIL; return; fi
    calc "print (($1) ? \"ok\" : \"FAIL\")"
}

# within RATIO TOL : "ok" if RATIO is within 1 +- TOL, else "FAIL" ("-" fails).
within() {
    if [[ "$1" == - ]]; then echo FAIL; return; fi
    calc "print (($1 >= 1 - $2 && $1 <= 1 + $2) ? \"ok\" : \"FAIL\")"
}

ratio() {  # ratio A B
    if [[ "$1" == - || "$2" == - ]] || calc "exit !($2 == 0)"; then echo "-"; return; fi
    calc "printf \"%.2f\", $1 / $2"
}

print_table() {
    local r m v ref ra t ok w=6 fmt
    for r in "${rows[@]}"; do
        m=${r%%|*}
        ((${#m} > w)) && w=${#m}
    done
    fmt="%-${w}s | %12s | %12s | %6s | %-22s | %s\n"
    echo
    # shellcheck disable=SC2059 # the format is built above
    printf "$fmt" metric measured reference ratio target result
    printf '%*s\n' "$((w + 74))" '' | tr ' ' -
    for r in "${rows[@]}"; do
        IFS='|' read -r m v ref ra t ok <<<"$r"
        # shellcheck disable=SC2059
        printf "$fmt" "$m" "$v" "$ref" "$ra" "$t" "$ok"
    done
    echo
}

# ---- build --------------------------------------------------------------------

# bench_build BINARY... : install packages, build the Release tree in
# build-bench/ (unless BM_SKIP_BUILD=1) and check BINARY... were built.
bench_build() {
    local b
    bm_deps_install "${BM_DEPS_BUILD[@]}" "${BM_DEPS_BENCH[@]}" || die "cannot install packages"
    if [[ "${BM_SKIP_BUILD:-0}" != 1 ]]; then
        log "building (Release) in $BUILD/"
        scripts/build.sh "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBM_TESTS=OFF >/dev/null ||
            die "build failed (scripts/build.sh $BUILD)"
    fi
    for b in "$@"; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing (build with scripts/build.sh $BUILD)"
    done
}
