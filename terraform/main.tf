# bankmock on EC2: a security group that admits allowed_cidr only, a
# Kinesis stream, an instance role that may put records to that stream
# alone, and instance_count instances whose user data (deploy/user_data.sh.tpl,
# the same template scripts/deploy_ec2.sh renders) fetches the project at
# var.ref, installs the packages, builds, and runs the four daemons under
# systemd (deploy/install.sh, deploy/systemd/), instance i as shard
# i/instance_count, each delivering to the stream with the role's
# credentials (IMDSv2; docs/kinesis.md). Redeploy onto one with
# scripts/deploy_ec2.sh --instance-id <instance_id> --key-file <key>.

terraform {
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

locals {
  local_endpoint = var.aws_endpoint_url != ""
  tags = {
    Project   = "bankmock"
    Name      = var.name
    ManagedBy = "terraform"
  }
  ami_id    = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.debian[0].value
  vpc_id    = var.vpc_id != "" ? var.vpc_id : data.aws_vpc.default[0].id
  open_cidr = can(regex("/0$", var.allowed_cidr))
}

provider "aws" {
  region = var.region

  # LocalStack (config/environments/local.env) accepts any credentials and
  # has no account behind it to validate.
  skip_credentials_validation = local.local_endpoint
  skip_requesting_account_id  = local.local_endpoint
  skip_metadata_api_check     = local.local_endpoint

  dynamic "endpoints" {
    for_each = local.local_endpoint ? [var.aws_endpoint_url] : []
    content {
      ec2     = endpoints.value
      ssm     = endpoints.value
      sts     = endpoints.value
      iam     = endpoints.value
      kinesis = endpoints.value
    }
  }
}

data "aws_ssm_parameter" "debian" {
  count = var.ami_id == "" ? 1 : 0
  name  = "/aws/service/debian/release/12/latest/amd64"
}

data "aws_vpc" "default" {
  count   = var.vpc_id == "" ? 1 : 0
  default = true
}

resource "aws_security_group" "bankmock" {
  name        = var.name
  description = "bankmock: gateway 8080 (services 8081-8083 optional) from the allowed CIDR"
  vpc_id      = local.vpc_id
  tags        = local.tags

  ingress {
    description = "bankmock-gateway"
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    cidr_blocks = [var.allowed_cidr]
  }

  dynamic "ingress" {
    for_each = var.expose_services ? [1] : []
    content {
      description = "bankmock-services"
      from_port   = 8081
      to_port     = 8083
      protocol    = "tcp"
      cidr_blocks = [var.allowed_cidr]
    }
  }

  dynamic "ingress" {
    for_each = var.enable_ssh ? [1] : []
    content {
      description = "bankmock-ssh"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = [var.allowed_cidr]
    }
  }

  # Out: apt, git and the AWS APIs.
  egress {
    description = "all outbound"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    precondition {
      condition     = var.allow_open || !local.open_cidr
      error_message = "This allowed_cidr opens bankmock to the whole internet; set allow_open = true if that is really meant."
    }
  }
}

# The stream the services sink to (BANKMOCK_SINK=kinesis:<name>).
resource "aws_kinesis_stream" "events" {
  name             = var.kinesis_stream_name
  shard_count      = var.kinesis_shard_count
  retention_period = 24
  tags             = local.tags
}

# The instances' role: PutRecords to that stream and nothing else. The
# sink reads its credentials from the instance metadata (IMDSv2).
resource "aws_iam_role" "bankmock" {
  name = "${var.name}-instance"
  tags = local.tags
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "kinesis_put" {
  name = "${var.name}-kinesis-put"
  role = aws_iam_role.bankmock.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kinesis:PutRecords"]
      Resource = aws_kinesis_stream.events.arn
    }]
  })
}

resource "aws_iam_instance_profile" "bankmock" {
  name = "${var.name}-instance"
  role = aws_iam_role.bankmock.name
  tags = local.tags
}

resource "aws_instance" "bankmock" {
  count                  = var.instance_count
  ami                    = local.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name != "" ? var.key_name : null
  subnet_id              = var.subnet_id != "" ? var.subnet_id : null
  vpc_security_group_ids = [aws_security_group.bankmock.id]
  iam_instance_profile   = aws_iam_instance_profile.bankmock.name

  user_data = templatefile("${path.module}/../deploy/user_data.sh.tpl", {
    repo_url    = var.repo_url
    git_ref     = var.ref
    environment = var.environment
    admin_token = var.admin_token
    shard       = "${count.index}/${var.instance_count}"
    sink        = "kinesis:${aws_kinesis_stream.events.name}"
    region      = var.region
    seed        = var.seed
  })
  user_data_replace_on_change = true

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  tags        = merge(local.tags, { Name = var.instance_count > 1 ? "${var.name}-${count.index}" : var.name })
  volume_tags = local.tags
}
