variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (project and environment)."
}

variable "resource_group_name" {
  type        = string
  description = "Resource group of the environment."
}

variable "location" {
  type        = string
  description = "Azure region."
}

variable "environment" {
  type        = string
  description = "dev, staging or prod (MLOPS_ENVIRONMENT)."
}

variable "model_name" {
  type        = string
  description = "Model the functions serve, train and monitor (MLOPS_MODEL_NAME)."
}

variable "auto_promote_stage" {
  type        = string
  description = "Stage a registered version goes to automatically (dev: staging; empty: none)."
  default     = ""
}

variable "capture_sample_rate" {
  type        = number
  description = "Share of prediction requests captured for drift."
  default     = 1.0
}

variable "code_version" {
  type        = string
  description = "Git commit of the deployed package, recorded with every model version."
  default     = ""
}

variable "storage" {
  type = object({
    account_id    = string
    account_name  = string
    blob_endpoint = string
    containers    = map(string)
    container_ids = map(string)
    tables        = map(string)
    table_ids     = map(string)
    queue_ids     = map(string)
    queue_prefix  = string
  })
  description = "The storage module's outputs."
}

variable "application_insights_connection_string" {
  type        = string
  description = "Application Insights of the environment (logs, requests, custom metrics)."
  sensitive   = true
}

variable "application_insights_id" {
  type        = string
  description = "Resource ID of Application Insights: the identity may publish telemetry to it."
}

variable "maximum_instance_count" {
  type        = number
  description = "Most instances Flex Consumption scales the app to."
  default     = 40
}

variable "instance_memory_in_mb" {
  type        = number
  description = "Memory of each instance (2048 or 4096: training runs in the pipeline functions)."
  default     = 2048
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = {}
}

variable "azureml" {
  type = object({
    subscription_id = string
    resource_group  = string
    workspace       = string
    compute         = string
    image_uri       = string
  })
  description = "Azure ML workspace where big files train (workspace \"\" : none, the function trains)."
  default = {
    subscription_id = ""
    resource_group  = ""
    workspace       = ""
    compute         = "cpu-cluster"
    image_uri       = ""
  }
}

variable "feature_repo" {
  type        = string
  description = "Path, inside the function app's package, of the feature definitions file (entities and views); empty: none."
  default     = ""
}
