# shellcheck shell=bash disable=SC2034 # the lists are read by the scripts that source this
# Sourced helper: install missing Debian packages.
#
#   . scripts/deps.sh
#   bm_deps_install "${BM_DEPS_BUILD[@]}" "${BM_DEPS_TEST[@]}"
#
# Runs `apt-get update` once, and only when something is missing, so a machine
# that already has everything never touches the network. BM_SKIP_DEPS=1 skips
# the whole step (for machines managed some other way).

BM_DEPS_BUILD=(build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev
               libcurl4-openssl-dev libsqlite3-dev libcmocka-dev zlib1g-dev curl jq sqlite3)
# chromium: tests/browser drives it headless (playwright-core, from
# scripts/npm_tools.sh, downloads no browser of its own). prometheus: its
# promtool checks every daemon's /metrics text (tests/contract).
BM_DEPS_TEST=(shellcheck clang docker-compose chromium prometheus debootstrap nftables)
# The Docker stack test: an engine (unless one is installed some other way,
# e.g. docker-ce, which conflicts with docker.io), compose v1, debootstrap
# for the base image where no image registry is reachable, and nft to remove
# the firewall rules its dockerd leaves.
command -v dockerd >/dev/null 2>&1 || BM_DEPS_TEST+=(docker.io)
# tests/deploy parses the HCL with npm's @cdktf/hcl2json and verifies the
# systemd units: node/npm and systemd-analyze come from apt unless present
# (a NodeSource nodejs carries its own npm, which Debian's npm conflicts with).
command -v npm >/dev/null 2>&1 || BM_DEPS_TEST+=(nodejs npm)
command -v systemd-analyze >/dev/null 2>&1 || BM_DEPS_TEST+=(systemd)
BM_DEPS_BENCH=(wrk)

# bm_deps_missing PKG... : print the packages that are not installed.
bm_deps_missing() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        case "$status" in
        *" ok installed") ;;
        *) printf '%s\n' "$pkg" ;;
        esac
    done
}

# bm_deps_install PKG... : install whichever of PKG are missing; 0 on success.
bm_deps_install() {
    local -a missing sudo=()

    if [[ "${BM_SKIP_DEPS:-0}" == 1 ]]; then
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        echo "deps: dpkg-query/apt-get not found: this script needs Debian or Ubuntu;" \
             "install by hand: $*" >&2
        return 1
    fi
    mapfile -t missing < <(bm_deps_missing "$@")
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "deps: missing packages: ${missing[*]}" >&2
            echo "deps: not root and sudo is not installed; run as root or:" \
                 "apt-get install ${missing[*]}" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "deps: installing ${missing[*]}"
    # Lock timeout: a fresh cloud host may still be running its first apt job.
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=300 -q update; then
        echo "deps: apt-get update failed" >&2
        return 1
    fi
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=300 -q -y --no-install-recommends \
            install "${missing[@]}"; then
        echo "deps: apt-get install failed for: ${missing[*]}" >&2
        return 1
    fi
    mapfile -t missing < <(bm_deps_missing "$@")
    if ((${#missing[@]} != 0)); then
        echo "deps: still missing after install: ${missing[*]}" >&2
        return 1
    fi
}
