variable "project" {
  description = "Short project name; resources are named <project>-<environment>-*."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.project))
    error_message = "project: 2-16 lowercase letters and digits."
  }
}

variable "environment" {
  description = "dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "model_name" {
  description = "The model this stack trains and serves."
  type        = string

  # The rule of mlops_template.training.config.MODEL_NAME_PATTERN (a test holds the two together).
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.model_name))
    error_message = "model_name must be 1 to 63 lowercase letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "code_version" {
  description = "Git commit being deployed."
  type        = string
  default     = "unknown"
}

variable "inference_zip_path" {
  description = "Inference package built by `mlops package`."
  type        = string
}

variable "training_image_uri" {
  description = "Training image in ECR (tag or digest)."
  type        = string
}

variable "api_type" {
  description = "http (default) or rest."
  type        = string
  default     = "http"
}

variable "api_auth" {
  description = "iam (default), jwt or none."
  type        = string
  default     = "iam"
}

variable "jwt_issuer" {
  description = "JWT issuer when api_auth = jwt."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "JWT audiences when api_auth = jwt."
  type        = list(string)
  default     = []
}

variable "training_mode" {
  description = "auto (by file size), lambda or sagemaker (forced)."
  type        = string
  default     = "auto"
}

variable "training_memory_mb" {
  description = "Memory of the validate and train functions; files over (training_memory_mb - 512) MiB / 4 go to SageMaker."
  type        = number
  default     = 3008
}

variable "sagemaker_instance_type" {
  description = "Instance type of the SageMaker training jobs (big files)."
  type        = string
  default     = "ml.m5.large"
}

variable "processing_instance_type" {
  description = "Instance type of the SageMaker Processing jobs that validate big files."
  type        = string
  default     = "ml.m5.xlarge"
}

variable "sagemaker_max_runtime_seconds" {
  description = "Longest a SageMaker job may run."
  type        = number
  default     = 3600
}

variable "auto_promote_stage" {
  description = "'' or staging: where a newly registered version goes by itself."
  type        = string
  default     = ""
}

variable "inference_snapstart" {
  description = "SnapStart on the inference function."
  type        = bool
  default     = false
}

variable "inference_provisioned_concurrency" {
  description = "Provisioned concurrency of the inference alias."
  type        = number
  default     = 0
}

variable "capture_sample_rate" {
  description = "Share of prediction requests captured for drift."
  type        = number
  default     = 0.2
}

variable "force_destroy" {
  description = "Allow destroying non-empty buckets (dev)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the tables from deletion."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Log retention of functions, pipeline and API."
  type        = number
  default     = 365
}

variable "notification_emails" {
  description = "Who hears about alarms and failed pipeline runs."
  type        = list(string)
  default     = []
}

variable "monitor_schedule" {
  description = "Schedule of the drift monitor."
  type        = string
  default     = "rate(1 hour)"
}

variable "trusted_export_environments" {
  description = "Environments whose signed model exports this one imports (staging: dev; prod: dev, staging)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.trusted_export_environments : contains(["dev", "staging", "prod"], e)])
    error_message = "trusted_export_environments: dev, staging or prod."
  }
}

variable "batch_schedule_expression" {
  description = "EventBridge Scheduler expression of a scheduled batch-scoring run (e.g. cron(0 2 * * ? *)); null: none."
  type        = string
  default     = null
}

variable "batch_schedule_input_key" {
  description = "The file under batch-input/ in the data bucket a scheduled batch run scores with production."
  type        = string
  default     = "batch-input/scheduled.csv"
}

variable "max_model_age_days" {
  description = "Retrain when the production version is older than this many days."
  type        = number
  default     = 30
}

variable "max_data_age_hours" {
  description = "Tell ops when the newest accepted data timestamp (time.column) is older than this many hours."
  type        = number
  default     = 48
}

variable "max_model_data_age_hours" {
  description = "Retrain when the newest timestamp of the production version's training data is older than this many hours."
  type        = number
  default     = 336
}

variable "drift_window_hours" {
  description = "The monitor also computes drift per window of this many hours (168: week by week); 0: over its whole window only."
  type        = number
  default     = 0
}

variable "monitor_window_hours" {
  description = "Hours of captures each monitor run reads (every capture of the window)."
  type        = number
  default     = 24

  validation {
    condition     = var.monitor_window_hours > 0 && var.monitor_window_hours <= 744
    error_message = "monitor_window_hours: more than 0, at most 744 (31 days)."
  }
}
