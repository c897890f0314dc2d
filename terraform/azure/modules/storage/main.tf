# One storage account: the data and artifact containers, the registry and predictions tables,
# the pipeline's queues (one per step of core/pipeline_steps.json the queue chain runs, collect
# included, and its poison queue), the
# deployment container of the function package, and the Functions host's own containers.
locals {
  steps  = [for step in jsondecode(file("${path.module}/../../../../core/pipeline_steps.json")).steps : step.name if !try(step.state_machine_only, false)]
  queues = concat([for s in local.steps : "${var.queue_prefix}-${s}"], [for s in local.steps : "${var.queue_prefix}-${s}-poison"], ["stream-results"])
  containers = {
    data      = "data"
    artifacts = "artifacts"
    # The Flex Consumption package, and the host's keys and leases.
    deployments = "deployments"
    hosts       = "azure-webjobs-hosts"
    host_keys   = "azure-webjobs-secrets"
  }
  tables = { registry = "registry", predictions = "predictions" }
}

resource "azurerm_storage_account" "main" {
  #checkov:skip=CKV_AZURE_33:queue service logging is the diagnostic setting below (classic logging is retired)
  #checkov:skip=CKV_AZURE_206:replication is LRS in dev; set account_replication_type per environment for GRS
  #checkov:skip=CKV2_AZURE_1:encryption with Microsoft-managed keys; a customer key needs a Key Vault this template does not create
  #checkov:skip=CKV2_AZURE_33:no private endpoint: Flex Consumption reaches the account over its public endpoint with Entra ID only
  #checkov:skip=CKV_AZURE_59:public network access is needed by the Flex Consumption app without a virtual network; shared keys are off
  #checkov:skip=CKV2_AZURE_40:shared keys are off (shared_access_key_enabled = false); checkov misreads the attribute
  #checkov:skip=CKV2_AZURE_41:no SAS is issued: shared keys are off, so no SAS expiration policy applies
  name                            = var.storage_account_name
  resource_group_name             = var.resource_group_name
  location                        = var.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  local_user_enabled              = false
  tags                            = var.tags

  blob_properties {
    versioning_enabled = true
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }
}

resource "azurerm_storage_container" "main" {
  #checkov:skip=CKV2_AZURE_21:blob logging goes to Log Analytics through the account's diagnostic settings
  for_each              = local.containers
  name                  = each.value
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

resource "azurerm_storage_table" "main" {
  #checkov:skip=CKV2_AZURE_20:table reads are logged by the diagnostic setting on tableServices/default (StorageRead)
  for_each             = local.tables
  name                 = each.value
  storage_account_name = azurerm_storage_account.main.name
}

resource "azurerm_storage_queue" "main" {
  for_each           = toset(local.queues)
  name               = each.value
  storage_account_id = azurerm_storage_account.main.id
}

# Reads, writes and deletes of every service, to Log Analytics (classic Storage logging is
# retired).
resource "azurerm_monitor_diagnostic_setting" "services" {
  for_each                   = toset(["blobServices", "queueServices", "tableServices"])
  name                       = "${var.name_prefix}-${lower(each.key)}"
  target_resource_id         = "${azurerm_storage_account.main.id}/${each.key}/default"
  log_analytics_workspace_id = var.log_analytics_workspace_id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}
