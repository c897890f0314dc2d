variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name_prefix))
    error_message = "name_prefix: 3-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "quarantine_retention_days" {
  description = "Days a rejected data file and its report are kept in quarantine/."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_retention_days >= 7
    error_message = "Keep quarantined files at least a week."
  }
}

variable "run_retention_days" {
  description = "Days training-run outputs (runs/, sagemaker/) are kept; registered versions are copied to models/ and kept."
  type        = number
  default     = 30

  validation {
    condition     = var.run_retention_days >= 1
    error_message = "run_retention_days must be at least 1."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days overwritten or deleted object versions are kept (recovery window)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 90
    error_message = "Keep access logs at least 90 days."
  }
}
