#!/usr/bin/env bash
# Deploy bankmock to an AWS EC2 instance (t2.micro), redeploy it, or tear it down.
#
#   scripts/deploy_ec2.sh --repo-url URL [--ref REF] [options]   create and deploy
#   scripts/deploy_ec2.sh --instance-id ID [options]            redeploy onto an instance
#   scripts/deploy_ec2.sh --destroy [options]                   delete what it created
#   add --dry-run to any of them: print every AWS call, make none
#
# Create: finds the latest Debian 12 AMI, creates or reuses the key pair and
# the security group NAME (port 8080, the gateway, open to --allowed-cidr;
# 8081-8083 too with --expose-services; 22 for SSH unless --no-ssh), launches
# the instance with deploy/user_data.sh.tpl as user data (fetch the project at
# --ref, install packages, build, run the four daemons under systemd; log in
# /var/log/bankmock-deploy.log), waits for /health and prints the URLs.
# --instance-id ID: redeploys onto an existing instance (e.g. terraform's)
# over SSH: it runs the same rendered user data with sudo, then waits for
# /health. The instance needs port 22 open to you and --key-file.
# --destroy: terminates the instances and deletes the security group and key
# pair tagged Project=bankmock, Name=NAME and ManagedBy=deploy_ec2.sh (as
# everything it creates is), never terraform's. The private key file stays.
#
# Options:
#   --region REGION       default: $AWS_REGION, $AWS_DEFAULT_REGION, the env
#                         file, the AWS CLI's configured region, else us-east-1
#   --instance-type TYPE  default: t2.micro
#   --allowed-cidr CIDR   IPv4 range allowed in; default: this machine's public
#                         address/32, asked of https://checkip.amazonaws.com
#   --allow-open          permit a /0 range such as 0.0.0.0/0 (never the default)
#   --expose-services     also open 8081-8083 (the services), not only 8080
#   --no-ssh              do not open port 22 (then --instance-id cannot reach it)
#   --name NAME           Name tag and security group name (default: bankmock)
#   --key-name NAME       key pair, created if missing (default: the --name)
#   --key-file PATH       its private key: written when the pair is created,
#                         used by SSH (default: ~/.ssh/<key-name>.pem)
#   --ssh-user USER       login on the instance (default: admin, Debian's)
#   --ami ID              default: $BANKMOCK_AMI, else SSM parameter
#                         /aws/service/debian/release/12/latest/amd64
#   --vpc-id ID           default: the region's default VPC
#   --subnet-id ID        default: a default subnet of that VPC
#   --repo-url URL        git URL the instance clones (default: this
#                         checkout's origin, as https)
#   --ref REF             branch, tag or commit (default: this checkout's
#                         branch); it must be pushed to --repo-url
#   --environment ENV     daemon config config/environments/ENV.json on the
#                         instance (default: BANKMOCK_ENV of the env file, else
#                         config/anomaly_config.json)
#   --env-file FILE       KEY=VALUE lines: AWS_REGION, AWS_ENDPOINT_URL,
#                         AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BANKMOCK_ENV,
#                         BANKMOCK_AMI; default config/active.env when present
#                         (written by config/switch_environment.sh); "none": no
#                         file. Variables already in the environment win; its
#                         credentials count only with an endpoint (LocalStack).
#   --endpoint-url URL    AWS endpoint, e.g. LocalStack (default: $AWS_ENDPOINT_URL)
#   --timeout SECONDS     how long to wait for /health (default: 900)
#   --no-wait             do not wait for /health
#   --print-user-data     print the rendered user data and exit (no AWS call)
#   --dry-run             print the exact `aws ...` command lines (and the ssh
#                         line) instead of running them; needs neither the AWS
#                         CLI, credentials nor the network
#   -h, --help
#
# Environment: AWS_REGION, AWS_ENDPOINT_URL (passed on as --endpoint-url),
# AWS_PROFILE and the usual AWS credential variables; ADMIN_TOKEN (non-empty:
# written to /etc/bankmock/bankmock.env on the instance; it travels in the user
# data, which anyone allowed ec2:DescribeInstanceAttribute can read).
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEMPLATE=$ROOT/deploy/user_data.sh.tpl
PROJECT_TAG=bankmock
MANAGED_BY=deploy_ec2.sh
DEBIAN_AMI_PARAM=/aws/service/debian/release/12/latest/amd64
CHECKIP_URL=https://checkip.amazonaws.com
ALIVE_STATES=pending,running,stopping,stopped

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}
die() { printf 'deploy_ec2: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'deploy_ec2: %s (see --help)\n' "$*" >&2; exit 2; }
# Progress goes to stdout as "# ..." lines, so a dry run reads as a script.
note() { printf '# %s\n' "$*" >&3; }
exec 3>&1

# ------------------------------------------------------------------ options

region=
instance_type=t2.micro
allowed_cidr=
allow_open=0
expose_services=0
open_ssh=1
name=bankmock
key_name=
key_file=
ssh_user="admin"
ami=
vpc_id=
subnet_id=
repo_url=
git_ref=
environment=
environment_set=0
env_file=
endpoint=
timeout_s=900
wait_health=1
print_user_data=0
dry_run=0
destroy=0
instance_id=

need_value() {
    (($2 >= 2)) || usage_error "$1 needs a value"
}

while (($# > 0)); do
    opt=$1
    val=
    if [[ "$opt" == --*=* ]]; then
        val=${opt#*=}
        opt=${opt%%=*}
        set -- "$opt" "$val" "${@:2}"
    fi
    case "$opt" in
    --region | --instance-type | --allowed-cidr | --name | --key-name | --key-file | \
        --ssh-user | --ami | --vpc-id | --subnet-id | --repo-url | --ref | --environment | \
        --env-file | --endpoint-url | --timeout | --instance-id)
        need_value "$opt" $#
        val=$2
        shift 2
        ;;
    *) shift ;;
    esac
    case "$opt" in
    --region) region=$val ;;
    --instance-type) instance_type=$val ;;
    --allowed-cidr) allowed_cidr=$val ;;
    --allow-open) allow_open=1 ;;
    --expose-services) expose_services=1 ;;
    --no-ssh) open_ssh=0 ;;
    --name) name=$val ;;
    --key-name) key_name=$val ;;
    --key-file) key_file=$val ;;
    --ssh-user) ssh_user=$val ;;
    --ami) ami=$val ;;
    --vpc-id) vpc_id=$val ;;
    --subnet-id) subnet_id=$val ;;
    --repo-url) repo_url=$val ;;
    --ref) git_ref=$val ;;
    --environment) environment=$val; environment_set=1 ;;
    --env-file) env_file=$val ;;
    --endpoint-url) endpoint=$val ;;
    --timeout) timeout_s=$val ;;
    --instance-id) instance_id=$val ;;
    --no-wait) wait_health=0 ;;
    --print-user-data) print_user_data=1 ;;
    --dry-run) dry_run=1 ;;
    --destroy) destroy=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $opt" ;;
    esac
done

# --print-user-data prints the script alone; notes go to stderr then.
if ((print_user_data)); then
    exec 3>&2
fi
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || usage_error "bad --name '$name'"
key_name=${key_name:-$name}
[[ "$key_name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$ ]] || usage_error "bad --key-name '$key_name'"
key_file=${key_file:-$HOME/.ssh/$key_name.pem}
[[ "$instance_type" =~ ^[a-z0-9]+\.[a-z0-9]+$ ]] || usage_error "bad --instance-type '$instance_type'"
[[ "$timeout_s" =~ ^[0-9]+$ ]] || usage_error "bad --timeout '$timeout_s'"
[[ "$ssh_user" =~ ^[a-z_][a-z0-9_-]*$ ]] || usage_error "bad --ssh-user '$ssh_user'"
if [[ -n "$instance_id" && ! "$instance_id" =~ ^i-[0-9a-f]{8,17}$ ]]; then
    usage_error "bad --instance-id '$instance_id' (expected i-0123456789abcdef0)"
fi
if ((destroy)) && [[ -n "$instance_id" ]]; then
    usage_error "--destroy removes what this script created (found by its tags);" \
        "for an instance made by terraform, run terraform destroy"
fi

# ------------------------------------------------------------------ env file

declare -A file_vars=()

load_env_file() {
    local f=$1 line key value n=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        line=${line%$'\r'}
        [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
        if ! [[ "$line" =~ ^(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
            die "$f:$n: expected KEY=VALUE, got: $line"
        fi
        key=${BASH_REMATCH[2]}
        value=${BASH_REMATCH[3]}
        if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
            value=${BASH_REMATCH[1]}
        fi
        case "$key" in
        AWS_REGION | AWS_ENDPOINT_URL | AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY | \
            BANKMOCK_ENV | BANKMOCK_AMI)
            file_vars[$key]=$value
            ;;
        *) ;; # settings for other tools
        esac
    done <"$f"
}

if [[ -z "$env_file" && -f "$ROOT/config/active.env" ]]; then
    env_file=$ROOT/config/active.env
fi
if [[ -n "$env_file" && "$env_file" != none ]]; then
    [[ -f "$env_file" ]] || usage_error "--env-file $env_file: no such file"
    load_env_file "$env_file"
    note "settings from $env_file (the environment overrides them)"
fi

# from_env VAR : the variable from the environment, else from the env file.
from_env() {
    local v=${!1:-}
    if [[ -z "$v" ]]; then
        v=${file_vars[$1]:-}
    fi
    printf '%s' "$v"
}

# Region: --region, the environment, the env file, the AWS CLI's own
# configuration (read locally), else us-east-1.
# configured_region : the region of $AWS_PROFILE (or default) in the AWS
# CLI's config file, read directly, so a dry run needs no CLI.
configured_region() {
    local cfg=${AWS_CONFIG_FILE:-$HOME/.aws/config} profile=${AWS_PROFILE:-default} section
    [[ -r "$cfg" ]] || return 0
    section="profile $profile"
    [[ "$profile" == default ]] && section=default
    awk -v want="[$section]" '
        /^[[:space:]]*\[/ { gsub(/[[:space:]]/, "", $0); sub(/^\[profile/, "[profile ", $0); in_s = ($0 == want); next }
        in_s && /^[[:space:]]*region[[:space:]]*=/ { sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]+$/, ""); print; exit }
    ' "$cfg"
}
region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-${file_vars[AWS_REGION]:-}}}}
region=${region:-$(configured_region)}
region=${region:-us-east-1}
[[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || usage_error "bad region '$region'"
endpoint=${endpoint:-$(from_env AWS_ENDPOINT_URL)}
ami=${ami:-$(from_env BANKMOCK_AMI)}
if ((!environment_set)); then
    environment=$(from_env BANKMOCK_ENV)
fi
# Credentials from the file only for an emulator endpoint (LocalStack takes
# any): they must never shadow a real profile in front of real AWS.
if [[ -n "$endpoint" ]]; then
    for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
        if [[ -z "${!v:-}" && -n "${file_vars[$v]:-}" ]]; then
            export "$v=${file_vars[$v]}"
        fi
    done
fi

AWS_GLOBAL=(--region "$region")
if [[ -n "$endpoint" ]]; then
    AWS_GLOBAL+=(--endpoint-url "$endpoint")
fi
# AWS CLI v2 would page long output; v1 ignores this.
export AWS_PAGER=

# ------------------------------------------------------------------ helpers

# cmdline WORD... : the words as one copy-pasteable command line, each
# quoted only when it needs it (no subshells: it runs for every AWS call).
cmdline() {
    local w q out=
    for w in "$@"; do
        if [[ "$w" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
            q=$w
        else
            q="'${w//\'/\'\\\'\'}'"
        fi
        out+="${out:+ }$q"
    done
    printf '%s\n' "$out"
}

# aws_do DRY_OUTPUT ARGS... : run `aws ARGS` (with the region and endpoint)
# and print its output. Under --dry-run print the command line instead, and
# DRY_OUTPUT as the output, so the steps after it can be shown.
aws_do() {
    local dry_output=$1 out
    shift
    if ((dry_run)); then
        cmdline aws "${AWS_GLOBAL[@]}" "$@" >&3
        printf '%s\n' "$dry_output"
        return 0
    fi
    cmdline + aws "${AWS_GLOBAL[@]}" "$@" >&2
    if ! out=$(aws "${AWS_GLOBAL[@]}" "$@"); then
        die "aws $1 $2 failed (its message is above)"
    fi
    printf '%s\n' "$out"
}

# aws_retry ARGS... : aws_do for a call that can fail for a while after the
# one before it (a group still held by a terminating instance's interface).
aws_retry() {
    local i
    if ((dry_run)); then
        aws_do '' "$@"
        return 0
    fi
    for i in 1 2 3 4 5 6 7 8 9; do
        cmdline + aws "${AWS_GLOBAL[@]}" "$@" >&2
        if aws "${AWS_GLOBAL[@]}" "$@"; then
            return 0
        fi
        note "aws $1 $2 failed (attempt $i); retrying in 10 s"
        sleep 10
    done
    die "aws $1 $2 kept failing (its message is above)"
}

# none VALUE : is VALUE an empty --output text answer?
none() {
    [[ -z "$1" || "$1" == None || "$1" == null ]]
}

tags() {
    printf 'ResourceType=%s,Tags=[{Key=Project,Value=%s},{Key=Name,Value=%s},{Key=ManagedBy,Value=%s}]' \
        "$1" "$PROJECT_TAG" "$name" "$MANAGED_BY"
}

check_aws_cli() {
    ((dry_run)) && return 0
    if ! command -v aws >/dev/null 2>&1; then
        die "the AWS CLI (aws) is not installed: 'apt-get install awscli', or see" \
            "https://docs.aws.amazon.com/cli/ ('--dry-run' needs neither it nor credentials)"
    fi
}

check_credentials() {
    local who err errfile
    if ((dry_run)); then
        aws_do '<account-arn>' sts get-caller-identity --query Arn --output text >/dev/null
        return 0
    fi
    cmdline + aws "${AWS_GLOBAL[@]}" sts get-caller-identity --query Arn --output text >&2
    errfile=$(mktemp "${TMPDIR:-/tmp}/bankmock-sts.XXXXXX")
    if ! who=$(aws "${AWS_GLOBAL[@]}" sts get-caller-identity --query Arn --output text 2>"$errfile"); then
        err=$(tr -s '[:space:]' ' ' <"$errfile" | head -c 600)
        rm -f "$errfile"
        die "no usable AWS credentials (aws sts get-caller-identity failed: ${err:-no message});" \
            "run 'aws configure', or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    fi
    rm -f "$errfile"
    note "AWS identity: $who, region $region${endpoint:+, endpoint $endpoint}"
}

valid_cidr4() {
    local o
    [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]] || return 1
    for o in "${BASH_REMATCH[@]:1:4}"; do
        ((10#$o <= 255)) || return 1
    done
    ((10#${BASH_REMATCH[5]} <= 32))
}

resolve_cidr() {
    local ip
    if [[ -z "$allowed_cidr" ]]; then
        if ((dry_run)); then
            note "--allowed-cidr not given: a real run asks $CHECKIP_URL for this machine's address"
            allowed_cidr='<caller-ip>/32'
            return 0
        fi
        command -v curl >/dev/null 2>&1 || die "curl is needed to find your address; pass --allowed-cidr"
        ip=$(curl -fsS --max-time 10 "$CHECKIP_URL" | tr -d '[:space:]') ||
            die "cannot ask $CHECKIP_URL for your public address; pass --allowed-cidr CIDR"
        valid_cidr4 "$ip/32" || die "$CHECKIP_URL answered '$ip', not an IPv4 address; pass --allowed-cidr"
        allowed_cidr=$ip/32
        note "allowed CIDR: $allowed_cidr (this machine's public address)"
        return 0
    fi
    check_cidr
}

# check_cidr : --allowed-cidr is an IPv4 range, and /0 only with --allow-open.
check_cidr() {
    valid_cidr4 "$allowed_cidr" ||
        usage_error "bad --allowed-cidr '$allowed_cidr' (expected an IPv4 range like 203.0.113.7/32)"
    if [[ "$allowed_cidr" == */0 ]] && ((!allow_open)); then
        usage_error "--allowed-cidr $allowed_cidr opens bankmock to the whole internet;" \
            "add --allow-open if that is really meant"
    fi
}

# https_url URL : a git remote URL the instance can clone without keys.
https_url() {
    local u=$1
    if [[ "$u" =~ ^[A-Za-z0-9_.-]+@([^:/]+):(.+)$ ]]; then
        u="https://${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
    elif [[ "$u" =~ ^ssh://([^@/]+@)?([^/:]+)(:[0-9]+)?/(.+)$ ]]; then
        u="https://${BASH_REMATCH[2]}/${BASH_REMATCH[4]}"
    fi
    printf '%s' "$u"
}

resolve_source() {
    local origin
    if [[ -z "$repo_url" ]]; then
        origin=$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)
        if [[ -n "$origin" ]]; then
            repo_url=$(https_url "$origin")
        elif ((dry_run)); then
            repo_url='<repo-url>'
        else
            usage_error "--repo-url is required: the instance clones the project from it" \
                "(this checkout has no 'origin' remote)"
        fi
    fi
    if [[ -z "$git_ref" ]]; then
        git_ref=$(git -C "$ROOT" symbolic-ref --short -q HEAD 2>/dev/null ||
            git -C "$ROOT" rev-parse -q HEAD 2>/dev/null || echo main)
    fi
}

# render_user_data : deploy/user_data.sh.tpl with its placeholders filled,
# as terraform's templatefile() fills them.
render_user_data() {
    local text k pat
    local -A vals=(
        [repo_url]=$repo_url [git_ref]=$git_ref
        [environment]=$environment [admin_token]=${ADMIN_TOKEN:-}
        [shard]=${BANKMOCK_SHARD:-} [sink]=${BANKMOCK_SINK:-} [region]=$region [seed]=${SEED:-}
    )
    if [[ "$repo_url" != '<repo-url>' ]] && ! [[ "$repo_url" =~ ^[A-Za-z0-9][A-Za-z0-9+.-]*://[A-Za-z0-9@:/._~%+=-]+$ ]]; then
        usage_error "bad --repo-url '$repo_url' (an http(s), git or file URL without quotes or spaces)"
    fi
    [[ "$git_ref" =~ ^[A-Za-z0-9._][A-Za-z0-9._/-]*$ ]] || usage_error "bad --ref '$git_ref'"
    if [[ -n "$environment" && ! "$environment" =~ ^[a-z][a-z0-9_-]*$ ]]; then
        usage_error "bad --environment '$environment'"
    fi
    if [[ -n "$environment" && ! -f "$ROOT/config/environments/$environment.json" ]]; then
        usage_error "--environment $environment: no config/environments/$environment.json"
    fi
    [[ "${ADMIN_TOKEN:-}" =~ ^[A-Za-z0-9._~+/=-]*$ ]] ||
        die "ADMIN_TOKEN may hold only letters, digits and ._~+/=-"
    [[ "${BANKMOCK_SINK:-}" =~ ^(kinesis:[A-Za-z0-9_.-]+)?$ ]] ||
        die "BANKMOCK_SINK must be kinesis:STREAM"
    [[ "${SEED:-}" =~ ^[0-9]*$ ]] || die "SEED must be a number"
    [[ "${BANKMOCK_SHARD:-}" =~ ^([0-9]+/[0-9]+)?$ ]] || die "BANKMOCK_SHARD must be i/n"
    [[ -f "$TEMPLATE" ]] || die "missing $TEMPLATE"
    text=$(<"$TEMPLATE")
    for k in "${!vals[@]}"; do
        pat="\${$k}"
        text=${text//"$pat"/"${vals[$k]}"}
    done
    if [[ "$text" == *"\${"* ]]; then
        die "$TEMPLATE has a placeholder this script does not fill"
    fi
    printf '%s\n' "$text"
}

# temp_user_data TEXT : write TEXT to a private temporary file, removed at
# exit, and print its name.
temp_user_data() {
    local f
    f=$(mktemp "${TMPDIR:-/tmp}/bankmock-user-data.$$.XXXXXX")
    printf '%s\n' "$1" >"$f"
    printf '%s' "$f"
}
cleanup() {
    rm -f "${TMPDIR:-/tmp}/bankmock-user-data.$$."* 2>/dev/null || true
}
trap cleanup EXIT

# ------------------------------------------------------------------ health

# wait_for_health IP : poll the opened ports' /health until all answer.
wait_for_health() {
    local ip=$1 deadline port pending=() ok=()
    local -a ports=(8080)
    if ((expose_services)); then
        ports+=(8081 8082 8083)
    fi
    if ((!wait_health)); then
        note "not waiting for /health (--no-wait)"
        return 0
    fi
    if [[ -n "$endpoint" ]]; then
        note "endpoint $endpoint (an emulator such as LocalStack runs no user data): not waiting for /health"
        return 0
    fi
    if ((dry_run)); then
        for port in "${ports[@]}"; do
            note "a real run waits up to ${timeout_s}s for http://$ip:$port/health"
        done
        return 0
    fi
    command -v curl >/dev/null 2>&1 || { note "curl not installed: not waiting for /health"; return 0; }
    note "waiting up to ${timeout_s}s for /health (the first boot installs packages and builds)"
    deadline=$((SECONDS + timeout_s))
    pending=("${ports[@]}")
    while ((${#pending[@]} > 0 && SECONDS < deadline)); do
        local still=()
        for port in "${pending[@]}"; do
            if curl -fsS -o /dev/null --max-time 5 "http://$ip:$port/health" 2>/dev/null; then
                ok+=("$port")
                note "http://$ip:$port/health answers"
            else
                still+=("$port")
            fi
        done
        pending=("${still[@]}")
        ((${#pending[@]} == 0)) || sleep 10
    done
    if ((${#pending[@]} > 0)); then
        printf 'deploy_ec2: no answer within %ss from port(s) %s of %s.\n' \
            "$timeout_s" "${pending[*]}" "$ip" >&2
        printf '  the deploy log: ssh -i %s %s@%s sudo tail -n 50 %s\n' \
            "$key_file" "$ssh_user" "$ip" /var/log/bankmock-deploy.log >&2
        printf '  the console:    aws --region %s ec2 get-console-output --instance-id <id> --output text\n' \
            "$region" >&2
        return 1
    fi
}

print_urls() {
    local id=$1 ip=$2
    echo
    echo "bankmock on $id ($instance_type, $region):"
    printf '  %-20s http://%s:8080\n' api-gateway "$ip"
    if ((expose_services)); then
        printf '  %-20s http://%s:8081\n' transaction-service "$ip"
        printf '  %-20s http://%s:8082\n' auth-service "$ip"
        printf '  %-20s http://%s:8083\n' monitoring-service "$ip"
    else
        echo "  (services 8081-8083 are reachable through http://$ip:8080/services/...; --expose-services opens them)"
    fi
    if ((open_ssh)); then
        printf '  %-20s ssh -i %s %s@%s\n' ssh "$key_file" "$ssh_user" "$ip"
    fi
    printf '  %-20s %s --destroy --name %s --region %s\n' "tear down" "$0" "$name" "$region"
}

# ------------------------------------------------------------------ actions

instance_ip() {
    local ip
    ip=$(aws_do '<public-ip>' ec2 describe-instances --instance-ids "$1" \
        --query 'Reservations[0].Instances[0].PublicIpAddress' --output text)
    none "$ip" && die "instance $1 has no public IPv4 address (a subnet without auto-assign?)"
    printf '%s' "$ip"
}

do_create() {
    local existing kp pem found sg owner rules=() perms ud id ip

    check_aws_cli
    resolve_cidr
    resolve_source
    ud=$(render_user_data)
    check_credentials

    if [[ -z "$ami" ]]; then
        ami=$(aws_do '<ami-id>' ssm get-parameter --name "$DEBIAN_AMI_PARAM" \
            --query Parameter.Value --output text)
        none "$ami" && die "no AMI at SSM $DEBIAN_AMI_PARAM in $region; pass --ami"
    fi
    if [[ -z "$vpc_id" ]]; then
        vpc_id=$(aws_do '<vpc-id>' ec2 describe-vpcs --filters Name=isDefault,Values=true \
            --query 'Vpcs[0].VpcId' --output text)
        none "$vpc_id" && die "no default VPC in $region: pass --vpc-id and --subnet-id"
    fi

    existing=$(aws_do '' ec2 describe-instances \
        --filters "Name=tag:Project,Values=$PROJECT_TAG" "Name=tag:Name,Values=$name" \
        "Name=tag:ManagedBy,Values=$MANAGED_BY" \
        "Name=instance-state-name,Values=$ALIVE_STATES" \
        --query 'Reservations[].Instances[].InstanceId' --output text)
    if ! none "$existing"; then
        die "instance(s) $existing already run for --name $name: redeploy with" \
            "--instance-id ${existing%%[[:space:]]*}, or --destroy first"
    fi

    # Key pair: reuse, or create and keep the private key.
    kp=$(aws_do None ec2 describe-key-pairs --filters "Name=key-name,Values=$key_name" \
        --query 'KeyPairs[0].KeyName' --output text)
    if none "$kp"; then
        if [[ -e "$key_file" ]] && ((!dry_run)); then
            die "key pair $key_name does not exist but $key_file does: move that file or pass --key-file"
        fi
        pem=$(aws_do '<private-key>' ec2 create-key-pair --key-name "$key_name" --key-type ed25519 \
            --tag-specifications "$(tags key-pair)" --query KeyMaterial --output text)
        if ((dry_run)); then
            note "a real run writes the private key to $key_file (mode 0600)"
        else
            mkdir -p "$(dirname "$key_file")"
            (umask 077 && printf '%s\n' "$pem" >"$key_file")
            note "private key written to $key_file"
        fi
    elif [[ ! -f "$key_file" ]]; then
        note "key pair $key_name exists; its private key is not at $key_file (SSH needs --key-file)"
    fi

    # Security group: reuse (its rules replaced by the wanted ones) or create.
    # Only a group this script made is reused (its rules replaced): one of
    # the same name from elsewhere (terraform, by hand) is left alone.
    # shellcheck disable=SC2016 # JMESPath literals in backticks, not commands
    found=$(aws_do None ec2 describe-security-groups \
        --filters "Name=vpc-id,Values=$vpc_id" "Name=group-name,Values=$name" \
        --query 'SecurityGroups[0].[GroupId,Tags[?Key==`ManagedBy`]|[0].Value]' --output text)
    read -r sg owner <<<"$found"
    if ! none "${sg:-}" && [[ "${owner:-}" != "$MANAGED_BY" ]]; then
        die "security group $name ($sg) in $vpc_id was not made by this script" \
            "(ManagedBy=${owner:-none}): leaving it alone; pass another --name"
    fi
    if none "${sg:-}"; then
        sg=$(aws_do '<sg-id>' ec2 create-security-group --group-name "$name" \
            --description "bankmock: gateway 8080 (services 8081-8083 optional) from the allowed CIDR" \
            --vpc-id "$vpc_id" --tag-specifications "$(tags security-group)" \
            --query GroupId --output text)
    else
        perms=$(aws_do '[]' ec2 describe-security-groups --group-ids "$sg" \
            --query 'SecurityGroups[0].IpPermissions' --output json)
        if [[ -n "${perms//[[:space:]\[\]]/}" ]]; then
            aws_do '' ec2 revoke-security-group-ingress --group-id "$sg" --ip-permissions "$perms" >/dev/null
        fi
    fi
    rules+=("IpProtocol=tcp,FromPort=8080,ToPort=8080,IpRanges=[{CidrIp=$allowed_cidr,Description=bankmock-gateway}]")
    if ((expose_services)); then
        rules+=("IpProtocol=tcp,FromPort=8081,ToPort=8083,IpRanges=[{CidrIp=$allowed_cidr,Description=bankmock-services}]")
    fi
    if ((open_ssh)); then
        rules+=("IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=$allowed_cidr,Description=bankmock-ssh}]")
    fi
    aws_do '' ec2 authorize-security-group-ingress --group-id "$sg" --ip-permissions "${rules[@]}" >/dev/null

    # The instance, with the user data in a private temporary file.
    local udfile='<user-data>' subnet=()
    if ((!dry_run)); then
        udfile=$(temp_user_data "$ud")
    else
        note "<user-data>: deploy/user_data.sh.tpl with repo_url=$repo_url git_ref=$git_ref" \
            "environment=${environment:-(none)} (see --print-user-data)"
    fi
    if [[ -n "$subnet_id" ]]; then
        subnet=(--subnet-id "$subnet_id")
    fi
    id=$(aws_do '<instance-id>' ec2 run-instances --image-id "$ami" --instance-type "$instance_type" \
        --count 1 --key-name "$key_name" --security-group-ids "$sg" "${subnet[@]}" \
        --user-data "file://$udfile" \
        --metadata-options HttpTokens=required,HttpEndpoint=enabled \
        --tag-specifications "$(tags instance)" "$(tags volume)" \
        --query 'Instances[0].InstanceId' --output text)
    none "$id" && die "run-instances returned no instance id"
    note "instance $id launched; waiting for it to run"
    aws_do '' ec2 wait instance-running --instance-ids "$id" >/dev/null
    ip=$(instance_ip "$id")
    wait_for_health "$ip" || exit 1
    ((dry_run)) || print_urls "$id" "$ip"
}

do_redeploy() {
    local ud state ip udfile
    local -a ssh_cmd

    check_aws_cli
    resolve_source
    ud=$(render_user_data)
    check_credentials
    state=$(aws_do running ec2 describe-instances --instance-ids "$instance_id" \
        --query 'Reservations[0].Instances[0].State.Name' --output text)
    [[ "$state" == running ]] || die "instance $instance_id is $state, not running"
    ip=$(instance_ip "$instance_id")
    # The remote shell reads the whole script before running it, so no
    # command in it can swallow the rest from stdin (as with `bash -s`).
    # shellcheck disable=SC2016 # expanded on the instance, not here
    ssh_cmd=(ssh -i "$key_file" -o StrictHostKeyChecking=accept-new -o ConnectTimeout=15
        "$ssh_user@$ip" 'sudo bash -c "$(cat)"')
    note "the instance's security groups are left as they are; SSH (22) must be open to you"
    if ((dry_run)); then
        printf '%s < <user-data>\n' "$(cmdline "${ssh_cmd[@]}")" >&3
        note "<user-data>: deploy/user_data.sh.tpl with repo_url=$repo_url git_ref=$git_ref" \
            "environment=${environment:-(none)} (see --print-user-data)"
    else
        command -v ssh >/dev/null 2>&1 || die "ssh is not installed"
        [[ -f "$key_file" ]] || die "no private key at $key_file: pass --key-file"
        udfile=$(temp_user_data "$ud")
        cmdline + "${ssh_cmd[@]}" >&2
        "${ssh_cmd[@]}" <"$udfile" || die "the deploy over SSH failed (its output is above)"
    fi
    wait_for_health "$ip" || exit 1
    ((dry_run)) || print_urls "$instance_id" "$ip"
}

do_destroy() {
    local ids sgs sg keys
    local -a idv
    check_aws_cli
    check_credentials
    ids=$(aws_do '<instance-id>' ec2 describe-instances \
        --filters "Name=tag:Project,Values=$PROJECT_TAG" "Name=tag:Name,Values=$name" \
        "Name=tag:ManagedBy,Values=$MANAGED_BY" \
        "Name=instance-state-name,Values=$ALIVE_STATES" \
        --query 'Reservations[].Instances[].InstanceId' --output text)
    if none "$ids"; then
        note "no instance tagged Project=$PROJECT_TAG Name=$name"
    else
        read -r -a idv <<<"$ids"
        aws_do '' ec2 terminate-instances --instance-ids "${idv[@]}" >/dev/null
        aws_do '' ec2 wait instance-terminated --instance-ids "${idv[@]}" >/dev/null
        note "terminated ${idv[*]}"
    fi
    sgs=$(aws_do '<sg-id>' ec2 describe-security-groups \
        --filters "Name=group-name,Values=$name" "Name=tag:Project,Values=$PROJECT_TAG" \
        "Name=tag:ManagedBy,Values=$MANAGED_BY" \
        --query 'SecurityGroups[].GroupId' --output text)
    if none "$sgs"; then
        note "no security group $name tagged Project=$PROJECT_TAG"
    else
        for sg in $sgs; do
            aws_retry ec2 delete-security-group --group-id "$sg" >/dev/null
        done
    fi
    # Only a key pair this script created (tagged); the private key file stays.
    keys=$(aws_do "$key_name" ec2 describe-key-pairs \
        --filters "Name=key-name,Values=$key_name" "Name=tag:Project,Values=$PROJECT_TAG" \
        "Name=tag:ManagedBy,Values=$MANAGED_BY" \
        --query 'KeyPairs[].KeyName' --output text)
    if none "$keys"; then
        note "no key pair $key_name tagged Project=$PROJECT_TAG"
    else
        aws_do '' ec2 delete-key-pair --key-name "$key_name" >/dev/null
        note "deleted key pair $key_name; the private key file $key_file is left in place"
    fi
    ((dry_run)) || echo "bankmock ($name) removed from $region"
}

# ------------------------------------------------------------------ main

if [[ -n "$allowed_cidr" ]]; then
    check_cidr
fi
if ((print_user_data)); then
    resolve_source
    render_user_data
    exit 0
fi
if ((dry_run)); then
    note "dry run: the AWS calls a real run makes, in order; none is made."
    note "Outputs of earlier calls appear as <placeholders>; lookups are shown finding nothing."
fi
if ((destroy)); then
    do_destroy
elif [[ -n "$instance_id" ]]; then
    do_redeploy
else
    do_create
fi
