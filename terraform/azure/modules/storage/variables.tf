variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (project and environment)."
}

variable "storage_account_name" {
  type        = string
  description = "Globally unique storage account name (3-24 lowercase letters and digits)."

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "3-24 lowercase letters and digits."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Resource group of the environment."
}

variable "location" {
  type        = string
  description = "Azure region."
}

variable "queue_prefix" {
  type        = string
  description = "The pipeline queues are <prefix>-<step> (core/pipeline_steps.json) and <prefix>-<step>-poison."
  default     = "pipeline"
}

variable "log_analytics_workspace_id" {
  type        = string
  description = "Log Analytics workspace the account's access logs go to."
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = {}
}
