output "api_url" {
  description = "Base URL of the prediction API."
  value       = module.stack.api_url
}

output "data_bucket" {
  description = "Data bucket: drop CSVs under incoming/."
  value       = module.stack.data_bucket
}

output "artifact_bucket" {
  description = "Artifact bucket."
  value       = module.stack.artifact_bucket
}

output "registry_table" {
  description = "Model registry table."
  value       = module.stack.registry_table
}

output "predictions_table" {
  description = "Feedback table (captures go through Firehose to S3)."
  value       = module.stack.predictions_table
}

output "state_machine_arn" {
  description = "Training pipeline."
  value       = module.stack.state_machine_arn
}

output "batch_state_machine_arn" {
  description = "Batch scoring (`mlops batch start`)."
  value       = module.stack.batch_state_machine_arn
}

output "function_names" {
  description = "Lambda function of each handler."
  value       = module.stack.function_names
}

output "training_repository_url" {
  description = "ECR repository of the training image."
  value       = module.stack.training_repository_url
}

output "model_name" {
  description = "The model this stack trains and serves."
  value       = module.stack.model_name
}

output "environment" {
  description = "dev, staging or prod."
  value       = module.stack.environment
}

output "kms_key_arn" {
  description = "The stack's KMS key."
  value       = module.stack.kms_key_arn
}

output "export_signing_key" {
  description = "KMS key (alias) that signs model exports from this environment."
  value       = module.stack.export_signing_key
}

output "trusted_export_keys" {
  description = "KMS keys whose signed exports an import into this environment accepts."
  value       = module.stack.trusted_export_keys
}

output "stream_input_queue_url" {
  description = "Streaming scoring: send records here (docs/streaming.md)."
  value       = module.stack.stream_input_queue_url
}

output "stream_output_queue_url" {
  description = "Streaming scoring: results arrive here."
  value       = module.stack.stream_output_queue_url
}
