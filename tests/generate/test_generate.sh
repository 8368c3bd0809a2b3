#!/usr/bin/env bash
# bankmock-generate (issue 17, offline datasets): for each service, its NDJSON
# for a seed, start and duration equals byte for byte the service's own
# export of [start, start + duration) after a backfill of that duration with
# the same seed, start and configuration (and its CSV the service's CSV);
# --out writes what standard output gets; flags: --help, --version, one-line
# errors with exit 2 for bad or unknown flags (a bad --shard too);
# SIGINT leaves a whole last line and exit 130, a closed pipe 141 quietly; a
# one-line summary on a stderr that is not a terminal; the binary links no
# SQLite.
# BM_TEST_SCALE=small: shorter windows.
# shellcheck source-path=SCRIPTDIR source=../deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

GEN=$BIN/bankmock-generate
[[ -x "$GEN" ]] || skip "$GEN is not built"
for tool in curl python3; do
    command -v "$tool" >/dev/null || skip "$tool missing"
done

SEED=7
START=2026-01-05T08:00:00.000Z # a Monday morning: shaped, busy hours
if [[ "${BM_TEST_SCALE:-}" == small ]]; then
    DUR=2m END=2026-01-05T08:02:00.000Z
else
    DUR=15m END=2026-01-05T08:15:00.000Z
fi
CFG=(--config "$SRC/config/anomaly_config.json")
cd "$WORK" || exit 1

# serve SERVICE : starts it with a backfill of DUR on a new database on
# loopback; sets pid and base once it has written the backfill.
serve() {
    local svc=$1 log=$WORK/$1.log port='' st='' i
    "$BIN/$svc-service" --port 0 --bind 127.0.0.1 --db "$WORK/$svc.db" --seed "$SEED" \
        --start-time "$START" --backfill "$DUR" "${CFG[@]}" >"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < 600; i++)); do
        port=$(sed -n 's/.*"msg":"listening","port":\([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -n 1)
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    base=http://127.0.0.1:$port
    for ((i = 0; i < 1200; i++)); do
        st=$(curl -fsS --max-time 2 "$base/health" 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)
        [[ -n "$st" && "$st" != backfilling ]] && return 0
        sleep 0.1
    done
    return 1
}

declare -A PATHS=([transaction]=/transactions [auth]=/auth [monitoring]=/metrics)
for svc in transaction auth monitoring; do
    if ! serve "$svc"; then
        failure "$svc: the service finished its $DUR backfill" "$(tail -n 5 "$WORK/$svc.log")"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        continue
    fi
    q="from=$START&to=$END"
    curl -fsS "$base${PATHS[$svc]}/export?$q&format=ndjson" -o "$svc.served.ndjson"
    curl -fsS "$base${PATHS[$svc]}/export?$q&format=csv" -o "$svc.served.csv"
    curl -fsS "$base${PATHS[$svc]}/export?from=$START&to=$START&format=csv" -o "$svc.empty.csv"
    kill "$pid"
    wait "$pid" 2>/dev/null
    "$GEN" --service "$svc" --seed "$SEED" --start "$START" --duration "$DUR" "${CFG[@]}" \
        >"$svc.ndjson" 2>"$svc.err"
    rc=$?
    n=$(wc -l <"$svc.ndjson")
    check "$svc: generated $n events, exit 0" test "$rc" = 0 -a "$n" -gt 100
    check "$svc: NDJSON equals the service's export after a $DUR backfill, byte for byte" \
        cmp "$svc.served.ndjson" "$svc.ndjson"
    "$GEN" --service "$svc" --seed "$SEED" --start "$START" --duration "$DUR" "${CFG[@]}" \
        --format csv --out "$svc.csv" 2>/dev/null
    check "$svc: CSV equals the service's CSV export" cmp "$svc.served.csv" "$svc.csv"
    "$GEN" --service "$svc" --seed "$SEED" --start "$START" --duration 0s --format csv \
        2>/dev/null >"$svc.empty.gen.csv"
    check "$svc: an empty window's CSV is the service's header row" \
        cmp "$svc.empty.csv" "$svc.empty.gen.csv"
done

# CSV shape: a header row, one row per event, CRLF, dotted nested columns.
head -n 1 transaction.csv >header.txt
contains "CSV header names the flattened location.city column" "$(cat header.txt)" location.city
check "CSV: a header row and one row per NDJSON line, CRLF-terminated" python3 -c '
import sys
rows = open("transaction.csv", "rb").read().split(b"\r\n")
lines = open("transaction.ndjson", "rb").read().split(b"\n")
assert rows[-1] == b"" and lines[-1] == b"", "not terminated"
assert len(rows) == len(lines) + 1, (len(rows), len(lines))
assert rows[0].startswith(b"transaction_id,timestamp,sequence,"), rows[0][:60]'

# --out and standard output are the same; stderr is one summary line.
"$GEN" --service auth --seed 3 --start "$START" --duration 1m --out auth-out.ndjson 2>out.err
"$GEN" --service auth --seed 3 --start "$START" --duration 1m 2>/dev/null >auth-stdout.ndjson
check "--out FILE writes what standard output gets" cmp auth-out.ndjson auth-stdout.ndjson
check "stderr (not a terminal) is one summary line naming the events" \
    bash -c "[[ \$(wc -l <out.err) == 1 ]] && grep -q ' events (' out.err"

# Flags.
out=$("$GEN" --help 2>&1)
check "--help exits 0" "$GEN" --help
contains "--help names --service" "$out" "--service transaction|auth|monitoring"
contains "--help names --shard" "$out" "--shard i/n"
contains "--version answers" "$("$GEN" --version)" "bankmock-generate "
base_args=(--service transaction --seed 1 --start "$START" --duration 1m)
bad_flag() {
    local what=$1 want=$2 err rc
    shift 2
    err=$("$GEN" "$@" 2>&1 >/dev/null)
    rc=$?
    if [[ "$rc" == 2 && $(wc -l <<<"$err") == 1 && "$err" == *"$want"* ]]; then
        pass "$what: exit 2, one line"
    else
        failure "$what: exit 2, one line" "exit $rc: $err"
    fi
}
bad_flag "an unknown flag" 'unknown argument "--bogus"' "${base_args[@]}" --bogus
bad_flag "a shard past n" "--shard: expected i/n with 0 <= i < n <= 1024" "${base_args[@]}" \
    --shard 4/4
bad_flag "a shard that is not i/n" "--shard: expected i/n" "${base_args[@]}" --shard half
bad_flag "more shards than monitoring hosts" "has no entities" --service monitoring --seed 1 \
    --start "$START" --duration 1m --shard 15/16
bad_flag "a bad service" "--service" --service payments --seed 1 --start "$START" --duration 1m
bad_flag "a bad seed" "--seed" --service auth --seed -4 --start "$START" --duration 1m
bad_flag "a bad start" "--start" --service auth --seed 1 --start yesterday --duration 1m
bad_flag "a bad duration" "--duration" --service auth --seed 1 --start "$START" --duration 400d
bad_flag "a bad format" "--format" "${base_args[@]}" --format xml
bad_flag "a missing --service" "--service is required" --seed 1 --start "$START" --duration 1m
bad_flag "a flag without its value" "--duration: needs a value" --service auth --seed 1 \
    --start "$START" --duration
bad_flag "a missing config file" "config" "${base_args[@]}" --config "$WORK/none.json"

# SIGINT: the last line is whole, exit 130.
"$GEN" --service monitoring --seed 1 --start "$START" --duration 365d >int.ndjson 2>int.err &
gpid=$!
for ((i = 0; i < 100; i++)); do
    [[ $(stat -c %s int.ndjson) -gt 1000000 ]] && break
    sleep 0.05
done
kill -INT "$gpid"
wait "$gpid"
rc=$?
check "SIGINT: exit 130" test "$rc" = 130
check "SIGINT: every line, the last too, is a whole JSON event" python3 -c '
import json
data = open("int.ndjson", "rb").read()
assert data and data.endswith(b"\n"), "no output or a cut last line"
lines = data.split(b"\n")[:-1]
for line in lines:
    json.loads(line)
print(len(lines), "lines")'
contains "SIGINT: the summary says so" "$(cat int.err)" "stopped by SIGINT"

# A reader that stops early (| head): exit 141, nothing on stderr.
"$GEN" --service auth --seed 1 --start "$START" --duration 30d 2>pipe.err | head -c 1000 >/dev/null
rc=${PIPESTATUS[0]}
check "a closed pipe: exit 141 and no message" bash -c "[[ $rc == 141 && ! -s pipe.err ]]"

# No database: libsqlite3 is no dependency, no sqlite3/genloop/db symbol.
if command -v ldd >/dev/null && command -v nm >/dev/null; then
    lacks "libsqlite3 is not a dynamic dependency" "$(ldd "$GEN" 2>&1)" libsqlite3
    syms=$(nm "$GEN" | awk '{ print $NF }' | grep -E '^(sqlite3_|genloop_|db_open|daemon_run)')
    if [[ -z "$syms" ]]; then
        pass "no sqlite3, genloop, db or daemon symbol"
    else
        failure "no sqlite3, genloop, db or daemon symbol" "$syms"
    fi
fi
finish
