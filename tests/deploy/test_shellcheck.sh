#!/usr/bin/env bash
# Every shell script of the project passes shellcheck, the deployment
# ones included: scripts/, config/, docker/, deploy/ (the user-data template
# too, before and after rendering), tests/deploy/, bench/ and .ci/run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v shellcheck >/dev/null 2>&1 || skip "shellcheck is not installed (scripts/deps.sh installs it)"
cd "$SRC" || exit 1

shopt -s nullglob
files=(scripts/*.sh config/*.sh docker/*.sh deploy/*.sh deploy/*.tpl tests/deploy/*.sh bench/*.sh .ci/run)
shopt -u nullglob

for f in scripts/deploy_ec2.sh config/switch_environment.sh docker/healthcheck.sh \
    deploy/install.sh deploy/user_data.sh.tpl scripts/build.sh tests/deploy/lib.sh; do
    check "$f exists and is covered" test -f "$f"
done
for f in "${files[@]}"; do
    check "shellcheck $f" shellcheck -x "$f"
done

# The template as the instance runs it: rendered by deploy_ec2.sh.
rendered=$WORK/user_data.sh
if scripts/deploy_ec2.sh --print-user-data --env-file none \
    --repo-url https://github.com/example/bankmock.git --ref main --environment prod >"$rendered" 2>"$WORK/err"; then
    pass "deploy_ec2.sh --print-user-data renders the template"
    check "shellcheck on the rendered user data" shellcheck -s bash "$rendered"
else
    failure "deploy_ec2.sh --print-user-data renders the template" "$(cat "$WORK/err")"
fi
finish
