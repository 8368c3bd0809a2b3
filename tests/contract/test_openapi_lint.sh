#!/usr/bin/env bash
# openapi.yaml passes `redocly lint` with the rules of redocly.yaml
# (recommended-strict: every problem is an error), and the lint is not a
# no-op: a copy with a dangling $ref and an example that breaks its schema
# fails it. redocly is the pinned one scripts/npm_tools.sh installs (run
# here if it is missing). Exit 77 (skip) only without node/npm.
set -uo pipefail

SRC=${BM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# No telemetry or update check: the suite runs offline.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "skip: node/npm are not installed (scripts/deps.sh installs them)"
    exit 77
fi
if ! "$SRC/scripts/npm_tools.sh" >"$WORK/install.log" 2>&1; then
    echo "FAILED  scripts/npm_tools.sh"
    sed 's/^/        | /' "$WORK/install.log" | tail -n 20
    exit 1
fi
REDOCLY=$("$SRC/scripts/npm_tools.sh" --bin redocly) || exit 1
failed=0

cd "$SRC" || exit 1
if "$REDOCLY" lint --config redocly.yaml openapi.yaml >"$WORK/lint.log" 2>&1; then
    echo "ok      redocly lint openapi.yaml: no errors, no warnings"
else
    echo "FAILED  redocly lint openapi.yaml"
    grep -v '[║╔╚]' "$WORK/lint.log" | sed 's/^/        | /' | tail -n 60
    failed=1
fi

# The same document with two planted faults must fail, each reported.
sed -e "s|#/components/schemas/TransactionEventPage'|#/components/schemas/NoSuchPage'|" \
    -e '0,/transaction_type: purchase}/s//transaction_type: barter}/' \
    openapi.yaml >"$WORK/broken.yaml"
cp redocly.yaml "$WORK/"
if (cd "$WORK" && "$REDOCLY" lint --config redocly.yaml broken.yaml >broken.log 2>&1); then
    echo "FAILED  redocly lint passes a document with a dangling \$ref and a bad example"
    failed=1
elif ! grep -q 'NoSuchPage' "$WORK/broken.log" || ! grep -q 'barter\|must be equal to one of the allowed values' "$WORK/broken.log"; then
    echo "FAILED  redocly lint of the broken copy does not name both faults"
    grep -v '[║╔╚]' "$WORK/broken.log" | sed 's/^/        | /' | tail -n 40
    failed=1
else
    echo "ok      redocly lint fails a copy with a dangling \$ref and an example off its schema"
fi
exit "$failed"
