#!/usr/bin/env bash
# Every `aws ...` line that scripts/deploy_ec2.sh --dry-run prints (create
# with --expose-services, --instance-id, --destroy) is accepted by the real
# AWS CLI: each is run, placeholders replaced by well-formed ids, against an
# endpoint on 127.0.0.1 where nothing listens, so the CLI parses and
# validates every option and parameter and then fails only to connect.
# Skipped where no AWS CLI is installed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v aws >/dev/null 2>&1 || skip "no AWS CLI (aws) installed; nothing to check the command lines with"

unset AWS_PROFILE AWS_DEFAULT_REGION AWS_SESSION_TOKEN AWS_REGION ADMIN_TOKEN BANKMOCK_AMI BANKMOCK_ENV
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard AWS_PAGER=
# Port 9 (discard) on loopback: refused at once, nothing leaves the machine.
export AWS_ENDPOINT_URL=http://127.0.0.1:9

DEPLOY=$SRC/scripts/deploy_ec2.sh
REPO=https://github.com/example/bankmock.git
userdata=$WORK/user-data.sh
"$DEPLOY" --env-file none --print-user-data --repo-url "$REPO" >"$userdata"

lines=$(
    "$DEPLOY" --env-file none --dry-run --repo-url "$REPO" --allowed-cidr 203.0.113.7/32 --expose-services
    "$DEPLOY" --env-file none --dry-run --instance-id i-0123456789abcdef0 --repo-url "$REPO"
    "$DEPLOY" --env-file none --dry-run --destroy
)
# Placeholders become well-formed ids; a call printed twice is run once.
lines=$(grep -E '^aws ' <<<"$lines" | sed \
    -e "s/<vpc-id>/vpc-0123456789abcdef0/g" -e "s/<sg-id>/sg-0123456789abcdef0/g" \
    -e "s/<ami-id>/ami-0123456789abcdef0/g" -e "s/<instance-id>/i-0123456789abcdef0/g" \
    -e "s#file://<user-data>#file://$userdata#g" | awk '!seen[$0]++')
check "the dry runs print AWS calls" test "$(wc -l <<<"$lines")" -ge 15
if grep -q '<' <<<"$lines"; then
    failure "every placeholder is replaced" "$(grep '<' <<<"$lines")"
else
    pass "every placeholder is replaced"
fi

while IFS= read -r line; do
    what=$(awk '{ for (i = 2; i <= NF; i++) if ($i !~ /^--/ && $(i - 1) !~ /^--(region|endpoint-url)$/) { print $i, $(i + 1); exit } }' <<<"$line")
    out=$(timeout 60 bash -c "$line --cli-connect-timeout 2 --cli-read-timeout 2" 2>&1)
    if grep -q 'Could not connect to the endpoint URL' <<<"$out"; then
        pass "aws $what: the CLI accepts every option and parameter"
    else
        failure "aws $what: the CLI accepts every option and parameter" "$line"$'\n'"$out"
    fi
done <<<"$lines"
finish
