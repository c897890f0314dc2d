terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
  # Local state: this creates the remote state bucket the environments use. Keep its state
  # file safe (or migrate it into the bucket afterwards with a backend block).
}
