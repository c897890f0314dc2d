data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region
  account   = data.aws_caller_identity.current.account_id
}

# The whole pipeline is one file beside the code that runs its steps (core/pipeline.asl.json,
# installed with the package for the emulator); the offline tests render and execute it.
resource "aws_sfn_state_machine" "pipeline" {
  name     = var.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.pipeline.arn
  definition = templatefile("${path.module}/../../../core/pipeline.asl.json", merge(
    { for step, arn in var.task_function_arns : "${step}_function_arn" => arn },
    {
      registry_table        = var.registry_table
      training_poll_seconds = var.training_poll_seconds
    },
  ))

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.pipeline.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }
}

resource "aws_cloudwatch_log_group" "pipeline" {
  name              = "/aws/vendedlogs/states/${var.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume_states" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "pipeline" {
  name               = "${var.name_prefix}-pipeline"
  assume_role_policy = data.aws_iam_policy_document.assume_states.json
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "RunTasks"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(values(var.task_function_arns), [for arn in values(var.task_function_arns) : "${arn}:*"])
  }
  statement {
    sid       = "PollTrainingJobs"
    actions   = ["sagemaker:DescribeTrainingJob"]
    resources = ["arn:${local.partition}:sagemaker:${local.region}:${local.account}:training-job/${var.model_name}-*"]
  }
  statement {
    sid       = "RecordRunFailure"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.registry_table_arn]
  }
  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  # Log delivery and X-Ray have no resource-level permissions (AWS documents "*" for them).
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "run-the-pipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

# -- new data starts a run ----------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "incoming" {
  name        = "${var.name_prefix}-incoming-data"
  description = "A CSV under incoming/ in the data bucket starts the training pipeline."
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [var.data_bucket] }
      object = { key = [{ prefix = "incoming/" }] }
    }
  })
}

resource "aws_cloudwatch_event_target" "incoming" {
  rule = aws_cloudwatch_event_rule.incoming.name
  arn  = var.ingest_function_arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 5
  }

  # An event still undelivered after the retries (the ingest function throttled, deleted or
  # failing) lands here instead of being dropped: the file would otherwise never be trained on.
  dead_letter_config {
    arn = aws_sqs_queue.incoming_dead_letters.arn
  }
}

resource "aws_sqs_queue" "incoming_dead_letters" {
  name                      = "${var.name_prefix}-incoming-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
}

data "aws_iam_policy_document" "incoming_dead_letters" {
  statement {
    sid     = "TheIncomingRuleSendsUndeliveredEvents"
    actions = ["sqs:SendMessage"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    resources = [aws_sqs_queue.incoming_dead_letters.arn]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.incoming.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "incoming_dead_letters" {
  queue_url = aws_sqs_queue.incoming_dead_letters.id
  policy    = data.aws_iam_policy_document.incoming_dead_letters.json
}

resource "aws_lambda_permission" "incoming" {
  statement_id  = "EventBridgeIncomingData"
  action        = "lambda:InvokeFunction"
  function_name = var.ingest_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.incoming.arn
}
