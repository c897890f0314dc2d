provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = var.project
      environment = "staging"
      managed_by  = "terraform"
      repository  = var.repository
    }
  }
}

module "stack" {
  source = "../../modules/stack"

  project                           = var.project
  environment                       = "staging"
  model_name                        = var.model_name
  code_version                      = var.code_version
  inference_zip_path                = var.inference_zip_path
  training_image_uri                = var.training_image_uri
  api_type                          = var.api_type
  api_auth                          = var.api_auth
  training_mode                     = var.training_mode
  auto_promote_stage                = var.auto_promote_stage
  inference_snapstart               = var.inference_snapstart
  inference_provisioned_concurrency = var.inference_provisioned_concurrency
  capture_sample_rate               = var.capture_sample_rate
  force_destroy                     = var.force_destroy
  deletion_protection               = var.deletion_protection
  notification_emails               = var.notification_emails
  trusted_export_environments       = var.trusted_export_environments
}
