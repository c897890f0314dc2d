variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mlops-dev."
  type        = string
}

variable "api_type" {
  description = "http (API Gateway HTTP API, payload v2; the default) or rest (REST API v1, e.g. for LocalStack's free edition)."
  type        = string
  default     = "http"

  validation {
    condition     = contains(["http", "rest"], var.api_type)
    error_message = "api_type must be http or rest."
  }
}

variable "auth" {
  description = "iam (SigV4-signed requests; the default), jwt (HTTP API only: an OIDC issuer's tokens) or none."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "jwt", "none"], var.auth)
    error_message = "auth must be iam, jwt or none."
  }
}

variable "jwt_issuer" {
  description = "JWT issuer URL (auth = jwt)."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (auth = jwt)."
  type        = list(string)
  default     = []
}

variable "predict_authorization_scopes" {
  description = "auth = jwt (HTTP API): OAuth scopes a token needs for POST /predict; none: any valid token."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.predict_authorization_scopes) == 0 || (var.auth == "jwt" && var.api_type == "http")
    error_message = "Scopes need auth = jwt on the HTTP API; with iam, grant execute-api:Invoke on the operation_arns output instead."
  }
}

variable "feedback_authorization_scopes" {
  description = "auth = jwt (HTTP API): OAuth scopes a token needs for POST /feedback, e.g. [\"mlops/feedback\"]; none: any valid token. Feedback labels drive the accuracy alarm that retrains, so grant them to fewer callers than predictions."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.feedback_authorization_scopes) == 0 || (var.auth == "jwt" && var.api_type == "http")
    error_message = "Scopes need auth = jwt on the HTTP API; with iam, grant execute-api:Invoke on the operation_arns output instead."
  }
}

variable "function_name" {
  description = "Inference function name."
  type        = string
}

variable "function_alias" {
  description = "Alias of the inference function the API invokes."
  type        = string
  default     = "live"
}

variable "function_invoke_arn" {
  description = "Invoke ARN of the inference alias."
  type        = string
}

variable "throttling_burst_limit" {
  description = "Burst of requests the API accepts."
  type        = number
  default     = 200
}

variable "throttling_rate_limit" {
  description = "Steady requests per second the API accepts."
  type        = number
  default     = 100
}

variable "kms_key_arn" {
  description = "KMS key of the access-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the access-log group."
  type        = number
  default     = 365
}
