#!/usr/bin/env bash
# config/environments/: local, dev, staging and prod each have a daemon
# config (ENV.json) that every built daemon's --check-config accepts, and AWS
# settings (ENV.env: region; local = LocalStack); a deliberately broken
# config is rejected with exit 2 and a one-line error. switch_environment.sh
# (run on a copy of config/) validates, switches, shows the active one, and
# changes nothing when the target is broken or unknown.
# shellcheck disable=SC2016 # bash -c programs are single-quoted on purpose
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENVS=(local dev staging prod)
cd "$SRC" || exit 1
mapfile -t bins < <(built_daemons)
if ((${#bins[@]} == 0)); then
    failure "a built daemon in $BIN to validate the configs with"
    finish
    exit
fi
echo "validating with: ${bins[*]}"
before=$(find config -type f -exec cksum {} + | sort)

for e in "${ENVS[@]}"; do
    j=config/environments/$e.json
    v=config/environments/$e.env
    check "$e: $j and $v exist" test -f "$j" -a -f "$v"
    for d in "${bins[@]}"; do
        check "$e: $d --check-config --config $j exits 0" "$BIN/$d" --check-config --config "$j"
    done
    check "$e: $v has only KEY=VALUE lines and comments" \
        bash -c '! grep -vE "^([[:space:]]*(#.*)?|[A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*)$" "$1"' _ "$v"
    check "$e: $v sets AWS_REGION" grep -qE '^AWS_REGION=[a-z]{2}(-[a-z]+)+-[0-9]+$' "$v"
    check "$e: $v says BANKMOCK_ENV=$e" grep -qx "BANKMOCK_ENV=$e" "$v"
    region=$(sed -n 's/^AWS_REGION=//p' "$v")
    check "$e: terraform gets the same region (TF_VAR_region)" grep -qx "TF_VAR_region=$region" "$v"
done
check "local: AWS calls go to LocalStack" grep -qx 'AWS_ENDPOINT_URL=http://localhost:4566' config/environments/local.env
check "local: terraform too" grep -qx 'TF_VAR_aws_endpoint_url=http://localhost:4566' config/environments/local.env
for e in dev staging prod; do
    check "$e: real AWS (no endpoint override)" bash -c '! grep -q "ENDPOINT" "$1"' _ "config/environments/$e.env"
done

# Broken configs: exit 2, one line naming the problem, for every daemon.
printf '{"generation_settings": {"events_per_second": 0}}\n' >"$WORK/range.json"
printf '{"anomaly_settings": {"no_such_key": 1}}\n' >"$WORK/unknown.json"
printf '{"gateway": {"poll_interval_ms": \n' >"$WORK/syntax.json"
for bad in range unknown syntax; do
    for d in "${bins[@]}"; do
        "$BIN/$d" --check-config --config "$WORK/$bad.json" >"$WORK/out" 2>&1
        rc=$?
        if ((rc == 2)) && [[ $(wc -l <"$WORK/out") -eq 1 ]]; then
            pass "$d rejects a broken config ($bad) with exit 2 and one line"
        else
            failure "$d rejects a broken config ($bad) with exit 2 and one line" "exit $rc: $(cat "$WORK/out")"
        fi
    done
done
# switch_environment.sh on a copy of config/.
copy=$WORK/config
cp -r config "$copy"
rm -f "$copy/active.env"
sw() {
    out=$(BANKMOCK_CONFIG_DIR=$copy BANKMOCK_BIN_DIR=$BIN config/switch_environment.sh "$@" 2>&1)
    rc=$?
}
sw list
check "list names the four environments" test "$(tr '\n' ' ' <<<"$out")" = "dev local prod staging "
for e in dev prod staging local; do
    sw "$e"
    check "switch to $e exits 0" test "$rc" -eq 0
    check "switch to $e: anomaly_config.json is $e.json" cmp -s "$copy/anomaly_config.json" "config/environments/$e.json"
    check "switch to $e: active.env is $e.env" cmp -s "$copy/active.env" "config/environments/$e.env"
    sw show
    contains "show after switching to $e names it" "$out" "active environment: $e"
    contains "show prints its region" "$out" "AWS_REGION="
done
sw env
contains "env (local): exports the LocalStack endpoint" "$out" "export AWS_ENDPOINT_URL=http://localhost:4566"
lacks "env: secrets are not masked where they are meant to be used" "$out" "****"
sw show
lacks "show masks secret values" "$out" "AWS_SECRET_ACCESS_KEY=test"
sw dev
sw env
contains "env (dev): exports its region" "$out" "export AWS_REGION="
contains "env (dev): unsets the LocalStack endpoint" "$out" "unset AWS_ENDPOINT_URL"
check "the switched config still passes --check-config" "$BIN/${bins[0]}" --check-config --config "$copy/anomaly_config.json"

cp "$copy/anomaly_config.json" "$WORK/expected.json"
sw nosuch
check "an unknown environment: exit 2" test "$rc" -eq 2
cp "$WORK/unknown.json" "$copy/environments/broken.json"
printf 'BANKMOCK_ENV=broken\nAWS_REGION=us-east-1\n' >"$copy/environments/broken.env"
sw broken
check "a broken environment: exit 2" test "$rc" -eq 2
contains "a broken environment: the daemon's reason is shown" "$out" "unknown key"
check "a broken environment changes nothing" cmp -s "$copy/anomaly_config.json" "$WORK/expected.json"
cp config/environments/prod.json "$copy/environments/badenv.json"
printf 'AWS_REGION="us-east-1"\n' >"$copy/environments/badenv.env"
sw badenv
check "an env file with shell quoting: exit 2" test "$rc" -eq 2
check "...and changes nothing" cmp -s "$copy/anomaly_config.json" "$WORK/expected.json"
rm -f "$copy/environments/"{broken,badenv}.*
printf '{}\n' >"$copy/anomaly_config.json"
sw show
contains "show on an edited config says it matches no environment" "$out" "active environment: none"
sw
check "no argument: usage, exit 2" test "$rc" -eq 2

after=$(find config -type f -exec cksum {} + | sort)
check "the checkout's config/ is untouched by the test" test "$before" = "$after"
finish
