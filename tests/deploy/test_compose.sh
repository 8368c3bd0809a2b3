#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs name their $arguments in single quotes
# docker/docker-compose.yml and the root docker-compose.yml pass
# `docker-compose config -q` (compose v1, so no v2-only keys), resolve to the
# same configuration, and declare what SPEC §7 asks: the four daemons on
# 8080-8083 under their route names, the gateway wired by service name,
# health checks, a named volume per database, config/ mounted read-only,
# ADMIN_TOKEN from the environment, and LocalStack.
# Without docker-compose it falls back to a YAML structure check.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$SRC" || exit 1
command -v jq >/dev/null 2>&1 || skip "jq is not installed"

# A python3 with PyYAML: Debian's (docker-compose depends on python3-yaml).
PY=
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import yaml' >/dev/null 2>&1; then
        PY=$p
        break
    fi
done
yaml2json() {
    "$PY" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'
}

# same_dir A B : A and B name the same existing directory.
same_dir() {
    [[ -d "$1" && -d "$2" && "$(cd "$1" && pwd -P)" == "$(cd "$2" && pwd -P)" ]]
}

# Keep variables from the caller's shell out of the interpolation.
unset ADMIN_TOKEN LOG_LEVEL SEED START_TIME BACKFILL BANKMOCK_PUBLISH_ADDR COMPOSE_FILE \
    BANKMOCK_SINK BANKMOCK_KINESIS_STREAM BANKMOCK_KINESIS_ENDPOINT

if ! command -v docker-compose >/dev/null 2>&1; then
    [[ -n "$PY" ]] || skip "neither docker-compose nor python3-yaml is installed"
    echo "docker-compose is not installed: checking the YAML structure only"
    for f in docker/docker-compose.yml docker-compose.yml; do
        if j=$(yaml2json <"$f" 2>&1); then
            pass "$f is YAML"
        else
            failure "$f is YAML" "$j"
            continue
        fi
        check "$f: version 2.x or 3.x" jq -e '.version | test("^[23](\\.[0-9]+)?$")' <<<"$j"
        for s in transaction-service auth-service monitoring-service api-gateway localstack; do
            check "$f: service $s has image and healthcheck" \
                jq -e --arg s "$s" '.services[$s] | has("image") and has("healthcheck")' <<<"$j"
        done
    done
    finish
    exit
fi

check "docker-compose -f docker/docker-compose.yml config -q" \
    docker-compose -f docker/docker-compose.yml config -q
check "docker-compose -f docker-compose.yml config -q (from the root)" \
    docker-compose -f docker-compose.yml config -q
check "cd docker && docker-compose config -q" bash -c 'cd docker && docker-compose config -q'

a=$(docker-compose -f docker/docker-compose.yml config 2>&1)
b=$(docker-compose -f docker-compose.yml config 2>&1)
if [[ "$a" == "$b" ]]; then
    pass "the root and docker/ compose files resolve to the same configuration"
else
    failure "the root and docker/ compose files resolve to the same configuration" \
        "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b"))"
fi
contains "compose file format 2.4" "$(head -n 40 docker/docker-compose.yml)" "version: '2.4'"

[[ -n "$PY" ]] || { failure "python3 with PyYAML (to read the resolved config)"; finish; exit; }
j=$(yaml2json <<<"$a")

check "services: the four daemons under their route names, and localstack" \
    jq -e '.services | has("transaction-service") and has("auth-service")
           and has("monitoring-service") and has("api-gateway") and has("localstack")' <<<"$j"

declare -A port=([api-gateway]=8080 [transaction-service]=8081 [auth-service]=8082 [monitoring-service]=8083)
vols=()
for s in "${DAEMONS[@]}"; do
    p=${port[$s]}
    svc=$(jq -c --arg s "$s" '.services[$s]' <<<"$j")
    check "$s: built from docker/Dockerfile with the repository as context" \
        same_dir "$(jq -r '.build.context' <<<"$svc")" "$SRC"
    check "$s: dockerfile docker/Dockerfile" jq -e '.build.dockerfile == "docker/Dockerfile"' <<<"$svc"
    check "$s: runs its own binary" jq -e --arg s "$s" '.command == [$s]' <<<"$svc"
    check "$s: PORT=$p, published as $p" \
        jq -e --arg p "$p" '.environment.PORT == $p and
            (.ports | any(test(":" + $p + ":" + $p + "(/tcp)?$")))' <<<"$svc"
    check "$s: ports published on 127.0.0.1 unless BANKMOCK_PUBLISH_ADDR says otherwise" \
        jq -e '.ports | all(startswith("127.0.0.1:"))' <<<"$svc"
    check "$s: health check runs the image's probe on $p" \
        jq -e --arg p "$p" '.healthcheck.test == ["CMD", "/opt/bankmock/bin/healthcheck", $p]' <<<"$svc"
    check "$s: ADMIN_TOKEN passed from the environment (empty when unset)" \
        jq -e '.environment | has("ADMIN_TOKEN") and .ADMIN_TOKEN == ""' <<<"$svc"
    check "$s: CONFIG_PATH in the config mount" \
        jq -e '.environment.CONFIG_PATH == "/opt/bankmock/config/anomaly_config.json"' <<<"$svc"
    check "$s: config/ mounted read-only at /opt/bankmock/config" \
        same_dir "$(jq -r '.volumes[] | select(endswith(":/opt/bankmock/config:ro")) | split(":")[0]' <<<"$svc")" \
        "$SRC/config"
    check "$s: runs read-only, without capabilities, no-new-privileges" \
        jq -e '.read_only == true and .cap_drop == ["ALL"]
            and (.security_opt | index("no-new-privileges:true"))' <<<"$svc"
    check "$s: a stop grace period, /tmp on a tmpfs (the root is read-only)" \
        jq -e '(.stop_grace_period | test("^[0-9]+s$")) and (.tmpfs | index("/tmp"))' <<<"$svc"
    if [[ "$s" == api-gateway ]]; then
        check "$s: no database, /data on a tmpfs (no anonymous volume for the image's VOLUME)" \
            jq -e '(.tmpfs | index("/data")) and ([.volumes[] | select(test(":/data(:|$)"))] | length == 0)' <<<"$svc"
    fi
    if [[ "$s" != api-gateway ]]; then
        check "$s: DB_PATH=/data/$s.db on a named volume of its own" \
            jq -e --arg s "$s" '.environment.DB_PATH == "/data/" + $s + ".db"
                and (.volumes | any(test("^[a-z-]+:/data:rw$")))' <<<"$svc"
        vols+=("$(jq -r '.volumes[] | select(endswith(":/data:rw")) | split(":")[0]' <<<"$svc")")
    fi
done
check "each database has its own volume" test "$(printf '%s\n' "${vols[@]}" | sort -u | wc -l)" -eq 3
for v in "${vols[@]}"; do
    check "volume $v is declared with a fixed name" jq -e --arg v "$v" '.volumes[$v].name | startswith("bankmock-")' <<<"$j"
done
check "config/ (the mounted directory) exists with anomaly_config.json" test -f config/anomaly_config.json

gw=$(jq -c '.services["api-gateway"]' <<<"$j")
check "api-gateway reaches the services by service name" \
    jq -e '.environment.TRANSACTION_SERVICE_URL == "http://transaction-service:8081"
        and .environment.AUTH_SERVICE_URL == "http://auth-service:8082"
        and .environment.MONITORING_SERVICE_URL == "http://monitoring-service:8083"' <<<"$gw"
check "api-gateway starts once the three services are healthy" \
    jq -e '[.depends_on[]?.condition] == ["service_healthy","service_healthy","service_healthy"]' <<<"$gw"
check "localstack: LocalStack image with EC2, SSM and STS, on 4566, with a health check" \
    jq -e '.services.localstack | (.image | startswith("localstack/localstack:"))
        and (.environment.SERVICES | test("ec2") and test("ssm") and test("sts"))
        and (.ports | any(test(":4566:4566")))
        and (.healthcheck.test | length > 0)' <<<"$j"

check "localstack: Kinesis too, and the init hook that makes the sink's stream" \
    jq -e '.services.localstack | (.environment.SERVICES | test("kinesis"))
        and (.environment.KINESIS_STREAM == "bankmock-events")
        and (.volumes | any(endswith(":/etc/localstack/init/ready.d/init-kinesis.sh:ro")))' <<<"$j"
check "docker/localstack/init-kinesis.sh is executable" test -x docker/localstack/init-kinesis.sh
check "the services sink nowhere unless BANKMOCK_SINK is set, to LocalStack's Kinesis" \
    jq -e '[.services["transaction-service","auth-service","monitoring-service"].environment
        | .BANKMOCK_SINK == "" and .AWS_ENDPOINT_URL_KINESIS == "http://localstack:4566"] | all' <<<"$j"
t=$(BANKMOCK_SINK=kinesis:bankmock-events docker-compose -f docker/docker-compose.yml config | yaml2json)
check "BANKMOCK_SINK from the environment reaches the three services" \
    jq -e '[.services["transaction-service","auth-service","monitoring-service"].environment.BANKMOCK_SINK]
        | all(. == "kinesis:bankmock-events")' <<<"$t"
t=$(ADMIN_TOKEN=s3cret BANKMOCK_PUBLISH_ADDR=0.0.0.0 docker-compose -f docker/docker-compose.yml config | yaml2json)
check "ADMIN_TOKEN from the environment reaches every daemon" \
    jq -e '[.services["transaction-service","auth-service","monitoring-service","api-gateway"].environment.ADMIN_TOKEN]
        | all(. == "s3cret")' <<<"$t"
check "BANKMOCK_PUBLISH_ADDR=0.0.0.0 publishes on all interfaces" \
    jq -e '.services["api-gateway"].ports | any(startswith("0.0.0.0:8080:8080"))' <<<"$t"
finish
