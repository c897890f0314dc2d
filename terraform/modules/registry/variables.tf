variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name_prefix))
    error_message = "name_prefix: 3-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "kms_key_arn" {
  description = "KMS key the tables are encrypted with."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the tables (on for staging and prod)."
  type        = bool
  default     = true
}
