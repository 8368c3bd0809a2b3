# Inputs of the bankmock EC2 deployment (see README "Deployment").
# The same choices as scripts/deploy_ec2.sh; config/environments/<env>.env
# sets TF_VAR_region and TF_VAR_environment (and, for local, the LocalStack
# endpoint): eval "$(config/switch_environment.sh env)".

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t2.micro"
}

variable "allowed_cidr" {
  description = "IPv4 range allowed to reach the gateway (8080), the services (8081-8083, with expose_services) and SSH, e.g. \"203.0.113.7/32\". No default: say who may connect. A /0 range also needs allow_open = true."
  type        = string

  validation {
    condition     = can(cidrhost(var.allowed_cidr, 0)) && can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+/[0-9]+$", var.allowed_cidr))
    error_message = "The allowed_cidr must be an IPv4 CIDR range such as 203.0.113.7/32."
  }
}

variable "allow_open" {
  description = "Permit a /0 allowed_cidr (0.0.0.0/0: the whole internet)."
  type        = bool
  default     = false
}

variable "expose_services" {
  description = "Also open the services' ports 8081-8083 to allowed_cidr (the gateway's 8080 always is)."
  type        = bool
  default     = false
}

variable "enable_ssh" {
  description = "Open port 22 to allowed_cidr, for SSH and scripts/deploy_ec2.sh --instance-id."
  type        = bool
  default     = true
}

variable "key_name" {
  description = "Name of an existing EC2 key pair for SSH (login user admin); empty for none."
  type        = string
  default     = ""
}

variable "name" {
  description = "Name tag and security group name (not scripts/deploy_ec2.sh's \"bankmock\", so the two never share a group)."
  type        = string
  default     = "bankmock-tf"
}

variable "ami_id" {
  description = "AMI; empty for the latest Debian 12 (SSM /aws/service/debian/release/12/latest/amd64)."
  type        = string
  default     = ""
}

variable "vpc_id" {
  description = "VPC; empty for the region's default VPC."
  type        = string
  default     = ""
}

variable "subnet_id" {
  description = "Subnet (with public IPv4 addresses); empty for a default subnet."
  type        = string
  default     = ""
}

variable "repo_url" {
  description = "Git URL the instance clones bankmock from (https, without credentials)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9+.-]*://[A-Za-z0-9@:/._~%+=-]+$", var.repo_url))
    error_message = "The repo_url must be a URL such as https://github.com/OWNER/bankmock.git, without quotes or spaces."
  }
}

variable "ref" {
  description = "Branch, tag or commit to deploy."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._][A-Za-z0-9._/-]*$", var.ref))
    error_message = "The ref must be a branch, tag or commit name."
  }
}

variable "environment" {
  description = "Daemon config on the instance: config/environments/<environment>.json; empty for config/anomaly_config.json."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9_-]*)?$", var.environment))
    error_message = "The environment must be a name such as dev, staging or prod."
  }
}

variable "admin_token" {
  description = "ADMIN_TOKEN for POST requests (empty: open). It travels in the user data."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9._~+/=-]*$", var.admin_token))
    error_message = "The admin_token may hold only letters, digits and ._~+/=-."
  }
}

variable "aws_endpoint_url" {
  description = "AWS endpoint for every service, e.g. http://localhost:4566 for LocalStack; empty for AWS."
  type        = string
  default     = ""
}

variable "instance_count" {
  description = "Instances. Instance i (from 0) runs shard i/instance_count of each service (BANKMOCK_SHARD), so n instances make one bank's traffic n times faster; all deliver to the one Kinesis stream."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 64 && floor(var.instance_count) == var.instance_count
    error_message = "The instance_count must be a whole number from 1 to 64."
  }
}

variable "kinesis_stream_name" {
  description = "The Kinesis stream the services deliver their events to (BANKMOCK_SINK=kinesis:<name>; docs/kinesis.md)."
  type        = string
  default     = "bankmock-events"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,128}$", var.kinesis_stream_name))
    error_message = "The kinesis_stream_name must be 1-128 of A-Z a-z 0-9 _ . -."
  }
}

variable "kinesis_shard_count" {
  description = "Shards of the stream (each takes 1,000 records/s or 1 MB/s of writes)."
  type        = number
  default     = 2
}

variable "seed" {
  description = "The services' shared seed on every instance, so the shards are slices of one bank (and share the cross-service incidents)."
  type        = string
  default     = "7"

  validation {
    condition     = can(regex("^[0-9]+$", var.seed))
    error_message = "The seed must be a number."
  }
}
