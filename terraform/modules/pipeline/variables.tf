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

variable "training_poll_seconds" {
  description = "Wait between DescribeTrainingJob polls when training runs on SageMaker."
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
