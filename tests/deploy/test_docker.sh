#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs name their $arguments in single quotes
# The Docker stack on a real engine (CTest label "docker", configuration
# "docker": `ctest -C docker -L docker`; scripts/test.sh runs it as its own
# step). It
#   - starts dockerd (as root, its log in $BUILD/docker-test/) when no engine
#     answers, and stops it at the end only if it started it;
#   - gets debian:bookworm-slim: the engine's copy if it has one, else
#     `docker pull`, else builds it from the Debian mirror apt already uses
#     (debootstrap --variant=minbase, docker import); the imported image stays
#     as the cache for later runs;
#   - builds docker/Dockerfile with `docker build --network host` (the image's
#     apt reaches the same mirror through the host's network);
#   - brings the stack up with the root docker-compose.yml, runs the README's
#     curls against 127.0.0.1, checks every container healthy, non-root, with a
#     read-only root file system and JSON log lines, restarts it (stream_id
#     kept, head_sequence not going back, a POST /config kept), takes it down
#     within the stop grace period (every daemon exits 0, none is killed);
#   - brings it up again with `cd docker && docker-compose up -d`, which finds
#     the same databases, and takes it down with its volumes;
#   - removes its containers, volumes, networks and the project image; it
#     keeps the base image and the newest build stage (the build cache).
# LocalStack is started too when its image can be had; else it is skipped
# with a message and only the four daemons run.
# The stack runs as compose project "bmdockertest", with its own image tag
# and volume names (an override file), so a user's own stack is not touched;
# it publishes 8080-8083 on 127.0.0.1, which must be free.
# BM_DOCKER_KEEP=1 leaves the stack and image in place for a look after a run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$SRC" || exit 1

PROJECT=bmdockertest
IMAGE=bankmock-dockertest:latest
BASE=debian:bookworm-slim
LOGS=$BUILD/docker-test
T0=$SECONDS
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log
declare -A PORT=([api-gateway]=8080 [transaction-service]=8081 [auth-service]=8082 [monitoring-service]=8083)
SERVICES=(transaction-service auth-service monitoring-service)

# Keep variables from the caller's shell out of the compose interpolation.
unset ADMIN_TOKEN LOG_LEVEL SEED START_TIME BACKFILL BANKMOCK_PUBLISH_ADDR COMPOSE_FILE COMPOSE_PROJECT_NAME

# phase WHAT : a progress line with the seconds since the start.
phase() {
    printf -- '--- [%4ss] %s\n' "$((SECONDS - T0))" "$1"
}

# fatal WHAT [DETAIL...] : record a failure and stop here (cleanup runs at exit).
fatal() {
    local what=$1
    shift
    failure "$what" "$*" || true
    finish
    exit 1
}

# ---------------------------------------------------------------- the engine
started_dockerd=
dockerd_pid=
firewall_before=unknown

engine_answers() {
    timeout 20 docker info >/dev/null 2>&1
}

if ! command -v docker >/dev/null 2>&1; then
    fatal "a Docker engine" "no docker command on this machine: this test needs Docker" \
        "(scripts/deps.sh installs docker.io, docker-compose and debootstrap)"
fi
if ! command -v docker-compose >/dev/null 2>&1; then
    fatal "docker-compose" "docker-compose is not installed (scripts/deps.sh installs it)"
fi
if engine_answers; then
    pass "a Docker engine answers"
else
    command -v dockerd >/dev/null 2>&1 ||
        fatal "a Docker engine" "no engine answers and there is no dockerd to start" \
            "(scripts/deps.sh installs docker.io)"
    ((EUID == 0)) || fatal "a Docker engine" "no engine answers, and starting dockerd needs root"
    # dockerd's iptables rules turn on the kernel's connection tracking for
    # the whole machine, loopback included, and stay after it exits: with a
    # lot of short loopback connections (the other suites) the table fills
    # and the kernel drops new connections. When the machine had no rules
    # before, the rules go again when the test stops its dockerd.
    firewall_before=$(nft list ruleset 2>/dev/null || echo unknown)
    phase "starting dockerd (log: $LOGS/dockerd.log)"
    dockerd >"$LOGS/dockerd.log" 2>&1 &
    dockerd_pid=$!
    started_dockerd=1
    for _ in {1..120}; do
        engine_answers && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.5
    done
    if engine_answers; then
        pass "dockerd started (pid $dockerd_pid)"
    else
        fatal "dockerd started" "$(tail -n 20 "$LOGS/dockerd.log")"
    fi
fi

# ------------------------------------------------------------------ cleanup
# compose_cmd DIR FILE ARGS... : docker-compose on FILE (relative to DIR) and
# the override, as project $PROJECT, run from DIR.
OVERRIDE=$WORK/override.yml
compose_in() {
    local dir=$1 file=$2
    shift 2
    (cd "$dir" && docker-compose -p "$PROJECT" -f "$file" -f "$OVERRIDE" "$@")
}

# The build stages this project left (docker/Dockerfile labels them), newest first.
build_stages() {
    docker images --no-trunc --filter dangling=true --filter label=org.bankmock.stage=build \
        --format '{{.CreatedAt}}|{{.ID}}' | sort -r | cut -d'|' -f2
}

cleanup() {
    local rootfs=$WORK/rootfs mnt old
    set +e
    if [[ "${BM_DOCKER_KEEP:-0}" == 1 ]]; then
        echo "BM_DOCKER_KEEP=1: leaving project $PROJECT and $IMAGE in place"
    else
        if [[ -f "$OVERRIDE" ]]; then
            compose_in "$SRC" docker-compose.yml down -v --remove-orphans -t 10 >>"$LOGS/compose.log" 2>&1
        fi
        docker image inspect "$IMAGE" >/dev/null 2>&1 && docker rmi "$IMAGE" >/dev/null
        # Older build stages go; the newest stays as the build cache.
        mapfile -t old < <(build_stages | tail -n +2)
        ((${#old[@]} == 0)) || docker rmi "${old[@]}" >/dev/null 2>&1
    fi
    # An interrupted debootstrap can leave /proc or /sys mounted in its tree.
    if [[ -d "$rootfs" ]]; then
        while read -r mnt; do
            umount -l "$mnt"
        done < <(findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r)
    fi
    if [[ -n "$started_dockerd" ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "stopping the dockerd this test started (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid"
        for _ in {1..60}; do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.5
        done
        if [[ -z "$firewall_before" ]]; then
            nft flush ruleset && echo "removed the firewall rules dockerd left (there were none before)"
        else
            echo "note: dockerd's firewall rules stay (nft missing, or the machine had rules of its own);" \
                "they keep the kernel's connection tracking on"
        fi
    fi
    [[ $BASHPID != "$MAIN_PID" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# --------------------------------------------------------------- base image
# debian_sources : "URI SUITE COMPONENT" for each Debian bookworm archive
# apt on this machine uses: from `apt-cache policy` (the Debian origin, any
# sources format), else (no package lists yet) from the sources files, by
# suite and component.
debian_sources() {
    local out f
    out=$(apt-cache policy 2>/dev/null | awk '
        /^ *-?[0-9]+ [a-z+]+:\/\/[^ ]+ [^ ]+\/[^ ]+ [^ ]+ Packages$/ {
            uri = $2; split($3, a, "/"); suite = a[1]; comp = a[2]; want = 1; next
        }
        want && /^ +release / {
            if ($0 ~ /[ ,]o=Debian(,|$)/ && suite ~ /^bookworm(-[a-z]+)?$/) print uri, suite, comp
            want = 0
        }' | sort -u)
    if [[ -n "$out" ]]; then
        echo "$out"
        return 0
    fi
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f "$f" ]] || continue
            awk '$1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                for (j = i + 2; j <= NF; j++) print $i, $(i + 1), $j
            }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ -f "$f" ]] || continue
            awk 'BEGIN { RS = ""; FS = "\n" }
            {
                types = uris = suites = comps = ""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^Types:/) types = $i
                    else if ($i ~ /^URIs:/) uris = $i
                    else if ($i ~ /^Suites:/) suites = $i
                    else if ($i ~ /^Components:/) comps = $i
                }
                if (types !~ /[: ]deb( |$)/) next
                nu = split(uris, u, " "); ns = split(suites, s, " "); nc = split(comps, c, " ")
                for (a = 2; a <= nu; a++) for (b = 2; b <= ns; b++) for (d = 2; d <= nc; d++) print u[a], s[b], c[d]
            }' "$f"
        done
    } | awk '$2 ~ /^bookworm(-[a-z]+)?$/ && $3 == "main"' | sort -u
}

# bootstrap_base : build $BASE from the Debian archive and import it.
bootstrap_base() {
    local rootfs=$WORK/rootfs sources mirror
    sources=$(debian_sources)
    mirror=$(awk '$2 == "bookworm" { print $1; exit }' <<<"$sources")
    if [[ -z "$mirror" ]]; then
        failure "a Debian bookworm mirror in apt's sources (for debootstrap)" \
            "apt-cache policy lists none; on a Debian bookworm machine run apt-get update"
        return 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        failure "debootstrap (to build $BASE)" "not installed (scripts/deps.sh installs it)"
        return 1
    fi
    phase "debootstrap --variant=minbase bookworm from apt's mirror (log: $LOGS/debootstrap.log)"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$LOGS/debootstrap.log" 2>&1; then
        failure "debootstrap --variant=minbase bookworm" "$(tail -n 20 "$LOGS/debootstrap.log")"
        return 1
    fi
    # As the published image: no package cache, no lists, the same suites
    # apt uses here (security and updates too).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    awk '{ c[$1 " " $2] = c[$1 " " $2] " " $3 } END { for (k in c) print "deb " k c[k] }' \
        <<<"$sources" | sort >"$rootfs/etc/apt/sources.list"
    phase "docker import $BASE"
    if ! tar --numeric-owner -C "$rootfs" -c . |
        docker import --change 'CMD ["bash"]' \
            --change 'LABEL org.bankmock.base="debootstrap --variant=minbase bookworm"' \
            - "$BASE" >"$LOGS/import.log" 2>&1; then
        failure "docker import $BASE" "$(cat "$LOGS/import.log")"
        return 1
    fi
    rm -rf "$rootfs"
}

if docker image inspect "$BASE" >/dev/null 2>&1; then
    pass "$BASE is in the engine's image store (cached)"
elif phase "docker pull $BASE" && timeout 300 docker pull "$BASE" >"$LOGS/pull.log" 2>&1; then
    pass "docker pull $BASE"
else
    echo "docker pull $BASE failed ($(tail -n 1 "$LOGS/pull.log")): building it from the Debian archive"
    bootstrap_base || fatal "$BASE can be had"
    check "$BASE imported from a debootstrap tree" docker image inspect "$BASE"
fi
check "$BASE runs (apt-get --version)" docker run --rm --network none "$BASE" apt-get --version

# ------------------------------------------------------------- project image
phase "docker build --network host -f docker/Dockerfile -t $IMAGE (log: $LOGS/build.log)"
t=$SECONDS
if docker build --network host -f docker/Dockerfile -t "$IMAGE" . >"$LOGS/build.log" 2>&1; then
    pass "docker build of docker/Dockerfile ($((SECONDS - t)) s)"
else
    fatal "docker build of docker/Dockerfile" "$(tail -n 30 "$LOGS/build.log")"
fi
for d in "${DAEMONS[@]}"; do
    check "the image has $d" docker run --rm --network none --entrypoint test "$IMAGE" -x "/opt/bankmock/bin/$d"
done
check "the image's daemons find all their libraries" \
    docker run --rm --network none --entrypoint bash "$IMAGE" -c \
    '! ldd /opt/bankmock/bin/* 2>/dev/null | grep -q "not found"'

# ---------------------------------------------------------------- LocalStack
ls_image=$(docker-compose -f docker/docker-compose.yml config 2>/dev/null |
    awk '/^  localstack:/ { f = 1 } f && /^    image:/ { print $2; exit }')
with_localstack=0
if [[ -z "$ls_image" ]]; then
    failure "the compose file names a LocalStack image"
elif docker image inspect "$ls_image" >/dev/null 2>&1 ||
    timeout 300 docker pull "$ls_image" >"$LOGS/pull-localstack.log" 2>&1; then
    with_localstack=1
    pass "LocalStack image $ls_image is here"
else
    echo "SKIPPED localstack: its image $ls_image cannot be had" \
        "($(tail -n 1 "$LOGS/pull-localstack.log")); starting the four daemons only"
fi
UP_SERVICES=("${DAEMONS[@]}")
((with_localstack)) && UP_SERVICES+=(localstack)

# ---------------------------------------------------------------- the stack
# The test's own image tag and volume names, so a user's stack is not touched.
{
    echo "version: '2.4'"
    echo "services:"
    for d in "${DAEMONS[@]}"; do
        printf '  %s:\n    image: %s\n' "$d" "$IMAGE"
    done
    echo "volumes:"
    for v in transaction-data auth-data monitoring-data localstack-data seed; do
        printf '  %s:\n    name: %s-%s\n' "$v" "$PROJECT" "$v"
    done
} >"$OVERRIDE"

# Leftovers of an interrupted run go first.
compose_in "$SRC" docker-compose.yml down -v --remove-orphans -t 10 >"$LOGS/compose.log" 2>&1
volumes_before=$(docker volume ls -q | sort)

for d in "${DAEMONS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$d]}") 2>/dev/null; then
        fatal "port ${PORT[$d]} is free on 127.0.0.1 (for $d)" \
            "something already listens there: stop it (scripts/run_local.sh, another stack) and rerun"
    fi
done

# cid DIR FILE SERVICE : the container id of SERVICE.
cid() {
    compose_in "$1" "$2" ps -q "$3" 2>/dev/null | head -n 1
}

# wait_healthy DIR FILE : every started service's container reports healthy
# (compose healthchecks), within 150 s.
wait_healthy() {
    local dir=$1 file=$2 s c st deadline=$((SECONDS + 150)) pending
    while :; do
        pending=()
        for s in "${UP_SERVICES[@]}"; do
            c=$(cid "$dir" "$file" "$s")
            st=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c" 2>/dev/null)
            [[ "$st" == healthy ]] || pending+=("$s:${st:-missing}")
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS > deadline)); then
            echo "not healthy: ${pending[*]}"
            return 1
        fi
        sleep 1
    done
}

# get URL : the body of a 200 answer (curl fails otherwise). Requests go
# through the engine's port forwarding, which drops a connection now and
# then when the kernel's conntrack table is full (other loopback traffic on
# the machine fills it once dockerd's iptables rules turn conntrack on):
# timeouts are retried, so a daemon's answer is what is tested.
get() {
    curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1"
}

# dump_logs DIR FILE : the end of every container's log, after a failure.
dump_logs() {
    compose_in "$1" "$2" ps
    compose_in "$1" "$2" logs --no-color --tail 15
}

# up DIR FILE : docker-compose up -d the services, wait for healthy.
up() {
    local dir=$1 file=$2 t=$SECONDS
    phase "($dir) docker-compose -f $file up -d ${UP_SERVICES[*]}"
    if ! compose_in "$dir" "$file" up -d --no-build "${UP_SERVICES[@]}" >>"$LOGS/compose.log" 2>&1; then
        fatal "docker-compose -f $file up -d" "$(tail -n 20 "$LOGS/compose.log")"
    fi
    if out=$(wait_healthy "$dir" "$file"); then
        pass "every container healthy (compose healthchecks) $((SECONDS - t)) s after up"
    else
        failure "every container healthy (compose healthchecks)" "$out"$'\n'"$(dump_logs "$dir" "$file" 2>&1)"
        fatal "the stack came up"
    fi
}

# streams : "service stream_id head_sequence" of each service, from its /health.
streams() {
    local s body
    for s in "${SERVICES[@]}"; do
        if body=$(get "http://127.0.0.1:${PORT[$s]}/health" 2>&1); then
            jq -r --arg s "$s" '"\($s) \(.stream_id) \(.head_sequence)"' <<<"$body" && continue
        fi
        echo "$s - - $body" | head -n 1
    done
}

# same_streams BEFORE AFTER WHAT : per service, the same stream_id and a
# head_sequence that did not go back.
same_streams() {
    local before=$1 after=$2 what=$3 s id0 seq0 id1 seq1
    for s in "${SERVICES[@]}"; do
        read -r _ id0 seq0 _ < <(grep "^$s " <<<"$before")
        read -r _ id1 seq1 _ < <(grep "^$s " <<<"$after")
        if [[ "$id0" != - && "$id0" != null && "$id0" == "$id1" ]] &&
            [[ "$seq0" =~ ^[0-9]+$ && "$seq1" =~ ^[0-9]+$ ]] && ((seq1 >= seq0)); then
            pass "$s: $what: stream_id $id1 kept, head_sequence $seq0 -> $seq1"
        else
            failure "$s: $what: stream_id kept, head_sequence not back" \
                "before: $(grep "^$s " <<<"$before")"$'\n'"after: $(grep "^$s " <<<"$after")"
        fi
    done
}

# down DIR FILE ARGS... : docker-compose down. Each daemon stops on its
# SIGTERM within the stop grace period and exits 0: no SIGKILL (docker's
# after the grace period; exit 137). The engine's own teardown (networks,
# containers) is timed apart from the daemons' stops.
down() {
    local dir=$1 file=$2 since t rc grace ev s tk td code
    shift 2
    grace=$(compose_in "$dir" "$file" config 2>/dev/null |
        sed -n 's/^ *stop_grace_period: *\([0-9]*\)s$/\1/p' | sort -n | head -n 1)
    [[ -n "$grace" ]] || grace=10
    phase "($dir) docker-compose -f $file down $*"
    since=$(date +%s.%N)
    t=$SECONDS
    compose_in "$dir" "$file" down "$@" >>"$LOGS/compose.log" 2>&1
    rc=$?
    check "docker-compose down $* ($((SECONDS - t)) s, the engine's teardown included)" test "$rc" -eq 0
    ev=$(docker events --since "$since" --until "$(($(date +%s) + 1))" --filter type=container \
        --filter event=kill --filter event=die --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.TimeNano}} {{.Action}} {{index .Actor.Attributes "com.docker.compose.service"}} {{index .Actor.Attributes "signal"}}{{index .Actor.Attributes "exitCode"}}')
    for s in "${UP_SERVICES[@]}"; do
        [[ "$s" == localstack ]] && continue
        tk=$(awk -v s="$s" '$2 == "kill" && $3 == s && $4 == 15 { print $1; exit }' <<<"$ev")
        td=$(awk -v s="$s" '$2 == "die" && $3 == s { print $1; exit }' <<<"$ev")
        code=$(awk -v s="$s" '$2 == "die" && $3 == s { print $4; exit }' <<<"$ev")
        if [[ -n "$tk" && -n "$td" && "$code" == 0 ]] && ((td - tk < grace * 1000000000)) &&
            ! awk -v s="$s" '$2 == "kill" && $3 == s && $4 == 9 { f = 1 } END { exit !f }' <<<"$ev"; then
            pass "$s: stopped $(((td - tk) / 1000000)) ms after SIGTERM (grace ${grace} s), exit 0"
        else
            failure "$s: stops on SIGTERM within the stop grace period (${grace} s) with exit 0" \
                "events: $(grep " $s " <<<"$ev")"
        fi
    done
}

# json_logs CONTAINER SERVICE : every line of `docker logs` is a JSON object.
json_logs() {
    local c=$1 s=$2 n bad
    docker logs "$c" >"$WORK/$s.log" 2>&1
    n=$(wc -l <"$WORK/$s.log")
    bad=$(jq -R -r 'try (fromjson | if type == "object" then empty else "not an object: " + tojson end)
                    catch ("not JSON: " + .)' <"$WORK/$s.log" | head -n 5)
    if ((n > 0)) && [[ -z "$bad" ]]; then
        pass "$s: all $n lines of docker logs are JSON objects"
    else
        failure "$s: every line of docker logs is a JSON object ($n lines)" "$bad"
    fi
}

# container_checks DIR FILE : non-root, read-only root, JSON logs.
container_checks() {
    local dir=$1 file=$2 s c pid uids ro err
    for s in "${DAEMONS[@]}"; do
        c=$(cid "$dir" "$file" "$s")
        pid=$(docker inspect -f '{{.State.Pid}}' "$c")
        uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)
        if [[ -n "$uids" && ! " $uids " =~ " 0 " ]]; then
            pass "$s: its process runs as uid $uids (not root)"
        else
            failure "$s: its process does not run as root" "uids: ${uids:-unknown} (pid $pid)"
        fi
        ro=$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$c")
        err=$(docker exec -u 0 "$c" touch /bm-probe 2>&1) && err="root wrote /bm-probe"
        if [[ "$ro" == true && "$err" == *"Read-only file system"* ]]; then
            pass "$s: read-only root file system (even root cannot write /)"
        else
            failure "$s: read-only root file system" "ReadonlyRootfs=$ro; touch /bm-probe: $err"
        fi
        if [[ "$s" != api-gateway ]]; then
            check "$s: its database is on the /data volume" \
                docker exec "$c" test -s "/data/$s.db"
        else
            check "$s: no volume (its /data is a tmpfs)" test -z \
                "$(docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' "$c")"
        fi
        json_logs "$c" "$s"
    done
}

# readme_curls : the README's requests, against 127.0.0.1.
readme_curls() {
    local gw=http://127.0.0.1:8080 body s
    check "GET /health on the gateway" bash -c 'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/health" | jq -e .status' _ "$gw"
    for s in "${SERVICES[@]}"; do
        check "GET /health on $s (${PORT[$s]})" bash -c \
            'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1" | jq -e --arg s "$2" ".service == \$s and (.head_sequence | type == \"number\")"' \
            _ "http://127.0.0.1:${PORT[$s]}/health" "$s"
    done
    # The gateway polls each second: events from all three come within a few.
    body=
    for _ in {1..30}; do
        body=$(get "$gw/dashboard" 2>/dev/null)
        jq -e '[.services[]? | .state] | length == 3 and all(. == "ok")' <<<"$body" >/dev/null 2>&1 && break
        sleep 1
    done
    check "GET /dashboard: the three services ok (reached by service name)" \
        jq -e '[.services[]? | .state] | length == 3 and all(. == "ok")' <<<"$body" ||
        echo "        | $body" | head -c 2000
    check "GET /events?since=0&limit=50: events" bash -c \
        'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/events?since=0&limit=50" | jq -e ".count > 0 and (.events | length) == .count"' _ "$gw"
    check "GET /metrics on the gateway" bash -c 'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/metrics" | jq -e "type == \"object\""' _ "$gw"
    check "GET /system/health: ok" bash -c \
        'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/system/health" | jq -e "tostring | test(\"unreachable\") | not"' _ "$gw"
    check "GET /services/transaction-service/transactions/events?limit=5 through the gateway" bash -c \
        'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/services/transaction-service/transactions/events?limit=5" |
         jq -e ".count == 5 and (.events | length) == 5"' _ "$gw"
    check "GET /services/transaction-service/health through the gateway" bash -c \
        'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/services/transaction-service/health" | jq -e ".service == \"transaction-service\""' _ "$gw"
    check "POST /config on transaction-service (8081)" bash -c \
        'curl -fsS --max-time 5 --retry 2 --retry-delay 1 -X POST http://127.0.0.1:8081/config -H "Content-Type: application/json" \
             -d "{\"anomaly_rate\":0.1,\"events_per_second\":200}" >/dev/null' _
    config_kept "after the POST"
}

# shared_seed : with SEED unset, the three services drew one seed from the
# shared volume (their "listening" log lines, kept by json_logs).
shared_seed() {
    local s seeds=()
    for s in "${SERVICES[@]}"; do
        seeds+=("$(jq -r 'select(.msg == "listening") | .seed' "$WORK/$s.log" 2>/dev/null | tail -n 1)")
    done
    if [[ -n "${seeds[0]}" && "${seeds[0]}" != null && "${seeds[*]}" == "${seeds[0]} ${seeds[0]} ${seeds[0]}" ]]; then
        pass "the three services share one random seed (${seeds[0]}) through the seed volume"
    else
        failure "the three services share one random seed" "seeds: ${seeds[*]}"
    fi
}

# config_kept WHAT : transaction-service's /config (through the gateway) holds the POST.
config_kept() {
    check "GET /services/transaction-service/config: anomaly_rate 0.1, events_per_second 200 ($1)" bash -c \
        'curl -fsS --max-time 5 --retry 2 --retry-delay 1 "$1/services/transaction-service/config" |
         jq -e ".anomaly_rate == 0.1 and .events_per_second == 200"' _ http://127.0.0.1:8080
}

# 1. From the root: `docker-compose up -d`.
up "$SRC" docker-compose.yml
readme_curls
container_checks "$SRC" docker-compose.yml
shared_seed
before=$(streams)

phase "($SRC) docker-compose restart"
t=$SECONDS
compose_in "$SRC" docker-compose.yml restart >>"$LOGS/compose.log" 2>&1
rc=$?
check "docker-compose restart ($((SECONDS - t)) s)" test "$rc" -eq 0
sleep 1 # the restarted containers' health starts over from "starting"
if out=$(wait_healthy "$SRC" docker-compose.yml); then
    pass "every container healthy again after the restart"
else
    failure "every container healthy again after the restart" "$out"
fi
after=$(streams)
same_streams "$before" "$after" "across docker-compose restart"
config_kept "after docker-compose restart"
down "$SRC" docker-compose.yml

# 2. From docker/: `cd docker && docker-compose up -d`, on the same volumes.
up "$SRC/docker" docker-compose.yml
again=$(streams)
same_streams "$after" "$again" "cd docker && docker-compose up: the same databases"
down "$SRC/docker" docker-compose.yml -v

# ---------------------------------------------------------------- cleanup
if [[ "${BM_DOCKER_KEEP:-0}" != 1 ]]; then
    docker rmi "$IMAGE" >/dev/null 2>&1
    check "no container of project $PROJECT is left" \
        test -z "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
    volumes_after=$(docker volume ls -q | sort)
    if [[ "$volumes_after" == "$volumes_before" ]]; then
        pass "no volume is left (named or anonymous)"
    else
        failure "no volume is left (named or anonymous)" \
            "new: $(comm -13 <(echo "$volumes_before") <(echo "$volumes_after") | tr '\n' ' ')"
    fi
    check "no network of project $PROJECT is left" \
        test -z "$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")"
    check "the project image $IMAGE is removed" bash -c '! docker image inspect "$1" >/dev/null 2>&1' _ "$IMAGE"
fi
phase "done"
finish
