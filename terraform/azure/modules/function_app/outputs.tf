output "function_app_id" {
  description = "Resource ID of the function app."
  value       = azurerm_function_app_flex_consumption.main.id
}

output "function_app_name" {
  description = "Name of the function app (the deploy workflow publishes to it)."
  value       = azurerm_function_app_flex_consumption.main.name
}

output "api_url" {
  description = "Base URL of the prediction API (the host's /api route prefix)."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}/api"
}

output "principal_id" {
  description = "Object ID of the app's managed identity."
  value       = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

output "app_settings" {
  description = "The settings the functions read (core/settings.py names)."
  value       = local.app_settings
}
