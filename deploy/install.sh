#!/usr/bin/env bash
# Install bankmock on this Debian/Ubuntu host and run it under systemd.
# Run as root from a checkout; the EC2 user data (deploy/user_data.sh.tpl)
# does, after fetching the project, for scripts/deploy_ec2.sh and terraform/.
#
#   deploy/install.sh [--environment ENV] [--skip-deps] [--skip-build]
#                     [--no-start] [--dest-root DIR]
#
# Steps: install the build packages (scripts/deps.sh), build with
# scripts/build.sh, create the system user "bankmock", install the daemons
# that were built (and bankmock-generate, the offline dataset tool, if built)
# to /opt/bankmock/bin, the config to
# /etc/bankmock/anomaly_config.json (config/environments/ENV.json with
# --environment, else config/anomaly_config.json), the units from
# deploy/systemd/ to /etc/systemd/system, then enable and (re)start them and
# wait up to 60 s for each /health. Data: /var/lib/bankmock/<daemon>.db.
# Re-running it upgrades in place; databases are kept.
#
# Environment: ADMIN_TOKEN (non-empty: written to /etc/bankmock/bankmock.env,
# mode 0640, which every unit reads), SEED (the three services' shared seed,
# written there at the first install; without it one is drawn at random, so
# the services share the cross-service incidents), BANKMOCK_ENV (same as
# --environment), BANKMOCK_SHARD, BANKMOCK_SINK and AWS_REGION (non-empty:
# written there too; terraform passes shard i/n, kinesis:<stream> and its
# region, docs/kinesis.md),
# BM_JOBS (build jobs, default: the number of CPUs).
# --dest-root DIR installs the files under DIR and changes nothing else
# (no user, no systemctl): for packaging and for tests/deploy.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}
log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

DAEMONS=(transaction-service auth-service monitoring-service api-gateway)
TOOLS=(bankmock-generate) # command-line tools: installed beside the daemons, no unit
env_name=${BANKMOCK_ENV:-}
skip_deps=0
skip_build=0
start=1
root=

while (($# > 0)); do
    case "$1" in
    --environment) (($# >= 2)) || die "--environment needs a value"; env_name=$2; shift ;;
    --environment=*) env_name=${1#*=} ;;
    --skip-deps) skip_deps=1 ;;
    --skip-build) skip_build=1 ;;
    --no-start) start=0 ;;
    --dest-root) (($# >= 2)) || die "--dest-root needs a value"; root=$2; shift ;;
    --dest-root=*) root=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

port_of() {
    case "$1" in
    api-gateway) echo 8080 ;;
    transaction-service) echo 8081 ;;
    auth-service) echo 8082 ;;
    monitoring-service) echo 8083 ;;
    esac
}

if [[ -n "$root" ]]; then
    mkdir -p "$root"
    root=$(cd "$root" && pwd)
    start=0
elif ((EUID != 0)); then
    die "run as root (it installs packages, a system user and systemd units)"
fi

config_src=config/anomaly_config.json
if [[ -n "$env_name" ]]; then
    [[ "$env_name" =~ ^[a-z][a-z0-9_-]*$ ]] || die "bad environment name '$env_name'"
    config_src=config/environments/$env_name.json
    [[ -f "$config_src" ]] || die "no such environment: $config_src"
fi

if ((!skip_deps)); then
    # shellcheck source=scripts/deps.sh
    . scripts/deps.sh
    bm_deps_install "${BM_DEPS_BUILD[@]}" || die "cannot install the build packages"
fi
if ((!skip_build)); then
    log "building in build/"
    BM_JOBS=${BM_JOBS:-$(nproc)} scripts/build.sh build -DBM_SANITIZE= -DBM_TESTS=OFF
fi

built=()
for d in "${DAEMONS[@]}"; do
    [[ -x "build/bin/$d" ]] && built+=("$d")
done
((${#built[@]} > 0)) || die "no daemon in build/bin; did the build succeed?"
log "daemons: ${built[*]}"

# Validate the config with the binaries about to run it, before touching
# anything installed.
for d in "${built[@]}"; do
    "build/bin/$d" --check-config --config "$config_src" >/dev/null ||
        die "$config_src is rejected by $d"
done

if [[ -z "$root" ]] && ! getent passwd bankmock >/dev/null; then
    log "creating system user bankmock"
    useradd --system --user-group --home-dir /var/lib/bankmock --no-create-home \
        --shell /usr/sbin/nologin bankmock
fi

bin=$root/opt/bankmock/bin
etc=$root/etc/bankmock
units=$root/etc/systemd/system
state=$root/var/lib/bankmock
install -d -m 0755 "$bin" "$units"
install -d -m 0755 "$etc"
install -d -m 0750 "$state"
[[ -n "$root" ]] || chown bankmock:bankmock "$state"

# Replace by rename, so a running binary is never written to.
for d in "${built[@]}" "${TOOLS[@]}"; do
    [[ -x "build/bin/$d" ]] || continue
    install -m 0755 "build/bin/$d" "$bin/.$d.new"
    mv -f "$bin/.$d.new" "$bin/$d"
done
install -m 0644 "$config_src" "$etc/.anomaly_config.json.new"
mv -f "$etc/.anomaly_config.json.new" "$etc/anomaly_config.json"
log "config: $config_src -> /etc/bankmock/anomaly_config.json"

envfile=$etc/bankmock.env
if [[ ! -f "$envfile" ]]; then
    printf '# bankmock: settings for every daemon (see README "Configuration").\n' >"$envfile"
fi
if [[ -n "${ADMIN_TOKEN:-}" ]]; then
    grep -v '^ADMIN_TOKEN=' "$envfile" >"$envfile.new" || true
    printf 'ADMIN_TOKEN=%s\n' "$ADMIN_TOKEN" >>"$envfile.new"
    mv -f "$envfile.new" "$envfile"
    log "ADMIN_TOKEN set in /etc/bankmock/bankmock.env"
fi
for k in BANKMOCK_SHARD BANKMOCK_SINK AWS_REGION; do
    v=${!k:-}
    [[ -n "$v" ]] || continue
    [[ "$v" =~ ^[A-Za-z0-9_./:-]+$ ]] || die "bad $k '$v'"
    grep -v "^$k=" "$envfile" >"$envfile.new" || true
    printf '%s=%s\n' "$k" "$v" >>"$envfile.new"
    mv -f "$envfile.new" "$envfile"
    log "$k=$v set in /etc/bankmock/bankmock.env"
done
# One seed for the three services, so they share the cross-service
# incidents (docs/api.md): SEED if given, else drawn once at the first
# install and kept. Databases made before with seeds of their own keep them
# (a service refuses a seed its database was not made with).
if ! grep -q '^SEED=' "$envfile"; then
    if [[ -n "${SEED:-}" ]]; then
        [[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a number"
        printf 'SEED=%s\n' "$SEED" >>"$envfile"
        log "SEED=$SEED set in /etc/bankmock/bankmock.env"
    elif compgen -G "$state/*.db" >/dev/null; then
        log "databases in $state keep their own seeds; no shared SEED written"
    else
        printf 'SEED=%s\n' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')" >>"$envfile"
        log "a shared random SEED written to /etc/bankmock/bankmock.env"
    fi
fi
chmod 0640 "$envfile"
[[ -n "$root" ]] || chgrp bankmock "$envfile"

for d in "${built[@]}"; do
    install -m 0644 "deploy/systemd/bankmock-$d.service" "$units/bankmock-$d.service"
done

if ((!start)); then
    log "installed under ${root:-/}; not starting (--no-start or --dest-root)"
    exit 0
fi
if [[ ! -d /run/systemd/system ]]; then
    die "systemd is not running on this host; files are installed, start the daemons by hand"
fi

systemctl daemon-reload
# The services first, so the gateway finds them.
for d in "${built[@]}"; do
    systemctl enable "bankmock-$d.service" >/dev/null
    systemctl restart "bankmock-$d.service"
done

failed=0
for d in "${built[@]}"; do
    port=$(port_of "$d")
    ok=0
    for _ in $(seq 1 120); do
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; then
            ok=1
            break
        fi
        sleep 0.5
    done
    if ((ok)); then
        log "$d is up on port $port"
    else
        log "$d did not answer http://127.0.0.1:$port/health within 60 s:"
        systemctl --no-pager status "bankmock-$d.service" || true
        journalctl --no-pager -n 20 -u "bankmock-$d.service" || true
        failed=1
    fi
done
((!failed)) || die "some daemons are not healthy"
log "bankmock is running: ${built[*]}"
