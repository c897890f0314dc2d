# The one root of every environment: the environment's tfvars file says which one it is
# (environment = "dev", ...) and sets what differs; its .s3.tfbackend file says where its state is.
#   terraform init -reconfigure -backend-config=dev.s3.tfbackend \
#     -backend-config=bucket=<state bucket> -backend-config=region=<region>
#   terraform plan -var-file=dev.tfvars

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = var.project
      environment = var.environment
      managed_by  = "terraform"
      repository  = var.repository
    }
  }
}

module "stack" {
  source = "../modules/stack"

  project                           = var.project
  environment                       = var.environment
  model_name                        = var.model_name
  max_model_age_days                = var.max_model_age_days
  max_data_age_hours                = var.max_data_age_hours
  max_model_data_age_hours          = var.max_model_data_age_hours
  drift_window_hours                = var.drift_window_hours
  code_version                      = var.code_version
  inference_zip_path                = var.inference_zip_path
  training_image_uri                = var.training_image_uri
  api_type                          = var.api_type
  api_auth                          = var.api_auth
  training_mode                     = var.training_mode
  training_memory_mb                = var.training_memory_mb
  monitor_window_hours              = var.monitor_window_hours
  sagemaker_instance_type           = var.sagemaker_instance_type
  processing_instance_type          = var.processing_instance_type
  sagemaker_max_runtime_seconds     = var.sagemaker_max_runtime_seconds
  auto_promote_stage                = var.auto_promote_stage
  inference_snapstart               = var.inference_snapstart
  inference_provisioned_concurrency = var.inference_provisioned_concurrency
  capture_sample_rate               = var.capture_sample_rate
  force_destroy                     = var.force_destroy
  deletion_protection               = var.deletion_protection
  notification_emails               = var.notification_emails
  trusted_export_environments       = var.trusted_export_environments
  batch_schedule_expression         = var.batch_schedule_expression
  batch_schedule_input_key          = var.batch_schedule_input_key
}

# The state remembers which environment it holds: a plan with another environment's tfvars on
# this state (after an init with the wrong backend file, or none) fails here instead of planning
# to replace one environment with another. Destroying is not blocked.
resource "terraform_data" "environment" {
  input = var.environment

  lifecycle {
    ignore_changes = [input]

    postcondition {
      condition     = self.output == var.environment
      error_message = "This state holds ${self.output}, not ${var.environment}: init -reconfigure with ${var.environment}.s3.tfbackend, or use ${self.output}.tfvars."
    }
  }
}
