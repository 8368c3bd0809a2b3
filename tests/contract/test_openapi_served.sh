#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called by the EXIT trap
# Every daemon answers GET /openapi.yaml with its part of openapi.yaml
# (cmake/openapi_part.cmake, built into build/openapi/): application/yaml,
# byte for byte the built part, holding exactly the paths tagged with that
# daemon and its own server; and each part passes redocly lint (the
# document's rules, less no-unused-components: every part keeps all the
# components). Exit 77 (skip) only without node/npm for the lint; the
# served checks run regardless.
set -uo pipefail

SRC=${BM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BM_BUILD_DIR:-$SRC/build}
WORK=$(mktemp -d)
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# Paths of the whole document tagged with $1, as "  /path:" lines.
tagged_paths() {
    awk -v d="$1" '/^[a-z]/ { inpaths = ($0 ~ /^paths:/) }
        inpaths && /^  \// { p = $0 }
        inpaths && /^      tags: \[/ && p != "" {
            s = $0; sub(/^ *tags: \[/, "", s); sub(/\].*/, "", s)
            n = split(s, t, /, */)
            for (i = 1; i <= n; i++) if (t[i] == d) { print p; p = ""; break }
        }' "$SRC/openapi.yaml"
}

failed=0
for dp in transaction-service:8081 auth-service:8082 monitoring-service:8083 api-gateway:8080; do
    d=${dp%%:*} port=${dp##*:} part=$BUILD/openapi/$d.yaml
    args=()
    [[ $d != api-gateway ]] && args=(--db "$WORK/$d.db" --backfill 0s)
    : >"$WORK/$d.log"
    "$BUILD/bin/$d" --port 0 --bind 127.0.0.1 "${args[@]}" >"$WORK/$d.log" 2>&1 &
    pid=$!
    p=
    for ((i = 0; i < 100; i++)); do
        p=$(sed -n 's/.*"msg":"listening","port":\([0-9]*\).*/\1/p' "$WORK/$d.log" | head -n 1)
        [[ -n $p ]] && break
        sleep 0.1
    done
    ctype=$(curl -s -o "$WORK/$d.got" -w '%{content_type}' "http://127.0.0.1:$p/openapi.yaml")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
    if [[ $ctype != application/yaml ]]; then
        echo "FAILED  $d: GET /openapi.yaml answered Content-Type '$ctype'"
        failed=1
    elif ! cmp -s "$WORK/$d.got" "$part"; then
        echo "FAILED  $d: GET /openapi.yaml is not build/openapi/$d.yaml"
        failed=1
    elif ! diff <(tagged_paths "$d") <(grep '^  /' "$part") >"$WORK/$d.diff"; then
        echo "FAILED  $d: the part's paths are not those tagged $d"
        sed 's/^/        | /' "$WORK/$d.diff"
        failed=1
    elif [[ $(grep -c '^  - url: ' "$part") != 1 ]] || ! grep -q "^  - url: http://{host}:$port$" "$part" ||
        grep -q '^    servers:' "$part"; then
        echo "FAILED  $d: the part does not have its one server, port $port"
        failed=1
    else
        echo "ok      $d: GET /openapi.yaml is its part ($(grep -c '^  /' "$part") paths, port $port)"
    fi
done

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "skip: node/npm are not installed: the parts are not linted"
    exit $((failed ? 1 : 77))
fi
if ! "$SRC/scripts/npm_tools.sh" >"$WORK/install.log" 2>&1; then
    echo "FAILED  scripts/npm_tools.sh"
    tail -n 20 "$WORK/install.log"
    exit 1
fi
REDOCLY=$("$SRC/scripts/npm_tools.sh" --bin redocly) || exit 1
cp "$SRC/redocly.yaml" "$WORK/"
for d in transaction-service auth-service monitoring-service api-gateway; do
    cp "$BUILD/openapi/$d.yaml" "$WORK/"
    if (cd "$WORK" && "$REDOCLY" lint --config redocly.yaml --skip-rule no-unused-components \
        "$d.yaml" >"$d.lint" 2>&1); then
        echo "ok      redocly lint of $d's part"
    else
        echo "FAILED  redocly lint of $d's part"
        grep -v '[║╔╚]' "$WORK/$d.lint" | sed 's/^/        | /' | tail -n 40
        failed=1
    fi
done
exit "$failed"
