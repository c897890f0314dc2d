output "state_machine_arn" {
  description = "ARN of the training pipeline."
  value       = aws_sfn_state_machine.pipeline.arn
}

output "state_machine_name" {
  description = "Name of the training pipeline."
  value       = aws_sfn_state_machine.pipeline.name
}

output "log_group_name" {
  description = "Execution log group."
  value       = aws_cloudwatch_log_group.pipeline.name
}

output "dead_letter_queue_name" {
  description = "Queue of incoming-data events EventBridge could not deliver to the ingest function."
  value       = aws_sqs_queue.incoming_dead_letters.name
}

output "batch_state_machine_arn" {
  description = "ARN of the batch-scoring state machine (`mlops batch start`)."
  value       = aws_sfn_state_machine.batch.arn
}
