variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name_prefix))
    error_message = "name_prefix: 3-31 lowercase letters, digits and dashes, starting with a letter."
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
  description = "The model this stack trains and serves (MLOPS_MODEL_NAME)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.model_name))
    error_message = "model_name: lowercase letters, digits and dashes."
  }
}

variable "code_version" {
  description = "Git commit of the deployed code, recorded with every model version."
  type        = string
  default     = "unknown"
}

variable "kms_key_arn" {
  description = "KMS key for S3 objects, tables, environment variables, logs and the DLQ."
  type        = string
}

variable "data_bucket" {
  description = "Data bucket name."
  type        = string
}

variable "data_bucket_arn" {
  description = "Data bucket ARN."
  type        = string
}

variable "artifact_bucket" {
  description = "Artifact bucket name."
  type        = string
}

variable "artifact_bucket_arn" {
  description = "Artifact bucket ARN."
  type        = string
}

variable "registry_table" {
  description = "Model registry table name."
  type        = string
}

variable "registry_table_arn" {
  description = "Model registry table ARN."
  type        = string
}

variable "predictions_table" {
  description = "Feedback table name (one item per labelled prediction)."
  type        = string
}

variable "predictions_table_arn" {
  description = "Feedback table ARN."
  type        = string
}

variable "capture_stream" {
  description = "Firehose delivery stream captured predictions are sent to (captures module)."
  type        = string
}

variable "capture_stream_arn" {
  description = "ARN of that stream: the only one the scoring functions may write to."
  type        = string
}

variable "idempotency_table" {
  description = "Powertools idempotency table name."
  type        = string
}

variable "idempotency_table_arn" {
  description = "Powertools idempotency table ARN."
  type        = string
}

variable "state_machine_name" {
  description = "Name of the pipeline state machine (the pipeline module creates it; ingest and retrain start it)."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of our metrics."
  type        = string
  default     = "MLOps"
}

variable "inference_zip_path" {
  description = "Path of the inference deployment package built by `mlops package`."
  type        = string
}

variable "inference_architecture" {
  description = "x86_64 or arm64: what `mlops package --arch` built (byte-compiled only when built on the same architecture)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.inference_architecture)
    error_message = "inference_architecture must be arm64 or x86_64."
  }
}

variable "inference_memory_mb" {
  description = "Inference function memory (CPU scales with it)."
  type        = number
  default     = 1024

  validation {
    condition     = var.inference_memory_mb >= 256 && var.inference_memory_mb <= 10240
    error_message = "inference_memory_mb must be 256..10240."
  }
}

variable "inference_snapstart" {
  description = "Publish inference versions with SnapStart (cold starts restored from a snapshot)."
  type        = bool
  default     = false
}

variable "inference_provisioned_concurrency" {
  description = "Provisioned concurrency on the live alias (0 = none). Not combinable with SnapStart."
  type        = number
  default     = 0

  validation {
    condition     = var.inference_provisioned_concurrency >= 0
    error_message = "inference_provisioned_concurrency must be >= 0."
  }
}

variable "inference_reserved_concurrency" {
  description = "Upper bound on concurrent inference executions."
  type        = number
  default     = 100

  validation {
    condition     = var.inference_reserved_concurrency >= 1
    error_message = "inference_reserved_concurrency must be >= 1."
  }
}

variable "training_image_uri" {
  description = "ECR image (with tag or digest) holding the pipeline handlers and the SageMaker entry point."
  type        = string

  validation {
    condition     = length(var.training_image_uri) > 0
    error_message = "training_image_uri is required: build and push the training image first."
  }
}

variable "training_architecture" {
  description = "Architecture of the training image."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.training_architecture)
    error_message = "training_architecture must be arm64 or x86_64."
  }
}

variable "training_mode" {
  description = "auto: files up to the limit computed from training_memory_mb run in the functions, bigger ones on SageMaker (docs/data-plane.md); lambda or sagemaker force one engine."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "lambda", "sagemaker"], var.training_mode)
    error_message = "training_mode must be auto, lambda or sagemaker."
  }
}

variable "training_memory_mb" {
  description = "Memory of the pipeline functions that load data and train."
  type        = number
  default     = 3008

  validation {
    condition     = var.training_memory_mb >= 1024 && var.training_memory_mb <= 10240
    error_message = "training_memory_mb must be 1024..10240."
  }
}

variable "sagemaker_instance_type" {
  description = "Instance type of SageMaker training jobs."
  type        = string
  default     = "ml.m5.large"
}

variable "processing_instance_type" {
  description = "Instance type of the SageMaker Processing jobs that validate big files."
  type        = string
  default     = "ml.m5.xlarge"
}

variable "sagemaker_max_runtime_seconds" {
  description = "Longest a SageMaker Processing or Training job may run before it is stopped (the file is then quarantined with a report)."
  type        = number
  default     = 3600

  validation {
    condition     = var.sagemaker_max_runtime_seconds >= 60 && var.sagemaker_max_runtime_seconds <= 432000
    error_message = "sagemaker_max_runtime_seconds must be 60..432000 (SageMaker's limit is 5 days)."
  }
}

variable "auto_promote_stage" {
  description = "Stage a newly registered version is promoted to automatically ('' = none; staging in dev)."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "staging"], var.auto_promote_stage)
    error_message = "auto_promote_stage may only be '' or staging: production needs a promotion."
  }
}

variable "capture_sample_rate" {
  description = "Share of prediction requests captured for drift monitoring."
  type        = number
  default     = 0.2

  validation {
    condition     = var.capture_sample_rate >= 0 && var.capture_sample_rate <= 1
    error_message = "capture_sample_rate must be within 0..1."
  }
}

variable "model_refresh_seconds" {
  description = "How often a warm inference container checks whether its stage moved."
  type        = number
  default     = 30
}

variable "max_batch_records" {
  description = "Most records one /predict request may carry."
  type        = number
  default     = 10000
}

variable "retrain_cooldown_seconds" {
  description = "One alarm-driven retraining per alarm within this window."
  type        = number
  default     = 21600
}

variable "rollback_window_seconds" {
  description = "Only a promotion younger than this is rolled back when an error alarm fires."
  type        = number
  default     = 3600
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: at least a year, one of CloudWatch's allowed values."
  }
}

variable "stream_timeout_seconds" {
  description = "Timeout of the stream function; the input queue's visibility timeout is six times this (plus the batching window)."
  type        = number
  default     = 60

  validation {
    condition     = var.stream_timeout_seconds >= 10 && var.stream_timeout_seconds <= 900
    error_message = "stream_timeout_seconds must be 10..900."
  }
}

variable "stream_batch_size" {
  description = "Messages per stream invocation (over 10 needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.stream_batch_size >= 1 && var.stream_batch_size <= 10000
    error_message = "stream_batch_size must be 1..10000."
  }
}

variable "stream_batching_window_seconds" {
  description = "How long the event source mapping gathers messages before invoking (0..300)."
  type        = number
  default     = 0

  validation {
    condition     = var.stream_batching_window_seconds >= 0 && var.stream_batching_window_seconds <= 300
    error_message = "stream_batching_window_seconds must be 0..300."
  }
}

variable "stream_max_concurrency" {
  description = "Concurrent stream invocations: the event source mapping's maximum concurrency and the function's reserved concurrency."
  type        = number
  default     = 5

  validation {
    condition     = var.stream_max_concurrency >= 2 && var.stream_max_concurrency <= 1000
    error_message = "stream_max_concurrency must be 2..1000 (the event source mapping's bounds)."
  }
}

variable "stream_max_receive_count" {
  description = "Receives of an input message before the redrive policy moves it to the stream DLQ."
  type        = number
  default     = 5

  validation {
    condition     = var.stream_max_receive_count >= 1 && var.stream_max_receive_count <= 1000
    error_message = "stream_max_receive_count must be 1..1000."
  }
}

variable "monitor_window_hours" {
  description = "The monitor reads every capture of this many hours up to each run (24: a day of traffic every hour; the schedule's period: each capture read once)."
  type        = number
  default     = 24

  validation {
    condition     = var.monitor_window_hours > 0 && var.monitor_window_hours <= 744
    error_message = "monitor_window_hours: more than 0, at most 744 (31 days)."
  }
}

variable "drift_window_hours" {
  description = "The monitor also computes drift per window of this many hours within its window (168: week by week); 0: over the whole window only."
  type        = number
  default     = 0

  validation {
    condition     = var.drift_window_hours >= 0 && var.drift_window_hours <= 744
    error_message = "drift_window_hours: 0 (off) up to 744 (31 days)."
  }
}

variable "features_table" {
  description = "Online feature store table name (entity lookups at /predict)."
  type        = string
}

variable "features_table_arn" {
  description = "Online feature store table ARN: the inference function may BatchGetItem on it only."
  type        = string
}

variable "feature_missing" {
  description = "/predict with an entity whose features are missing or stale: reject (422) or default (null)."
  type        = string
  default     = "reject"

  validation {
    condition     = contains(["reject", "default"], var.feature_missing)
    error_message = "feature_missing must be reject or default."
  }
}

variable "feature_repo" {
  description = "Path, inside the inference package and the training image, of the feature definitions file: the streaming function ingests feature messages with it, the validate function joins label files against the views it defines (empty: none)."
  type        = string
  default     = ""
}
