#!/usr/bin/env bash
# deploy/systemd/bankmock-<daemon>.service for all four daemons: non-root,
# Restart=on-failure, hardened (NoNewPrivileges, ProtectSystem=strict with
# ReadWritePaths for the data dir, PrivateTmp), optional EnvironmentFile;
# `systemd-analyze verify` finds nothing to say and `systemd-analyze
# security --offline` rates them 3.0 or better, where systemd-analyze exists
# (it needs no running systemd). deploy/install.sh --dest-root installs the
# built daemons, the config and their units where the units expect them.
# shellcheck disable=SC2016 # bash -c programs are single-quoted on purpose
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$SRC" || exit 1
declare -A port=([api-gateway]=8080 [transaction-service]=8081 [auth-service]=8082 [monitoring-service]=8083)

for d in "${DAEMONS[@]}"; do
    u=deploy/systemd/bankmock-$d.service
    if [[ ! -f "$u" ]]; then
        failure "$u exists"
        continue
    fi
    pass "$u exists"
    has() { grep -qxF -- "$1" "$u"; }
    check "$d: runs as the user bankmock" has "User=bankmock"
    check "$d: ExecStart=/opt/bankmock/bin/$d" has "ExecStart=/opt/bankmock/bin/$d"
    check "$d: Restart=on-failure" has "Restart=on-failure"
    check "$d: NoNewPrivileges=yes" has "NoNewPrivileges=yes"
    check "$d: ProtectSystem=strict" has "ProtectSystem=strict"
    check "$d: ReadWritePaths=/var/lib/bankmock" has "ReadWritePaths=/var/lib/bankmock"
    check "$d: StateDirectory=bankmock (created and owned for the user)" has "StateDirectory=bankmock"
    check "$d: PrivateTmp=yes" has "PrivateTmp=yes"
    check "$d: optional EnvironmentFile for all daemons" has "EnvironmentFile=-/etc/bankmock/bankmock.env"
    check "$d: optional EnvironmentFile of its own" has "EnvironmentFile=-/etc/bankmock/$d.env"
    check "$d: PORT=${port[$d]}" grep -qE "^Environment=.*\bPORT=${port[$d]}\b" "$u"
    check "$d: config from /etc/bankmock/anomaly_config.json" \
        grep -qE '^Environment=.*\bCONFIG_PATH=/etc/bankmock/anomaly_config.json\b' "$u"
    check "$d: no restart loop on a bad configuration (exit 2)" has "RestartPreventExitStatus=2"
    check "$d: enabled at boot" has "WantedBy=multi-user.target"
    if [[ "$d" == api-gateway ]]; then
        check "$d: polls the local services" \
            grep -qE '^Environment=.*TRANSACTION_SERVICE_URL=http://127.0.0.1:8081 AUTH_SERVICE_URL=http://127.0.0.1:8082 MONITORING_SERVICE_URL=http://127.0.0.1:8083' "$u"
        check "$d: starts after the services" grep -qE '^After=.*bankmock-transaction-service.service' "$u"
    else
        check "$d: DB_PATH=/var/lib/bankmock/$d.db" has "Environment=DB_PATH=/var/lib/bankmock/$d.db"
    fi
done

if command -v systemd-analyze >/dev/null 2>&1; then
    # Verify copies whose ExecStart is the built daemon (verify wants an
    # executable), /bin/true for a daemon not written yet.
    units=$WORK/units
    mkdir -p "$units"
    for d in "${DAEMONS[@]}"; do
        exe=/bin/true
        [[ -x "$BIN/$d" ]] && exe=$BIN/$d
        sed "s#^ExecStart=/opt/bankmock/bin/$d\$#ExecStart=$exe#" \
            "deploy/systemd/bankmock-$d.service" >"$units/bankmock-$d.service"
    done
    out=$(cd "$units" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no ./*.service 2>&1)
    rc=$?
    if ((rc == 0)) && [[ -z "$out" ]]; then
        pass "systemd-analyze verify: no error, no warning"
    else
        failure "systemd-analyze verify: no error, no warning" "exit $rc"$'\n'"$out"
    fi
    for d in "${DAEMONS[@]}"; do
        if out=$(cd "$units" && systemd-analyze security --offline=yes --threshold=30 "./bankmock-$d.service" 2>&1); then
            pass "systemd-analyze security: $d exposure $(grep -oE 'exposure level[^:]*: [0-9.]+' <<<"$out" | awk '{print $NF}') <= 3.0"
        else
            failure "systemd-analyze security: $d exposure <= 3.0" "$(tail -n 25 <<<"$out")"
        fi
    done
else
    echo "SKIP systemd-analyze is not installed here: units not verified by systemd (scripts/deps.sh installs it)"
fi

# deploy/install.sh into a staging root: what the units need is where they look.
root=$WORK/root
mapfile -t bins < <(built_daemons)
if ((${#bins[@]} == 0)); then
    failure "a built daemon for install.sh" "no daemon in $BIN"
else
    # install.sh takes the daemons from build/bin of the checkout: give it
    # a checkout whose build/bin is this test's build tree.
    co=$WORK/checkout
    mkdir -p "$co/build"
    cp -r deploy config scripts "$co/"
    ln -s "$BIN" "$co/build/bin"
    out=$(ADMIN_TOKEN=t0ken "$co/deploy/install.sh" --skip-deps --skip-build --dest-root "$root" --environment prod 2>&1)
    rc=$?
    check "install.sh --dest-root exits 0" test "$rc" -eq 0 || printf '%s\n' "$out"
    for d in "${bins[@]}"; do
        check "install: /opt/bankmock/bin/$d, executable" test -x "$root/opt/bankmock/bin/$d"
        check "install: its unit in /etc/systemd/system" \
            cmp -s "deploy/systemd/bankmock-$d.service" "$root/etc/systemd/system/bankmock-$d.service"
    done
    if [[ -x "$BIN/bankmock-generate" ]]; then
        check "install: /opt/bankmock/bin/bankmock-generate (a tool: no unit)" \
            bash -c '[[ -x "$1/opt/bankmock/bin/bankmock-generate" &&
                       ! -e "$1/etc/systemd/system/bankmock-bankmock-generate.service" ]]' _ "$root"
    fi
    check "install: --environment prod puts prod.json in /etc/bankmock/anomaly_config.json" \
        cmp -s config/environments/prod.json "$root/etc/bankmock/anomaly_config.json"
    check "install: ADMIN_TOKEN in /etc/bankmock/bankmock.env" grep -qx 'ADMIN_TOKEN=t0ken' "$root/etc/bankmock/bankmock.env"
    check "install: bankmock.env is not world-readable" \
        bash -c '[[ "$(stat -c %a "$1")" == 640 ]]' _ "$root/etc/bankmock/bankmock.env"
    check "install: the data directory exists" test -d "$root/var/lib/bankmock"
    check "install: one shared random SEED for the services in bankmock.env" \
        grep -Eqx 'SEED=[0-9]+' "$root/etc/bankmock/bankmock.env"
    seed_line=$(grep '^SEED=' "$root/etc/bankmock/bankmock.env")
    SEED=99 "$co/deploy/install.sh" --skip-deps --skip-build --dest-root "$root" --environment prod >/dev/null 2>&1
    check "install: a second install keeps the seed ($seed_line)" \
        test "$(grep '^SEED=' "$root/etc/bankmock/bankmock.env")" = "$seed_line"
    out=$("$co/deploy/install.sh" --skip-deps --skip-build --dest-root "$root" --environment nosuch 2>&1)
    check "install: an unknown environment fails" test $? -ne 0
    cp "$co/config/environments/prod.json" "$WORK/prod.json"
    printf '{"bogus": true}\n' >"$co/config/environments/prod.json"
    out=$("$co/deploy/install.sh" --skip-deps --skip-build --dest-root "$root" --environment prod 2>&1)
    check "install: a config the daemons reject fails before installing it" test $? -ne 0
    check "install: ...and the installed config is unchanged" cmp -s "$WORK/prod.json" "$root/etc/bankmock/anomaly_config.json"
fi
finish
