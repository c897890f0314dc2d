# dev: new versions go to the registry's staging stage, every prediction is captured, and the
# buckets and tables can be destroyed.
# State: dev.s3.tfbackend.
environment         = "dev"
model_name          = "breast-cancer"
auto_promote_stage  = "staging"
capture_sample_rate = 1.0
force_destroy       = true
deletion_protection = false
max_model_age_days  = 7
