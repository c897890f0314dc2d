# staging: promoted by the workflow; half the predictions captured.
# State: staging.azurerm.tfbackend.
environment         = "staging"
location            = "westeurope"
model_name          = "breast-cancer"
auto_promote_stage  = ""
capture_sample_rate = 0.5
# Freshness alerts (time.column): the newest accepted data, and production's training data.
max_data_age_hours       = 72
max_model_data_age_hours = 336
