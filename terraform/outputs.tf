# Where bankmock answers once the first boot has built and started it
# (a few minutes after apply; /var/log/bankmock-deploy.log on the instance).

output "gateway_url" {
  description = "api-gateway (open to allowed_cidr)."
  value       = "http://${aws_instance.bankmock.public_ip}:8080"
}

output "transaction_service_url" {
  description = "transaction-service (reachable from allowed_cidr with expose_services = true)."
  value       = "http://${aws_instance.bankmock.public_ip}:8081"
}

output "auth_service_url" {
  description = "auth-service (reachable from allowed_cidr with expose_services = true)."
  value       = "http://${aws_instance.bankmock.public_ip}:8082"
}

output "monitoring_service_url" {
  description = "monitoring-service (reachable from allowed_cidr with expose_services = true)."
  value       = "http://${aws_instance.bankmock.public_ip}:8083"
}

output "instance_id" {
  description = "For scripts/deploy_ec2.sh --instance-id."
  value       = aws_instance.bankmock.id
}

output "public_ip" {
  description = "The instance's public IPv4 address."
  value       = aws_instance.bankmock.public_ip
}

output "security_group_id" {
  description = "The security group that admits allowed_cidr."
  value       = aws_security_group.bankmock.id
}

output "ssh_command" {
  description = "SSH login (needs key_name and enable_ssh)."
  value       = var.key_name != "" ? "ssh -i ~/.ssh/${var.key_name}.pem admin@${aws_instance.bankmock.public_ip}" : "(no key_name set)"
}

output "redeploy_command" {
  description = "Redeploy another ref onto this instance over SSH."
  value       = "scripts/deploy_ec2.sh --instance-id ${aws_instance.bankmock.id} --repo-url ${var.repo_url} --ref ${var.ref} --key-file ${var.key_name != "" ? "~/.ssh/${var.key_name}.pem" : "<private-key-file>"}"
}
