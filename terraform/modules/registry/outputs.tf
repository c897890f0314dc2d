output "registry_table" {
  description = "Model registry table name."
  value       = aws_dynamodb_table.registry.name
}

output "registry_table_arn" {
  description = "Model registry table ARN."
  value       = aws_dynamodb_table.registry.arn
}

output "predictions_table" {
  description = "Feedback table name (captures go through Firehose to S3)."
  value       = aws_dynamodb_table.predictions.name
}

output "predictions_table_arn" {
  description = "Feedback table ARN (its index ARNs are under <arn>/index/*)."
  value       = aws_dynamodb_table.predictions.arn
}

output "idempotency_table" {
  description = "Powertools idempotency table name."
  value       = aws_dynamodb_table.idempotency.name
}

output "idempotency_table_arn" {
  description = "Powertools idempotency table ARN."
  value       = aws_dynamodb_table.idempotency.arn
}
