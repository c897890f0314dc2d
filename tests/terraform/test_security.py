"""Security defaults, read from the Terraform and exercised on the adapters."""

from __future__ import annotations

import boto3

from .conftest import MODULES, TERRAFORM, blocks, first, parse


def variable_default(path, name):
    for entry in parse(path)["variable"]:
        if name in entry:
            return first(entry[name].get("default"))
    raise KeyError(name)


def test_the_api_requires_iam_auth_unless_told_otherwise():
    assert variable_default(MODULES / "api" / "variables.tf", "auth") == "iam"
    assert variable_default(MODULES / "stack" / "variables.tf", "api_auth") == "iam"
    for env in ("dev", "staging", "prod"):
        assert variable_default(TERRAFORM / "envs" / env / "variables.tf", "api_auth") == "iam"
        assert "api_auth" not in (TERRAFORM / "envs" / env / "terraform.tfvars").read_text()
    api = blocks(parse(MODULES / "api" / "main.tf"), "resource")
    route = first(api["aws_apigatewayv2_route.http"]["authorization_type"])
    assert route.startswith('${var.auth == "iam" ? "AWS_IAM"')
    method = first(api["aws_api_gateway_method.proxy"]["authorization"])
    assert method == '${var.auth == "iam" ? "AWS_IAM" : "NONE"}'


def test_feedback_can_be_authorized_apart_from_predictions():
    """Feedback labels drive the accuracy alarm that retrains: /feedback is a route of its own,
    with its own JWT scopes and its own IAM resource ARN, apart from /predict."""
    api = parse(MODULES / "api" / "main.tf")
    routes = api["locals"][0]["http_routes"]
    assert routes["predict"] == {
        "route_key": "POST /predict",
        "scopes": "${var.predict_authorization_scopes}",
    }
    assert routes["feedback"] == {
        "route_key": "POST /feedback",
        "scopes": "${var.feedback_authorization_scopes}",
    }
    assert routes["other"] == {"route_key": "ANY /{proxy+}", "scopes": []}
    route = blocks(api, "resource")["aws_apigatewayv2_route.http"]
    assert first(route["for_each"]) == "${local.http ? local.http_routes : {}}"
    assert first(route["route_key"]) == "${each.value.route_key}"
    assert "each.value.scopes" in first(route["authorization_scopes"])
    # The single route of before keeps its identity: no replacement on apply.
    assert api["moved"] == [
        {
            "from": "${aws_apigatewayv2_route.http[0]}",
            "to": '${aws_apigatewayv2_route.http["other"]}',
        }
    ]
    for name in ("predict_authorization_scopes", "feedback_authorization_scopes"):
        assert variable_default(MODULES / "api" / "variables.tf", name) == []
    outputs = {
        k: v for entry in parse(MODULES / "api" / "outputs.tf")["output"] for k, v in entry.items()
    }
    arns = first(outputs["operation_arns"]["value"])
    assert arns["predict"].endswith("/POST/predict")
    assert arns["feedback"].endswith("/POST/feedback")


def test_buckets_are_kms_encrypted_private_and_tls_only():
    storage = blocks(parse(MODULES / "storage" / "main.tf"), "resource")
    sse = storage["aws_s3_bucket_server_side_encryption_configuration.this"]
    rule = first(first(sse["rule"])["apply_server_side_encryption_by_default"])
    assert rule["sse_algorithm"] == "aws:kms" and "kms_key" in rule["kms_master_key_id"]
    block = storage["aws_s3_bucket_public_access_block.this"]
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert first(block[flag]) is True
    text = (MODULES / "storage" / "main.tf").read_text()
    assert text.count('variable = "aws:SecureTransport"') == 2  # data/artifacts and logs
    assert "DenyWritesNotEncryptedWithKms" in text


def test_everything_at_rest_is_encrypted_with_the_key():
    functions = blocks(parse(MODULES / "functions" / "main.tf"), "resource")
    for name in ("aws_lambda_function.image", "aws_lambda_function.inference"):
        assert first(functions[name]["kms_key_arn"]) == "${var.kms_key_arn}"
    assert (
        first(functions["aws_cloudwatch_log_group.function"]["kms_key_id"]) == "${var.kms_key_arn}"
    )
    assert (
        first(functions["aws_sqs_queue.dead_letters"]["kms_master_key_id"]) == "${var.kms_key_arn}"
    )
    monitoring = blocks(parse(MODULES / "monitoring" / "main.tf"), "resource")
    assert first(monitoring["aws_sns_topic.this"]["kms_master_key_id"]) == "${var.kms_key_arn}"
    for table in blocks(parse(MODULES / "registry" / "main.tf"), "resource").values():
        assert first(table["server_side_encryption"])["kms_key_arn"] == "${var.kms_key_arn}"


def test_every_object_we_write_is_kms_encrypted(aws, aws_backend):
    aws_backend.data.put("incoming/x.csv", b"a,b\n1,2\n")
    aws_backend.artifacts.put("models/m/v1/model.onnx", b"onnx")
    aws_backend.artifacts.copy("models/m/v1/model.onnx", "models/m/v2/model.onnx")
    s3 = boto3.client("s3")
    for bucket, key in (
        (aws.data_bucket, "incoming/x.csv"),
        (aws.artifact_bucket, "models/m/v1/model.onnx"),
        (aws.artifact_bucket, "models/m/v2/model.onnx"),
    ):
        assert s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "aws:kms"
