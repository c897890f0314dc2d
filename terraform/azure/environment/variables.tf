variable "environment" {
  type        = string
  description = "dev, staging or prod: names, tags and the state key."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment is dev, staging or prod."
  }
}

variable "location" {
  type        = string
  description = "Azure region of every resource."
}

variable "project" {
  type        = string
  description = "Short project name, first part of every resource name."
  default     = "mlops"
}

variable "model_name" {
  type        = string
  description = "Model the environment serves, trains and monitors."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.model_name))
    error_message = "Lowercase letters, digits and hyphens, starting with a letter or digit (as training/config.py checks)."
  }
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
  description = "Git commit of the deployed package (the workflow passes it)."
  default     = ""
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
