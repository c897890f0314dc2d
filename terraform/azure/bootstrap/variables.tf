variable "location" {
  type        = string
  description = "Azure region of the state account."
}

variable "project" {
  type        = string
  description = "Short project name, first part of every resource name."
  default     = "mlops"
}

variable "deployer_principal_ids" {
  type        = list(string)
  description = "Object IDs allowed to read and write state (the deploy workflow's federated identity, operators)."
  default     = []
}
