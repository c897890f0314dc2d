output "topic_arns" {
  description = "SNS topics: retrain (drift, accuracy), rollback (5xx, latency), ops (everything, for people)."
  value       = { for k, t in aws_sns_topic.this : k => t.arn }
}

output "alarm_names" {
  description = "Alarm names by purpose."
  value = {
    drift             = aws_cloudwatch_metric_alarm.drift.alarm_name
    accuracy          = aws_cloudwatch_metric_alarm.accuracy.alarm_name
    api_5xx           = aws_cloudwatch_metric_alarm.api_5xx.alarm_name
    api_latency       = aws_cloudwatch_metric_alarm.api_latency.alarm_name
    pipeline_failures = aws_cloudwatch_metric_alarm.pipeline_failures.alarm_name
  }
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
