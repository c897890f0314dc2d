# prod: nothing promotes itself; a tenth of the predictions captured.
# State: prod.azurerm.tfbackend.
environment         = "prod"
location            = "westeurope"
model_name          = "breast-cancer"
auto_promote_stage  = ""
capture_sample_rate = 0.1
