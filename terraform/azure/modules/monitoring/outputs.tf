output "application_insights_connection_string" {
  description = "Connection string of Application Insights (the function app's telemetry)."
  value       = azurerm_application_insights.main.connection_string
  sensitive   = true
}

output "application_insights_id" {
  description = "Resource ID of Application Insights."
  value       = azurerm_application_insights.main.id
}

output "log_analytics_workspace_id" {
  description = "Resource ID of the Log Analytics workspace."
  value       = azurerm_log_analytics_workspace.main.id
}

output "alerts" {
  description = "Alert rule name -> the reaction its action group calls."
  value       = { for k, a in local.alerts : azurerm_monitor_scheduled_query_rules_alert_v2.main[k].name => a.reaction }
}
