#!/usr/bin/env bash
# Switch bankmock between environments, or show the active one.
#
#   config/switch_environment.sh local|dev|staging|prod   make that environment active
#   config/switch_environment.sh show                     print the active environment
#   config/switch_environment.sh env                      print shell lines for its AWS
#                                                         settings: eval "$(... env)"
#   config/switch_environment.sh list                     list the environments
#
# An environment is two files in config/environments/: ENV.json, a complete
# daemon config in the anomaly_config.json format, and ENV.env, KEY=VALUE
# lines with its AWS region and endpoint (local: LocalStack on
# http://localhost:4566) and the matching TF_VAR_ settings for terraform/.
#
# Switching checks ENV.json with `--check-config` of every daemon in
# build/bin (and ENV.env's syntax), then copies ENV.json over
# config/anomaly_config.json, the one file that scripts/run_local.sh,
# docker-compose (mounted read-only), deploy/install.sh and the daemons'
# default path read, and ENV.env to config/active.env, which
# scripts/deploy_ec2.sh reads. Nothing changes when a check fails (exit 2).
# Restart the daemons to apply. `local` restores the shipped config.
#
# Environment: BANKMOCK_CONFIG_DIR (default: this script's directory),
# BANKMOCK_BIN_DIR (default: build/bin beside it).
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG_DIR=${BANKMOCK_CONFIG_DIR:-$SELF_DIR}
BIN_DIR=${BANKMOCK_BIN_DIR:-$SELF_DIR/../build/bin}
ENV_DIR=$CONFIG_DIR/environments
ACTIVE_JSON=$CONFIG_DIR/anomaly_config.json
ACTIVE_ENV=$CONFIG_DIR/active.env
DAEMONS=(transaction-service auth-service monitoring-service api-gateway)

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}
die() { printf 'switch_environment: %s\n' "$*" >&2; exit "${2:-1}"; }
fail() { printf 'switch_environment: %s\n' "$*" >&2; exit 2; }

# environments : the names that have both files, sorted.
environments() {
    local f n
    shopt -s nullglob
    for f in "$ENV_DIR"/*.json; do
        n=$(basename "$f" .json)
        [[ -f "$ENV_DIR/$n.env" ]] && printf '%s\n' "$n"
    done | LC_ALL=C sort
}

# check_env_file FILE NAME : KEY=VALUE lines only, AWS_REGION set,
# BANKMOCK_ENV (if set) equal to NAME.
check_env_file() {
    local f=$1 want=$2 line n=0 region='' benv=''
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
        [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([^[:space:]\'\"\`\$\\]*)$ ]] ||
            fail "$f:$n: expected KEY=VALUE (no quotes, spaces or \$), got: $line"
        case "${BASH_REMATCH[1]}" in
        AWS_REGION) region=${BASH_REMATCH[2]} ;;
        BANKMOCK_ENV) benv=${BASH_REMATCH[2]} ;;
        esac
    done <"$f"
    [[ -n "$region" ]] || fail "$f: no AWS_REGION"
    [[ -z "$benv" || "$benv" == "$want" ]] || fail "$f: BANKMOCK_ENV=$benv, expected $want"
}

# check_config FILE : every daemon binary present accepts FILE.
check_config() {
    local f=$1 d checked=0 out
    for d in "${DAEMONS[@]}"; do
        [[ -x "$BIN_DIR/$d" ]] || continue
        if ! out=$("$BIN_DIR/$d" --check-config --config "$f" 2>&1); then
            fail "$f is rejected by $d: $out"
        fi
        checked=$((checked + 1))
    done
    if ((checked == 0)); then
        echo "switch_environment: warning: no daemon in $BIN_DIR to check $f with" \
            "(build first: scripts/build.sh build); the daemons check it when they start" >&2
    fi
}

# active_name : the environment whose ENV.json equals anomaly_config.json.
active_name() {
    local n
    [[ -f "$ACTIVE_JSON" ]] || return 1
    while IFS= read -r n; do
        if cmp -s "$ENV_DIR/$n.json" "$ACTIVE_JSON"; then
            printf '%s' "$n"
            return 0
        fi
    done < <(environments)
    return 1
}

# env_value FILE KEY : KEY's value in a KEY=VALUE file.
env_value() {
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

switch_to() {
    local name=$1 tmp
    [[ -f "$ENV_DIR/$name.json" && -f "$ENV_DIR/$name.env" ]] ||
        fail "no environment '$name' (have: $(environments | tr '\n' ' '))"
    check_env_file "$ENV_DIR/$name.env" "$name"
    check_config "$ENV_DIR/$name.json"

    # Copy, then rename: a daemon starting meanwhile reads the old or the new file.
    tmp=$(mktemp "$CONFIG_DIR/.anomaly_config.json.XXXXXX")
    cp "$ENV_DIR/$name.json" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$ACTIVE_JSON"
    tmp=$(mktemp "$CONFIG_DIR/.active.env.XXXXXX")
    cp "$ENV_DIR/$name.env" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$ACTIVE_ENV"

    echo "switched to '$name':"
    echo "  $ACTIVE_JSON  <- environments/$name.json (restart the daemons to apply)"
    echo "  $ACTIVE_ENV           <- environments/$name.env (AWS region $(env_value "$ACTIVE_ENV" AWS_REGION)$(
        ep=$(env_value "$ACTIVE_ENV" AWS_ENDPOINT_URL); [[ -n "$ep" ]] && printf ', endpoint %s' "$ep"))"
    echo "  for the aws CLI and terraform in this shell: eval \"\$($0 env)\""
}

show() {
    local name benv line
    if name=$(active_name); then
        echo "active environment: $name"
        echo "  config: $ACTIVE_JSON (= environments/$name.json)"
    else
        echo "active environment: none (config/anomaly_config.json matches no environments/*.json)"
        echo "  config: $ACTIVE_JSON"
    fi
    if [[ -f "$ACTIVE_ENV" ]]; then
        benv=$(env_value "$ACTIVE_ENV" BANKMOCK_ENV)
        echo "  aws:    $ACTIVE_ENV${benv:+ (from environments/$benv.env)}"
        if [[ -n "$benv" && "$benv" != "${name:-}" ]]; then
            echo "  note:   the AWS settings are '$benv' but the daemon config is not;" \
                "run: $0 $benv"
        fi
        while IFS= read -r line; do
            [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
            if [[ "$line" =~ ^([A-Z_]*(SECRET|TOKEN|PASSWORD)[A-Z_]*)= ]]; then
                line="${BASH_REMATCH[1]}=****"
            fi
            echo "          $line"
        done <"$ACTIVE_ENV"
    else
        echo "  aws:    no $ACTIVE_ENV yet (switch to an environment to write it)"
    fi
}

# print_env : export lines for the active AWS settings, and unset lines for
# the keys other environments set but this one does not.
print_env() {
    local line key all=() mine=() k
    [[ -f "$ACTIVE_ENV" ]] || die "no $ACTIVE_ENV: switch to an environment first"
    while IFS= read -r line; do
        [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        mine+=("${BASH_REMATCH[1]}")
        printf 'export %s=%q\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    done <"$ACTIVE_ENV"
    mapfile -t all < <(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$ENV_DIR"/*.env | LC_ALL=C sort -u)
    for key in "${all[@]}"; do
        for k in "${mine[@]}"; do
            [[ "$k" == "$key" ]] && continue 2
        done
        printf 'unset %s\n' "$key"
    done
}

(($# == 1)) || { usage >&2; exit 2; }
case "$1" in
-h | --help) usage ;;
show) show ;;
env) print_env ;;
list) environments ;;
-*) usage >&2; exit 2 ;;
*) switch_to "$1" ;;
esac
