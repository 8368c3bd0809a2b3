#!/usr/bin/env bash
# Shards (issue 20, --shard i/n): two shards of transaction-service, started
# apart with one seed and start, backfill an hour each; their union has no
# event_id twice, their customers are disjoint, each event says its shard,
# each shard holds about half of the unsharded stream's events (and of its
# customers), a shard run again writes the same bytes, and
# bankmock-generate --shard writes what the shard's service stores. A
# shard refuses an injection whose customer is another shard's (422 naming
# target) and takes one of its own; --shard 2/2 and a database of another
# shard are refused with exit 2. Behind one api-gateway the two shards are
# one service: /events holds both shards' events once each, and
# /system/health and /dashboard count one transaction-service of 2 shards.
# BM_TEST_SCALE=small: a 15-minute backfill.
# shellcheck source-path=SCRIPTDIR source=../deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

GEN=$BIN/bankmock-generate
for b in "$GEN" "$BIN/transaction-service" "$BIN/api-gateway"; do
    [[ -x "$b" ]] || skip "$b is not built"
done
for tool in curl python3 sqlite3; do
    command -v "$tool" >/dev/null || skip "$tool missing"
done

SEED=11
START=2026-01-05T08:00:00.000Z
DUR=1h
[[ "${BM_TEST_SCALE:-}" == small ]] && DUR=15m
CFG=(--config "$SRC/config/anomaly_config.json")
cd "$WORK" || exit 1
pids=()
cleanup_daemons() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    pids=()
}
trap cleanup_daemons EXIT

# port_of LOG: the port the daemon's "listening" line names (waits for it).
port_of() {
    local port='' i
    for ((i = 0; i < 300; i++)); do
        port=$(sed -n 's/.*"msg":"listening","port":\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1)
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    echo "$port"
}

# backfilled BASE: waits until the service's backfill is written.
backfilled() {
    local st='' i
    for ((i = 0; i < 3000; i++)); do
        st=$(curl -fsS --max-time 2 "$1/health" 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)
        [[ -n "$st" && "$st" != backfilling ]] && return 0
        sleep 0.1
    done
    return 1
}

# start NAME SHARD: a transaction-service of shard SHARD ("" none) on db NAME.db;
# appends its pid to pids and sets base.
start() {
    local name=$1 shard=$2 extra=()
    [[ -n "$shard" ]] && extra=(--shard "$shard")
    "$BIN/transaction-service" --port 0 --bind 127.0.0.1 --db "$WORK/$name.db" --seed "$SEED" \
        --start-time "$START" --backfill "$DUR" "${CFG[@]}" "${extra[@]}" >"$name.log" 2>&1 &
    pids+=($!)
    base=http://127.0.0.1:$(port_of "$name.log")
}

# rows NAME: the backfill window's events as the database stores them, in order.
end_ms=$(python3 -c "
import datetime as d
s = d.datetime.fromisoformat('${START%Z}+00:00')
print(int(s.timestamp() * 1000) + {'1h': 3600, '15m': 900}['$DUR'] * 1000)")
rows() {
    sqlite3 "$WORK/$1.db" "select body from events where ts < $end_ms order by seq"
}

# The two shards side by side (as two machines would run them), then the whole bank.
start s0 0/2
b0=$base
start s1 1/2
b1=$base
start whole ""
bw=$base
ok=1
for b in "$b0" "$b1" "$bw"; do
    backfilled "$b" || ok=0
done
check "the two shards and the whole bank finished their $DUR backfill" test "$ok" = 1
shard_health=$(curl -fsS "$b1/health")
contains "/health names the shard" "$shard_health" '"shard":{"index":1,"count":2'
contains "/health of the whole bank names shard 0 of 1" "$(curl -fsS "$bw/health")" \
    '"shard":{"index":0,"count":1'

# Injections: a customer of the other shard is refused, one of this shard's taken.
read -r mine theirs < <(python3 - "$WORK" <<'EOF'
import json, subprocess, sys
w = sys.argv[1]
def cust(db):
    out = subprocess.run(["sqlite3", f"{w}/{db}.db", "select body from events limit 200"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[0])["customer_id"]
print(cust("s0"), cust("s1"))
EOF
)
code=$(curl -s -o inj.json -w '%{http_code}' -X POST "$b0/inject" -H 'Content-Type: application/json' \
    -d "{\"type\":\"fraud_pattern\",\"target\":{\"customer_id\":\"$theirs\"}}")
check "an injection for the other shard's customer is 422 naming target" \
    bash -c "[[ $code == 422 ]] && grep -q '\"field\":\"target\"' inj.json"
code=$(curl -s -o inj.json -w '%{http_code}' -X POST "$b0/inject" -H 'Content-Type: application/json' \
    -d "{\"type\":\"fraud_pattern\",\"target\":{\"customer_id\":\"$mine\"}}")
check "an injection for this shard's own customer is accepted (201)" test "$code" = 201

# The gateway over both shards (auth and monitoring unreachable: not under test).
"$BIN/api-gateway" --port 0 --bind 127.0.0.1 --poll-interval-ms 100 \
    --transaction-url "$b0,$b1" --auth-url http://127.0.0.1:9 --monitoring-url http://127.0.0.1:9 \
    >gw.log 2>&1 &
pids+=($!)
gw=http://127.0.0.1:$(port_of gw.log)
# until it has read both shards up to their heads (slower under sanitizers)
for ((i = 0; i < 600; i++)); do
    curl -fsS "$gw/system/health" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["services"]["transaction-service"]
sys.exit(0 if t["state"] == "ok" and t["shards_ok"] == 2 else 1)' 2>/dev/null && break
    sleep 0.1
done
curl -fsS "$gw/system/health" -o syshealth.json
curl -fsS "$gw/dashboard" -H 'Accept: application/json' -o dash.json
python3 - "$gw" "$b0" "$b1" >gateway.txt 2>&1 <<'EOF'
import json, sys, urllib.request
gw, b0, b1 = sys.argv[1:4]
def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)
evs, since = [], 0
while True:
    page = get(f"{gw}/events?since={since}&limit=1000")
    evs += page["events"]
    if page["count"] < 1000:
        break
    since = page["next_since"]
ids = [e["transaction_id"] for e in evs]
assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events twice"
by = {"0/2": set(), "1/2": set()}
top = {"0/2": 0, "1/2": 0}
for e in evs:
    by[e["shard"]].add(e["transaction_id"])
    top[e["shard"]] = max(top[e["shard"]], e["sequence"])
for sh, base in (("0/2", b0), ("1/2", b1)):
    assert by[sh], f"no events of shard {sh}"
    want, since = set(), max(0, top[sh] - 10000)
    while since < top[sh]:
        page = get(f"{base}/transactions/events?since={since}&limit=1000")
        want |= {e["transaction_id"] for e in page["events"] if e["sequence"] <= top[sh]}
        since = page["next_since"]
    assert by[sh] == want, f"shard {sh}: the gateway has {len(by[sh])}, the shard {len(want)}"
print(len(evs), "events,", {k: len(v) for k, v in by.items()})
EOF
check "the gateway's /events hold both shards' events, each once, as the shards serve them" \
    cat gateway.txt
check "/system/health: one transaction-service of 2 shards, both ok" python3 -c '
import json
h = json.load(open("syshealth.json"))
t = h["services"]["transaction-service"]
assert list(h["services"]) == ["transaction-service", "auth-service", "monitoring-service"], h
assert t["shards"] == 2 and t["shards_ok"] == 2 and t["state"] == "ok", t
assert sorted(r["shard"]["index"] for r in t["replicas"]) == [0, 1], t["replicas"]'
check "/dashboard: one transaction-service of 2 shards" python3 -c '
import json
t = json.load(open("dash.json"))["services"]["transaction-service"]
assert t["shards"] == 2 and t["shards_ok"] == 2 and t["replicas"] == 2, t'
cleanup_daemons

check "the union of the shards' backfills" python3 - "$WORK" "$end_ms" <<'EOF'
import json, subprocess, sys
w, end = sys.argv[1], sys.argv[2]
def rows(name):
    out = subprocess.run(["sqlite3", f"{w}/{name}.db",
                          f"select body from events where ts < {end} order by seq"],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]
s0, s1, whole = rows("s0"), rows("s1"), rows("whole")
ids = [e["transaction_id"] for e in s0 + s1]
assert len(ids) == len(set(ids)), "an event_id in both shards"
c0, c1 = {e["customer_id"] for e in s0}, {e["customer_id"] for e in s1}
assert not c0 & c1, f"{len(c0 & c1)} customers in both shards"
assert all(e["shard"] == "0/2" for e in s0) and all(e["shard"] == "1/2" for e in s1)
assert all("shard" not in e for e in whole), "the unsharded stream names a shard"
cw = {e["customer_id"] for e in whole}
for name, evs, cs in (("0/2", s0, c0), ("1/2", s1, c1)):
    f = len(evs) / len(whole)
    assert 0.4 < f < 0.6, f"shard {name}: {len(evs)} events, {f:.2f} of the whole bank's"
    assert 0.4 < len(cs) / len(cw) < 0.6, f"shard {name}: {len(cs)} of {len(cw)} customers"
    seqs = [e["sequence"] for e in evs]
    assert seqs == list(range(1, len(evs) + 1)), f"shard {name}: sequences not 1..n"
print(len(s0), len(s1), "events of", len(whole))
EOF

rows s1 >s1.first
rm -f "$WORK"/s1.db*
start s1 1/2
backfilled "$base"
cleanup_daemons
rows s1 >s1.again
check "shard 1/2 run again writes the same events, byte for byte" cmp s1.first s1.again
"$GEN" --service transaction --seed "$SEED" --start "$START" --duration "$DUR" "${CFG[@]}" \
    --shard 1/2 >gen1.ndjson 2>/dev/null
check "bankmock-generate --shard 1/2 equals the shard's backfill, byte for byte" \
    cmp s1.first gen1.ndjson
BANKMOCK_SHARD=1/2 "$GEN" --service transaction --seed "$SEED" --start "$START" \
    --duration "$DUR" "${CFG[@]}" >genenv.ndjson 2>/dev/null
check "BANKMOCK_SHARD=1/2 is --shard 1/2" cmp gen1.ndjson genenv.ndjson

# Refusals: exit 2 and one line naming the problem.
err=$("$BIN/transaction-service" --port 0 --db "$WORK/x.db" --shard 2/2 2>&1)
rc=$?
check "--shard 2/2: exit 2 naming the range" \
    bash -c "[[ $rc == 2 && '$err' == *'0 <= i < n <= 1024'* ]]"
err=$(BANKMOCK_SHARD=0/0 "$BIN/transaction-service" --port 0 --db "$WORK/x.db" 2>&1)
rc=$?
check "BANKMOCK_SHARD=0/0: exit 2" bash -c "[[ $rc == 2 && '$err' == *BANKMOCK_SHARD* ]]"
err=$("$BIN/transaction-service" --port 0 --bind 127.0.0.1 --db "$WORK/s1.db" --shard 0/2 2>&1)
rc=$?
check "a database of shard 1/2 started as 0/2: exit 2 naming both" \
    bash -c "[[ $rc == 2 && '$err' == *'shard 1/2'* && '$err' == *'not 0/2'* ]]"
err=$("$BIN/monitoring-service" --port 0 --bind 127.0.0.1 --db "$WORK/m.db" --shard 20/32 2>&1)
rc=$?
check "monitoring's 14 hosts leave shard 20/32 empty: exit 2 saying so" \
    bash -c "[[ $rc == 2 && '$err' == *'has no entities'* ]]"
contains "--help names --shard" "$("$BIN/transaction-service" --help)" "--shard VALUE"
finish
