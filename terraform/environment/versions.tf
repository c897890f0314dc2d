terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # S3 state with S3-native locking (use_lockfile): no DynamoDB lock table.
  # Partial: key comes from <env>.s3.tfbackend (one state per environment), bucket and region
  # from terraform init -backend-config (see terraform/README.md). No key here: init without
  # an environment's backend file asks for one (fails with -input=false), it never shares a state.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
