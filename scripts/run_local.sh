#!/usr/bin/env bash
# Build and run every bankmock daemon locally; Ctrl-C stops them all.
#
#   scripts/run_local.sh [-- SERVICE_ARGS...]
#
# Starts each binary that exists in build/bin: transaction-service (8081),
# auth-service (8082), monitoring-service (8083), then api-gateway (8080).
# Data and logs go to data/<name>.db and data/<name>.log.
# Arguments after `--` go to the three services (not the gateway), e.g.
#   scripts/run_local.sh -- --backfill 1h --seed 7
# Without --seed (or SEED) the three services get one shared seed, so they
# share the cross-service incidents: drawn at random the first time and kept
# in data/seed (databases from before it keep their own seeds).
# Environment: GATEWAY_PORT, TRANSACTION_PORT, AUTH_PORT, MONITORING_PORT;
# CONFIG_FILE (default config/anomaly_config.json); BM_SKIP_DEPS=1 (no apt);
# BM_SKIP_BUILD=1 (use build/bin as it is); BM_JOBS (default 2); BM_BIN_DIR and
# BM_DATA_DIR (instead of build/bin and data/, e.g. for tests).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

extra=()
while (($# > 0)); do
    case "$1" in
    --) shift; extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run_local.sh: unknown argument: $1 (service arguments go after --)" >&2; exit 2 ;;
    esac
done

# name|port; the gateway last, so the services it polls are up first.
SERVICES=(
    "transaction-service|${TRANSACTION_PORT:-8081}"
    "auth-service|${AUTH_PORT:-8082}"
    "monitoring-service|${MONITORING_PORT:-8083}"
    "api-gateway|${GATEWAY_PORT:-8080}"
)
BIN=${BM_BIN_DIR:-build/bin}
DATA=${BM_DATA_DIR:-data}
CONFIG_FILE=${CONFIG_FILE:-config/anomaly_config.json}

log() { printf 'run_local: %s\n' "$*"; }
die() { printf 'run_local: %s\n' "$*" >&2; exit 1; }

port_of() {
    local s
    for s in "${SERVICES[@]}"; do
        [[ "${s%%|*}" == "$1" ]] && { echo "${s#*|}"; return 0; }
    done
    return 1
}

# port_var NAME : the environment variable that sets NAME's port.
port_var() {
    case "$1" in
    api-gateway) echo GATEWAY_PORT ;;
    *) local v=${1%%-*}; echo "${v^^}_PORT" ;;
    esac
}

# Is something accepting connections on 127.0.0.1:PORT?
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

names=()   # started, in start order
pids=()

stop_all() {
    local i deadline alive
    # A second Ctrl-C must not cut the clean-up short; it ends within 5 s anyway.
    trap '' INT TERM
    trap - EXIT
    ((${#pids[@]} == 0)) && return 0
    log "stopping ${names[*]}"
    for i in "${!pids[@]}"; do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
    done
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        alive=0
        for i in "${!pids[@]}"; do
            kill -0 "${pids[$i]}" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            log "${names[$i]} did not stop within 5 s: SIGKILL"
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
        wait "${pids[$i]}" 2>/dev/null || true
    done
    pids=()
    log "stopped"
}

on_signal() {
    echo
    stop_all
    exit 0
}

on_exit() {
    local rc=$?
    stop_all
    exit "$rc"
}

# A child died: say which and show the end of its log.
report_death() {
    local i=$1 rc=0
    wait "${pids[$i]}" 2>/dev/null || rc=$?
    echo "run_local: ${names[$i]} exited (status $rc); last lines of $DATA/${names[$i]}.log:" >&2
    tail -n 15 "$DATA/${names[$i]}.log" >&2 || true
    unset "pids[$i]"
}

# wait_health NAME PORT INDEX : up to 10 s for GET /health to answer 2xx.
wait_health() {
    local name=$1 port=$2 i=$3 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            report_death "$i"
            return 1
        fi
        sleep 0.1
    done
    echo "run_local: $name did not answer http://127.0.0.1:$port/health within 10 s;" \
         "see $DATA/$name.log" >&2
    return 1
}

start_one() {
    local name=$1 port=$2 i
    local -a args=(--port "$port")

    if [[ -f "$CONFIG_FILE" ]]; then
        args+=(--config "$CONFIG_FILE")
    fi
    if [[ "$name" == api-gateway ]]; then
        local svc var
        for svc in transaction auth monitoring; do
            var=$(port_of "$svc-service")
            args+=("--$svc-url" "http://127.0.0.1:$var")
        done
    else
        args+=(--db "$DATA/$name.db" "${extra[@]}")
    fi
    log "starting $name on port $port (log: $DATA/$name.log)"
    {
        printf '# %s run_local.sh: %s' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$BIN/$name"
        printf ' %q' "${args[@]}"
        printf '\n'
    } >>"$DATA/$name.log"
    "$BIN/$name" "${args[@]}" >>"$DATA/$name.log" 2>&1 </dev/null &
    i=${#names[@]}
    names+=("$name")
    pids[i]=$!
    wait_health "$name" "$port" "$i"
}

# The services' shared seed, unless the arguments or SEED give one.
shared_seed() {
    local a
    for a in "${extra[@]}"; do
        [[ "$a" == --seed || "$a" == --seed=* ]] && return 0
    done
    [[ -n "${SEED:-}" ]] && return 0
    if [[ ! -s "$DATA/seed" ]]; then
        if compgen -G "$DATA/*-service.db" >/dev/null; then
            log "databases in $DATA keep their own seeds (no $DATA/seed)"
            return 0
        fi
        od -An -N4 -tu4 /dev/urandom | tr -d ' ' >"$DATA/seed"
    fi
    extra+=(--seed "$(<"$DATA/seed")")
    log "seed $(<"$DATA/seed") for the three services ($DATA/seed)"
}

bm_deps_install "${BM_DEPS_BUILD[@]}" || die "cannot install the build packages"

if [[ "${BM_SKIP_BUILD:-0}" != 1 ]]; then
    log "building in build/"
    # Keep whatever options build/ already has (scripts/test.sh sets -Werror);
    # a new tree gets the project default, RelWithDebInfo.
    cmake -S . -B build >/dev/null || die "cmake configure failed"
    cmake --build build -j "${BM_JOBS:-2}" || die "build failed"
fi

mkdir -p "$DATA"
[[ -f "$CONFIG_FILE" ]] || log "warning: $CONFIG_FILE not found; daemons use built-in defaults"
shared_seed

# Check every port first so nothing starts when one is taken.
todo=()
for s in "${SERVICES[@]}"; do
    name=${s%%|*}
    port=${s#*|}
    [[ -x "$BIN/$name" ]] || continue
    if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((port < 1 || port > 65535)); then
        die "bad port for $name: '$port' (set $(port_var "$name") to 1..65535)"
    fi
    if port_busy "$port"; then
        die "port $port (for $name) is already in use by another process;" \
            "stop that process or choose another port, e.g." \
            "$(port_var "$name")=$((port + 100)) scripts/run_local.sh"
    fi
    todo+=("$s")
done
((${#todo[@]} > 0)) || die "no daemon binaries in $BIN; did the build succeed?"

trap on_signal INT TERM
trap on_exit EXIT

for s in "${todo[@]}"; do
    start_one "${s%%|*}" "${s#*|}" || exit 1
done

echo
echo "bankmock is running (Ctrl-C stops it):"
for i in "${!names[@]}"; do
    port=$(port_of "${names[$i]}")
    printf '  %-20s http://localhost:%s/health   log: %s\n' "${names[$i]}" "$port" "$DATA/${names[$i]}.log"
done
echo

# Sleep in the background so a signal interrupts `wait` at once.
while true; do
    sleep 1 &
    wait $! || true
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            report_death "$i"
            echo "run_local: stopping the others" >&2
            exit 1
        fi
    done
done
