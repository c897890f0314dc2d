output "function_names" {
  description = "Function name of each handler (ingest, validate, train, collect, evaluate, register, monitor, retrain, rollback, inference, stream)."
  value = merge(
    { for name, f in aws_lambda_function.image : name => f.function_name },
    { inference = aws_lambda_function.inference.function_name, stream = aws_lambda_function.stream.function_name },
  )
}

output "function_arns" {
  description = "Function ARN of each handler."
  value = merge(
    { for name, f in aws_lambda_function.image : name => f.arn },
    { inference = aws_lambda_function.inference.arn, stream = aws_lambda_function.stream.arn },
  )
}

output "pipeline_task_arns" {
  description = "Function ARN of each of the pipeline's task states (core/pipeline_steps.json)."
  value       = { for name in keys(local.pipeline_handlers) : name => aws_lambda_function.image[name].arn }
}

output "batch_task_arns" {
  description = "Function ARN of each batch-scoring step (split, score, summarize)."
  value       = { for name in keys(local.batch_handlers) : trimprefix(name, "batch_") => aws_lambda_function.image[name].arn }
}

output "inference_alias_arn" {
  description = "ARN of the inference function's live alias (what the API invokes)."
  value       = aws_lambda_alias.inference_live.arn
}

output "inference_alias_invoke_arn" {
  description = "Invoke ARN of the live alias, for API Gateway integrations."
  value       = aws_lambda_alias.inference_live.invoke_arn
}

output "sagemaker_role_arn" {
  description = "Role SageMaker training jobs run as."
  value       = aws_iam_role.sagemaker.arn
}

output "training_repository_url" {
  description = "ECR repository of the training image."
  value       = aws_ecr_repository.training.repository_url
}

output "dead_letter_queue_arn" {
  description = "DLQ of the asynchronously invoked functions."
  value       = aws_sqs_queue.dead_letters.arn
}

output "dead_letter_queue_name" {
  description = "Name of the DLQ of the asynchronously invoked functions."
  value       = aws_sqs_queue.dead_letters.name
}

output "log_group_names" {
  description = "Log group of each function."
  value       = { for name, g in aws_cloudwatch_log_group.function : name => g.name }
}

output "stream_input_queue_url" {
  description = "Streaming scoring: send records here (docs/streaming.md)."
  value       = aws_sqs_queue.stream_input.url
}

output "stream_output_queue_url" {
  description = "Streaming scoring: results arrive here."
  value       = aws_sqs_queue.stream_output.url
}

output "stream_dead_letter_queue_name" {
  description = "Streaming scoring: input messages that failed every receive."
  value       = aws_sqs_queue.stream_dead_letters.name
}
