output "api_url" {
  description = "Base URL of the prediction API."
  value       = module.api.api_url
}

output "data_bucket" {
  description = "Data bucket: drop CSVs under incoming/."
  value       = module.storage.data_bucket
}

output "artifact_bucket" {
  description = "Artifact bucket."
  value       = module.storage.artifact_bucket
}

output "registry_table" {
  description = "Model registry table."
  value       = module.registry.registry_table
}

output "predictions_table" {
  description = "Feedback table (captures go through Firehose to S3)."
  value       = module.registry.predictions_table
}

output "state_machine_arn" {
  description = "Training pipeline."
  value       = module.pipeline.state_machine_arn
}

output "batch_state_machine_arn" {
  description = "Batch scoring (`mlops batch start`)."
  value       = module.pipeline.batch_state_machine_arn
}

output "function_names" {
  description = "Lambda function of each handler."
  value       = module.functions.function_names
}

output "training_repository_url" {
  description = "ECR repository of the training image."
  value       = module.functions.training_repository_url
}

output "kms_key_arn" {
  description = "The stack's KMS key."
  value       = module.storage.kms_key_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "model_name" {
  description = "The model this stack trains and serves."
  value       = var.model_name
}

output "environment" {
  description = "dev, staging or prod."
  value       = var.environment
}

output "export_signing_key" {
  description = "KMS key (alias) that signs this environment's model exports."
  value       = module.storage.export_signing_key
}

output "trusted_export_keys" {
  description = "Comma-separated KMS keys (aliases) whose signed exports an import here accepts."
  value       = join(",", [for e in var.trusted_export_environments : "alias/${var.project}-${e}-export-signing"])
}

output "stream_input_queue_url" {
  description = "Streaming scoring: send records here (docs/streaming.md)."
  value       = module.functions.stream_input_queue_url
}

output "stream_output_queue_url" {
  description = "Streaming scoring: results arrive here."
  value       = module.functions.stream_output_queue_url
}
