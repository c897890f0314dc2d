#!/usr/bin/env bash
# Runs inside LocalStack once it is ready: the bucket tflocal keeps Terraform state in.
set -euo pipefail
awslocal s3api create-bucket --bucket mlops-tfstate-000000000000 >/dev/null 2>&1 || true
echo "state bucket mlops-tfstate-000000000000 ready"
