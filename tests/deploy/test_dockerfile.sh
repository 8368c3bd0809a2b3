#!/usr/bin/env bash
# shellcheck disable=SC2016 # patterns and bash -c programs are single-quoted on purpose
# docker/Dockerfile, checked without a Docker engine: multi-stage on Debian
# bookworm; the build stage installs the packages CI installs and runs the
# same scripts/build.sh invocation as the plain build of scripts/test.sh; the
# runtime stage has only runtime libraries, and they cover every library the
# built daemons link; a non-root user; a HEALTHCHECK whose probe
# (docker/healthcheck.sh) really tells a serving daemon from a dead one.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$SRC" || exit 1
DF=docker/Dockerfile
[[ -f "$DF" ]] || { failure "$DF exists"; finish; exit; }

# Instructions with their continuation lines joined, comments dropped.
instr=$(sed -e '/^[[:space:]]*#/d' "$DF" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
froms=$(grep -E '^FROM ' <<<"$instr")
check "multi-stage: two FROM lines or more" test "$(wc -l <<<"$froms")" -ge 2
check "build stage: FROM debian:bookworm-slim AS build" grep -qx 'FROM debian:bookworm-slim AS build' <<<"$froms"
check "runtime stage: FROM debian:bookworm-slim" test "$(tail -n 1 <<<"$froms" | awk '{print $2}')" = debian:bookworm-slim

build_stage=$(awk '/^FROM /{n++} n == 1' <<<"$instr")
runtime_stage=$(awk '/^FROM /{n++} n >= 2' <<<"$instr")

# The same build as CI: test.sh's build() runs scripts/build.sh, and the
# Dockerfile passes it the plain build's arguments.
check "scripts/test.sh builds through scripts/build.sh" \
    grep -qE '^[[:space:]]*BM_JOBS=[^ ]+ scripts/build.sh "\$dir" "\$@"$' scripts/test.sh
ci_args=$(sed -n 's/^[[:space:]]*step "build (plain[^"]*" build build \(.*\)$/\1/p' scripts/test.sh)
img_args=$(grep -E '^RUN ' <<<"$build_stage" | sed -n 's/.*scripts\/build\.sh build\(.*\)$/\1/p' | sed 's/^ *//; s/ *$//')
check "test.sh has a plain build step" test -n "$ci_args"
if [[ -n "$ci_args" && "$img_args" == "$ci_args" ]]; then
    pass "the build stage runs scripts/build.sh build $ci_args, as scripts/test.sh does"
else
    failure "the build stage runs the plain build of scripts/test.sh" \
        "test.sh: scripts/build.sh build $ci_args"$'\n'"Dockerfile: scripts/build.sh build $img_args"
fi
check "the build stage installs BM_DEPS_BUILD with scripts/deps.sh" \
    grep -qF 'bm_deps_install "${BM_DEPS_BUILD[@]}"' <<<"$build_stage"
for d in "${DAEMONS[@]}" bankmock-generate; do
    check "the image takes $d when it is built" grep -q "$d" <<<"$build_stage"
done

# The runtime stage: runtime libraries only.
rt_pkgs=$(grep -oE 'apt-get install[^&]*' <<<"$runtime_stage" | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
    grep -vE '^(apt-get|install)$' | sort -u)
for p in libmicrohttpd12 libcjson1 libcurl4 libsqlite3-0; do
    check "runtime stage installs $p" grep -qx "$p" <<<"$rt_pkgs"
done
check "runtime stage installs no -dev package or compiler" \
    bash -c '! grep -qE -- "-dev$|^build-essential$|^gcc$|^cmake$" <<<"$1"' _ "$rt_pkgs"
check "runtime stage drops the apt lists" grep -q 'rm -rf /var/lib/apt/lists' <<<"$runtime_stage"

# Every library a built daemon links comes from a runtime package (or the
# base image's libc6/libgcc-s1). Not for a sanitizer tree: the image is built
# without sanitizers, which bring their own runtime libraries.
if [[ -n "${BM_SANITIZE:-}" ]]; then
    echo "BM_SANITIZE=$BM_SANITIZE: not mapping this tree's libraries to the image's packages"
elif command -v objdump >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
    while IFS= read -r d; do
        while read -r lib; do
            path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
            pkg=
            for cand in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
                [[ -n "$cand" ]] || continue
                pkg=$(dpkg -S "$cand" 2>/dev/null | head -n 1 | cut -d: -f1) && [[ -n "$pkg" ]] && break
            done
            if [[ -z "$pkg" ]]; then
                failure "$d needs $lib: from a known package" "not found by ldconfig/dpkg: $lib ($path)"
            elif [[ "$pkg" == libc6 || "$pkg" == libgcc-s1 ]] || grep -qx "$pkg" <<<"$rt_pkgs"; then
                pass "$d needs $lib: $pkg is in the runtime image"
            else
                failure "$d needs $lib: $pkg is in the runtime image" "add $pkg to the runtime stage of $DF"
            fi
        done < <(objdump -p "$BIN/$d" | awk '$1 == "NEEDED" { print $2 }')
    done < <(built_daemons)
else
    echo "objdump or dpkg missing: not mapping the daemons' libraries to packages"
fi

user=$(grep -E '^USER ' <<<"$runtime_stage" | tail -n 1 | awk '{print $2}')
check "runs as a non-root user (USER $user)" bash -c '[[ -n "$1" && ! "$1" =~ ^(root|0)(:.*)?$ ]]' _ "$user"
check "the user is created in the runtime stage" grep -qE 'useradd .*--system' <<<"$runtime_stage"
hc=$(grep -E '^HEALTHCHECK ' <<<"$runtime_stage")
check "HEALTHCHECK present" test -n "$hc"
check "HEALTHCHECK runs /opt/bankmock/bin/healthcheck" grep -q '/opt/bankmock/bin/healthcheck' <<<"$hc"
check "the probe is docker/healthcheck.sh, installed as /opt/bankmock/bin/healthcheck" \
    bash -c 'grep -q "install -m 0755 docker/healthcheck.sh /out/healthcheck" <<<"$1" &&
             grep -q "COPY --from=build /out/ /opt/bankmock/bin/" <<<"$2"' _ "$build_stage" "$runtime_stage"
check "EXPOSE 8080 8081 8082 8083" grep -qx 'EXPOSE 8080 8081 8082 8083' <<<"$runtime_stage"
check "the databases live on a volume" grep -q '^VOLUME \["/data"\]' <<<"$runtime_stage"

# Every COPY from the context names something that exists.
while read -r src; do
    check "COPY source $src exists" test -e "$src"
done < <(grep -E '^COPY ' <<<"$instr" | grep -v -- '--from=' | awk '{ for (i = 2; i < NF; i++) print $i }')
check ".dockerignore keeps build trees, data and .git out of the context" \
    bash -c 'for p in .git build "build-*" data; do grep -qx -- "$p" .dockerignore || exit 1; done'

# The probe, against a real daemon: 0 while it serves, 1 once it is gone.
d=$(built_daemons | head -n 1)
if [[ -z "$d" ]]; then
    failure "a built daemon to probe" "no daemon in $BIN"
else
    log=$WORK/daemon.log
    args=(--port 0 --bind 127.0.0.1 --config "$SRC/config/anomaly_config.json" --log-level info)
    [[ "$d" == api-gateway ]] || args+=(--db "$WORK/probe.db")
    "$BIN/$d" "${args[@]}" >"$log" 2>&1 &
    pid=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*"msg":"listening","port":\([0-9]*\).*/\1/p' "$log" | head -n 1)
        [[ -n "$port" ]] && break
        sleep 0.05
    done
    if [[ -z "$port" ]]; then
        failure "$d started for the probe" "$(cat "$log")"
    else
        check "healthcheck $port: 0 while $d serves" docker/healthcheck.sh "$port"
        check "healthcheck with PORT=$port in the environment" env PORT="$port" docker/healthcheck.sh
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [[ -n "$port" ]]; then
        check "healthcheck $port: 1 once $d has stopped" bash -c '! docker/healthcheck.sh "$1"' _ "$port"
    fi
fi
check "healthcheck rejects a bad port" bash -c '! docker/healthcheck.sh not-a-port'
finish
