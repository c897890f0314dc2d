# Logs and metrics (Log Analytics + workspace-based Application Insights), and the alerts that
# drive the reactions: drift and live accuracy -> retrain; 5xx and latency -> rollback. Each
# action group calls the function's alert route in the common alert schema.
resource "azurerm_log_analytics_workspace" "main" {
  name                = "${var.name_prefix}-logs"
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "PerGB2018"
  retention_in_days   = var.retention_in_days
  tags                = var.tags
}

resource "azurerm_application_insights" "main" {
  name                = "${var.name_prefix}-insights"
  resource_group_name = var.resource_group_name
  location            = var.location
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "web"
  # Telemetry only with Entra ID: the connection string alone cannot write.
  local_authentication_disabled = true
  tags                          = var.tags
}

resource "azurerm_monitor_action_group" "reaction" {
  for_each            = toset(["retrain", "rollback"])
  name                = "${var.name_prefix}-${each.key}"
  resource_group_name = var.resource_group_name
  short_name          = substr(each.key, 0, 12)
  tags                = var.tags

  azure_function_receiver {
    name                     = each.key
    function_app_resource_id = var.function_app_id
    function_name            = each.key
    http_trigger_url         = "https://${var.function_app_hostname}/api/alerts/${each.key}"
    use_common_alert_schema  = true
  }
}

locals {
  # Custom metrics the monitor and the API publish (core/monitoring.py, core/serving/scoring.py);
  # OpenTelemetry sends instrument names lower-cased, hence =~ (case-insensitive).
  alerts = {
    drift = {
      reaction    = "retrain"
      description = "Share of drifted features over the threshold: retrain on the newest data."
      query       = "customMetrics | where name =~ 'DataDriftShare' | summarize value = max(value) by bin(timestamp, 1h)"
      threshold   = var.drift_share_threshold
      operator    = "GreaterThan"
      window      = "PT1H"
    }
    accuracy = {
      reaction    = "retrain"
      description = "Live accuracy from feedback under the floor: retrain."
      query       = "customMetrics | where name =~ 'FeedbackAccuracy' | summarize value = min(value) by bin(timestamp, 1h)"
      threshold   = var.min_feedback_accuracy
      operator    = "LessThan"
      window      = "PT1H"
    }
    errors = {
      reaction    = "rollback"
      description = "Server errors of the prediction API: roll a fresh promotion back."
      query       = "requests | where toint(resultCode) >= 500 | summarize value = count() by bin(timestamp, 5m)"
      threshold   = var.max_5xx_per_5_minutes
      operator    = "GreaterThan"
      window      = "PT5M"
    }
    # Freshness (core/freshness.py); published only for a model with a time column. Stale data
    # needs a person (no reaction: the alert is seen); a stale model retrains.
    data_age = {
      reaction    = null
      description = "Hours since the newest accepted data timestamp over the limit: data stopped arriving, or arrives old."
      query       = "customMetrics | where name =~ 'DataAgeHours' | summarize value = max(value) by bin(timestamp, 1h)"
      threshold   = var.max_data_age_hours
      operator    = "GreaterThan"
      window      = "PT1H"
    }
    model_data_age = {
      reaction    = "retrain"
      description = "Hours since the newest timestamp of the production version's training data over the limit: retrain."
      query       = "customMetrics | where name =~ 'ModelDataAgeHours' | summarize value = max(value) by bin(timestamp, 1h)"
      threshold   = var.max_model_data_age_hours
      operator    = "GreaterThan"
      window      = "PT1H"
    }
    latency = {
      reaction    = "rollback"
      description = "p95 latency of the prediction API over the limit: roll a fresh promotion back."
      query       = "requests | where name has 'predict' | summarize value = percentile(duration, 95) by bin(timestamp, 5m)"
      threshold   = var.max_p95_latency_ms
      operator    = "GreaterThan"
      window      = "PT5M"
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "main" {
  for_each                = local.alerts
  name                    = "${var.name_prefix}-${each.key}"
  resource_group_name     = var.resource_group_name
  location                = var.location
  description             = each.value.description
  scopes                  = [azurerm_application_insights.main.id]
  severity                = 2
  evaluation_frequency    = each.value.window
  window_duration         = each.value.window
  auto_mitigation_enabled = true
  tags                    = var.tags

  criteria {
    query                   = each.value.query
    time_aggregation_method = "Maximum"
    metric_measure_column   = "value"
    operator                = each.value.operator
    threshold               = each.value.threshold

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  action {
    action_groups = each.value.reaction == null ? [] : [azurerm_monitor_action_group.reaction[each.value.reaction].id]
  }
}
