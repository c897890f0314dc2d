output "stream_name" {
  description = "Name of the captures' Firehose delivery stream (MLOPS_CAPTURE_STREAM)."
  value       = aws_kinesis_firehose_delivery_stream.captures.name
}

output "stream_arn" {
  description = "ARN of the captures' Firehose delivery stream (what the inference role may write to)."
  value       = aws_kinesis_firehose_delivery_stream.captures.arn
}
