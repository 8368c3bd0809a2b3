# Where bankmock answers once the first boot has built and started it
# (a few minutes after apply; /var/log/bankmock-deploy.log on the instance).
# The single-instance outputs name instance 0 (shard 0/n); gateway_urls and
# instance_ids list them all.

output "gateway_url" {
  description = "api-gateway (open to allowed_cidr)."
  value       = "http://${aws_instance.bankmock[0].public_ip}:8080"
}

output "transaction_service_url" {
  description = "transaction-service (reachable from allowed_cidr with expose_services = true)."
  value       = "http://${aws_instance.bankmock[0].public_ip}:8081"
}

output "auth_service_url" {
  description = "auth-service (reachable from allowed_cidr with expose_services = true)."
  value       = "http://${aws_instance.bankmock[0].public_ip}:8082"
}

output "monitoring_service_url" {
  description = "monitoring-service (reachable from allowed_cidr with expose_services = true)."
  value       = "http://${aws_instance.bankmock[0].public_ip}:8083"
}

output "instance_id" {
  description = "For scripts/deploy_ec2.sh --instance-id."
  value       = aws_instance.bankmock[0].id
}

output "public_ip" {
  description = "The instance's public IPv4 address."
  value       = aws_instance.bankmock[0].public_ip
}

output "security_group_id" {
  description = "The security group that admits allowed_cidr."
  value       = aws_security_group.bankmock.id
}

output "ssh_command" {
  description = "SSH login (needs key_name and enable_ssh)."
  value       = var.key_name != "" ? "ssh -i ~/.ssh/${var.key_name}.pem admin@${aws_instance.bankmock[0].public_ip}" : "(no key_name set)"
}

output "redeploy_command" {
  description = "Redeploy another ref onto this instance over SSH."
  value       = "scripts/deploy_ec2.sh --instance-id ${aws_instance.bankmock[0].id} --repo-url ${var.repo_url} --ref ${var.ref} --key-file ${var.key_name != "" ? "~/.ssh/${var.key_name}.pem" : "<private-key-file>"}"
}

output "gateway_urls" {
  description = "api-gateway of every instance (instance i runs shard i/instance_count)."
  value       = [for i in aws_instance.bankmock : "http://${i.public_ip}:8080"]
}

output "instance_ids" {
  description = "Every instance, in shard order."
  value       = aws_instance.bankmock[*].id
}

output "kinesis_stream_name" {
  description = "The stream the services deliver their events to."
  value       = aws_kinesis_stream.events.name
}

output "kinesis_stream_arn" {
  description = "The stream's ARN (the only resource the instance role may put records to)."
  value       = aws_kinesis_stream.events.arn
}
