variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string
}

variable "state_machine_name" {
  description = "Name of the state machine (the functions module derives its ARN from it)."
  type        = string
}

variable "model_name" {
  description = "The model this stack trains (its SageMaker jobs are named <model>-<run id>)."
  type        = string
}

variable "task_function_arns" {
  # A missing step fails the plan: the template names each one (`<step>_function_arn`).
  description = "ARN of each task state's function, by step name (core/pipeline_steps.json)."
  type        = map(string)
}

variable "ingest_function_arn" {
  description = "ARN of the function that starts the pipeline for new data."
  type        = string
}

variable "ingest_function_name" {
  description = "Name of the ingest function (for the EventBridge invoke permission)."
  type        = string
}

variable "data_bucket" {
  description = "Data bucket whose incoming/ objects start the pipeline."
  type        = string
}

variable "registry_table" {
  description = "Registry table where each run's outcome is recorded."
  type        = string
}

variable "registry_table_arn" {
  description = "Registry table ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the execution log group and the incoming-data dead-letter queue."
  type        = string
}

variable "sagemaker_role_arn" {
  description = "Role the SageMaker Processing and Training jobs run as (the state machine passes it)."
  type        = string
}

variable "training_poll_seconds" {
  description = "Wait between Describe*Job polls of the SageMaker jobs (after .sync returned, one poll finds them ended)."
  type        = number
  default     = 60

  validation {
    condition     = var.training_poll_seconds >= 1
    error_message = "training_poll_seconds must be at least 1."
  }
}

variable "log_retention_days" {
  description = "Retention of the execution log group."
  type        = number
  default     = 365
}

variable "data_bucket_arn" {
  description = "Data bucket ARN (batch scoring reads its manifest and writes the Map's results there)."
  type        = string
}

variable "batch_function_arns" {
  # A missing step fails the plan: the template names each one (`<step>_function_arn`).
  description = "ARN of each batch-scoring task's function: split, score, summarize."
  type        = map(string)
}

variable "batch_max_concurrency" {
  description = "Chunks scored at once by the batch Distributed Map."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_max_concurrency >= 1
    error_message = "batch_max_concurrency must be at least 1."
  }
}

variable "batch_tolerated_failure_percentage" {
  description = "Share of chunks (percent) that may fail before a batch run fails; their rows are then missing from the summary's totals."
  type        = number
  default     = 0

  validation {
    condition     = var.batch_tolerated_failure_percentage >= 0 && var.batch_tolerated_failure_percentage <= 100
    error_message = "batch_tolerated_failure_percentage is a percentage (0 to 100)."
  }
}

variable "batch_schedule_expression" {
  description = "EventBridge Scheduler expression (e.g. cron(0 2 * * ? *)) for a scheduled batch run; null: none."
  type        = string
  default     = null
}

variable "batch_schedule_input_key" {
  description = "Key in the data bucket (under batch-input/) a scheduled run scores."
  type        = string
  default     = "batch-input/scheduled.csv"

  validation {
    condition     = startswith(var.batch_schedule_input_key, "batch-input/")
    error_message = "batch_schedule_input_key must be under batch-input/ (what the split function may read)."
  }
}
