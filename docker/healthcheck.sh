#!/bin/bash
# Health probe for the bankmock image: GET /health over bash's /dev/tcp, so
# the image needs no curl.
#
#   healthcheck [PORT]
#
# The port is PORT (argument), else $PORT, else the --port given to the
# container's main process, else that daemon's default (api-gateway 8080,
# transaction-service 8081, auth-service 8082, monitoring-service 8083).
# Exits 0 when the daemon answers 200 (/health is 200 whenever it serves),
# else 1 with the reason on stderr. HEALTHCHECK_HOST (default 127.0.0.1),
# HEALTHCHECK_TIMEOUT (seconds to wait for the status line, default 3),
# HEALTHCHECK_PID (the process whose arguments are read, default 1).
set -u

# main_port : the port the container's main process listens on, from its argv.
main_port() {
    local -a argv
    local i name
    mapfile -d '' -t argv <"/proc/${HEALTHCHECK_PID:-1}/cmdline" 2>/dev/null || return 1
    ((${#argv[@]} > 0)) || return 1
    for ((i = 1; i < ${#argv[@]}; i++)); do
        case "${argv[i]}" in
        --port=*) echo "${argv[i]#--port=}"; return 0 ;;
        --port) echo "${argv[i + 1]:-}"; return 0 ;;
        esac
    done
    name=${argv[0]##*/}
    case "$name" in
    api-gateway) echo 8080 ;;
    transaction-service) echo 8081 ;;
    auth-service) echo 8082 ;;
    monitoring-service) echo 8083 ;;
    *) return 1 ;;
    esac
}

port=${1:-${PORT:-}}
if [[ -z "$port" ]]; then
    port=$(main_port) || port=8081
fi
host=${HEALTHCHECK_HOST:-127.0.0.1}
wait_s=${HEALTHCHECK_TIMEOUT:-3}

if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((port < 1 || port > 65535)); then
    echo "healthcheck: bad port '$port'" >&2
    exit 1
fi
if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    echo "healthcheck: cannot connect to $host:$port" >&2
    exit 1
fi
printf 'GET /health HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$host" "$port" >&3
if ! IFS= read -r -t "$wait_s" line <&3; then
    echo "healthcheck: no answer from $host:$port within ${wait_s}s" >&2
    exit 1
fi
exec 3<&-
line=${line%$'\r'}
case "$line" in
"HTTP/1."[01]" 200"*) exit 0 ;;
esac
echo "healthcheck: $host:$port/health answered '$line'" >&2
exit 1
