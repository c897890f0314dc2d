variable "github_repository" {
  description = "The repository allowed to deploy, as owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "environment" {
  description = "The GitHub environment (and stack) this role deploys: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the token.actions.githubusercontent.com OIDC provider in this account."
  type        = string
}

variable "resource_prefix" {
  description = "Name prefix of the stack's resources (e.g. mlops-dev): the role may only manage these."
  type        = string
}

variable "state_bucket_arn" {
  description = "Terraform state bucket."
  type        = string
}

variable "state_kms_key_arn" {
  description = "KMS key of the state bucket."
  type        = string
}

variable "max_session_seconds" {
  description = "Longest session a workflow run gets."
  type        = number
  default     = 3600
}

variable "trusted_export_prefixes" {
  description = "Stacks (<project>-<env>) whose signed model exports this environment imports: its role may verify their export keys."
  type        = list(string)
  default     = []
}
