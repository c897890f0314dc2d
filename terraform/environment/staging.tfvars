# staging: imports signed exports from dev.
# State: staging.s3.tfbackend.
environment                 = "staging"
model_name                  = "breast-cancer"
capture_sample_rate         = 0.5
trusted_export_environments = ["dev"]
max_model_age_days          = 14
