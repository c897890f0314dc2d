# Once per subscription, with local state: the storage account that keeps every environment's
# state (terraform/azure/environment, backend "azurerm"), reached with Entra ID only.
provider "azurerm" {
  features {}
  storage_use_azuread = true
}

resource "random_string" "suffix" {
  length  = 6
  upper   = false
  special = false
}

resource "azurerm_resource_group" "state" {
  name     = "${var.project}-tfstate-rg"
  location = var.location
}

resource "azurerm_storage_account" "state" {
  #checkov:skip=CKV_AZURE_33:the state account has no queues; queue logging does not apply
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys; a customer key needs a Key Vault the bootstrap does not create
  #checkov:skip=CKV2_AZURE_33:no private endpoint: CI runners reach the state over the public endpoint with Entra ID only
  #checkov:skip=CKV_AZURE_59:public endpoint needed by hosted CI runners; shared keys are off so only Entra ID works
  #checkov:skip=CKV2_AZURE_40:shared keys are off (shared_access_key_enabled = false); checkov misreads the attribute
  #checkov:skip=CKV2_AZURE_41:no SAS is issued: shared keys are off, so no SAS expiration policy applies
  name                            = "${var.project}tfstate${random_string.suffix.result}"
  resource_group_name             = azurerm_resource_group.state.name
  location                        = azurerm_resource_group.state.location
  account_tier                    = "Standard"
  account_replication_type        = "GRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  local_user_enabled              = false

  blob_properties {
    versioning_enabled = true
    delete_retention_policy {
      days = 30
    }
    container_delete_retention_policy {
      days = 30
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }
}

resource "azurerm_storage_container" "state" {
  #checkov:skip=CKV2_AZURE_21:state reads and writes are in the account's activity and diagnostic logs
  name                  = "tfstate"
  storage_account_id    = azurerm_storage_account.state.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "state" {
  for_each             = toset(var.deployer_principal_ids)
  scope                = azurerm_storage_container.state.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}
