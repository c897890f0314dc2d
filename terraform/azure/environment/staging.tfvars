# staging: promoted by the workflow; half the predictions captured.
# State: staging.azurerm.tfbackend.
environment         = "staging"
location            = "westeurope"
model_name          = "breast-cancer"
auto_promote_stage  = ""
capture_sample_rate = 0.5
