#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c programs and literal ${ are single-quoted on purpose
# scripts/deploy_ec2.sh: --dry-run prints every AWS call (t2.micro; 8080 open
# to --allowed-cidr only, 8081-8083 only with --expose-services, never
# 0.0.0.0/0 unless asked; --endpoint-url when AWS_ENDPOINT_URL is set;
# --destroy lists the deletions) and touches neither the AWS CLI nor the
# network; the real code path, run against a stand-in `aws` and `ssh` that
# record their calls, creates, reuses, redeploys and destroys as it says;
# missing CLI or credentials give clear errors; the user data renders.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEPLOY=$SRC/scripts/deploy_ec2.sh
REPO=https://github.com/example/bankmock.git
CIDR=203.0.113.7/32

# Nothing from the caller's AWS setup may leak in.
unset AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_PROFILE AWS_ACCESS_KEY_ID \
    AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN ADMIN_TOKEN BANKMOCK_AMI BANKMOCK_ENV
export HOME=$WORK/home TMPDIR=$WORK/tmp
mkdir -p "$HOME" "$TMPDIR"

# Stand-ins. Under --dry-run any call of them is a failure; for the real
# path, fake-aws answers like the AWS CLI with --output text would.
FAKE=$WORK/fake
mkdir -p "$FAKE/bin"
CALLS=$FAKE/calls
cat >"$FAKE/bin/aws" <<'EOF'
#!/usr/bin/env bash
# Records "aws ARGS" in $FAKE_CALLS; answers from $FAKE_STATE: fresh (empty
# account), existing (an instance runs), reuse (key pair and group of an
# earlier run), foreign (a group of that name made by someone else), nocreds.
printf 'aws' >>"$FAKE_CALLS"
printf ' %s' "$@" >>"$FAKE_CALLS"
printf '\n' >>"$FAKE_CALLS"
args=()
while (($# > 0)); do
    case "$1" in
    --region | --endpoint-url | --query | --output) shift 2 ;;
    *) args+=("$1"); shift ;;
    esac
done
all=" ${args[*]} "
case "${args[0]} ${args[1]}" in
"sts get-caller-identity")
    if [[ "$FAKE_STATE" == nocreds ]]; then
        echo "Unable to locate credentials. You can configure credentials by running \"aws configure\"." >&2
        exit 253
    fi
    echo "arn:aws:iam::123456789012:user/tester" ;;
"ssm get-parameter") echo ami-0123456789abcdef0 ;;
"ec2 describe-vpcs") echo vpc-0123456789abcdef0 ;;
"ec2 describe-instances")
    if [[ "$all" == *" --instance-ids "* ]]; then
        if [[ "$FAKE_QUERY" == state ]]; then echo running; else echo 127.0.0.1; fi
    elif [[ "$FAKE_STATE" == existing ]]; then
        echo i-0aaaaaaaaaaaaaaa1
    else
        echo ""
    fi ;;
"ec2 describe-key-pairs")
    if [[ "$FAKE_STATE" == fresh ]]; then echo None; else echo bankmock; fi ;;
"ec2 create-key-pair") printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZQ==\n-----END OPENSSH PRIVATE KEY-----\n' ;;
"ec2 describe-security-groups")
    if [[ "$all" == *" --group-ids "* ]]; then
        echo '[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "198.51.100.1/32"}]}]'
    elif [[ "$all" != *" Name=vpc-id,"* ]]; then
        echo sg-0bbbbbbbbbbbbbbb1
    else
        case "$FAKE_STATE" in
        existing | reuse) printf 'sg-0bbbbbbbbbbbbbbb1\tdeploy_ec2.sh\n' ;;
        foreign) printf 'sg-0eeeeeeeeeeeeeee1\tNone\n' ;;
        *) echo None ;;
        esac
    fi ;;
"ec2 create-security-group") echo sg-0ccccccccccccccc1 ;;
"ec2 run-instances")
    for a in "${args[@]}"; do
        if [[ "$a" == file://* ]]; then cp "${a#file://}" "$FAKE_DIR/user-data.seen"; fi
    done
    echo i-0ddddddddddddddd1 ;;
*) ;;
esac
exit 0
EOF
cat >"$FAKE/bin/ssh" <<'EOF'
#!/usr/bin/env bash
printf 'ssh' >>"$FAKE_CALLS"
printf ' %s' "$@" >>"$FAKE_CALLS"
printf '\n' >>"$FAKE_CALLS"
cat >"$FAKE_DIR/ssh-stdin.seen"
EOF
cat >"$FAKE/bin/curl" <<'EOF'
#!/usr/bin/env bash
printf 'curl %s\n' "$*" >>"$FAKE_CALLS"
exit 7
EOF
chmod +x "$FAKE/bin/aws" "$FAKE/bin/ssh" "$FAKE/bin/curl"
export FAKE_CALLS=$CALLS FAKE_DIR=$FAKE FAKE_STATE=fresh FAKE_QUERY=
PATH=$FAKE/bin:$PATH

# run ARGS... : deploy_ec2.sh ARGS (no env file); sets out, rc.
run() {
    : >"$CALLS"
    out=$("$DEPLOY" --env-file none "$@" 2>&1)
    rc=$?
}
aws_lines() { grep -E '^aws ' <<<"$out"; }
line_of() { grep -E "^aws .* $1( |$)" <<<"$out"; }

# ------------------------------------------------------------ --help
run --help
check "--help exits 0" test "$rc" -eq 0
for opt in --dry-run --allowed-cidr --expose-services --instance-id --destroy --repo-url --ref --region; do
    contains "--help documents $opt" "$out" "$opt"
done

# ------------------------------------------------------------ create, dry run
run --dry-run --repo-url "$REPO" --ref main --allowed-cidr "$CIDR"
check "dry run exits 0" test "$rc" -eq 0
check "dry run calls neither aws, ssh nor curl" test ! -s "$CALLS"
check "dry run prints only aws command lines and # notes" \
    bash -c '! grep -vE "^(aws |# |$)" <<<"$1"' _ "$out"
check "every call names the region (default us-east-1)" \
    bash -c '! grep -E "^aws " <<<"$1" | grep -v -- "--region us-east-1 "' _ "$out"
lacks "no --endpoint-url without AWS_ENDPOINT_URL" "$out" "--endpoint-url"
ri=$(line_of run-instances)
contains "run-instances uses t2.micro" "$ri" "--instance-type t2.micro"
contains "run-instances passes the user data" "$ri" "--user-data"
contains "run-instances tags the instance Project=bankmock" "$ri" "ResourceType=instance,Tags=[{Key=Project,Value=bankmock}"
contains "run-instances requires IMDSv2" "$ri" "HttpTokens=required"
auth=$(line_of authorize-security-group-ingress)
contains "8080 open to --allowed-cidr" "$auth" "IpProtocol=tcp,FromPort=8080,ToPort=8080,IpRanges=[{CidrIp=$CIDR"
lacks "8081-8083 closed without --expose-services" "$out" "FromPort=8081"
lacks "no 0.0.0.0/0 anywhere by default" "$out" "0.0.0.0/0"
contains "SSH (22) open to --allowed-cidr for --instance-id redeploys" "$auth" "FromPort=22,ToPort=22,IpRanges=[{CidrIp=$CIDR"
contains "the security group is created tagged Project=bankmock" "$(line_of create-security-group)" \
    "ResourceType=security-group,Tags=[{Key=Project,Value=bankmock}"
contains "the key pair is created tagged Project=bankmock" "$(line_of create-key-pair)" \
    "ResourceType=key-pair,Tags=[{Key=Project,Value=bankmock}"
contains "credentials are checked first" "$(aws_lines | head -n 1)" "sts get-caller-identity"
contains "the Debian 12 AMI comes from SSM" "$(line_of get-parameter)" "/aws/service/debian/release/12/latest/amd64"
contains "it waits for the instance" "$out" "ec2 wait instance-running"

run --dry-run --repo-url "$REPO" --allowed-cidr "$CIDR" --no-ssh
lacks "--no-ssh: port 22 stays closed" "$out" "FromPort=22"

run --dry-run --repo-url "$REPO" --allowed-cidr "$CIDR" --instance-type t3.small
contains "--instance-type overrides t2.micro" "$(line_of run-instances)" "--instance-type t3.small"

run --dry-run --repo-url "$REPO" --allowed-cidr "$CIDR" --expose-services
contains "--expose-services opens 8081-8083 to --allowed-cidr" "$(line_of authorize-security-group-ingress)" \
    "IpProtocol=tcp,FromPort=8081,ToPort=8083,IpRanges=[{CidrIp=$CIDR"
contains "--expose-services keeps 8080" "$(line_of authorize-security-group-ingress)" "FromPort=8080,ToPort=8080"

run --dry-run --repo-url "$REPO"
check "without --allowed-cidr: dry run exits 0" test "$rc" -eq 0
contains "without --allowed-cidr: the <caller-ip>/32 placeholder" "$(line_of authorize-security-group-ingress)" \
    "CidrIp=<caller-ip>/32"
lacks "without --allowed-cidr: no 0.0.0.0/0" "$out" "0.0.0.0/0"
check "without --allowed-cidr: no address lookup in a dry run" test ! -s "$CALLS"

run --dry-run --repo-url "$REPO" --allowed-cidr 0.0.0.0/0
check "0.0.0.0/0 is refused (exit 2) without --allow-open" test "$rc" -eq 2
contains "the refusal names --allow-open" "$out" "--allow-open"
lacks "a refused run prints no AWS call" "$out" "aws --region"
run --dry-run --repo-url "$REPO" --allowed-cidr 0.0.0.0/0 --allow-open
check "0.0.0.0/0 with --allow-open is accepted" test "$rc" -eq 0
contains "0.0.0.0/0 with --allow-open reaches the rule" "$(line_of authorize-security-group-ingress)" "CidrIp=0.0.0.0/0"
for bad in 203.0.113.7 300.1.2.3/32 203.0.113.7/33 "1.2.3.4/32'"; do
    run --dry-run --repo-url "$REPO" --allowed-cidr "$bad"
    check "--allowed-cidr '$bad' is refused (exit 2)" test "$rc" -eq 2
done

# ------------------------------------------------------------ region, endpoint
AWS_ENDPOINT_URL=http://localhost:4566 run --dry-run --repo-url "$REPO" --allowed-cidr "$CIDR"
check "AWS_ENDPOINT_URL: every call passes --endpoint-url" \
    bash -c '[[ -n "$(grep -E "^aws " <<<"$1")" ]] && ! grep -E "^aws " <<<"$1" |
             grep -v -- "--endpoint-url http://localhost:4566 "' _ "$out"
AWS_REGION=eu-west-1 run --dry-run --repo-url "$REPO" --allowed-cidr "$CIDR"
check "AWS_REGION: every call uses it" \
    bash -c '! grep -E "^aws " <<<"$1" | grep -v -- "--region eu-west-1 "' _ "$out"

mkdir -p "$HOME/.aws"
printf '[default]\nregion = eu-north-1\n[profile dev]\nregion=ap-southeast-2\n' >"$HOME/.aws/config"
run --dry-run --destroy
contains "the AWS CLI's configured region is used when nothing else names one" "$(aws_lines | head -n 1)" "--region eu-north-1 "
AWS_PROFILE=dev run --dry-run --destroy
contains "...that of AWS_PROFILE" "$(aws_lines | head -n 1)" "--region ap-southeast-2 "
check "...read from the file, with no aws call" test ! -s "$CALLS"
rm -rf "$HOME/.aws"

envf=$WORK/test.env
printf '# test\nBANKMOCK_ENV=local\nAWS_REGION=ap-south-1\nAWS_ENDPOINT_URL=http://localhost:4566\nBANKMOCK_AMI=ami-785db401\nTF_VAR_region=ap-south-1\n' >"$envf"
: >"$CALLS"
out=$("$DEPLOY" --dry-run --env-file "$envf" --repo-url "$REPO" --allowed-cidr "$CIDR" 2>&1)
contains "env file: region and endpoint from it" "$(line_of run-instances)" \
    "aws --region ap-south-1 --endpoint-url http://localhost:4566 "
contains "env file: its BANKMOCK_AMI replaces the SSM lookup" "$(line_of run-instances)" "--image-id ami-785db401"
lacks "env file: no SSM lookup with an AMI given" "$out" "ssm get-parameter"
out=$(AWS_REGION=eu-central-1 "$DEPLOY" --dry-run --env-file "$envf" --repo-url "$REPO" --allowed-cidr "$CIDR" 2>&1)
contains "env file: the environment wins over it" "$(line_of run-instances)" "--region eu-central-1 "
out=$(cd "$SRC" && "$DEPLOY" --dry-run --env-file "$SRC/config/environments/local.env" \
    --repo-url "$REPO" --allowed-cidr "$CIDR" 2>&1)
contains "config/environments/local.env points at LocalStack" "$(line_of run-instances)" \
    "--endpoint-url http://localhost:4566"

# ------------------------------------------------------------ destroy, redeploy (dry)
run --dry-run --destroy
check "--destroy dry run exits 0" test "$rc" -eq 0
check "--destroy dry run calls nothing" test ! -s "$CALLS"
contains "--destroy finds instances by tag" "$(line_of describe-instances)" "Name=tag:Project,Values=bankmock"
contains "--destroy terminates the instances" "$out" "ec2 terminate-instances --instance-ids"
contains "--destroy waits for termination" "$out" "ec2 wait instance-terminated"
contains "--destroy deletes the security group" "$out" "ec2 delete-security-group --group-id"
contains "--destroy deletes the key pair" "$out" "ec2 delete-key-pair --key-name bankmock"
lacks "--destroy creates nothing" "$out" "create-"
lacks "--destroy launches nothing" "$out" "run-instances"

run --dry-run --instance-id i-0123456789abcdef0 --repo-url "$REPO" --ref v1.0 --key-file "$WORK/k.pem"
check "--instance-id dry run exits 0" test "$rc" -eq 0
contains "--instance-id looks the instance up" "$(line_of describe-instances)" "--instance-ids i-0123456789abcdef0"
contains "--instance-id redeploys over SSH with the key" "$out" "ssh -i $WORK/k.pem"
contains "--instance-id runs the user data with sudo" "$out" "'sudo bash -c \"\$(cat)\"' < <user-data>"
lacks "--instance-id launches nothing" "$out" "run-instances"
run --dry-run --instance-id not-an-id
check "a malformed --instance-id is refused (exit 2)" test "$rc" -eq 2
run --dry-run --destroy --instance-id i-0123456789abcdef0
check "--destroy with --instance-id is refused (terraform owns that one)" test "$rc" -eq 2

# ------------------------------------------------------------ user data
run --print-user-data --repo-url "$REPO" --ref v1.2.3 --environment prod
check "--print-user-data exits 0" test "$rc" -eq 0
check "--print-user-data calls nothing" test ! -s "$CALLS"
contains "user data: the repository" "$out" "REPO_URL='$REPO'"
contains "user data: the ref" "$out" "GIT_REF='v1.2.3'"
contains "user data: the environment" "$out" "BANKMOCK_ENV='prod'"
lacks "user data: no placeholder left" "$out" '${'
check "user data is valid bash" bash -n <<<"$out"
out=$("$DEPLOY" --print-user-data --env-file "$envf" --repo-url "$REPO" 2>/dev/null)
check "user data starts with its #! line (notes go to stderr)" test "$(head -n 1 <<<"$out")" = '#!/bin/bash'
contains "user data: the env file's environment" "$out" "BANKMOCK_ENV='local'"
check "user data is under EC2's 16 KiB limit" test "$(printf '%s\n' "$out" | wc -c)" -lt 16384
check "user data installs and runs under systemd via deploy/install.sh" grep -q 'deploy/install.sh' <<<"$out"
ADMIN_TOKEN="a'b" run --print-user-data --repo-url "$REPO"
check "an ADMIN_TOKEN that could break the quoting is refused" test "$rc" -ne 0
run --print-user-data --repo-url "https://x/y.git'; rm -rf /; '"
check "a --repo-url that could break the quoting is refused (exit 2)" test "$rc" -eq 2
run --print-user-data --repo-url "$REPO" --environment nosuch
check "an unknown --environment is refused (exit 2)" test "$rc" -eq 2

# ------------------------------------------------------------ real path, fresh account
FAKE_STATE=fresh run --repo-url "$REPO" --ref main --allowed-cidr "$CIDR" --no-wait
check "create against the stand-in CLI exits 0" test "$rc" -eq 0 || printf '%s\n' "$out"
calls=$(cat "$CALLS")
contains "create: credentials checked" "$calls" "sts get-caller-identity"
contains "create: key pair created" "$calls" "ec2 create-key-pair --key-name bankmock"
check "create: private key written, mode 0600" \
    bash -c '[[ -f "$1" && "$(stat -c %a "$1")" == 600 ]] && grep -q "BEGIN OPENSSH PRIVATE KEY" "$1"' _ "$HOME/.ssh/bankmock.pem"
contains "create: security group created in the default VPC" "$calls" "--vpc-id vpc-0123456789abcdef0"
contains "create: ingress on the new group" "$calls" "authorize-security-group-ingress --group-id sg-0ccccccccccccccc1"
contains "create: the instance gets the AMI, group and key" "$calls" \
    "run-instances --image-id ami-0123456789abcdef0 --instance-type t2.micro --count 1 --key-name bankmock --security-group-ids sg-0ccccccccccccccc1"
check "create: the user data file existed when run-instances read it" grep -q "REPO_URL='$REPO'" "$FAKE/user-data.seen"
check "create: the temporary user data file is gone afterwards" \
    bash -c '! compgen -G "$1/bankmock-user-data.*" >/dev/null' _ "$TMPDIR"
contains "create: prints the gateway URL" "$out" "http://127.0.0.1:8080"
contains "create: says how to tear down" "$out" "--destroy"

FAKE_STATE=fresh run --repo-url "$REPO" --allowed-cidr "$CIDR" --no-wait
check "create refuses to overwrite an existing private key file" test "$rc" -ne 0
contains "create: the refusal names the key file" "$out" "$HOME/.ssh/bankmock.pem"

# ------------------------------------------------------------ real path, reuse
FAKE_STATE=existing run --repo-url "$REPO" --allowed-cidr "$CIDR" --no-wait
check "a second deploy with an instance running is refused" test "$rc" -ne 0
contains "the refusal suggests --instance-id" "$out" "--instance-id i-0aaaaaaaaaaaaaaa1"
lacks "the refusal launches nothing" "$(cat "$CALLS")" "run-instances"

# ------------------------------------------------------------ real path, reuse
FAKE_STATE=reuse run --repo-url "$REPO" --allowed-cidr "$CIDR" --expose-services --no-wait
check "redeploy into an earlier run's key pair and group exits 0" test "$rc" -eq 0 || printf '%s\n' "$out"
calls=$(cat "$CALLS")
lacks "reuse: no new key pair" "$calls" "create-key-pair"
lacks "reuse: no new security group" "$calls" "create-security-group"
contains "reuse: the group's old rules are revoked" "$calls" \
    "revoke-security-group-ingress --group-id sg-0bbbbbbbbbbbbbbb1 --ip-permissions"
contains "reuse: ...the ones it had" "$calls" "198.51.100.1/32"
contains "reuse: the wanted rules are authorized on it" "$calls" \
    "authorize-security-group-ingress --group-id sg-0bbbbbbbbbbbbbbb1"
contains "reuse: with the services this time" "$calls" "FromPort=8081,ToPort=8083"
contains "reuse: the instance joins it" "$calls" "--security-group-ids sg-0bbbbbbbbbbbbbbb1"

FAKE_STATE=foreign run --repo-url "$REPO" --allowed-cidr "$CIDR" --no-wait
check "a same-named group this script did not make: refused" test "$rc" -ne 0
contains "the refusal says so" "$out" "was not made by this script"
lacks "...and touches none of its rules" "$(cat "$CALLS")" "security-group-ingress"

# ------------------------------------------------------------ real path, redeploy
FAKE_QUERY=state run --instance-id i-0123456789abcdef0 --repo-url "$REPO" --ref v2 --no-wait
check "--instance-id redeploy against the stand-ins exits 0" test "$rc" -eq 0 || printf '%s\n' "$out"
contains "redeploy: ssh with the key to admin@<ip>" "$(cat "$CALLS")" "ssh -i $HOME/.ssh/bankmock.pem"
check "redeploy: the rendered user data went to sudo bash over SSH" grep -q "GIT_REF='v2'" "$FAKE/ssh-stdin.seen"

# ------------------------------------------------------------ real path, destroy
FAKE_STATE=existing run --destroy
check "--destroy against the stand-in CLI exits 0" test "$rc" -eq 0 || printf '%s\n' "$out"
calls=$(cat "$CALLS")
contains "destroy: looks only for what this script made" "$calls" "Name=tag:ManagedBy,Values=deploy_ec2.sh"
contains "destroy: terminates the tagged instance" "$calls" "ec2 terminate-instances --instance-ids i-0aaaaaaaaaaaaaaa1"
contains "destroy: deletes the tagged group" "$calls" "ec2 delete-security-group --group-id sg-0bbbbbbbbbbbbbbb1"
contains "destroy: deletes the tagged key pair" "$calls" "ec2 delete-key-pair --key-name bankmock"
check "destroy: leaves the private key file" test -f "$HOME/.ssh/bankmock.pem"

# ------------------------------------------------------------ clear errors
FAKE_STATE=nocreds run --repo-url "$REPO" --allowed-cidr "$CIDR"
check "missing credentials: non-zero exit" test "$rc" -ne 0
contains "missing credentials: says so and how to fix it" "$out" "no usable AWS credentials"
lacks "missing credentials: nothing created" "$(cat "$CALLS")" "create-"

noaws=$WORK/noaws
mkdir -p "$noaws"
for t in bash env git dirname awk sed grep cat mktemp rm tr head; do
    p=$(command -v "$t") && ln -sf "$p" "$noaws/$t"
done
out=$(PATH=$noaws "$DEPLOY" --env-file none --repo-url "$REPO" --allowed-cidr "$CIDR" 2>&1)
rc=$?
check "no AWS CLI: non-zero exit" test "$rc" -ne 0
contains "no AWS CLI: says it is not installed" "$out" "AWS CLI (aws) is not installed"
out=$(PATH=$noaws "$DEPLOY" --env-file none --dry-run --repo-url "$REPO" --allowed-cidr "$CIDR" 2>&1)
rc=$?
check "no AWS CLI: --dry-run still works" test "$rc" -eq 0
finish
