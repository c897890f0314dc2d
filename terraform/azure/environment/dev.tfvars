# dev: new versions go to staging automatically; the storage account can be destroyed.
# State: dev.azurerm.tfbackend.
environment         = "dev"
location            = "westeurope"
model_name          = "breast-cancer"
auto_promote_stage  = "staging"
capture_sample_rate = 1.0
