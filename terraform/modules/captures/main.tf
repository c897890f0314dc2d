# Captured predictions: the inference function sends them to this Firehose delivery stream
# (PutRecordBatch, JSON lines), which buffers them and writes large objects to the data bucket
# under captures/model=<m>/version=<v>/date=<d>/, partitioned by the keys its jq query reads
# from each record (infra/aws/predictions.py holds the same prefix and query; a test holds the
# two together). Records it cannot deliver go under capture-errors/.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  stream_name     = "${var.name_prefix}-captures"
  capture_objects = "${var.data_bucket_arn}/captures/*"
  error_objects   = "${var.data_bucket_arn}/capture-errors/*"
}

resource "aws_cloudwatch_log_group" "captures" {
  name              = "/aws/kinesisfirehose/${local.stream_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "delivery" {
  name           = "S3Delivery"
  log_group_name = aws_cloudwatch_log_group.captures.name
}

resource "aws_kinesis_firehose_delivery_stream" "captures" {
  name        = local.stream_name
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = var.kms_key_arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = var.data_bucket_arn
    kms_key_arn         = var.kms_key_arn
    prefix              = "captures/model=!{partitionKeyFromQuery:model}/version=!{partitionKeyFromQuery:version}/date=!{partitionKeyFromQuery:date}/"
    error_output_prefix = "capture-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    # Dynamic partitioning needs a buffer of 64 MB at least; a fuller buffer means fewer,
    # larger objects (cheaper PUTs, faster monitor reads).
    buffering_size     = var.buffering_mb
    buffering_interval = var.buffering_seconds
    # The monitor streams the objects as JSON lines (pyarrow); compressing them would save
    # storage at the price of decompressing every read.
    compression_format = "UNCOMPRESSED"

    dynamic_partitioning_configuration {
      enabled        = true
      retry_duration = 300
    }

    processing_configuration {
      enabled = true
      processors {
        type = "MetadataExtraction"
        parameters {
          parameter_name  = "MetadataExtractionQuery"
          parameter_value = "{model: .model, version: (.version | tostring), date: .at[0:10]}"
        }
        parameters {
          parameter_name  = "JsonParsingEngine"
          parameter_value = "JQ-1.6"
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.captures.name
      log_stream_name = aws_cloudwatch_log_stream.delivery.name
    }
  }
}

# -- the stream's role: write the capture and error prefixes of the data bucket, nothing else --

data "aws_iam_policy_document" "assume_firehose" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${local.stream_name}-delivery"
  assume_role_policy = data.aws_iam_policy_document.assume_firehose.json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "WriteCaptures"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [local.capture_objects, local.error_objects]
  }
  # Firehose checks the bucket before delivering; listing is limited to its own prefixes.
  statement {
    sid       = "SeeBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [var.data_bucket_arn]
  }
  statement {
    sid       = "ListCapturePrefixes"
    actions   = ["s3:ListBucket"]
    resources = [var.data_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["captures/*", "capture-errors/*"]
    }
  }
  # Objects are encrypted with the bucket's key, only through S3, only for these prefixes.
  statement {
    sid       = "EncryptObjects"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.capture_objects, local.error_objects]
    }
  }
  statement {
    sid       = "LogDeliveryErrors"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.captures.arn}:log-stream:${aws_cloudwatch_log_stream.delivery.name}"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "deliver-captures"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}
