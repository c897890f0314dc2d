# staging: imports signed exports from dev.
# State: staging.s3.tfbackend.
environment                 = "staging"
model_name                  = "breast-cancer"
capture_sample_rate         = 0.5
trusted_export_environments = ["dev"]
# Data up to (training_memory_mb - 512) MiB / 4 is validated and trained in the functions;
# bigger files go to SageMaker jobs of these instance types (docs/data-plane.md).
training_memory_mb       = 3008
processing_instance_type = "ml.m5.xlarge"
sagemaker_instance_type  = "ml.m5.large"
max_model_age_days       = 14
# Freshness alarms (time.column): the newest accepted data, and production's training data.
max_data_age_hours       = 72
max_model_data_age_hours = 336
# Each hourly monitor run reads every capture of the last monitor_window_hours; at ~100M
# predictions a day a run of 24 h outgrows one function: 1 (docs/data-plane.md).
monitor_window_hours = 24
