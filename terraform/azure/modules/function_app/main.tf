# The function app (azure_functions/app.py): Linux Flex Consumption, Python 3.12, a system-
# assigned identity with roles on exactly the containers, tables and queues it uses, and
# identity-based connections (no account key anywhere in its settings).
locals {
  # Every MLOPS_* setting the functions read (core/settings.py); tests/terraform/test_azure.py
  # holds this map and the code together.
  app_settings = {
    MLOPS_BACKEND                     = "azure"
    MLOPS_ENVIRONMENT                 = var.environment
    MLOPS_MODEL_NAME                  = var.model_name
    MLOPS_SERVING_STAGE               = "production"
    MLOPS_CAPTURE_SAMPLE_RATE         = tostring(var.capture_sample_rate)
    MLOPS_AUTO_PROMOTE_STAGE          = var.auto_promote_stage
    MLOPS_CODE_VERSION                = var.code_version
    MLOPS_AZURE_STORAGE_ACCOUNT_NAME  = var.storage.account_name
    MLOPS_AZURE_DATA_CONTAINER        = var.storage.containers["data"]
    MLOPS_AZURE_ARTIFACT_CONTAINER    = var.storage.containers["artifacts"]
    MLOPS_AZURE_REGISTRY_TABLE        = var.storage.tables["registry"]
    MLOPS_AZURE_PREDICTIONS_TABLE     = var.storage.tables["predictions"]
    MLOPS_AZURE_PIPELINE_QUEUE_PREFIX = var.storage.queue_prefix
    MLOPS_AZURE_STREAM_OUTPUT_QUEUE   = "stream-results"
    MLOPS_AZURE_MAX_DEQUEUE_COUNT     = "5"
    MLOPS_RETRAIN_COOLDOWN_SECONDS    = "21600"
    MLOPS_ROLLBACK_WINDOW_SECONDS     = "3600"
    # Big files train in an Azure ML command job when a workspace is named (docs/azure.md); with
    # "" the function trains whatever the size.
    MLOPS_AZUREML_SUBSCRIPTION_ID = var.azureml.subscription_id
    MLOPS_AZUREML_RESOURCE_GROUP  = var.azureml.resource_group
    MLOPS_AZUREML_WORKSPACE       = var.azureml.workspace
    MLOPS_AZUREML_COMPUTE         = var.azureml.compute
    MLOPS_TRAINING_IMAGE_URI      = var.azureml.image_uri
    # Feature definitions: streamed feature rows, and label files joined against the views
    # (a config's features_from; docs/feature-store.md).
    MLOPS_FEATURE_REPO = var.feature_repo
    # The triggers' connection (AzureWebJobsStorage): the same account, by identity.
    AzureWebJobsStorage__accountName = var.storage.account_name
    AzureWebJobsStorage__credential  = "managedidentity"
    # Telemetry with the identity (Application Insights refuses local authentication).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD"
  }

  # Built-in roles, each on the narrowest scope that works.
  blob_roles = {
    data        = "Storage Blob Data Contributor"
    artifacts   = "Storage Blob Data Contributor"
    deployments = "Storage Blob Data Contributor"
    hosts       = "Storage Blob Data Owner"
    host_keys   = "Storage Blob Data Owner"
  }
  table_roles = { for k, _ in var.storage.table_ids : k => "Storage Table Data Contributor" }
  # Contributor on a queue: the host reads and deletes, and moves failures to the poison queue.
  queue_roles = { for name, _ in var.storage.queue_ids : name => "Storage Queue Data Contributor" }
}

resource "azurerm_service_plan" "main" {
  #checkov:skip=CKV_AZURE_225:Flex Consumption (FC1) has no zone-redundancy setting on the plan; it is set on the app
  #checkov:skip=CKV_AZURE_212:Flex Consumption scales instances per demand; a fixed minimum count does not apply to FC1
  name                = "${var.name_prefix}-plan"
  resource_group_name = var.resource_group_name
  location            = var.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = var.tags
}

resource "azurerm_function_app_flex_consumption" "main" {
  name                = "${var.name_prefix}-functions"
  resource_group_name = var.resource_group_name
  location            = var.location
  service_plan_id     = azurerm_service_plan.main.id

  # The package is read from the deployment container with the app's own identity.
  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${var.storage.blob_endpoint}${var.storage.containers["deployments"]}"
  storage_authentication_type = "SystemAssignedIdentity"

  runtime_name           = "python"
  runtime_version        = "3.12"
  maximum_instance_count = var.maximum_instance_count
  instance_memory_in_mb  = var.instance_memory_in_mb
  https_only             = true

  identity {
    type = "SystemAssigned"
  }

  site_config {
    application_insights_connection_string = var.application_insights_connection_string
    minimum_tls_version                    = "1.2"
    http2_enabled                          = true
  }

  app_settings = local.app_settings
  tags         = var.tags
}

resource "azurerm_role_assignment" "blob" {
  for_each             = local.blob_roles
  scope                = var.storage.container_ids[each.key]
  role_definition_name = each.value
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

resource "azurerm_role_assignment" "table" {
  for_each             = local.table_roles
  scope                = var.storage.table_ids[each.key]
  role_definition_name = each.value
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

resource "azurerm_role_assignment" "queue" {
  for_each             = local.queue_roles
  scope                = var.storage.queue_ids[each.key]
  role_definition_name = each.value
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

resource "azurerm_role_assignment" "telemetry" {
  scope                = var.application_insights_id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

# Data in: the account's BlobCreated events under data/incoming/ reach the ingest function.
resource "azurerm_eventgrid_system_topic" "storage" {
  name                = "${var.name_prefix}-storage-events"
  resource_group_name = var.resource_group_name
  location            = var.location
  source_resource_id  = var.storage.account_id
  topic_type          = "Microsoft.Storage.StorageAccounts"
  tags                = var.tags
}

resource "azurerm_eventgrid_system_topic_event_subscription" "ingest" {
  name                = "${var.name_prefix}-ingest"
  system_topic        = azurerm_eventgrid_system_topic.storage.name
  resource_group_name = var.resource_group_name

  included_event_types = ["Microsoft.Storage.BlobCreated"]

  subject_filter {
    subject_begins_with = "/blobServices/default/containers/${var.storage.containers["data"]}/blobs/incoming/"
    subject_ends_with   = ".csv"
  }

  azure_function_endpoint {
    function_id                       = "${azurerm_function_app_flex_consumption.main.id}/functions/ingest"
    max_events_per_batch              = 1
    preferred_batch_size_in_kilobytes = 64
  }

  retry_policy {
    max_delivery_attempts = 30
    event_time_to_live    = 1440
  }
}
