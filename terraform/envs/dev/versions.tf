terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # S3 state with S3-native locking (use_lockfile): no DynamoDB lock table.
  # bucket and region come from terraform init -backend-config (see terraform/README.md).
  backend "s3" {
    key          = "dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
