#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs name their $arguments in single quotes
# terraform/ parses with npm's @cdktf/hcl2json (installed here into the build
# tree's node/ directory) and declares what SPEC §7 asks: an AWS provider,
# variables (instance_type t2.micro, allowed_cidr without default and never
# /0 unless allow_open, key_name, region, repo_url, ref), a security group
# that admits only allowed_cidr, instance_count instances (shard i/n each)
# whose user data is the template scripts/deploy_ec2.sh renders, a Kinesis
# stream with an instance role that may only put records to it, and
# outputs with the four URLs (of instance 0) and every gateway's.
# With a terraform binary at hand it also checks `terraform fmt`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HCL2JSON_VERSION=0.21.0
NODE_DIR=${BM_NODE_DIR:-$BUILD/node}
MODULE=$NODE_DIR/node_modules/@cdktf/hcl2json

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    skip "node/npm are not installed (scripts/deps.sh installs them)"
fi
command -v jq >/dev/null 2>&1 || skip "jq is not installed"
if [[ ! -f "$MODULE/package.json" ]]; then
    echo "installing @cdktf/hcl2json@$HCL2JSON_VERSION into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    if ! npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error \
        "@cdktf/hcl2json@$HCL2JSON_VERSION" >"$WORK/npm.log" 2>&1; then
        failure "npm install @cdktf/hcl2json@$HCL2JSON_VERSION" "$(tail -n 20 "$WORK/npm.log")"
        finish
        exit
    fi
fi
export HCL2JSON_MODULE=$MODULE
hcl2json() { node "$SRC/tests/deploy/hcl2json.js" "$@"; }

cd "$SRC/terraform" || exit 1
for f in main.tf variables.tf outputs.tf; do
    check "terraform/$f exists" test -f "$f"
done
printf 'variable "x" {\n  type = \n' >"$WORK/broken.tf"
if hcl2json "$WORK/broken.tf" >/dev/null 2>"$WORK/broken.err" || ! grep -q 'broken.tf' "$WORK/broken.err"; then
    failure "the parser rejects broken HCL (so a pass means something)" "$(cat "$WORK/broken.err")"
else
    pass "the parser rejects broken HCL (so a pass means something)"
fi
if ! j=$(hcl2json ./*.tf 2>&1); then
    failure "terraform/*.tf parse as HCL" "$j"
    finish
    exit
fi
pass "terraform/*.tf parse as HCL"

v=$(jq -c '."variables.tf".variable' <<<"$j")
var() { jq -c --arg n "$1" '.[$n][0]' <<<"$v"; }
for n in instance_type allowed_cidr allow_open key_name region repo_url ref; do
    check "variable $n declared in variables.tf" jq -e --arg n "$n" 'has($n)' <<<"$v"
done
check 'instance_type defaults to "t2.micro"' jq -e '.default == "t2.micro"' <<<"$(var instance_type)"
check "allowed_cidr has no default" jq -e 'has("default") | not' <<<"$(var allowed_cidr)"
check "allowed_cidr is validated as an IPv4 CIDR" \
    jq -e '.validation[0].condition | test("cidrhost\\(var.allowed_cidr")' <<<"$(var allowed_cidr)"
check "allow_open defaults to false" jq -e '.default == false' <<<"$(var allow_open)"
check "region has a default" jq -e '.default | type == "string" and length > 0' <<<"$(var region)"
check "repo_url is validated (no quotes: it is pasted into the user data)" \
    jq -e '.validation[0].condition | test("regex")' <<<"$(var repo_url)"
check "admin_token is sensitive" jq -e '.sensitive == true' <<<"$(var admin_token)"

m=$(jq -c '."main.tf"' <<<"$j")
check "provider aws, region from var.region" jq -e '.provider.aws[0].region == "${var.region}"' <<<"$m"
check "hashicorp/aws is a required provider" \
    jq -e '.terraform[0].required_providers[0].aws.source == "hashicorp/aws"' <<<"$m"
sg=$(jq -c '.resource.aws_security_group.bankmock[0]' <<<"$m")
check "security group: 8080 open to var.allowed_cidr" \
    jq -e '.ingress | any(.from_port == 8080 and .to_port == 8080 and .cidr_blocks == ["${var.allowed_cidr}"])' <<<"$sg"
check "security group: 8081-8083 only with expose_services" \
    jq -e '.dynamic.ingress | any(.for_each == "${var.expose_services ? [1] : []}"
        and .content[0].from_port == 8081 and .content[0].to_port == 8083
        and .content[0].cidr_blocks == ["${var.allowed_cidr}"])' <<<"$sg"
check "security group: every ingress rule admits var.allowed_cidr only" \
    jq -e '[(.ingress[]?), (.dynamic.ingress[]?.content[])] | all(.cidr_blocks == ["${var.allowed_cidr}"])' <<<"$sg"
check "security group: a /0 allowed_cidr is refused unless allow_open" \
    jq -e '.lifecycle[0].precondition | any(.condition | test("var.allow_open"))' <<<"$sg"
inst=$(jq -c '.resource.aws_instance.bankmock[0]' <<<"$m")
check "variable instance_count defaults to 1" jq -e '.default == 1' <<<"$(var instance_count)"
check "instance: count = var.instance_count" jq -e '.count == "${var.instance_count}"' <<<"$inst"
check "instance: the bankmock instance profile" \
    jq -e '.iam_instance_profile == "${aws_iam_instance_profile.bankmock.name}"' <<<"$inst"
check "a Kinesis stream named by var.kinesis_stream_name" \
    jq -e '.resource.aws_kinesis_stream.events[0].name == "${var.kinesis_stream_name}"' <<<"$m"
check "the instance profile carries the bankmock role" \
    jq -e '.resource.aws_iam_instance_profile.bankmock[0].role == "${aws_iam_role.bankmock.name}"' <<<"$m"
pol=$(jq -r '.resource.aws_iam_role_policy.kinesis_put[0].policy' <<<"$m")
contains "the role may PutRecords" "$pol" 'Action   = ["kinesis:PutRecords"]'
contains "... on the stream alone" "$pol" 'Resource = aws_kinesis_stream.events.arn'
lacks "... and nothing else (no wildcard)" "$pol" '*'
check "the role's policy is attached to the bankmock role" \
    jq -e '.resource.aws_iam_role_policy.kinesis_put[0].role == "${aws_iam_role.bankmock.id}"' <<<"$m"
check "instance: instance_type from var.instance_type" jq -e '.instance_type == "${var.instance_type}"' <<<"$inst"
check "instance: in the security group" \
    jq -e '.vpc_security_group_ids == ["${aws_security_group.bankmock.id}"]' <<<"$inst"
check "instance: key_name from var.key_name" jq -e '.key_name | test("var.key_name")' <<<"$inst"
check "instance: IMDSv2 only" jq -e '.metadata_options[0].http_tokens == "required"' <<<"$inst"
ud=$(jq -r '.user_data' <<<"$inst")
contains "instance: user data is templatefile(deploy/user_data.sh.tpl)" "$ud" \
    'templatefile("${path.module}/../deploy/user_data.sh.tpl"'
check "the template terraform names exists" test -f ../deploy/user_data.sh.tpl

# One template, filled the same way by terraform and by deploy_ec2.sh.
tf_keys=$(grep -oE '^[[:space:]]+[a-z_]+[[:space:]]+=' <<<"$ud" | tr -d ' =' | sort | tr '\n' ' ')
tpl_keys=$(grep -oE '\$\{[a-z_]+\}' ../deploy/user_data.sh.tpl | tr -d '${}' | sort -u | tr '\n' ' ')
sh_keys=$(grep -oE '\[(repo_url|git_ref|environment|admin_token|[a-z_]+)\]=\$' ../scripts/deploy_ec2.sh |
    tr -d '[]=$' | sort -u | tr '\n' ' ')
check "templatefile() fills exactly the template's placeholders ($tpl_keys)" test "$tf_keys" = "$tpl_keys"
contains "instance i runs shard i/instance_count" "$ud" 'shard       = "${count.index}/${var.instance_count}"'
contains "the instances sink to the stream" "$ud" 'sink        = "kinesis:${aws_kinesis_stream.events.name}"'
check "deploy_ec2.sh fills exactly the template's placeholders" test "$sh_keys" = "$tpl_keys"
placeholder_line="^[[:space:]]+[A-Z_]+='[\$][{][a-z_]+[}]'\$"
others=$(grep -vE "$placeholder_line" ../deploy/user_data.sh.tpl | grep -nE '[$][{]|%[{]')
check "the template has no \${...} but its placeholders, and no %{ directive" test -z "$others"

o=$(jq -c '."outputs.tf".output' <<<"$j")
declare -A port=([gateway_url]=8080 [transaction_service_url]=8081 [auth_service_url]=8082 [monitoring_service_url]=8083)
for n in gateway_url transaction_service_url auth_service_url monitoring_service_url; do
    check "output $n is http://<instance 0's public ip>:${port[$n]}" \
        jq -e --arg n "$n" --arg p "${port[$n]}" \
        '.[$n][0].value == "http://${aws_instance.bankmock[0].public_ip}:" + $p' <<<"$o"
done
check "output gateway_urls lists every instance's gateway" \
    jq -e '.gateway_urls[0].value | test("aws_instance.bankmock")' <<<"$o"

if command -v terraform >/dev/null 2>&1; then
    check "terraform fmt -check" env TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -diff .
else
    echo "terraform is not installed: fmt not checked (parsing above is the check)"
fi
finish
