provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project    = var.project
      managed_by = "terraform"
      repository = var.github_repository
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  state_bucket = "${var.project}-tfstate-${data.aws_caller_identity.current.account_id}"
  github_oidc  = "token.actions.githubusercontent.com"
}

resource "aws_kms_key" "state" {
  description         = "${var.project} Terraform state"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.state_key.json
}

data "aws_iam_policy_document" "state_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; without the account statement the key becomes unmanageable.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself.
  statement {
    sid = "AccountAdministersTheKey"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt",
      "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey", "kms:EnableKey",
      "kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey", "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy",
      "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RevokeGrant", "kms:ScheduleKeyDeletion",
      "kms:TagResource", "kms:UntagResource",
    ]
    resources = ["*"]
  }
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Access to state is audited with CloudTrail data events; an access-log bucket would need its own bootstrap.
  #checkov:skip=CKV_AWS_144:Cross-region replication of state is an organisation choice; versioning keeps every revision.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to state writes.
  bucket = local.state_bucket
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 365
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "state" {
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    # Every S3 action, not a list: a list leaves the others (tagging, ACLs, versions) open.
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state.json
}

# -- GitHub Actions: OIDC, no keys -----------------------------------------------------------

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.github_oidc}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS validates GitHub's certificate itself; the provider still requires a thumbprint.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1
  url   = "https://${local.github_oidc}"
}

module "ci_access" {
  source            = "../modules/ci_access"
  for_each          = toset(var.environments)
  github_repository = var.github_repository
  environment       = each.value
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
  resource_prefix   = "${var.project}-${each.value}"
  state_bucket_arn  = aws_s3_bucket.state.arn
  state_kms_key_arn = aws_kms_key.state.arn
  # An environment imports the models of the environments before it (promote-model.yml).
  trusted_export_prefixes = [for e in slice(var.environments, 0, index(var.environments, each.value)) : "${var.project}-${e}"]
}
