# prod: nothing promotes itself; a tenth of the predictions captured.
# State: prod.azurerm.tfbackend.
environment         = "prod"
location            = "westeurope"
model_name          = "breast-cancer"
auto_promote_stage  = ""
capture_sample_rate = 0.1
# Freshness alerts (time.column): the newest accepted data, and production's training data.
max_data_age_hours       = 48
max_model_data_age_hours = 168
