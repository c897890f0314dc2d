output "role_arn" {
  description = "Role the workflows assume for this environment (set it as the environment's AWS_ROLE_ARN variable)."
  value       = aws_iam_role.deploy.arn
}
