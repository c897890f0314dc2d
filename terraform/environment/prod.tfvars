# prod: imports signed exports from dev and staging, two provisioned inference instances; tables
# protected from deletion and buckets not force-destroyed: the defaults of deletion_protection
# and force_destroy.
# State: prod.s3.tfbackend.
environment                       = "prod"
model_name                        = "breast-cancer"
capture_sample_rate               = 0.1
inference_provisioned_concurrency = 2
trusted_export_environments       = ["dev", "staging"]
max_model_age_days                = 30
