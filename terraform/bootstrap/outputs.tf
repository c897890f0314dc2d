output "state_bucket" {
  description = "Pass to terraform init -backend-config=bucket=... in each environment."
  value       = aws_s3_bucket.state.bucket
}

output "deploy_role_arns" {
  description = "Set each as the AWS_ROLE_ARN variable of the GitHub environment of the same name."
  value       = { for env, m in module.ci_access : env => m.role_arn }
}
