#!/usr/bin/env bash
# Install the project's pinned npm tools into a project-local prefix.
#
#   scripts/npm_tools.sh            install the pinned versions that are missing
#   scripts/npm_tools.sh --check    exit 0 if all are installed at their pins, 1 if not
#   scripts/npm_tools.sh --bin NAME print the path of tool NAME (redocly, prism, kinesalite)
#   scripts/npm_tools.sh --dir      print the prefix (node_modules is under it)
#
# The prefix is .cache/npm-tools (git-ignored), or BM_NPM_TOOLS_DIR. A tool
# already installed at its pinned version is left alone, so once installed
# this needs no network. BM_SKIP_NPM=1 skips the install (machines managed
# some other way). Needs node and npm (scripts/deps.sh installs them).
#
# Pins: @redocly/cli lints openapi.yaml (tests/contract); @stoplight/prism-cli
# validates responses against it as a proxy; playwright-core drives Debian's
# chromium in tests/browser (it downloads no browser of its own); kinesalite
# stands in for Kinesis in tests/integration/test_kinesis_sink.c and
# bench/run.sh's sink row.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BM_NPM_TOOLS=(
    "@redocly/cli@2.77.0"
    "@stoplight/prism-cli@5.16.0"
    "playwright-core@1.65.1"
    "kinesalite@3.3.3"
)
DIR=${BM_NPM_TOOLS_DIR:-$PWD/.cache/npm-tools}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

# installed_version PKG : the version in the prefix, or nothing.
installed_version() {
    local pj=$DIR/node_modules/$1/package.json
    [[ -f "$pj" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version || "")' "$pj" 2>/dev/null || true
}

# missing : print each pinned spec that is not installed at its version.
missing() {
    local spec name version
    for spec in "${BM_NPM_TOOLS[@]}"; do
        name=${spec%@*}
        version=${spec##*@}
        if [[ "$(installed_version "$name")" != "$version" ]]; then
            printf '%s\n' "$spec"
        fi
    done
}

need_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "npm_tools: node and npm are needed (scripts/deps.sh installs them)" >&2
        exit 1
    fi
}

install() {
    local -a todo
    if [[ "${BM_SKIP_NPM:-0}" == 1 ]]; then
        return 0
    fi
    need_node
    mapfile -t todo < <(missing)
    if ((${#todo[@]} == 0)); then
        return 0
    fi
    echo "npm_tools: installing ${todo[*]} into $DIR"
    mkdir -p "$DIR"
    # A package.json of its own keeps npm from walking up into a parent
    # directory's project; --save-exact records the pins as given.
    [[ -f "$DIR/package.json" ]] || printf '{ "private": true }\n' >"$DIR/package.json"
    if ! npm install --prefix "$DIR" --save-exact --no-audit --no-fund --loglevel=error \
        "${BM_NPM_TOOLS[@]}"; then
        echo "npm_tools: npm install failed" >&2
        return 1
    fi
    mapfile -t todo < <(missing)
    if ((${#todo[@]} != 0)); then
        echo "npm_tools: still missing after install: ${todo[*]}" >&2
        return 1
    fi
}

case "${1:-}" in
"")
    install
    ;;
--check)
    need_node
    [[ -z "$(missing)" ]]
    ;;
--bin)
    [[ -n "${2:-}" ]] || { usage >&2; exit 2; }
    bin=$DIR/node_modules/.bin/$2
    if [[ ! -x "$bin" ]]; then
        echo "npm_tools: $2 is not installed; run scripts/npm_tools.sh" >&2
        exit 1
    fi
    printf '%s\n' "$bin"
    ;;
--dir)
    printf '%s\n' "$DIR"
    ;;
-h | --help)
    usage
    ;;
*)
    echo "npm_tools: unknown argument: $1" >&2
    usage >&2
    exit 2
    ;;
esac
