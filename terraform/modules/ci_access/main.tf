data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  p       = data.aws_partition.current.partition
  region  = data.aws_region.current.region
  account = data.aws_caller_identity.current.account_id
  prefix  = var.resource_prefix
  arn     = "${local.p}:%s:${local.region}:${local.account}"
}

# Only workflow jobs bound to this repository's GitHub environment get the role; staging and
# prod environments carry required reviewers, so their credentials exist only after approval.
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${local.prefix}-github-deploy"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_seconds
}

# Terraform apply of one stack, plus promotions and smoke tests: every statement is scoped to
# the stack's name prefix where the service allows it.
data "aws_iam_policy_document" "deploy" {
  #checkov:skip=CKV_AWS_111:Only the "Unscoped" statement has "*": CreateKey, ListAliases, CreateAlias/DeleteAlias, ECR login and DescribeLogGroups accept no narrower resource.
  #checkov:skip=CKV_AWS_356:Only the "Unscoped" statement has "*": those actions accept no narrower resource; every other statement is scoped to the stack prefix.
  statement {
    sid       = "State"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.state_bucket_arn}/${var.environment}/*"]
  }
  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]
  }
  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.state_kms_key_arn]
  }
  # The stack's buckets (modules/storage): each Put action is the one Terraform calls for a
  # resource there, also to remove that setting again (bucket tags, versioning, encryption,
  # public access block, ownership controls, access logging, lifecycle, policy, EventBridge
  # notifications). PutBucketPolicy and PutBucketPublicAccessBlock stay because Terraform
  # writes both (TLS-only/KMS-only policy, all four blocks on). Not granted: ACLs, website,
  # CORS, replication, object lock and retention, access points, inventory and analytics
  # exports: nothing here sets them, and each could open or copy the data. Deleting objects
  # is for force_destroy (dev); reading is for plans, `registry check` and `registry export`.
  statement {
    sid = "Buckets"
    actions = [
      "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:DeleteObject",
      "s3:DeleteObjectVersion", "s3:Get*", "s3:List*",
      "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
      "s3:PutBucketPublicAccessBlock", "s3:PutBucketOwnershipControls", "s3:PutBucketLogging",
      "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:PutBucketNotification",
    ]
    resources = ["arn:${local.p}:s3:::${local.prefix}-*"]
  }
  # The only object writes: `mlops registry import` stores a promoted version's artifacts
  # (promote-model.yml).
  statement {
    sid       = "ImportModelVersions"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.p}:s3:::${local.prefix}-artifacts-*/models/*"]
  }
  statement {
    sid = "Tables"
    actions = [
      "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:Describe*", "dynamodb:List*",
      "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:UpdateTable",
      "dynamodb:UpdateTimeToLive", "dynamodb:UpdateContinuousBackups",
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
    ]
    resources = ["arn:${format(local.arn, "dynamodb")}:table/${local.prefix}-*"]
  }
  statement {
    sid = "Functions"
    actions = [
      "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:Get*", "lambda:List*",
      "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PublishVersion",
      "lambda:CreateAlias", "lambda:UpdateAlias", "lambda:DeleteAlias", "lambda:AddPermission",
      "lambda:RemovePermission", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
      "lambda:PutProvisionedConcurrencyConfig", "lambda:DeleteProvisionedConcurrencyConfig",
      "lambda:TagResource", "lambda:UntagResource",
    ]
    resources = ["arn:${format(local.arn, "lambda")}:function:${local.prefix}-*"]
  }
  statement {
    sid = "Roles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateAssumeRolePolicy",
      "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies",
      "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:TagRole",
      "iam:UntagRole", "iam:PassRole",
    ]
    resources = ["arn:${local.p}:iam::${local.account}:role/${local.prefix}-*"]
  }
  statement {
    sid       = "Pipeline"
    actions   = ["states:CreateStateMachine", "states:DeleteStateMachine", "states:Describe*", "states:List*", "states:UpdateStateMachine", "states:TagResource", "states:UntagResource", "states:StartExecution"]
    resources = ["arn:${format(local.arn, "states")}:stateMachine:${local.prefix}-*", "arn:${format(local.arn, "states")}:execution:${local.prefix}-*:*"]
  }
  statement {
    sid       = "Messaging"
    actions   = ["sns:CreateTopic", "sns:DeleteTopic", "sns:Get*", "sns:List*", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:TagResource", "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:Get*", "sqs:List*", "sqs:SetQueueAttributes", "sqs:TagQueue"]
    resources = ["arn:${format(local.arn, "sns")}:${local.prefix}-*", "arn:${format(local.arn, "sqs")}:${local.prefix}-*"]
  }
  statement {
    sid       = "Observability"
    actions   = ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:Describe*", "logs:List*", "logs:PutRetentionPolicy", "logs:AssociateKmsKey", "logs:TagResource", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:Describe*", "cloudwatch:List*", "cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards", "cloudwatch:TagResource", "events:PutRule", "events:DeleteRule", "events:Describe*", "events:List*", "events:PutTargets", "events:RemoveTargets", "events:TagResource"]
    resources = ["arn:${format(local.arn, "logs")}:log-group:*${local.prefix}*", "arn:${format(local.arn, "cloudwatch")}:alarm:${local.prefix}-*", "arn:${local.p}:cloudwatch::${local.account}:dashboard/${local.prefix}", "arn:${format(local.arn, "events")}:rule/${local.prefix}-*"]
  }
  statement {
    sid       = "Images"
    actions   = ["ecr:CreateRepository", "ecr:DeleteRepository", "ecr:Describe*", "ecr:List*", "ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy", "ecr:PutImageScanningConfiguration", "ecr:TagResource", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${format(local.arn, "ecr")}:repository/${local.prefix}-*"]
  }
  statement {
    sid       = "Keys"
    actions   = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:CreateGrant", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = ["arn:${format(local.arn, "kms")}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/stack"
      values   = [local.prefix]
    }
  }
  # Model exports: this environment signs with its own export key, and verifies with it and
  # with the keys of the environments it imports from (same account, tagged by their stack).
  statement {
    sid       = "SignModelExports"
    actions   = ["kms:GenerateMac", "kms:VerifyMac"]
    resources = ["arn:${format(local.arn, "kms")}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/stack"
      values   = [local.prefix]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/purpose"
      values   = ["export-signing"]
    }
  }
  dynamic "statement" {
    for_each = length(var.trusted_export_prefixes) > 0 ? [1] : []
    content {
      sid       = "VerifyExportsOfEarlierEnvironments"
      actions   = ["kms:VerifyMac"]
      resources = ["arn:${format(local.arn, "kms")}:key/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/stack"
        values   = var.trusted_export_prefixes
      }
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/purpose"
        values   = ["export-signing"]
      }
    }
  }
  # Creating a key, listing aliases, logging in to ECR, API Gateway and X-Ray have no
  # resource-level scoping (or the resource does not exist yet): these are "*".
  statement {
    sid       = "Unscoped"
    actions   = ["kms:CreateKey", "kms:ListAliases", "kms:CreateAlias", "kms:DeleteAlias", "ecr:GetAuthorizationToken", "logs:DescribeLogGroups", "sts:GetCallerIdentity"]
    resources = ["*"]
  }
  statement {
    sid       = "Api"
    actions   = ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE", "apigateway:TagResource"]
    resources = ["arn:${local.p}:apigateway:${local.region}::/*"]
  }
  statement {
    sid       = "SmokeTests"
    actions   = ["execute-api:Invoke"]
    resources = ["arn:${format(local.arn, "execute-api")}:*/*"]
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy-${var.environment}"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}
