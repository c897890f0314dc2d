data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region
  account   = data.aws_caller_identity.current.account_id

  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.state_machine_name}"
  executions_arn    = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.state_machine_name}:*"
  # The pipeline's steps and their handlers, written once in core/pipeline_steps.json.
  pipeline_handlers = { for step in jsondecode(file("${path.module}/../../../core/pipeline_steps.json")).steps : step.name => step.handler }

  training_jobs_arn   = "arn:${local.partition}:sagemaker:${local.region}:${local.account}:training-job/${var.model_name}-*"
  processing_jobs_arn = "arn:${local.partition}:sagemaker:${local.region}:${local.account}:processing-job/${var.model_name}-*"
  data_objects        = "${var.data_bucket_arn}/*"
  artifact_objects    = "${var.artifact_bucket_arn}/*"
  batch_objects       = "${var.data_bucket_arn}/batch/*"
  # Captured predictions, as the captures module's Firehose stream writes them.
  capture_objects = "${var.data_bucket_arn}/captures/*"
  # Batch scoring: one handler a step of core/batch.asl.json.
  batch_handlers = {
    batch_split     = "mlops_template.functions.batch.split_handler"
    batch_score     = "mlops_template.functions.batch.score_handler"
    batch_summarize = "mlops_template.functions.batch.summarize_handler"
  }

  # What every handler reads (core/settings.py declares each; tests hold the two together).
  common_env = {
    MLOPS_BACKEND                = "aws"
    MLOPS_ENVIRONMENT            = var.environment
    MLOPS_MODEL_NAME             = var.model_name
    MLOPS_DATA_BUCKET            = var.data_bucket
    MLOPS_ARTIFACT_BUCKET        = var.artifact_bucket
    MLOPS_REGISTRY_TABLE         = var.registry_table
    MLOPS_PREDICTIONS_TABLE      = var.predictions_table
    MLOPS_CAPTURE_STREAM         = var.capture_stream
    MLOPS_KMS_KEY_ID             = var.kms_key_arn
    MLOPS_METRICS_NAMESPACE      = var.metrics_namespace
    MLOPS_CODE_VERSION           = var.code_version
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = "INFO"
  }

  # One entry per function: handler, packaging, sizing, its own settings, and exactly the AWS
  # actions its code calls (docs/handlers.md; tests/terraform holds them to the code). Roles are
  # built from `statements` and nothing else. s3:ListBucket is there so that reading a key that
  # may not exist (a config, the latest-data pointer) answers 404, not 403.
  functions = {
    ingest = {
      handler = "mlops_template.functions.ingest.handler", package = "image", memory = 512, timeout = 60
      async   = true, reserved = 10
      env     = { MLOPS_STATE_MACHINE_ARN = local.state_machine_arn }
      statements = [
        { sid = "StartPipeline", actions = ["states:StartExecution"], resources = [local.state_machine_arn] },
        { sid = "SeePipelineRuns", actions = ["states:DescribeExecution"], resources = [local.executions_arn] },
      ]
    }
    # The Route state: a HEAD of the file against the limit computed from the validate and train
    # functions' memory (core/settings.py lambda_max_data_bytes). For SageMaker it claims the
    # file, starts the run's record and writes the jobs' contract under jobs/.
    route = {
      handler = local.pipeline_handlers["route"], package = "image", memory = 512
      timeout = 60, async = false, reserved = 10
      env = {
        MLOPS_TRAINING_MODE                = var.training_mode
        MLOPS_PIPELINE_MEMORY_MB           = tostring(var.training_memory_mb)
        MLOPS_TRAINING_IMAGE_URI           = var.training_image_uri
        MLOPS_SAGEMAKER_INSTANCE_TYPE      = var.sagemaker_instance_type
        MLOPS_PROCESSING_INSTANCE_TYPE     = var.processing_instance_type
        MLOPS_TRAINING_MAX_RUNTIME_SECONDS = tostring(var.sagemaker_max_runtime_seconds)
      }
      statements = [
        { sid = "ReadWriteData", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.data_objects] },
        { sid = "ClaimUploads", actions = ["s3:GetObjectVersion", "s3:DeleteObjectVersion"], resources = ["${var.data_bucket_arn}/incoming/*"] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "RecordRuns", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [var.registry_table_arn] },
      ]
    }
    # After the Processing job: its report accepts the file (copied inside S3, never read here)
    # or quarantines it.
    collect_validation = {
      handler = local.pipeline_handlers["collect_validation"], package = "image", memory = 512
      timeout = 900, async = false, reserved = 5
      env     = {}
      statements = [
        { sid = "ReadWriteData", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = [local.data_objects] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "RecordRuns", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [var.registry_table_arn] },
      ]
    }
    # A step died (out of memory or time): the file goes to quarantine/ with a report.
    quarantine = {
      handler = local.pipeline_handlers["quarantine"], package = "image", memory = 512
      timeout = 900, async = false, reserved = 5
      env     = {}
      statements = [
        { sid = "ReadWriteData", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = [local.data_objects] },
        { sid = "ClaimUploads", actions = ["s3:GetObjectVersion", "s3:DeleteObjectVersion"], resources = ["${var.data_bucket_arn}/incoming/*"] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
      ]
    }
    validate = {
      handler = local.pipeline_handlers["validate"], package = "image", memory = var.training_memory_mb
      timeout = 900, async = false, reserved = 10
      # A model trained from feature views (features_from): the label file is joined against
      # the offline history (features/offline/ in the data bucket) with these definitions.
      env = { MLOPS_FEATURE_REPO = var.feature_repo }
      statements = [
        { sid = "ReadWriteData", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = [local.data_objects] },
        # Claiming an upload copies and then deletes exactly the version it read.
        { sid = "ClaimUploads", actions = ["s3:GetObjectVersion", "s3:DeleteObjectVersion"], resources = ["${var.data_bucket_arn}/incoming/*"] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        # The run's record (RUN#<run id>): started here, ended here when the data is refused.
        { sid = "RecordRuns", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [var.registry_table_arn] },
      ]
    }
    train = {
      handler = local.pipeline_handlers["train"], package = "image", memory = var.training_memory_mb
      timeout = 900, async = false, reserved = 5
      env     = {}
      statements = [
        { sid = "ReadData", actions = ["s3:GetObject"], resources = [local.data_objects] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "WriteRuns", actions = ["s3:PutObject"], resources = [local.artifact_objects] },
      ]
    }
    collect = {
      handler = local.pipeline_handlers["collect"], package = "image", memory = var.training_memory_mb
      timeout = 300, async = false, reserved = 5
      env = {
        MLOPS_SAGEMAKER_ROLE_ARN = aws_iam_role.sagemaker.arn
        MLOPS_TRAINING_IMAGE_URI = var.training_image_uri
      }
      statements = [
        { sid = "ReadWriteArtifacts", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.artifact_objects] },
        { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [var.artifact_bucket_arn] },
        { sid = "SeeTrainingJobs", actions = ["sagemaker:DescribeTrainingJob"], resources = [local.training_jobs_arn] },
      ]
    }
    evaluate = {
      handler = local.pipeline_handlers["evaluate"], package = "image", memory = var.training_memory_mb
      timeout = 600, async = false, reserved = 5
      env     = {}
      statements = [
        { sid = "ReadData", actions = ["s3:GetObject"], resources = [local.data_objects] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "ReadArtifacts", actions = ["s3:GetObject"], resources = [local.artifact_objects] },
        # Reads production's record and stage history (past production versions, for staleness);
        # writes the run's metrics and, when the gate refuses, its end.
        { sid = "ReadRegistryRecordRuns", actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"], resources = [var.registry_table_arn] },
      ]
    }
    register = {
      handler = local.pipeline_handlers["register"], package = "image", memory = 1024, timeout = 300
      async   = false, reserved = 5
      env     = { MLOPS_AUTO_PROMOTE_STAGE = var.auto_promote_stage }
      statements = [
        # Delete: a version's pending marker, and the files of a registration that died.
        { sid = "CopyArtifacts", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = [local.artifact_objects] },
        { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [var.artifact_bucket_arn] },
        # TransactWriteItems (stage moves) is authorised as the PutItems it holds.
        { sid = "WriteRegistry", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [var.registry_table_arn] },
      ]
    }
    monitor = {
      handler = "mlops_template.functions.monitor.handler", package = "image", memory = 2048, timeout = 300
      async   = true, reserved = 1
      env = {
        MLOPS_METRICS_SINK         = "cloudwatch"
        MLOPS_SERVING_STAGE        = "production"
        MLOPS_MONITOR_WINDOW_HOURS = tostring(var.monitor_window_hours)
        MLOPS_DRIFT_WINDOW_HOURS   = tostring(var.drift_window_hours)
      }
      statements = [
        { sid = "ReadArtifacts", actions = ["s3:GetObject"], resources = [local.artifact_objects] },
        { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [var.artifact_bucket_arn] },
        { sid = "ReadRegistry", actions = ["dynamodb:GetItem"], resources = [var.registry_table_arn] },
        # Every capture of the window: listed by partition, streamed object by object.
        { sid = "ReadCaptures", actions = ["s3:GetObject"], resources = [local.capture_objects] },
        { sid = "ListCaptures", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "ReadFeedback", actions = ["dynamodb:Query"], resources = ["${var.predictions_table_arn}/index/by_model"] },
        # Served feature values against the offline history (FeatureSkew).
        { sid = "ReadFeatureHistory", actions = ["s3:GetObject"], resources = ["${var.data_bucket_arn}/features/offline/*"] },
        # The newest accepted timestamp (datasets/<model>/freshness.json): DataAgeHours.
        { sid = "ReadFreshness", actions = ["s3:GetObject"], resources = ["${var.data_bucket_arn}/datasets/*"] },
        # PutMetricData has no resource-level permissions; the condition pins our namespace.
        { sid = "PublishMetrics", actions = ["cloudwatch:PutMetricData"], resources = ["*"], namespace = var.metrics_namespace },
      ]
    }
    retrain = {
      handler = "mlops_template.functions.retrain.handler", package = "image", memory = 512, timeout = 60
      async   = true, reserved = 1
      env = {
        MLOPS_STATE_MACHINE_ARN        = local.state_machine_arn
        MLOPS_IDEMPOTENCY_TABLE        = var.idempotency_table
        MLOPS_RETRAIN_COOLDOWN_SECONDS = tostring(var.retrain_cooldown_seconds)
      }
      statements = [
        { sid = "ReadData", actions = ["s3:GetObject"], resources = [local.data_objects] },
        { sid = "ListData", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "StartPipeline", actions = ["states:StartExecution"], resources = [local.state_machine_arn] },
        { sid = "SeePipelineRuns", actions = ["states:DescribeExecution"], resources = [local.executions_arn] },
        { sid = "Idempotency", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], resources = [var.idempotency_table_arn] },
      ]
    }
    rollback = {
      handler = "mlops_template.functions.rollback.handler", package = "image", memory = 512, timeout = 60
      async   = true, reserved = 1
      env = {
        MLOPS_SERVING_STAGE           = "production"
        MLOPS_ROLLBACK_WINDOW_SECONDS = tostring(var.rollback_window_seconds)
      }
      statements = [
        { sid = "RollBackStages", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], resources = [var.registry_table_arn] },
        # The version rolled back to must still have every artifact, byte for byte.
        { sid = "VerifyArtifacts", actions = ["s3:GetObject"], resources = [local.artifact_objects] },
        { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [var.artifact_bucket_arn] },
        # An A/B test's decision: its captured outcomes, and its plan removed once applied.
        { sid = "ReadCaptures", actions = ["s3:GetObject"], resources = [local.capture_objects] },
        { sid = "ListCaptures", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
        { sid = "ReadFeedback", actions = ["dynamodb:Query"], resources = ["${var.predictions_table_arn}/index/by_model"] },
        { sid = "EndAbTests", actions = ["s3:DeleteObject"], resources = ["${var.artifact_bucket_arn}/abtests/*"] },
        # A canary release's verdict applied: its plan removed.
        { sid = "EndCanaries", actions = ["s3:DeleteObject"], resources = ["${var.artifact_bucket_arn}/canaries/*"] },
      ]
    }
    # Batch scoring (core/batch.asl.json): inputs under batch-input/, everything else under batch/.
    batch_split = {
      handler = local.batch_handlers["batch_split"], package = "image", memory = var.training_memory_mb
      timeout = 900, async = false, reserved = 2
      env     = {}
      statements = [
        { sid = "ReadInput", actions = ["s3:GetObject"], resources = ["${var.data_bucket_arn}/batch-input/*"] },
        { sid = "WriteChunks", actions = ["s3:PutObject"], resources = [local.batch_objects] },
      ]
    }
    batch_score = {
      handler = local.batch_handlers["batch_score"], package = "image", memory = 2048
      timeout = 900, async = false, reserved = 20
      env     = {}
      statements = [
        { sid = "ReadChunkWriteResults", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.batch_objects] },
        { sid = "ReadArtifacts", actions = ["s3:GetObject"], resources = [local.artifact_objects] },
        { sid = "ReadRegistry", actions = ["dynamodb:GetItem"], resources = [var.registry_table_arn] },
      ]
    }
    batch_summarize = {
      handler = local.batch_handlers["batch_summarize"], package = "image", memory = 512
      timeout = 300, async = false, reserved = 2
      env     = {}
      statements = [
        { sid = "ReadCountsWriteSummary", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.batch_objects] },
        { sid = "ListCounts", actions = ["s3:ListBucket"], resources = [var.data_bucket_arn] },
      ]
    }
    inference = {
      handler = "mlops_template.functions.inference.handler.handler", package = "zip", memory = var.inference_memory_mb
      timeout = 30, async = false, reserved = var.inference_reserved_concurrency
      env = {
        MLOPS_METRICS_SINK          = "emf"
        MLOPS_SERVING_STAGE         = "production"
        MLOPS_MODEL_REFRESH_SECONDS = tostring(var.model_refresh_seconds)
        MLOPS_CAPTURE_SAMPLE_RATE   = tostring(var.capture_sample_rate)
        MLOPS_MAX_BATCH_RECORDS     = tostring(var.max_batch_records)
        MLOPS_FEATURE_TABLE         = var.features_table
        MLOPS_FEATURE_MISSING       = var.feature_missing
      }
      statements = [
        { sid = "ReadArtifacts", actions = ["s3:GetObject"], resources = [local.artifact_objects] },
        { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [var.artifact_bucket_arn] },
        { sid = "ReadRegistry", actions = ["dynamodb:GetItem"], resources = [var.registry_table_arn] },
        # Captures go to the Firehose stream (never one table item each); feedback, one item.
        { sid = "Capture", actions = ["firehose:PutRecordBatch"], resources = [var.capture_stream_arn] },
        { sid = "Feedback", actions = ["dynamodb:PutItem"], resources = [var.predictions_table_arn] },
        # Entity records at /predict: one BatchGetItem per request, on the online store only.
        { sid = "ReadOnlineFeatures", actions = ["dynamodb:BatchGetItem"], resources = [var.features_table_arn] },
      ]
    }
    # Streaming scoring (docs/streaming.md): the inference zip, triggered by the input queue.
    stream = {
      handler = "mlops_template.functions.stream.handler", package = "zip", memory = var.inference_memory_mb
      timeout = var.stream_timeout_seconds, async = false, reserved = var.stream_max_concurrency
      env = {
        MLOPS_METRICS_SINK            = "emf"
        MLOPS_SERVING_STAGE           = "production"
        MLOPS_MODEL_REFRESH_SECONDS   = tostring(var.model_refresh_seconds)
        MLOPS_CAPTURE_SAMPLE_RATE     = tostring(var.capture_sample_rate)
        MLOPS_MAX_BATCH_RECORDS       = tostring(var.max_batch_records)
        MLOPS_STREAM_OUTPUT_QUEUE_URL = aws_sqs_queue.stream_output.url
        MLOPS_FEATURE_TABLE           = var.features_table
        MLOPS_FEATURE_REPO            = var.feature_repo
      }
      statements = [
        { sid = "ReadArtifacts", actions = ["s3:GetObject"], resources = [local.artifact_objects] },
        { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [var.artifact_bucket_arn] },
        { sid = "ReadRegistry", actions = ["dynamodb:GetItem"], resources = [var.registry_table_arn] },
        { sid = "Capture", actions = ["firehose:PutRecordBatch"], resources = [var.capture_stream_arn] },
        # The event source mapping polls the input queue with this role.
        { sid = "ConsumeInput", actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], resources = [aws_sqs_queue.stream_input.arn] },
        { sid = "SendResults", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.stream_output.arn] },
        # Streamed feature rows (docs/feature-store.md): the online store, the offline history.
        { sid = "WriteOnlineFeatures", actions = ["dynamodb:PutItem"], resources = [var.features_table_arn] },
        { sid = "AppendFeatureHistory", actions = ["s3:PutObject"], resources = ["${var.data_bucket_arn}/features/offline/*"] },
      ]
    }
  }

  image_functions = { for name, f in local.functions : name => f if f.package == "image" }
}

# -- roles: one per function ---------------------------------------------------------------

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  dynamic "statement" {
    for_each = each.value.statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = lookup(statement.value, "namespace", null) == null ? [] : [statement.value.namespace]
        content {
          test     = "StringEquals"
          variable = "cloudwatch:namespace"
          values   = [condition.value]
        }
      }
    }
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  # X-Ray has no resource-level permissions: "*" is the only resource.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = each.value.async ? [1] : []
    content {
      sid       = "DeadLetters"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dead_letters.arn]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

# -- logs and dead letters -------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name_prefix}-functions-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
}

# -- the pipeline and reaction functions: one container image --------------------------------

resource "aws_lambda_function" "image" {
  #checkov:skip=CKV_AWS_117:No VPC resources are used; every call goes to AWS APIs with IAM and TLS.
  #checkov:skip=CKV_AWS_272:The image is pinned by digest in ECR and scanned on push; code signing applies to zip packages.
  #checkov:skip=CKV_AWS_116:Step Functions invokes the pipeline tasks synchronously and records failures; async functions have a DLQ (dynamic block).
  for_each                       = local.image_functions
  function_name                  = "${var.name_prefix}-${each.key}"
  role                           = aws_iam_role.function[each.key].arn
  package_type                   = "Image"
  image_uri                      = var.training_image_uri
  architectures                  = [var.training_architecture]
  memory_size                    = each.value.memory
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved
  kms_key_arn                    = var.kms_key_arn

  image_config {
    command = [each.value.handler]
  }

  environment {
    variables = merge(local.common_env, { POWERTOOLS_SERVICE_NAME = each.key }, each.value.env)
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  dynamic "dead_letter_config" {
    for_each = each.value.async ? [1] : []
    content {
      target_arn = aws_sqs_queue.dead_letters.arn
    }
  }
}

# -- inference: a small zip (ONNX Runtime, no pandas or scikit-learn) ------------------------

resource "aws_lambda_function" "inference" {
  #checkov:skip=CKV_AWS_117:No VPC resources are used; every call goes to AWS APIs with IAM and TLS.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway; errors go back to the caller and to the 5xx alarm.
  #checkov:skip=CKV_AWS_272:Deployments verify the package's SHA-256 (source_code_hash); signing profiles are an organisation choice.
  function_name                  = "${var.name_prefix}-inference"
  role                           = aws_iam_role.function["inference"].arn
  filename                       = var.inference_zip_path
  source_code_hash               = filebase64sha256(var.inference_zip_path)
  handler                        = local.functions.inference.handler
  runtime                        = "python3.12"
  architectures                  = [var.inference_architecture]
  memory_size                    = local.functions.inference.memory
  timeout                        = local.functions.inference.timeout
  reserved_concurrent_executions = local.functions.inference.reserved
  kms_key_arn                    = var.kms_key_arn
  publish                        = true

  environment {
    variables = merge(local.common_env, { POWERTOOLS_SERVICE_NAME = "inference" }, local.functions.inference.env)
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function["inference"].name
  }

  dynamic "snap_start" {
    for_each = var.inference_snapstart ? [1] : []
    content {
      apply_on = "PublishedVersions"
    }
  }
}

# API Gateway calls the alias: a deployment moves it, SnapStart and provisioned concurrency
# apply to it.
resource "aws_lambda_alias" "inference_live" {
  name             = "live"
  function_name    = aws_lambda_function.inference.function_name
  function_version = aws_lambda_function.inference.version
}

resource "aws_lambda_provisioned_concurrency_config" "inference" {
  count                             = var.inference_provisioned_concurrency > 0 ? 1 : 0
  function_name                     = aws_lambda_function.inference.function_name
  qualifier                         = aws_lambda_alias.inference_live.name
  provisioned_concurrent_executions = var.inference_provisioned_concurrency
}

# -- streaming scoring: input queue (with its DLQ) -> stream function -> output queue --------

resource "aws_sqs_queue" "stream_dead_letters" {
  name                      = "${var.name_prefix}-stream-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "stream_input" {
  name                              = "${var.name_prefix}-stream-input"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 345600
  # AWS: at least six times the function's timeout (plus the batching window), so that a batch
  # still being retried after throttling is not handed out twice.
  visibility_timeout_seconds = 6 * local.functions.stream.timeout + var.stream_batching_window_seconds
  # A message that failed this many receives (poison, or a model that stays unavailable) is
  # moved to the DLQ instead of being retried for ever.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.stream_dead_letters.arn
    maxReceiveCount     = var.stream_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "stream_dead_letters" {
  queue_url = aws_sqs_queue.stream_dead_letters.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.stream_input.arn]
  })
}

resource "aws_sqs_queue" "stream_output" {
  name                              = "${var.name_prefix}-stream-output"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 345600
}

resource "aws_lambda_function" "stream" {
  #checkov:skip=CKV_AWS_117:No VPC resources are used; every call goes to AWS APIs with IAM and TLS.
  #checkov:skip=CKV_AWS_116:Invoked by the SQS event source mapping: failed messages go to the input queue's DLQ (redrive policy), not a function DLQ.
  #checkov:skip=CKV_AWS_272:Deployments verify the package's SHA-256 (source_code_hash); signing profiles are an organisation choice.
  function_name                  = "${var.name_prefix}-stream"
  role                           = aws_iam_role.function["stream"].arn
  filename                       = var.inference_zip_path
  source_code_hash               = filebase64sha256(var.inference_zip_path)
  handler                        = local.functions.stream.handler
  runtime                        = "python3.12"
  architectures                  = [var.inference_architecture]
  memory_size                    = local.functions.stream.memory
  timeout                        = local.functions.stream.timeout
  reserved_concurrent_executions = local.functions.stream.reserved
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge(local.common_env, { POWERTOOLS_SERVICE_NAME = "stream" }, local.functions.stream.env)
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function["stream"].name
  }
}

resource "aws_lambda_event_source_mapping" "stream" {
  event_source_arn                   = aws_sqs_queue.stream_input.arn
  function_name                      = aws_lambda_function.stream.arn
  batch_size                         = var.stream_batch_size
  maximum_batching_window_in_seconds = var.stream_batching_window_seconds
  # Only the messages the function reports as failed return to the queue.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.stream_max_concurrency
  }

  depends_on = [aws_iam_role_policy.function]
}

# -- SageMaker: the role training jobs run as -------------------------------------------------

data "aws_iam_policy_document" "assume_sagemaker" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name               = "${var.name_prefix}-sagemaker-training"
  assume_role_policy = data.aws_iam_policy_document.assume_sagemaker.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ReadTrainingData"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_bucket_arn}/validated/*", "${var.data_bucket_arn}/schemas/*"]
  }
  # Processing jobs validate a claimed file against the run's contract and write its report.
  statement {
    sid       = "ReadFileToValidate"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_bucket_arn}/claimed/*", "${var.data_bucket_arn}/jobs/*"]
  }
  statement {
    sid       = "WriteValidationReport"
    actions   = ["s3:PutObject"]
    resources = ["${var.data_bucket_arn}/jobs/*"]
  }
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [var.data_bucket_arn, var.artifact_bucket_arn]
  }
  statement {
    sid       = "WriteModel"
    actions   = ["s3:PutObject"]
    resources = ["${var.artifact_bucket_arn}/sagemaker/*"]
  }
  statement {
    sid       = "PullTrainingImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.training.arn]
  }
  # GetAuthorizationToken has no resource-level permissions.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid     = "JobLogs"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker/TrainingJobs*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker/ProcessingJobs*",
    ]
  }
  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "JobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "training-job"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# -- the training image's repository -------------------------------------------------------

resource "aws_ecr_repository" "training" {
  name                 = "${var.name_prefix}-training"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "training" {
  repository = aws_ecr_repository.training.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last 30 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}
