model_name                  = "breast-cancer"
capture_sample_rate         = 0.5
trusted_export_environments = ["dev"]
