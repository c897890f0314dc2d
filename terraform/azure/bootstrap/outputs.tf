output "storage_account_name" {
  description = "State account: terraform init -backend-config=storage_account_name=<this>."
  value       = azurerm_storage_account.state.name
}

output "container_name" {
  description = "State container: terraform init -backend-config=container_name=<this>."
  value       = azurerm_storage_container.state.name
}

output "resource_group_name" {
  description = "Resource group of the state account."
  value       = azurerm_resource_group.state.name
}
