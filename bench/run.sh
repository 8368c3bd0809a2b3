#!/usr/bin/env bash
# Benchmarks, each beside a reference measured in the same run (SPEC §9).
#
#   bench/run.sh
#
# For every service binary in build-bench/bin (Release build): start-up time,
# GET /health and the newest-100 event page under wrk against a bare
# libmicrohttpd server (bench/bare_server.c) serving a body of the same size,
# backfill events/s against a bare SQLite insert loop (bench/bare_insert.c),
# and RSS after the load. Prints a table; exits 1 if a target is missed.
#
# Environment: BENCH_SECONDS (wrk duration, 10), BENCH_WARMUP (2),
# BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_SEED (42),
# BENCH_BACKFILL (backfill timed for events/s, 6h), BENCH_INSERT_ROWS (500000),
# BENCH_KEEP=1 (keep the temporary directory with logs and wrk output),
# BM_SKIP_DEPS=1, BM_SKIP_BUILD=1, BM_JOBS (2).
set -euo pipefail
export LC_ALL=C   # '.' decimals in $EPOCHREALTIME and awk

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

# One line per service: binary|event-list path. Adding a service is a line
# here (the gateway will need its own function: it has no --db or backfill).
SERVICES=(
    "transaction-service|/transactions/events"
    "auth-service|/auth/events"
    "monitoring-service|/metrics/events"
)

SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
SEED=${BENCH_SEED:-42}
BACKFILL=${BENCH_BACKFILL:-6h}
BACKFILL_START=2024-03-04T08:00:00.000Z   # a Monday: a fixed, ordinary workload
BACKFILL_TIMEOUT=${BENCH_BACKFILL_TIMEOUT:-300}
INSERT_ROWS=${BENCH_INSERT_ROWS:-500000}
BUILD=build-bench
BIN=$BUILD/bin
CONFIG_FILE=config/anomaly_config.json

# SPEC §9 targets.
T_HEALTH_RPS=0.90
T_HEALTH_P99=1.25
T_PAGE_RPS=0.75
T_BACKFILL_ABS=100000
T_BACKFILL_REL=0.50
T_RSS_MB=16
T_STARTUP_MS=200

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

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

cleanup() {
    local pid
    trap '' INT TERM
    for pid in "${pids[@]}"; do
        stop_pid "$pid"
    done
    pids=()
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
            log "kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start LOGNAME CMD... : run CMD in the background; its pid is in $started.
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
        [[ "${pids[$i]}" == "$pid" ]] && unset "pids[$i]"
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

json_field() {  # json_field URL JQ_EXPR
    curl -fsS --max-time 2 "$1" 2>/dev/null | jq -r "$2 // empty" 2>/dev/null || true
}

# ---- measurements -----------------------------------------------------------

# wrk_run NAME URL : prints "rps p50_ms p99_ms errors".
wrk_run() {
    local name=$1 url=$2 out=$TMP/wrk-$1.txt
    if ((WARMUP > 0)); then
        wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
    fi
    log "wrk $name: $url (${SECS}s)"
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$url" >"$out" 2>&1 ||
        die "wrk failed for $url: $(tail -n 3 "$out")"
    awk '
    function ms(v) {
        if (v ~ /us$/) return v * 0.001
        if (v ~ /ms$/) return v + 0
        if (v ~ /m$/) return v * 60000
        if (v ~ /s$/) return v * 1000
        return v + 0
    }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50% / { p50 = ms($2) }
    /^ +99% / { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    END { printf "%s %.3f %.3f %d\n", rps + 0, p50, p99, err }' "$out"
}

# startup_ms BINARY ARGS... : ms from exec to the first 2xx /health.
startup_ms() {
    local port t0 t1 pid deadline
    port=$(free_port)
    t0=$EPOCHREALTIME
    start startup "$@" --port "$port" --bind 127.0.0.1
    pid=$started
    deadline=$((SECONDS + 10))
    until curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            stop "$pid"
            echo "-"
            return 0
        fi
    done
    t1=$EPOCHREALTIME
    stop "$pid"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'
}

# backfill_rate BINARY ARGS... : events/s while backfilling, from head_sequence.
backfill_rate() {
    local port pid url t h st t_exec deadline first_t='' first_h='' last_t='' last_h=''
    port=$(free_port)
    url=http://127.0.0.1:$port/health
    t_exec=$EPOCHREALTIME
    start backfill "$@" --port "$port" --bind 127.0.0.1
    pid=$started
    wait_http "$url" "$pid" 10 || { stop "$pid"; echo "- 0 no-health"; return 0; }
    deadline=$((SECONDS + BACKFILL_TIMEOUT))
    while ((SECONDS < deadline)); do
        read -r st h < <(curl -fsS --max-time 2 "$url" 2>/dev/null |
            jq -r '"\(.status // "?") \(.head_sequence // 0)"' 2>/dev/null || echo "? 0")
        t=$EPOCHREALTIME
        if [[ "$st" != backfilling ]]; then
            [[ -n "$first_t" ]] || { first_t=$t_exec; first_h=0; }
            last_t=$t
            last_h=$h
            break
        fi
        if [[ -z "$first_t" ]]; then
            first_t=$t
            first_h=$h
        fi
        last_t=$t
        last_h=$h
        sleep 0.2
    done
    stop "$pid"
    [[ -n "$last_t" ]] || { echo "- 0 no-samples"; return 0; }
    awk -v t0="$first_t" -v h0="$first_h" -v t1="$last_t" -v h1="$last_h" -v st="$st" \
        'BEGIN { dt = t1 - t0; if (dt <= 0) { print "- " h1 " " st; exit }
                 printf "%.0f %d %s\n", (h1 - h0) / dt, h1, st }'
}

rss_mb() {
    awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "-"
}

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

# errs SERVICE_ERRORS BARE_ERRORS : a note for the result column.
errs() {
    ((${1:-0} == 0)) || printf ' (%s errors)' "$1"
    ((${2:-0} == 0)) || printf ' (bare: %s errors)' "$2"
    return 0
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
    fmt="%-${w}s | %12s | %12s | %6s | %-20s | %s\n"
    echo
    # shellcheck disable=SC2059 # the format is built above
    printf "$fmt" metric measured reference ratio target result
    printf '%*s\n' "$((w + 72))" '' | tr ' ' -
    for r in "${rows[@]}"; do
        IFS='|' read -r m v ref ra t ok <<<"$r"
        # shellcheck disable=SC2059
        printf "$fmt" "$m" "$v" "$ref" "$ra" "$t" "$ok"
    done
    echo
}

# ---- one service --------------------------------------------------------------

bench_service() {
    local name=$1 list=$2 bin=$BIN/$1 short=${1%-service}
    local -a cfg=()
    local port pid base hb eb bport bpid b2port b2pid st
    local s_rps s_p50 s_p99 s_err r_rps r_p50 r_p99 r_err v
    local up rss hwm bf_rate bf_total bf_state ins_rate out

    [[ -f "$CONFIG_FILE" ]] && cfg=(--config "$CONFIG_FILE")
    log "== $name"

    up=$(startup_ms "$bin" --db "$TMP/$name-startup.db" "${cfg[@]}")

    port=$(free_port)
    base=http://127.0.0.1:$port
    start "$name" "$bin" --port "$port" --bind 127.0.0.1 --db "$TMP/$name.db" \
        --seed "$SEED" --backfill 1h "${cfg[@]}"
    pid=$started
    wait_http "$base/health" "$pid" 10 ||
        die "$name did not answer /health; log: $(tail -n 5 "$TMP/$name.log")"
    log "waiting for $name's 1h backfill"
    for ((v = 0; v < BACKFILL_TIMEOUT * 5; v++)); do
        st=$(json_field "$base/health" .status)
        [[ "$st" == backfilling || -z "$st" ]] || break
        sleep 0.2
    done
    [[ "$st" == ok ]] || log "warning: $name /health status is '$st', not 'ok'"

    curl -fsS "$base/health" -o "$TMP/$name-health.json" || die "$name GET /health failed"
    curl -fsS "$base$list?limit=100" -o "$TMP/$name-page.json" || die "$name GET $list failed"
    hb=$(wc -c <"$TMP/$name-health.json")
    eb=$(wc -c <"$TMP/$name-page.json")
    v=$(jq -r '.count // empty' "$TMP/$name-page.json" 2>/dev/null || true)
    [[ "$v" == 100 ]] || log "warning: $name page holds count='$v', not 100 events"

    bport=$(free_port)
    start "bare-$short-health" "$BIN/bare_server" "$bport" "@$TMP/$name-health.json"
    bpid=$started
    b2port=$(free_port)
    start "bare-$short-page" "$BIN/bare_server" "$b2port" "@$TMP/$name-page.json"
    b2pid=$started
    wait_http "http://127.0.0.1:$bport/" "$bpid" 5 || die "bare_server did not start"
    wait_http "http://127.0.0.1:$b2port/" "$b2pid" 5 || die "bare_server did not start"

    out=$(wrk_run "bare-$short-health" "http://127.0.0.1:$bport/health")
    read -r r_rps r_p50 r_p99 r_err <<<"$out"
    out=$(wrk_run "$short-health" "$base/health")
    read -r s_rps s_p50 s_p99 s_err <<<"$out"
    v=$(verdict "$(ratio "$s_rps" "$r_rps") >= $T_HEALTH_RPS && $s_err == 0")
    row "$short /health ($hb B) req/s" "$s_rps" "$r_rps" "$(ratio "$s_rps" "$r_rps")" \
        ">= ${T_HEALTH_RPS}x bare" "$v$(errs "$s_err" "$r_err")"
    v=$(verdict "$(ratio "$s_p99" "$r_p99") <= $T_HEALTH_P99")
    row "$short /health p99 ms" "$s_p99" "$r_p99" "$(ratio "$s_p99" "$r_p99")" \
        "<= ${T_HEALTH_P99}x bare" "$v"
    row "$short /health p50 ms" "$s_p50" "$r_p50" "$(ratio "$s_p50" "$r_p50")" "-" "info"

    out=$(wrk_run "bare-$short-page" "http://127.0.0.1:$b2port$list")
    read -r r_rps r_p50 r_p99 r_err <<<"$out"
    out=$(wrk_run "$short-page" "$base$list?limit=100")
    read -r s_rps s_p50 s_p99 s_err <<<"$out"
    v=$(verdict "$(ratio "$s_rps" "$r_rps") >= $T_PAGE_RPS && $s_err == 0")
    row "$short $list?limit=100 ($eb B) req/s" "$s_rps" "$r_rps" "$(ratio "$s_rps" "$r_rps")" \
        ">= ${T_PAGE_RPS}x bare" "$v$(errs "$s_err" "$r_err")"
    row "$short page p99 ms" "$s_p99" "$r_p99" "$(ratio "$s_p99" "$r_p99")" "-" "info"

    rss=$(rss_mb "$pid")
    hwm=$(awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "-")
    stop "$bpid"
    stop "$b2pid"
    stop "$pid"

    log "timing a $BACKFILL backfill from $BACKFILL_START"
    out=$(backfill_rate "$bin" --db "$TMP/$name-backfill.db" \
        --seed "$SEED" --start-time "$BACKFILL_START" --backfill "$BACKFILL" "${cfg[@]}")
    read -r bf_rate bf_total bf_state <<<"$out"
    rm -f "$TMP/$name-backfill.db"*
    log "bare_insert: $INSERT_ROWS rows"
    ins_rate=$("$BIN/bare_insert" "$TMP/bare-insert.db" "$INSERT_ROWS" |
        awk '/^rows_per_s/ { print $2 }') || ins_rate=-
    rm -f "$TMP/bare-insert.db"*

    if [[ "$bf_rate" == - || "$ins_rate" == - || -z "$ins_rate" ]]; then
        v="FAIL (no rate: $bf_state)"
    else
        v=$(verdict "$bf_rate >= $T_BACKFILL_ABS && $bf_rate / $ins_rate >= $T_BACKFILL_REL")
    fi
    row "$short backfill events/s ($bf_total ev)" "$bf_rate" "${ins_rate:--}" \
        "$(ratio "$bf_rate" "${ins_rate:--}")" ">= 100k/s, >= ${T_BACKFILL_REL}x" "$v"
    if [[ "$rss" == - ]]; then v=FAIL; else v=$(verdict "$rss < $T_RSS_MB"); fi
    row "$short RSS MB after load (peak $hwm)" "$rss" "-" "-" "< $T_RSS_MB MB" "$v"
    if [[ "$up" == - ]]; then v="FAIL (no /health in 10 s)"; else v=$(verdict "$up <= $T_STARTUP_MS"); fi
    row "$short start-up ms (exec to /health)" "$up" "-" "-" "<= $T_STARTUP_MS ms" "$v"
}

# ---- main ---------------------------------------------------------------------

bm_deps_install "${BM_DEPS_BUILD[@]}" "${BM_DEPS_BENCH[@]}" || die "cannot install packages"

if [[ "${BM_SKIP_BUILD:-0}" != 1 ]]; then
    log "building (Release) in $BUILD/"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBM_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j "${BM_JOBS:-2}" >/dev/null || die "build failed (cmake --build $BUILD)"
fi
# Until the top-level CMakeLists adds bench/, build the references by hand.
for ref in bare_server:libmicrohttpd bare_insert:sqlite3; do
    if [[ ! -x "$BIN/${ref%%:*}" || "bench/${ref%%:*}.c" -nt "$BIN/${ref%%:*}" ]]; then
        mkdir -p "$BIN"
        # shellcheck disable=SC2046 # pkg-config output is meant to split
        cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -o "$BIN/${ref%%:*}" \
            "bench/${ref%%:*}.c" $(pkg-config --cflags --libs "${ref#*:}") ||
            die "cannot build bench/${ref%%:*}.c"
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bankmock-bench.XXXXXX")
log "$(nproc) CPUs; wrk -t$THREADS -c$CONNS -d${SECS}s --latency; temp dir $TMP"

ran=0
for s in "${SERVICES[@]}"; do
    name=${s%%|*}
    if [[ -x "$BIN/$name" ]]; then
        bench_service "$name" "${s#*|}"
        ran=1
    fi
done
((ran)) || die "no service binaries in $BIN"

print_table
if ((any_fail)); then
    echo "bench: some targets missed (FAIL above)"
    exit 1
fi
echo "bench: all targets met"
