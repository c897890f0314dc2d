variable "environment" {
  description = "Which environment this is: dev, staging or prod (set by its <env>.tfvars)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region of this environment."
  type        = string
  default     = "eu-west-1"
}

variable "project" {
  description = "Short project name."
  type        = string
  default     = "mlops"
}

variable "repository" {
  description = "Repository the stack is deployed from (a tag on every resource)."
  type        = string
  default     = "unknown"
}

variable "model_name" {
  description = "The model this stack trains and serves."
  type        = string
}

variable "code_version" {
  description = "Git commit being deployed (set by the deploy workflow)."
  type        = string
  default     = "unknown"
}

variable "inference_zip_path" {
  description = "Inference package built by `mlops package`."
  type        = string
  default     = "../../dist/inference-x86_64.zip"
}

variable "training_image_uri" {
  description = "Training image in ECR (set by the deploy workflow)."
  type        = string
}

variable "api_type" {
  description = "http or rest."
  type        = string
  default     = "http"
}

variable "api_auth" {
  description = "iam, jwt or none."
  type        = string
  default     = "iam"
}

variable "training_mode" {
  description = "auto (by file size: docs/data-plane.md), lambda or sagemaker (forced)."
  type        = string
  default     = "auto"
}

variable "training_memory_mb" {
  description = "Memory of the validate and train functions (1024..10240); the size route's limit is computed from it."
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
  description = "Longest a SageMaker job may run (then the file is quarantined with a report)."
  type        = number
  default     = 3600
}

variable "auto_promote_stage" {
  description = "'' or staging."
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
  description = "Allow destroying non-empty buckets."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the tables from deletion."
  type        = bool
  default     = true
}

variable "notification_emails" {
  description = "Who hears about alarms and failed pipeline runs."
  type        = list(string)
  default     = []
}

variable "trusted_export_environments" {
  description = "Environments whose signed model exports this one imports (each trusts those before it)."
  type        = list(string)
  default     = []
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
  description = "Hours of captures each monitor run reads, all of them (24: a day of traffic each hourly run; at ~100M predictions a day, the schedule's 1 hour: docs/data-plane.md)."
  type        = number
  default     = 24

  validation {
    condition     = var.monitor_window_hours > 0 && var.monitor_window_hours <= 744
    error_message = "monitor_window_hours: more than 0, at most 744 (31 days)."
  }
}
