variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string
}

variable "model_name" {
  description = "The model whose metrics are watched (metric dimension `model`)."
  type        = string
}

variable "metrics_namespace" {
  description = "Namespace of the metrics the monitor and the API publish."
  type        = string
  default     = "MLOps"
}

variable "kms_key_arn" {
  description = "KMS key of the SNS topics."
  type        = string
}

variable "api_type" {
  description = "http or rest: which API Gateway metrics (and dimensions) the API alarms watch."
  type        = string

  validation {
    condition     = contains(["http", "rest"], var.api_type)
    error_message = "api_type must be http or rest."
  }
}

variable "api_id" {
  description = "API id (HTTP API metric dimension ApiId)."
  type        = string
}

variable "api_name" {
  description = "API name (REST API metric dimension ApiName)."
  type        = string
}

variable "api_stage" {
  description = "API stage (metric dimension Stage)."
  type        = string
}

variable "state_machine_arn" {
  description = "The training pipeline, whose failed executions raise an alarm."
  type        = string
}

variable "dead_letter_queues" {
  description = "Dead-letter queues to watch, by a short name: any message in one raises an alarm."
  type        = map(string)
  default     = {}
}

variable "functions" {
  description = "Names and ARNs of the functions wired here: monitor, retrain and rollback."
  type = object({
    monitor_name  = string
    monitor_arn   = string
    retrain_name  = string
    retrain_arn   = string
    rollback_name = string
    rollback_arn  = string
  })
}

variable "monitor_schedule" {
  description = "EventBridge schedule expression of the drift monitor."
  type        = string
  default     = "rate(1 hour)"
}

variable "drift_share_threshold" {
  description = "Retrain when at least this share of features has drifted."
  type        = number
  default     = 0.1

  validation {
    condition     = var.drift_share_threshold > 0 && var.drift_share_threshold <= 1
    error_message = "drift_share_threshold must be within (0, 1]."
  }
}

variable "min_feedback_accuracy" {
  description = "Retrain when live accuracy from feedback labels falls below this."
  type        = number
  default     = 0.85

  validation {
    condition     = var.min_feedback_accuracy > 0 && var.min_feedback_accuracy < 1
    error_message = "min_feedback_accuracy must be within (0, 1)."
  }
}

variable "max_feedback_rmse" {
  description = "Regression models: retrain when live RMSE from feedback values rises above this (in the target's units). null: no such alarm."
  type        = number
  default     = null

  validation {
    condition     = var.max_feedback_rmse == null || coalesce(var.max_feedback_rmse, 1) > 0
    error_message = "max_feedback_rmse must be positive."
  }
}

variable "max_5xx_per_minute" {
  description = "Roll back a fresh model when the API answers more 5xx than this per minute (3 minutes running)."
  type        = number
  default     = 5
}

variable "max_p99_latency_ms" {
  description = "Roll back a fresh model when the API's p99 latency stays above this (ms)."
  type        = number
  default     = 1000
}

variable "notification_emails" {
  description = "Addresses told about pipeline failures and every alarm."
  type        = list(string)
  default     = []
}

variable "max_model_age_days" {
  description = "The model-age alarm retrains when the production version is older than this many days (set per environment)."
  type        = number
  default     = 30

  validation {
    condition     = var.max_model_age_days > 0
    error_message = "max_model_age_days must be positive."
  }
}

variable "max_offline_online_gap" {
  description = "The offline-online gap alarm fires when held-out accuracy exceeds live feedback accuracy by more than this."
  type        = number
  default     = 0.05

  validation {
    condition     = var.max_offline_online_gap > 0 && var.max_offline_online_gap < 1
    error_message = "max_offline_online_gap must be within (0, 1)."
  }
}

variable "max_data_age_hours" {
  description = "The data-age alarm tells ops when the newest accepted timestamp (time.column) is older than this many hours (set per environment)."
  type        = number
  default     = 48

  validation {
    condition     = var.max_data_age_hours > 0
    error_message = "max_data_age_hours must be positive."
  }
}

variable "max_model_data_age_hours" {
  description = "The model-data-age alarm retrains when the newest timestamp of the production version's training data is older than this many hours (set per environment)."
  type        = number
  default     = 336

  validation {
    condition     = var.max_model_data_age_hours > 0
    error_message = "max_model_data_age_hours must be positive."
  }
}
