# dev on LocalStack, given after dev.tfvars (it overrides it): the REST API (the free edition has
# no HTTP API v2), no auth (LocalStack does not check SigV4 on API calls), and no
# SnapStart/provisioned concurrency.
model_name          = "breast-cancer"
api_type            = "rest"
api_auth            = "none"
auto_promote_stage  = "staging"
capture_sample_rate = 1.0
force_destroy       = true
deletion_protection = false
training_image_uri  = "000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566/mlops-dev-training:local"
region              = "us-east-1"
