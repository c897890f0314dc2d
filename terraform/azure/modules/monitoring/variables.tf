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

variable "function_app_id" {
  type        = string
  description = "Resource ID of the function app whose retrain and rollback functions the alerts call."
}

variable "function_app_name" {
  type        = string
  description = "Name of the function app."
}

variable "function_app_hostname" {
  type        = string
  description = "Default host name of the function app (the action groups call its alert routes)."
}

variable "drift_share_threshold" {
  type        = number
  description = "Share of drifted features that fires the drift alert (retrain)."
  default     = 0.3
}

variable "min_feedback_accuracy" {
  type        = number
  description = "Live accuracy below which the accuracy alert fires (retrain)."
  default     = 0.85
}

variable "max_5xx_per_5_minutes" {
  type        = number
  description = "Server errors of the API in 5 minutes that fire the rollback alert."
  default     = 5
}

variable "max_p95_latency_ms" {
  type        = number
  description = "95th percentile request duration (ms) that fires the latency alert (rollback)."
  default     = 1000
}

variable "max_data_age_hours" {
  type        = number
  description = "Hours since the newest accepted data timestamp (time.column) that fire the data-age alert."
  default     = 48
}

variable "max_model_data_age_hours" {
  type        = number
  description = "Hours since the newest timestamp of the production version's training data that fire the model-data-age alert (retrain)."
  default     = 336
}

variable "retention_in_days" {
  type        = number
  description = "Days Log Analytics keeps logs and metrics."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = {}
}
