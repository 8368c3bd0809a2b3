#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called by the EXIT trap
# `promtool check metrics` reports nothing for the Prometheus text of every
# daemon's GET /metrics?format=prometheus: the three services and the
# gateway that polls them, each started on a free loopback port with a
# fresh database. The text is also checked for the request-duration
# histogram, so a daemon that stopped exporting it fails too. promtool
# comes from Debian's prometheus package (scripts/deps.sh): missing, the
# test fails.
set -uo pipefail

SRC=${BM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${BM_BUILD_DIR:-$SRC/build}/bin
WORK=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v promtool >/dev/null 2>&1; then
    echo "FAILED  promtool not found: install the prometheus package (scripts/deps.sh)"
    exit 1
fi

# start NAME ARGS...: runs BIN/NAME on a free port, sets $port.
start() {
    local name=$1 log="$WORK/$1.log" i
    shift
    : >"$log"
    "$BIN/$name" --port 0 --bind 127.0.0.1 "$@" >"$log" 2>&1 &
    pids+=("$!")
    port=
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/.*"msg":"listening","port":\([0-9]*\).*/\1/p' "$log" | head -n 1)
        [[ -n $port ]] && return 0
        sleep 0.1
    done
    echo "FAILED  $name did not report its port"
    sed 's/^/        | /' "$log" | tail -n 20
    exit 1
}

# The transaction service with a Kinesis sink whose endpoint refuses, so
# its text carries the sink's families too (failing).
export AWS_ENDPOINT_URL=http://127.0.0.1:1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
declare -A ports
for svc in transaction auth monitoring; do
    sink=()
    [[ $svc == transaction ]] && sink=(--sink kinesis:promtool-check)
    start "$svc-service" --db "$WORK/$svc.db" --backfill 10m --seed 7 \
        --start-time 2026-01-05T00:00:00Z "${sink[@]}"
    ports[$svc]=$port
done
start api-gateway --poll-interval-ms 200 \
    --transaction-url "http://127.0.0.1:${ports[transaction]}" \
    --auth-url "http://127.0.0.1:${ports[auth]}" \
    --monitoring-url "http://127.0.0.1:${ports[monitoring]}"
ports[gateway]=$port

# Some traffic first, errors included, so every family has samples; the
# gateway's text carries each service's figures once it has polled them.
for svc in transaction auth monitoring gateway; do
    for path in /health /nope '/metrics?format=xml' /config; do
        curl -s -o /dev/null "http://127.0.0.1:${ports[$svc]}$path"
    done
done
sleep 1

failed=0
for svc in transaction auth monitoring gateway; do
    url="http://127.0.0.1:${ports[$svc]}/metrics?format=prometheus"
    if ! curl -sf -o "$WORK/$svc.prom" "$url"; then
        echo "FAILED  $svc: GET /metrics?format=prometheus"
        failed=1
        continue
    fi
    if ! promtool check metrics <"$WORK/$svc.prom" >"$WORK/$svc.check" 2>&1 ||
        [[ -s $WORK/$svc.check ]]; then
        echo "FAILED  $svc: promtool check metrics"
        sed 's/^/        | /' "$WORK/$svc.check" | head -n 40
        failed=1
    elif ! grep -q '^# TYPE bankmock_http_request_duration_seconds histogram$' "$WORK/$svc.prom" ||
        ! grep -q '^bankmock_http_request_duration_seconds_bucket{service="[a-z-]*",le="+Inf"} [1-9]' \
            "$WORK/$svc.prom"; then
        echo "FAILED  $svc: no request-duration histogram with samples"
        failed=1
    else
        echo "ok      $svc: promtool check metrics is quiet ($(grep -c '^# TYPE' "$WORK/$svc.prom") families)"
    fi
done
# The check is not a no-op: a gauge in milliseconds with a quantile label
# (what /metrics exported before) is reported.
printf '# HELP x_latency_ms Latency.\n# TYPE x_latency_ms gauge\nx_latency_ms{quantile="0.5"} 1\n' \
    >"$WORK/bad.prom"
promtool check metrics <"$WORK/bad.prom" >"$WORK/bad.check" 2>&1
if ! grep -q 'abbreviated units' "$WORK/bad.check"; then
    echo "FAILED  promtool does not report a metric named in milliseconds"
    failed=1
fi
# The sample scrape configuration in the docs is one Prometheus takes.
if promtool check config "$SRC/docs/prometheus.yml" >"$WORK/config.check" 2>&1; then
    echo "ok      promtool check config docs/prometheus.yml"
else
    echo "FAILED  promtool check config docs/prometheus.yml"
    sed 's/^/        | /' "$WORK/config.check"
    failed=1
fi
if ! grep -q '^bankmock_sink_lag_events{service="transaction-service",stream="promtool-check"} ' \
    "$WORK/transaction.prom"; then
    echo "FAILED  transaction: no sink families with --sink"
    failed=1
fi
# The gateway's text holds the services' figures as well as its own.
if ! grep -q '^bankmock_events_generated_total{service="monitoring-service"}' \
    "$WORK/gateway.prom"; then
    echo "FAILED  gateway: no samples of the services it polls"
    failed=1
fi
exit "$failed"
