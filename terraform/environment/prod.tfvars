# prod: imports signed exports from dev and staging, two provisioned inference instances; tables
# protected from deletion and buckets not force-destroyed: the defaults of deletion_protection
# and force_destroy.
# State: prod.s3.tfbackend.
environment                       = "prod"
model_name                        = "breast-cancer"
capture_sample_rate               = 0.1
inference_provisioned_concurrency = 2
trusted_export_environments       = ["dev", "staging"]
# Data up to (training_memory_mb - 512) MiB / 4 is validated and trained in the functions;
# bigger files go to SageMaker jobs of these instance types (docs/data-plane.md).
training_memory_mb       = 6144
processing_instance_type = "ml.r5.2xlarge"
sagemaker_instance_type  = "ml.m5.4xlarge"
max_model_age_days       = 30
# Freshness alarms (time.column): the newest accepted data, and production's training data.
max_data_age_hours       = 48
max_model_data_age_hours = 168
# Each hourly monitor run reads every capture of the last monitor_window_hours; at ~100M
# predictions a day a run of 24 h outgrows one function: 1 (docs/data-plane.md).
monitor_window_hours = 24
