# dev: new versions go to staging automatically; the storage account can be destroyed.
# State: dev.azurerm.tfbackend.
environment         = "dev"
location            = "westeurope"
model_name          = "breast-cancer"
auto_promote_stage  = "staging"
capture_sample_rate = 1.0
# Freshness alerts (time.column): the newest accepted data, and production's training data.
max_data_age_hours       = 168
max_model_data_age_hours = 720
