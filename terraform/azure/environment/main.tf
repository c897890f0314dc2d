# One environment on Azure (dev, staging or prod: <env>.tfvars and <env>.azurerm.tfbackend), the
# same pattern as terraform/environment for AWS.
locals {
  name_prefix = "${var.project}-${var.environment}"
  tags = {
    project     = var.project
    environment = var.environment
    model       = var.model_name
    managed_by  = "terraform"
  }
}

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "main" {
  name     = "${local.name_prefix}-rg"
  location = var.location
  tags     = local.tags
}

# Storage account names are global: the subscription makes them unique per team.
resource "random_string" "account" {
  length  = 6
  upper   = false
  special = false
}

module "storage" {
  source               = "../modules/storage"
  name_prefix          = local.name_prefix
  storage_account_name = substr(replace("${var.project}${var.environment}${random_string.account.result}", "-", ""), 0, 24)
  resource_group_name  = azurerm_resource_group.main.name
  location             = var.location
  # Module outputs resolve per value: the workspace does not wait for the function app.
  log_analytics_workspace_id = module.monitoring.log_analytics_workspace_id
  tags                       = local.tags
}

module "function_app" {
  source                                 = "../modules/function_app"
  name_prefix                            = local.name_prefix
  resource_group_name                    = azurerm_resource_group.main.name
  location                               = var.location
  environment                            = var.environment
  model_name                             = var.model_name
  auto_promote_stage                     = var.auto_promote_stage
  capture_sample_rate                    = var.capture_sample_rate
  code_version                           = var.code_version
  storage                                = module.storage
  application_insights_connection_string = module.monitoring.application_insights_connection_string
  application_insights_id                = module.monitoring.application_insights_id
  tags                                   = local.tags
}

module "monitoring" {
  source                = "../modules/monitoring"
  name_prefix           = local.name_prefix
  resource_group_name   = azurerm_resource_group.main.name
  location              = var.location
  function_app_id       = module.function_app.function_app_id
  function_app_name     = module.function_app.function_app_name
  function_app_hostname = trimsuffix(trimprefix(module.function_app.api_url, "https://"), "/api")
  # Freshness alerts (core/freshness.py), per environment.
  max_data_age_hours       = var.max_data_age_hours
  max_model_data_age_hours = var.max_model_data_age_hours
  tags                     = local.tags
}
