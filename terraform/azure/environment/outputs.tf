output "environment" {
  description = "The environment (MLOPS_ENVIRONMENT)."
  value       = var.environment
}

output "model_name" {
  description = "The model (MLOPS_MODEL_NAME)."
  value       = var.model_name
}

output "resource_group" {
  description = "Resource group of the environment."
  value       = azurerm_resource_group.main.name
}

output "storage_account_name" {
  description = "Storage account (MLOPS_AZURE_STORAGE_ACCOUNT_NAME)."
  value       = module.storage.account_name
}

output "function_app_name" {
  description = "Function app the deploy workflow publishes the package to."
  value       = module.function_app.function_app_name
}

output "api_url" {
  description = "Base URL of the prediction API."
  value       = module.function_app.api_url
}

output "app_settings" {
  description = "The function app's MLOPS_* settings: a CLI on this environment uses the same."
  value       = module.function_app.app_settings
}
