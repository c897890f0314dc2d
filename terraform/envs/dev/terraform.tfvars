model_name          = "breast-cancer"
auto_promote_stage  = "staging"
capture_sample_rate = 1.0
force_destroy       = true
deletion_protection = false
