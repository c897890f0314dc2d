# One environment: every module wired together. dev, staging and prod differ only in variables
# (terraform/environment/<env>.tfvars).

locals {
  name_prefix        = "${var.project}-${var.environment}"
  state_machine_name = "${local.name_prefix}-pipeline"
}

module "storage" {
  source        = "../storage"
  name_prefix   = local.name_prefix
  force_destroy = var.force_destroy
}

module "registry" {
  source              = "../registry"
  name_prefix         = local.name_prefix
  kms_key_arn         = module.storage.kms_key_arn
  deletion_protection = var.deletion_protection
}

module "captures" {
  source             = "../captures"
  name_prefix        = local.name_prefix
  data_bucket_arn    = module.storage.data_bucket_arn
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "functions" {
  source                            = "../functions"
  name_prefix                       = local.name_prefix
  environment                       = var.environment
  model_name                        = var.model_name
  code_version                      = var.code_version
  kms_key_arn                       = module.storage.kms_key_arn
  data_bucket                       = module.storage.data_bucket
  data_bucket_arn                   = module.storage.data_bucket_arn
  artifact_bucket                   = module.storage.artifact_bucket
  artifact_bucket_arn               = module.storage.artifact_bucket_arn
  registry_table                    = module.registry.registry_table
  registry_table_arn                = module.registry.registry_table_arn
  predictions_table                 = module.registry.predictions_table
  predictions_table_arn             = module.registry.predictions_table_arn
  capture_stream                    = module.captures.stream_name
  capture_stream_arn                = module.captures.stream_arn
  features_table                    = module.registry.features_table
  features_table_arn                = module.registry.features_table_arn
  idempotency_table                 = module.registry.idempotency_table
  idempotency_table_arn             = module.registry.idempotency_table_arn
  state_machine_name                = local.state_machine_name
  inference_zip_path                = var.inference_zip_path
  inference_snapstart               = var.inference_snapstart
  inference_provisioned_concurrency = var.inference_provisioned_concurrency
  training_image_uri                = var.training_image_uri
  training_mode                     = var.training_mode
  training_memory_mb                = var.training_memory_mb
  monitor_window_hours              = var.monitor_window_hours
  sagemaker_instance_type           = var.sagemaker_instance_type
  processing_instance_type          = var.processing_instance_type
  sagemaker_max_runtime_seconds     = var.sagemaker_max_runtime_seconds
  auto_promote_stage                = var.auto_promote_stage
  capture_sample_rate               = var.capture_sample_rate
  log_retention_days                = var.log_retention_days
  drift_window_hours                = var.drift_window_hours
}

module "pipeline" {
  source                    = "../pipeline"
  name_prefix               = local.name_prefix
  state_machine_name        = local.state_machine_name
  model_name                = var.model_name
  task_function_arns        = module.functions.pipeline_task_arns
  sagemaker_role_arn        = module.functions.sagemaker_role_arn
  batch_function_arns       = module.functions.batch_task_arns
  batch_schedule_expression = var.batch_schedule_expression
  batch_schedule_input_key  = var.batch_schedule_input_key
  data_bucket_arn           = module.storage.data_bucket_arn
  ingest_function_arn       = module.functions.function_arns["ingest"]
  ingest_function_name      = module.functions.function_names["ingest"]
  data_bucket               = module.storage.data_bucket
  registry_table            = module.registry.registry_table
  registry_table_arn        = module.registry.registry_table_arn
  kms_key_arn               = module.storage.kms_key_arn
  log_retention_days        = var.log_retention_days
}

module "api" {
  source              = "../api"
  name_prefix         = local.name_prefix
  api_type            = var.api_type
  auth                = var.api_auth
  jwt_issuer          = var.jwt_issuer
  jwt_audience        = var.jwt_audience
  function_name       = module.functions.function_names["inference"]
  function_invoke_arn = module.functions.inference_alias_invoke_arn
  kms_key_arn         = module.storage.kms_key_arn
  log_retention_days  = var.log_retention_days
}

module "monitoring" {
  source              = "../monitoring"
  name_prefix         = local.name_prefix
  model_name          = var.model_name
  kms_key_arn         = module.storage.kms_key_arn
  api_type            = var.api_type
  api_id              = module.api.api_id
  api_name            = module.api.api_name
  api_stage           = module.api.stage_name
  state_machine_arn   = module.pipeline.state_machine_arn
  monitor_schedule    = var.monitor_schedule
  notification_emails = var.notification_emails
  max_model_age_days  = var.max_model_age_days
  max_data_age_hours  = var.max_data_age_hours
  # Freshness of the production version's training data (core/freshness.py).
  max_model_data_age_hours = var.max_model_data_age_hours
  dead_letter_queues = {
    functions = module.functions.dead_letter_queue_name
    incoming  = module.pipeline.dead_letter_queue_name
    stream    = module.functions.stream_dead_letter_queue_name
  }
  functions = {
    monitor_name  = module.functions.function_names["monitor"]
    monitor_arn   = module.functions.function_arns["monitor"]
    retrain_name  = module.functions.function_names["retrain"]
    retrain_arn   = module.functions.function_arns["retrain"]
    rollback_name = module.functions.function_names["rollback"]
    rollback_arn  = module.functions.function_arns["rollback"]
  }
}
