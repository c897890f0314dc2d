# The model registry: one table, partition key PK (MODEL#<name>), sort key SK (VERSION#...,
# ALIAS#<stage>, HISTORY#..., COUNTER, RUN#<run id>). See infra/aws/dynamodb.py.
resource "aws_dynamodb_table" "registry" {
  name                        = "${var.name_prefix}-registry"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "PK"
  range_key                   = "SK"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "PK"
    type = "S"
  }
  attribute {
    name = "SK"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}

# Feedback labels, one item per labelled prediction, expiring after a TTL. Captures themselves
# go through Firehose to S3 (modules/captures); they are joined to these by prediction id.
resource "aws_dynamodb_table" "predictions" {
  name                        = "${var.name_prefix}-predictions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "prediction_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "prediction_id"
    type = "S"
  }
  attribute {
    name = "model"
    type = "S"
  }
  attribute {
    name = "at"
    type = "S"
  }

  global_secondary_index {
    name            = "by_model"
    hash_key        = "model"
    range_key       = "at"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}

# Powertools idempotency records (alarm-driven retraining), expiring on their own.
resource "aws_dynamodb_table" "idempotency" {
  name                        = "${var.name_prefix}-idempotency"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
