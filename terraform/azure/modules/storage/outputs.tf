output "account_id" {
  description = "Resource ID of the storage account."
  value       = azurerm_storage_account.main.id
}

output "account_name" {
  description = "Name of the storage account (MLOPS_AZURE_STORAGE_ACCOUNT_NAME)."
  value       = azurerm_storage_account.main.name
}

output "blob_endpoint" {
  description = "Primary blob endpoint of the account."
  value       = azurerm_storage_account.main.primary_blob_endpoint
}

output "containers" {
  description = "Container name by role (data, artifacts, deployments, hosts, host_keys)."
  value       = { for k, c in azurerm_storage_container.main : k => c.name }
}

output "container_ids" {
  description = "Resource Manager ID of each container by role: the scope of its role assignments."
  value       = { for k, c in azurerm_storage_container.main : k => c.id }
}

output "tables" {
  description = "Table name by role (registry, predictions)."
  value       = { for k, t in azurerm_storage_table.main : k => t.name }
}

output "table_ids" {
  description = "Resource Manager ID of each table by role: the scope of its role assignments."
  value       = { for k, t in azurerm_storage_table.main : k => t.resource_manager_id }
}

output "queue_ids" {
  description = "Resource Manager ID of each queue by name: the scope of its role assignments."
  value       = { for k, q in azurerm_storage_queue.main : k => q.resource_manager_id }
}

output "queue_prefix" {
  description = "Prefix of the pipeline queues (MLOPS_AZURE_PIPELINE_QUEUE_PREFIX)."
  value       = var.queue_prefix
}
