variable "region" {
  description = "Region of the state bucket and the roles' sessions."
  type        = string
  default     = "eu-west-1"
}

variable "project" {
  description = "Short project name (environments are <project>-<env>)."
  type        = string
  default     = "mlops"
}

variable "github_repository" {
  description = "owner/name of the repository whose workflows deploy."
  type        = string
}

variable "environments" {
  description = "GitHub environments that get a deploy role."
  type        = list(string)
  default     = ["dev", "staging", "prod"]
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider (false if the account already has one)."
  type        = bool
  default     = true
}
