# dev: new versions go to the registry's staging stage, every prediction is captured, and the
# buckets and tables can be destroyed.
# State: dev.s3.tfbackend.
environment         = "dev"
model_name          = "breast-cancer"
auto_promote_stage  = "staging"
capture_sample_rate = 1.0
force_destroy       = true
deletion_protection = false
# Data up to (training_memory_mb - 512) MiB / 4 is validated and trained in the functions;
# bigger files go to SageMaker jobs of these instance types (docs/data-plane.md).
training_memory_mb       = 3008
processing_instance_type = "ml.m5.xlarge"
sagemaker_instance_type  = "ml.m5.large"
max_model_age_days       = 7
# Freshness alarms (time.column): the newest accepted data, and production's training data.
max_data_age_hours       = 168
max_model_data_age_hours = 720
# Each hourly monitor run reads every capture of the last monitor_window_hours; at ~100M
# predictions a day a run of 24 h outgrows one function: 1 (docs/data-plane.md).
monitor_window_hours = 24
