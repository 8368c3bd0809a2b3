#!/bin/bash
# bankmock EC2 user data: cloud-init runs it as root at first boot, and
# `scripts/deploy_ec2.sh --instance-id ID` runs it again over SSH to redeploy.
# It fetches the project at a ref, then deploy/install.sh installs the
# packages, builds, and runs the four daemons under systemd.
# Log: /var/log/bankmock-deploy.log.
#
# One template for both renderers, scripts/deploy_ec2.sh and terraform's
# templatefile(): the only dollar-brace expressions in it are the
# placeholders below (values without single quotes or newlines); the script
# itself writes its variables as $name, which neither renderer touches.
set -euo pipefail

# shellcheck disable=SC2016 # placeholders, filled in before this runs
{
    REPO_URL='${repo_url}'
    GIT_REF='${git_ref}'
    BANKMOCK_ENV='${environment}'
    ADMIN_TOKEN='${admin_token}'
    # terraform: shard i/n of instance i, the Kinesis sink, its region and
    # the seed the shards share (empty: none, as deploy_ec2.sh leaves them)
    BANKMOCK_SHARD='${shard}'
    BANKMOCK_SINK='${sink}'
    AWS_REGION='${region}'
    SEED='${seed}'
}
SRC=/opt/bankmock/src
LOG=/var/log/bankmock-deploy.log

touch "$LOG"
chmod 0600 "$LOG"
exec > >(tee -a "$LOG") 2>&1
echo "bankmock deploy $(date -u +%Y-%m-%dT%H:%M:%SZ): $REPO_URL at $GIT_REF"

export DEBIAN_FRONTEND=noninteractive
# A fresh instance may still be running its first apt job: wait for the lock.
apt-get -o DPkg::Lock::Timeout=600 -q update
apt-get -o DPkg::Lock::Timeout=600 -q -y --no-install-recommends install \
    git ca-certificates curl

# Fetch exactly the ref (branch, tag or commit), shallow; keep build/ across
# redeploys so rebuilding is incremental.
mkdir -p "$SRC"
if [ ! -d "$SRC/.git" ]; then
    git init -q "$SRC"
    git -C "$SRC" remote add origin "$REPO_URL"
fi
git -C "$SRC" remote set-url origin "$REPO_URL"
git -C "$SRC" fetch -q --depth 1 --force origin "$GIT_REF"
git -C "$SRC" checkout -q --force FETCH_HEAD
git -C "$SRC" clean -q -fdx -e /build/
echo "bankmock deploy: at commit $(git -C "$SRC" rev-parse HEAD)"

export ADMIN_TOKEN BANKMOCK_ENV BANKMOCK_SHARD BANKMOCK_SINK AWS_REGION SEED
exec "$SRC/deploy/install.sh"
