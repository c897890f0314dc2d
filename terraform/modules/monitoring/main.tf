data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  model_dimensions = { model = var.model_name, stage = "production" }
  api_namespace    = "AWS/ApiGateway"
  api_dimensions   = var.api_type == "http" ? { ApiId = var.api_id, Stage = var.api_stage } : { ApiName = var.api_name, Stage = var.api_stage }
  api_5xx_metric   = var.api_type == "http" ? "5xx" : "5XXError"

  # Who reacts to what: drift and accuracy retrain; errors and latency roll back.
  topics = {
    retrain  = var.functions.retrain_arn
    rollback = var.functions.rollback_arn
    ops      = null
  }

  # The freshness alarms (core/freshness.py): one table, one resource.
  freshness_alarms = {
    data_age = {
      name        = "data-age"
      metric      = "DataAgeHours"
      threshold   = var.max_data_age_hours
      topics      = ["ops"]
      description = "Hours since the newest timestamp of any accepted data file exceed this environment's limit: data stopped arriving, or arrives old."
    }
    model_data_age = {
      name        = "model-data-age"
      metric      = "ModelDataAgeHours"
      threshold   = var.max_model_data_age_hours
      topics      = ["retrain", "ops"]
      description = "Hours since the newest timestamp of the production version's training data exceed this environment's limit. Retrains."
    }
  }
}

# -- topics ---------------------------------------------------------------------------------

resource "aws_sns_topic" "this" {
  for_each          = local.topics
  name              = "${var.name_prefix}-${each.key}"
  kms_master_key_id = var.kms_key_arn
}

data "aws_iam_policy_document" "topic" {
  for_each = aws_sns_topic.this
  statement {
    sid     = "CloudWatchAlarmsPublish"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    resources = [each.value.arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  for_each = aws_sns_topic.this
  arn      = each.value.arn
  policy   = data.aws_iam_policy_document.topic[each.key].json
}

resource "aws_sns_topic_subscription" "function" {
  for_each  = { for k, arn in local.topics : k => arn if arn != null }
  topic_arn = aws_sns_topic.this[each.key].arn
  protocol  = "lambda"
  endpoint  = each.value
}

resource "aws_lambda_permission" "sns" {
  for_each = {
    retrain  = var.functions.retrain_name
    rollback = var.functions.rollback_name
  }
  statement_id  = "AlarmTopic"
  action        = "lambda:InvokeFunction"
  function_name = each.value
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.this[each.key].arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.notification_emails)
  topic_arn = aws_sns_topic.this["ops"].arn
  protocol  = "email"
  endpoint  = each.value
}

# -- alarms ----------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "drift" {
  alarm_name          = "${var.name_prefix}-data-drift"
  alarm_description   = "Share of features whose live inputs drifted from the training profile (PSI and KS). Retrains."
  namespace           = var.metrics_namespace
  metric_name         = "DataDriftShare"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.drift_share_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["retrain"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "accuracy" {
  alarm_name          = "${var.name_prefix}-feedback-accuracy"
  alarm_description   = "Accuracy of the served model on feedback labels. Retrains."
  namespace           = var.metrics_namespace
  metric_name         = "FeedbackAccuracy"
  dimensions          = local.model_dimensions
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.min_feedback_accuracy
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["retrain"].arn, aws_sns_topic.this["ops"].arn]
}

# Regression models: live RMSE on feedback values (the monitor publishes FeedbackRMSE instead of
# FeedbackAccuracy). Off unless a threshold, in the target's units, is set.
resource "aws_cloudwatch_metric_alarm" "rmse" {
  count               = var.max_feedback_rmse == null ? 0 : 1
  alarm_name          = "${var.name_prefix}-feedback-rmse"
  alarm_description   = "RMSE of the served regression model on feedback values. Retrains."
  namespace           = var.metrics_namespace
  metric_name         = "FeedbackRMSE"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.max_feedback_rmse
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["retrain"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "abtest_decided" {
  alarm_name          = "${var.name_prefix}-abtest-decided"
  alarm_description   = "The canary's A/B test reached its decision (the monitor's sequential test). The rollback function applies it: promote the canary, or retire it."
  namespace           = var.metrics_namespace
  metric_name         = "ABTestDecided"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["rollback"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name_prefix}-api-5xx"
  alarm_description   = "Server errors of the prediction API. Rolls a fresh promotion back."
  namespace           = local.api_namespace
  metric_name         = local.api_5xx_metric
  dimensions          = local.api_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = var.max_5xx_per_minute
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["rollback"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "api_latency" {
  alarm_name          = "${var.name_prefix}-api-p99-latency"
  alarm_description   = "p99 latency of the prediction API. Rolls a fresh promotion back."
  namespace           = local.api_namespace
  metric_name         = "Latency"
  dimensions          = local.api_dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  threshold           = var.max_p99_latency_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["rollback"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "pipeline_failures" {
  alarm_name          = "${var.name_prefix}-pipeline-failures"
  alarm_description   = "Training pipeline executions that failed (bad data is quarantined; see the run record)."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["ops"].arn]
}

# A message in a dead-letter queue is an event or invocation that failed every retry: a data
# file never ingested, an alarm reaction that never ran. Nothing else looks at these queues.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each            = var.dead_letter_queues
  alarm_name          = "${var.name_prefix}-dead-letters-${each.key}"
  alarm_description   = "Messages in ${each.value}: events or invocations that failed every retry. Read them, fix the cause, redrive them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["ops"].arn]
}

# -- the monitor's schedule ------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "monitor" {
  name                = "${var.name_prefix}-monitor"
  description         = "Drift and feedback accuracy of the served model."
  schedule_expression = var.monitor_schedule
}

resource "aws_cloudwatch_event_target" "monitor" {
  rule = aws_cloudwatch_event_rule.monitor.name
  arn  = var.functions.monitor_arn
}

resource "aws_lambda_permission" "monitor" {
  statement_id  = "Schedule"
  action        = "lambda:InvokeFunction"
  function_name = var.functions.monitor_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.monitor.arn
}

# -- dashboard -------------------------------------------------------------------------------

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Predictions by version", region = data.aws_region.current.region, stat = "Sum", period = 300
          metrics = [[{ expression = "SEARCH('{${var.metrics_namespace},model,stage,version} MetricName=\"Predictions\"', 'Sum', 300)", id = "p" }]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "API latency p99 and 5xx", region = data.aws_region.current.region, period = 60
          metrics = [
            concat([local.api_namespace, "Latency"], flatten([for k, v in local.api_dimensions : [k, v]]), [{ stat = "p99" }]),
            concat([local.api_namespace, local.api_5xx_metric], flatten([for k, v in local.api_dimensions : [k, v]]), [{ stat = "Sum", yAxis = "right" }]),
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "Drift and feedback accuracy", region = data.aws_region.current.region, period = 3600
          metrics = [
            [var.metrics_namespace, "DataDriftShare", "model", var.model_name, "stage", "production", { stat = "Maximum" }],
            [var.metrics_namespace, "MaxFeaturePSI", "model", var.model_name, "stage", "production", { stat = "Maximum" }],
            [var.metrics_namespace, "FeedbackAccuracy", "model", var.model_name, "stage", "production", { stat = "Minimum", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "Pipeline runs", region = data.aws_region.current.region, stat = "Sum", period = 3600
          metrics = [
            ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", var.state_machine_arn],
            ["AWS/States", "ExecutionsFailed", "StateMachineArn", var.state_machine_arn],
          ]
        }
      },
      {
        type = "alarm", x = 0, y = 12, width = 24, height = 3
        properties = {
          title = "Alarms"
          alarms = concat([
            aws_cloudwatch_metric_alarm.drift.arn, aws_cloudwatch_metric_alarm.accuracy.arn,
            aws_cloudwatch_metric_alarm.api_5xx.arn, aws_cloudwatch_metric_alarm.api_latency.arn,
            aws_cloudwatch_metric_alarm.pipeline_failures.arn,
            ],
            [for alarm in aws_cloudwatch_metric_alarm.dead_letters : alarm.arn],
            [for alarm in aws_cloudwatch_metric_alarm.freshness : alarm.arn],
          )
        }
      },
    ]
  })
}

# The ML Test Score's monitoring tests (core/health_checks.py publishes these from the monitor;
# NonFiniteOutputs comes from the API per request).
resource "aws_cloudwatch_metric_alarm" "model_age" {
  alarm_name          = "${var.name_prefix}-model-age"
  alarm_description   = "Days since the production version was trained exceed this environment's limit. Retrains."
  namespace           = var.metrics_namespace
  metric_name         = "ModelAgeDays"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.max_model_age_days
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["retrain"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "non_finite_outputs" {
  alarm_name          = "${var.name_prefix}-non-finite-outputs"
  alarm_description   = "The served model returned NaN or infinite probabilities. Rolls a fresh promotion back."
  namespace           = var.metrics_namespace
  metric_name         = "NonFiniteOutputs"
  dimensions          = local.model_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["rollback"].arn, aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "training_serving_skew" {
  alarm_name          = "${var.name_prefix}-training-serving-skew"
  alarm_description   = "Captured requests re-scored offline with the served version's artifact got a different answer than the API gave."
  namespace           = var.metrics_namespace
  metric_name         = "TrainingServingSkew"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["ops"].arn]
}

resource "aws_cloudwatch_metric_alarm" "offline_online_gap" {
  alarm_name          = "${var.name_prefix}-offline-online-gap"
  alarm_description   = "Held-out accuracy of the served version minus its live feedback accuracy. Retrains."
  namespace           = var.metrics_namespace
  metric_name         = "OfflineOnlineGap"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.max_offline_online_gap
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["retrain"].arn, aws_sns_topic.this["ops"].arn]
}

# Freshness (core/freshness.py): the age of the newest accepted data, and of the newest data the
# production version learned. Published only for a model with a time column (time.column); without
# one, missing data keeps both OK. Stale data needs a person (the feed stopped); a stale model
# retrains on the newest accepted file.
resource "aws_cloudwatch_metric_alarm" "freshness" {
  for_each            = local.freshness_alarms
  alarm_name          = "${var.name_prefix}-${each.value.name}"
  alarm_description   = each.value.description
  namespace           = var.metrics_namespace
  metric_name         = each.value.metric
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [for topic in each.value.topics : aws_sns_topic.this[topic].arn]
}

resource "aws_cloudwatch_metric_alarm" "canary_decided" {
  alarm_name          = "${var.name_prefix}-canary-decided"
  alarm_description   = "The canary release reached its verdict (the monitor's check). The rollback function applies it: promote the canary, or retire it."
  namespace           = var.metrics_namespace
  metric_name         = "CanaryDecided"
  dimensions          = local.model_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["rollback"].arn, aws_sns_topic.this["ops"].arn]
}
