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
      # The SageMaker jobs' tasks wait for their job (.sync); the emulator renders "" and the
      # definition's Describe/Wait loop does the waiting there.
      sagemaker_sync     = ".sync"
      sagemaker_role_arn = var.sagemaker_role_arn
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

# What every state machine of this module needs: its key, log delivery and tracing.
data "aws_iam_policy_document" "state_machine" {
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

data "aws_iam_policy_document" "pipeline" {
  source_policy_documents = [data.aws_iam_policy_document.state_machine.json]
  statement {
    sid       = "RunTasks"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(values(var.task_function_arns), [for arn in values(var.task_function_arns) : "${arn}:*"])
  }
  # Big files: the definition starts a Processing job (validation) and a Training job, tagged,
  # waits for them (.sync: Describe, and Stop when the execution is stopped), as one role.
  statement {
    sid = "RunSageMakerJobs"
    actions = [
      "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
      "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
      "sagemaker:AddTags",
    ]
    resources = [
      "arn:${local.partition}:sagemaker:${local.region}:${local.account}:processing-job/${var.model_name}-*",
      "arn:${local.partition}:sagemaker:${local.region}:${local.account}:training-job/${var.model_name}-*",
    ]
  }
  statement {
    sid       = "PassTheJobRole"
    actions   = ["iam:PassRole"]
    resources = [var.sagemaker_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
  # .sync learns a job ended from the EventBridge rules Step Functions manages for SageMaker.
  statement {
    sid     = "SyncWithSageMakerJobs"
    actions = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = [
      "arn:${local.partition}:events:${local.region}:${local.account}:rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule",
      "arn:${local.partition}:events:${local.region}:${local.account}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    ]
  }
  statement {
    sid       = "RecordRunFailure"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.registry_table_arn]
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

# -- batch scoring: split, a Distributed Map of one function per chunk, summarize ------------

locals {
  batch_name = "${var.name_prefix}-batch"
  batch_arn  = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${local.batch_name}"
}

# core/batch.asl.json, like the pipeline's definition: installed with the package for the
# emulator, rendered here.
resource "aws_sfn_state_machine" "batch" {
  name     = local.batch_name
  type     = "STANDARD"
  role_arn = aws_iam_role.batch.arn
  definition = templatefile("${path.module}/../../../core/batch.asl.json", merge(
    { for step, arn in var.batch_function_arns : "${step}_function_arn" => arn },
    {
      data_bucket                  = var.data_bucket
      max_concurrency              = var.batch_max_concurrency
      tolerated_failure_percentage = format("%.1f", var.batch_tolerated_failure_percentage)
    },
  ))

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.batch.arn}:*"
    include_execution_data = true # the job, keys and counts: rows stay in their objects
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }
}

resource "aws_cloudwatch_log_group" "batch" {
  name              = "/aws/vendedlogs/states/${local.batch_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_iam_role" "batch" {
  name               = local.batch_name
  assume_role_policy = data.aws_iam_policy_document.assume_states.json
}

data "aws_iam_policy_document" "batch" {
  source_policy_documents = [data.aws_iam_policy_document.state_machine.json]
  statement {
    sid       = "RunTasks"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(values(var.batch_function_arns), [for arn in values(var.batch_function_arns) : "${arn}:*"])
  }
  # A Distributed Map runs each item as a child execution of this state machine.
  statement {
    sid       = "RunChildExecutions"
    actions   = ["states:StartExecution"]
    resources = [local.batch_arn]
  }
  statement {
    sid       = "WatchChildExecutions"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = ["arn:${local.partition}:states:${local.region}:${local.account}:execution:${local.batch_name}/*"]
  }
  statement {
    sid       = "ReadTheManifest"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_bucket_arn}/batch/*"]
  }
  statement {
    sid       = "WriteMapResults"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
    resources = ["${var.data_bucket_arn}/batch-map-results/*"]
  }
}

resource "aws_iam_role_policy" "batch" {
  name   = "run-batch-scoring"
  role   = aws_iam_role.batch.id
  policy = data.aws_iam_policy_document.batch.json
}

# Optional: a schedule per environment scores `batch_schedule_input_key` with production.
resource "aws_scheduler_schedule" "batch" {
  count       = var.batch_schedule_expression == null ? 0 : 1
  name        = local.batch_name
  kms_key_arn = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  schedule_expression = var.batch_schedule_expression

  target {
    arn      = aws_sfn_state_machine.batch.arn
    role_arn = aws_iam_role.batch_schedule[0].arn
    input = jsonencode({
      job = {
        model     = var.model_name
        input_key = var.batch_schedule_input_key
        run_id    = "<aws.scheduler.execution-id>"
        stage     = "production"
      }
    })
  }
}

data "aws_iam_policy_document" "assume_scheduler" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "batch_schedule" {
  count              = var.batch_schedule_expression == null ? 0 : 1
  name               = "${local.batch_name}-schedule"
  assume_role_policy = data.aws_iam_policy_document.assume_scheduler.json
}

data "aws_iam_policy_document" "batch_schedule" {
  statement {
    sid       = "StartBatchRuns"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.batch.arn]
  }
  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "batch_schedule" {
  count  = var.batch_schedule_expression == null ? 0 : 1
  name   = "start-batch-scoring"
  role   = aws_iam_role.batch_schedule[0].id
  policy = data.aws_iam_policy_document.batch_schedule.json
}
