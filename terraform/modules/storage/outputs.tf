output "kms_key_arn" {
  description = "Customer-managed KMS key encrypting buckets, tables, logs, topics and queues."
  value       = aws_kms_key.this.arn
}

output "data_bucket" {
  description = "Data bucket name (incoming/, validated/, quarantine/, schemas/, configs/)."
  value       = aws_s3_bucket.this["data"].bucket
}

output "data_bucket_arn" {
  description = "Data bucket ARN."
  value       = aws_s3_bucket.this["data"].arn
}

output "artifact_bucket" {
  description = "Artifact bucket name (runs/, models/, sagemaker/)."
  value       = aws_s3_bucket.this["artifacts"].bucket
}

output "artifact_bucket_arn" {
  description = "Artifact bucket ARN."
  value       = aws_s3_bucket.this["artifacts"].arn
}

output "export_signing_key" {
  description = "Alias of the KMS HMAC key that signs this environment's model exports."
  value       = aws_kms_alias.export_signing.name
}
