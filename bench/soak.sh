#!/usr/bin/env bash
# Soak: the four daemons under sustained load; memory and disk must be flat
# once retention is reached (SPEC §9: memory "flat under sustained load",
# disk "bounded by retention_events").
#
#   bench/soak.sh                    # 10 minutes
#   SOAK_SECONDS=60 bench/soak.sh    # a quick check
#
# Starts the three services (Release build in build-bench/, loopback ports,
# temporary databases) at events_per_second SOAK_EPS each with
# retention_events SOAK_RETENTION, from a copy of config/anomaly_config.json
# in the temporary directory, their simulated clocks from a Monday noon so the
# shaped rate is the configured one whatever the wall clock says; then the
# gateway polling them. Readers, one curl each at SOAK_READ_RATE requests/s,
# cycle each service's newest-100 page and /health, and the gateway's
# /events, /health, /dashboard and /system/health. Every SOAK_INTERVAL
# seconds it prints each process's RSS (VmRSS), each database's size (db +
# -wal) and head_sequence ('*': retention reached; for the gateway, the
# buffer's MB, '*' once it evicts).
#
# Each process is judged from its first sample past retention (the gateway:
# every service past retention and its own buffer full), which must come
# before half time:
#  - RSS: the maximum over the second half <= 1.10x that sample. Past
#    retention every cache is at its cap (SQLite's page cache <= 1 MB per
#    connection, the gateway's buffer bounded in bytes), so what is left is
#    malloc's high-water mark moving with request timing; 10% of a ~10 MB
#    service is a leak of a few bytes per event or a few hundred per request.
#  - database + WAL: the maximum over the second half <= 1.25x that sample.
#    The row count is constant past retention but the files are not quite:
#    pruning the old end and inserting at the new end leave partly filled
#    index pages that SQLite reuses rather than returns, and the -wal file
#    grows to its high-water mark between checkpoints (1000 pages of 16 KiB)
#    and is then reused, not truncated. Growth past 25% means something
#    unbounded: pruning behind, free pages not reused, checkpoints starved.
#  - rows kept at the end (head_sequence - oldest_sequence + 1) <=
#    retention_events.
#  - events/s: head_sequence growth from the first sample to the last within
#    5% of the rate the service expects (/metrics events_per_second.expected;
#    the generator runs at nice 5 and may lag a second behind the wall clock
#    while the machine is busy, then catch up: the longest window is the
#    fairest).
#  - readers: no request failed.
# Prints the samples, then a table (measured, reference, ratio, target,
# ok/FAIL); exits 1 on a FAIL. Everything started is stopped on exit/Ctrl-C.
#
# Environment: SOAK_SECONDS (600), SOAK_INTERVAL (seconds between samples;
# 10, or 5 when SOAK_SECONDS < 300), SOAK_EPS (events_per_second of each
# service, 1000), SOAK_RETENTION (retention_events; a fifth of what a service
# generates in SOAK_SECONDS, at least 1000), SOAK_READ_RATE (requests/s per
# reader, 10; 0: no readers), SOAK_SEED (42), SOAK_KEEP=1 (keep the temporary
# directory with logs), BM_SKIP_DEPS=1, BM_SKIP_BUILD=1, BM_JOBS (2).
set -euo pipefail
export LC_ALL=C   # '.' decimals in $EPOCHREALTIME and awk

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TAG=soak
KEEP=${SOAK_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

# binary|event-list path|short name.
SERVICES=(
    "transaction-service|/transactions/events|txn"
    "auth-service|/auth/events|auth"
    "monitoring-service|/metrics/events|mon"
)

SOAK_SECS=${SOAK_SECONDS:-600}
[[ "$SOAK_SECS" =~ ^[0-9]+$ ]] || die "SOAK_SECONDS is a whole number of seconds"
INTERVAL=${SOAK_INTERVAL:-$((SOAK_SECS < 300 ? 5 : 10))}
EPS=${SOAK_EPS:-1000}
RETENTION=${SOAK_RETENTION:-$(calc "r = int($EPS * $SOAK_SECS / 5); print (r > 1000 ? r : 1000)")}
READ_RATE=${SOAK_READ_RATE:-10}
SEED=${SOAK_SEED:-42}
START=2024-03-04T12:00:00.000Z   # a Monday noon: shaping factor 1.0
CONFIG_FILE=config/anomaly_config.json

[[ "$INTERVAL" =~ ^[0-9]+$ && "$READ_RATE" =~ ^[0-9]+$ ]] ||
    die "SOAK_INTERVAL and SOAK_READ_RATE are whole numbers"
((SOAK_SECS >= 2 * INTERVAL && INTERVAL > 0)) || die "SOAK_SECONDS must be >= 2 x SOAK_INTERVAL"

T_RSS_GROWTH=1.10
T_DB_GROWTH=1.25
T_EPS_TOL=0.05
T_RSS_MB=16       # SPEC §9 "at default settings": shown beside the maximum, not judged
T_GW_RSS_MB=24

# ---- daemons and readers --------------------------------------------------------

names=()           # the services' binaries, in SERVICES order
readers=()         # the readers' names
declare -A url=() pid=() short=() list=()

start_services() {
    local s n l a port
    for s in "${SERVICES[@]}"; do
        IFS='|' read -r n l a <<<"$s"
        names+=("$n")
        list[$n]=$l
        short[$n]=$a
        port=$(free_port)
        url[$n]=http://127.0.0.1:$port
        start "$n" "$BIN/$n" --port "$port" --bind 127.0.0.1 --db "$TMP/$n.db" \
            --seed "$SEED" --start-time "$START" --config "$TMP/config.json"
        pid[$n]=$started
        wait_http "${url[$n]}/health" "$started" 10 ||
            die "$n did not answer /health; log: $(tail -n 5 "$TMP/$n.log")"
        [[ "$(json_field "${url[$n]}/config" .retention_events)" == "$RETENTION" ]] ||
            die "$n did not take retention_events $RETENTION from $TMP/config.json"
    done
    port=$(free_port)
    url[gateway]=http://127.0.0.1:$port
    short[gateway]=gw
    start gateway "$BIN/api-gateway" --port "$port" --bind 127.0.0.1 \
        --transaction-url "${url[transaction-service]}" --auth-url "${url[auth-service]}" \
        --monitoring-url "${url[monitoring-service]}" --config "$TMP/config.json"
    pid[gateway]=$started
    wait_http "${url[gateway]}/health" "$started" 10 ||
        die "api-gateway did not answer /health; log: $(tail -n 5 "$TMP/gateway.log")"
}

# reader NAME URL... : one curl cycling URL... at READ_RATE requests/s until
# stopped; "status seconds" per request in $TMP/reader-NAME.log (stderr:
# unbuffered, so stopping it loses nothing).
reader() {
    local name=$1 n
    shift
    n=$((READ_RATE * (SOAK_SECS + 60)))
    printf '%s\n' "$@" | awk -v n="$n" '{ u[NR] = $0 }
        END { for (i = 0; i < n; i++)
                  printf "url = \"%s\"\noutput = \"/dev/null\"\n", u[i % NR + 1] }' \
        >"$TMP/reader-$name.cfg"
    start "reader-$name" curl -s --no-progress-meter --rate "$READ_RATE/s" --max-time 10 \
        -w '%{stderr}%{http_code} %{time_total}\n' -K "$TMP/reader-$name.cfg"
    pid[reader-$name]=$started
    readers+=("$name")
}

start_readers() {
    local n
    ((READ_RATE > 0)) || return 0
    for n in "${names[@]}"; do
        reader "${short[$n]}" "${url[$n]}${list[$n]}?limit=100" "${url[$n]}/health"
    done
    reader gw "${url[gateway]}/events" "${url[gateway]}/health" \
        "${url[gateway]}/dashboard" "${url[gateway]}/system/health"
}

# ---- samples ----------------------------------------------------------------------

declare -A S=()    # S[<what>,<k>]: sample k's figures; S[t,k] seconds since T0
nsamples=0
T0=

db_mb() {
    local f b=0
    for f in "$1" "$1-wal"; do
        [[ -f "$f" ]] && b=$((b + $(stat -c %s "$f")))
    done
    calc "printf \"%.1f\", $b / 1048576"
}

reached() {  # reached NAME K : true once NAME is past retention at sample K
    local n v
    if [[ "$1" != gateway ]]; then
        v=${S[$1.head,$2]}
        [[ "$v" =~ ^[0-9]+$ ]] && ((v >= RETENTION))
        return
    fi
    for n in "${names[@]}"; do
        reached "$n" "$2" || return 1
    done
    v=${S[gw.evicted,$2]}
    [[ "$v" =~ ^[0-9]+$ ]] && ((v > 0))
}

sample_header() {
    local n
    printf '%6s' t_s
    for n in "${names[@]}"; do
        printf ' | %-4s %6s %7s %9s' "${short[$n]}" rss_MB db_MB head
    done
    printf ' | %-4s %6s %7s\n' gw rss_MB buf_MB
}

sample() {
    local k=$nsamples n h b e mark
    S[t,$k]=$(calc "printf \"%.3f\", $EPOCHREALTIME - $T0")
    printf '%6.0f' "${S[t,$k]}"
    for n in "${names[@]}"; do
        S[$n.rss,$k]=$(rss_mb "${pid[$n]}")
        S[$n.db,$k]=$(db_mb "$TMP/$n.db")
        h=$(json_field "${url[$n]}/health" .head_sequence)
        S[$n.head,$k]=${h:--}
        mark=' '
        reached "$n" "$k" && mark='*'
        printf ' | %-4s %6s %7s %8s%s' "" "${S[$n.rss,$k]}" "${S[$n.db,$k]}" \
            "${S[$n.head,$k]}" "$mark"
    done
    S[gw.rss,$k]=$(rss_mb "${pid[gateway]}")
    read -r b e <<<"$(curl -fsS --max-time 2 "${url[gateway]}/metrics" 2>/dev/null |
        jq -r '"\(.buffer.bytes // "-") \(.buffer.evicted // "-")"' 2>/dev/null || echo "- -")"
    S[gw.buf,$k]=-
    [[ "$b" =~ ^[0-9]+$ ]] && S[gw.buf,$k]=$(calc "printf \"%.1f\", $b / 1048576")
    S[gw.evicted,$k]=$e
    mark=' '
    reached gateway "$k" && mark='*'
    printf ' | %-4s %6s %6s%s\n' "" "${S[gw.rss,$k]}" "${S[gw.buf,$k]}" "$mark"
    nsamples=$((k + 1))
}

# dead : the first started daemon or reader that has exited, if any.
dead() {
    local n
    for n in "${!pid[@]}"; do
        kill -0 "${pid[$n]}" 2>/dev/null || { echo "$n"; return 0; }
    done
    return 0
}

# ---- verdicts -----------------------------------------------------------------------

# series_max KEY FROM_T : the largest S[KEY,k] over samples with t >= FROM_T.
series_max() {
    local k m=-
    for ((k = 0; k < nsamples; k++)); do
        [[ "${S[$1,$k]}" == - ]] && continue
        if calc "exit !(${S[t,$k]} >= $2)"; then
            if [[ "$m" == - ]] || calc "exit !(${S[$1,$k]} > $m)"; then m=${S[$1,$k]}; fi
        fi
    done
    echo "$m"
}

# judge_flat NAME KEY LABEL GROWTH : the second half's maximum against the
# first sample past retention.
judge_flat() {
    local n=$1 key=$2 label=$3 growth=$4 k b=- half mx v
    half=$(calc "print $SOAK_SECS / 2")
    for ((k = 0; k < nsamples; k++)); do
        if reached "$n" "$k"; then b=$k; break; fi
    done
    if [[ "$b" == - ]]; then
        row "${short[$n]} $label" "-" "-" "-" "<= ${growth}x at retention" \
            "FAIL (retention never reached)"
        return
    fi
    if calc "exit !(${S[t,$b]} >= $half)"; then
        row "${short[$n]} $label" "-" "${S[$key,$b]}" "-" "<= ${growth}x at retention" \
            "FAIL (retention reached at ${S[t,$b]} s, after half time)"
        return
    fi
    mx=$(series_max "$key" "$half")
    v=$(verdict "$(ratio "$mx" "${S[$key,$b]}") <= $growth")
    row "${short[$n]} $label" "$mx" "${S[$key,$b]}" "$(ratio "$mx" "${S[$key,$b]}")" \
        "<= ${growth}x at $(calc "printf \"%.0f\", ${S[t,$b]}") s" "$v"
}

judge_service() {
    local n=$1 s=${short[$1]} k0 k1 exp real head oldest rate kept mx v
    judge_flat "$n" "$n.rss" "RSS MB, 2nd-half max" "$T_RSS_GROWTH"
    judge_flat "$n" "$n.db" "db+wal MB, 2nd-half max" "$T_DB_GROWTH"

    # One answer holds both ends: next_since is the head without ?since=.
    read -r head oldest <<<"$(json_field "${url[$n]}${list[$n]}?limit=1" \
        '"\(.next_since) \(.oldest_sequence)"')"
    if [[ "$head" =~ ^[0-9]+$ && "$oldest" =~ ^[0-9]+$ ]]; then
        kept=$((head - oldest + 1))
        v=$(verdict "$kept <= $RETENTION")
    else
        kept=-
        v=FAIL
    fi
    row "$s rows kept at the end" "$kept" "$RETENTION" "$(ratio "$kept" "$RETENTION")" \
        "<= retention_events" "$v"

    # Rate over the whole soak, from the samples' head_sequence.
    k0=0
    k1=$((nsamples - 1))
    exp=$(json_field "${url[$n]}/metrics" .events_per_second.expected)
    real=$(json_field "${url[$n]}/health" .events_per_second.realised)
    rate=-
    if ((k1 > k0)) && [[ "${S[$n.head,$k0]}" != - && "${S[$n.head,$k1]}" != - ]]; then
        rate=$(calc "printf \"%.0f\", (${S[$n.head,$k1]} - ${S[$n.head,$k0]}) / \
                     (${S[t,$k1]} - ${S[t,$k0]})")
    fi
    v=$(within "$(ratio "$rate" "${exp:--}")" "$T_EPS_TOL")
    row "$s events/s (/health realised: ${real:--})" "$rate" "${exp:--}" \
        "$(ratio "$rate" "${exp:--}")" "expected +-$(calc "print $T_EPS_TOL * 100")%" "$v"

    mx=$(series_max "$n.rss" 0)
    v=info
    [[ "$mx" != - ]] && calc "exit !($mx >= $T_RSS_MB)" && v="info (over)"
    row "$s RSS MB, max (SPEC cap at defaults)" "$mx" "-" "-" "< $T_RSS_MB MB" "$v"
}

judge_gateway() {
    local mx cap v
    judge_flat gateway gw.rss "RSS MB, 2nd-half max" "$T_RSS_GROWTH"
    mx=$(series_max gw.rss 0)
    v=info
    [[ "$mx" != - ]] && calc "exit !($mx >= $T_GW_RSS_MB)" && v="info (over)"
    row "gw RSS MB, max (SPEC cap at defaults)" "$mx" "-" "-" "< $T_GW_RSS_MB MB" "$v"
    mx=$(series_max gw.buf 0)
    cap=$(json_field "${url[gateway]}/metrics" .buffer.max_bytes)
    [[ -n "$cap" ]] && cap=$(calc "printf \"%.1f\", $cap / 1048576")
    row "gw buffer MB, max" "$mx" "${cap:--}" "$(ratio "$mx" "${cap:--}")" "<= buffer_bytes" \
        "$(verdict "$mx <= ${cap:--}")"
}

# judge_reader NAME : failed requests (not 2xx, or no answer) of those made.
judge_reader() {
    local f=$TMP/reader-$1.log n bad p99 mx
    [[ -f "$f" ]] || return 0
    read -r n bad <<<"$(awk '$1 ~ /^[0-9][0-9][0-9]$/ { n++; if ($1 !~ /^2/) bad++ }
        END { printf "%d %d\n", n, bad }' "$f")"
    read -r p99 mx <<<"$(awk '$1 ~ /^[0-9][0-9][0-9]$/ { print $2 * 1000 }' "$f" | sort -n |
        awk '{ v[NR] = $1 } END { if (!NR) { print "- -"; exit }
             i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f %.1f\n", v[i], v[NR] }')"
    row "reader $1: failed of $n (p99 $p99 ms, max $mx)" "$bad" "$n" "-" "0" \
        "$(verdict "$n > 0 && $bad == 0")"
}

# ---- main -------------------------------------------------------------------------

bench_build "${SERVICES[@]%%|*}" api-gateway
[[ -f "$CONFIG_FILE" ]] || die "$CONFIG_FILE is missing"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bankmock-soak.XXXXXX")
jq --argjson eps "$EPS" --argjson keep "$RETENTION" \
    '.generation_settings.events_per_second = $eps |
     .generation_settings.retention_events = $keep' \
    "$CONFIG_FILE" >"$TMP/config.json" || die "cannot write $TMP/config.json"
log "$(nproc) CPUs; ${SOAK_SECS}s, a sample every ${INTERVAL}s; events_per_second $EPS," \
    "retention_events $RETENTION; readers at $READ_RATE req/s each; temp dir $TMP"

start_services
start_readers
T0=$EPOCHREALTIME
sample_header
gone=
for ((tick = 0; ; tick++)); do
    due=$((tick * INTERVAL))
    ((due < SOAK_SECS)) || due=$SOAK_SECS
    d=$(calc "d = $T0 + $due - $EPOCHREALTIME; printf \"%.3f\", (d > 0 ? d : 0)")
    sleep "$d"
    gone=$(dead)
    [[ -z "$gone" ]] || break
    sample
    ((due < SOAK_SECS)) || break
done

if [[ -n "$gone" ]]; then
    row "$gone running to the end" "exited" "-" "-" "running" \
        "FAIL (log: $TMP/$gone.log)"
    KEEP=1
else
    for n in "${names[@]}"; do
        judge_service "$n"
    done
    judge_gateway
fi
for r in "${readers[@]}"; do
    stop "${pid[reader-$r]}"
    judge_reader "$r"
done

print_table
if ((any_fail)); then
    echo "soak: some targets missed (FAIL above)"
    exit 1
fi
echo "soak: memory and disk flat past retention, rates held"
