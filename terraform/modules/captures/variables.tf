variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string
}

variable "data_bucket_arn" {
  description = "Data bucket ARN: captures go under its captures/ prefix."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the data bucket: the stream, its objects and its logs are encrypted with it."
  type        = string
}

variable "buffering_mb" {
  description = "Firehose buffer size in MB (64-128 with dynamic partitioning): a larger buffer writes fewer, larger objects."
  type        = number
  default     = 128

  validation {
    condition     = var.buffering_mb >= 64 && var.buffering_mb <= 128
    error_message = "buffering_mb: 64 to 128 (dynamic partitioning needs at least 64)."
  }
}

variable "buffering_seconds" {
  description = "Firehose buffer interval in seconds (0-900): how late a capture may reach S3 at low traffic."
  type        = number
  default     = 300

  validation {
    condition     = var.buffering_seconds >= 0 && var.buffering_seconds <= 900
    error_message = "buffering_seconds: 0 to 900."
  }
}

variable "log_retention_days" {
  description = "Days the stream's delivery error logs are kept."
  type        = number
  default     = 365
}
