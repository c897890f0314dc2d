model_name                        = "breast-cancer"
capture_sample_rate               = 0.1
inference_provisioned_concurrency = 2
trusted_export_environments       = ["dev", "staging"]
