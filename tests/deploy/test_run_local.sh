#!/usr/bin/env bash
# scripts/run_local.sh starts the four daemons on the ports it is given, the
# gateway serves events polled from the others and routes to them, and a
# Ctrl-C (SIGINT to the script's process group, as a terminal sends it)
# stops all four and the script exits 0.
# shellcheck source=tests/deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for d in "${DAEMONS[@]}"; do
    [[ -x "$BIN/$d" ]] || skip "$BIN/$d is not built"
done
command -v curl >/dev/null || skip "curl is missing"

# Four ports nobody listens on (a race with other processes is possible,
# but the script refuses a taken port: that fails loudly, not wrongly).
ports=()
while ((${#ports[@]} < 4)); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
    [[ " ${ports[*]} " == *" $p "* ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || ports+=("$p")
done
GW=${ports[0]} TX=${ports[1]} AU=${ports[2]} MO=${ports[3]}

# Pids whose command line holds "--port PORT".
pids_on_port() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr "\0" " " 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *"--port $1 "* ]] && echo "${p#/proc/}"
    done
    return 0
}

export GATEWAY_PORT=$GW TRANSACTION_PORT=$TX AUTH_PORT=$AU MONITORING_PORT=$MO
export BM_SKIP_DEPS=1 BM_SKIP_BUILD=1 BM_BIN_DIR=$BIN BM_DATA_DIR=$WORK/data

# Job control gives the script its own process group and leaves SIGINT
# to it, as in a terminal.
set -m
"$SRC/scripts/run_local.sh" >"$WORK/run_local.out" 2>&1 &
script_pid=$!
set +m

events=0
for _ in {1..100}; do
    body=$(curl -s --max-time 2 "http://127.0.0.1:$GW/events?limit=5" 2>/dev/null || true)
    if [[ "$body" =~ \"count\":([0-9]+) ]] && ((BASH_REMATCH[1] > 0)); then
        events=${BASH_REMATCH[1]}
        break
    fi
    sleep 0.2
done
out=$(cat "$WORK/run_local.out")
check "the gateway serves events from the services (count $events)" test "$events" -gt 0 ||
    printf '%s\n' "$out" | tail -n 20
health=$(curl -s --max-time 2 "http://127.0.0.1:$GW/services/transaction-service/health" || true)
contains "the gateway routes to transaction-service's /health" "$health" \
    '"service":"transaction-service"'

# Without --seed the three services share one, kept in data/seed.
seeds=()
for name in transaction-service auth-service monitoring-service; do
    line=$(grep -o '"msg":"listening".*"seed":[0-9]*' "$WORK/data/$name.log" | tail -n 1 || true)
    seeds+=("${line##*:}")
done
shared=$(cat "$WORK/data/seed" 2>/dev/null || true)
check "the three services share the seed in data/seed ($shared: ${seeds[*]})" \
    test -n "$shared" -a "${seeds[0]}" = "$shared" -a "${seeds[1]}" = "$shared" \
    -a "${seeds[2]}" = "$shared"

daemon_pids=()
for port in "$GW" "$TX" "$AU" "$MO"; do
    mapfile -t found < <(pids_on_port "$port")
    check "one daemon listens on port $port" test "${#found[@]}" -eq 1 &&
        daemon_pids+=("${found[0]}")
done

kill -INT -- "-$script_pid" 2>/dev/null
rc=124
for _ in {1..100}; do
    if ! kill -0 "$script_pid" 2>/dev/null; then
        wait "$script_pid"
        rc=$?
        break
    fi
    sleep 0.1
done
check "Ctrl-C: run_local.sh exits 0 within 10 s (got $rc)" test "$rc" -eq 0
left=()
for pid in "${daemon_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && left+=("$pid")
done
check "Ctrl-C: all four daemons are gone (left: ${left[*]:-none})" test "${#left[@]}" -eq 0
for pid in "${left[@]}"; do
    kill -KILL "$pid" 2>/dev/null
done
if ((rc == 124)); then
    kill -TERM "$script_pid" 2>/dev/null
fi
contains "the script says it stopped them" "$(cat "$WORK/run_local.out")" "run_local: stopped"
finish
