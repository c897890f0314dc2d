"""Security defaults, read from the Terraform and exercised on the adapters."""

from __future__ import annotations

import re

import boto3

from .conftest import (
    ENVIRONMENT,
    ENVS,
    MODULES,
    TERRAFORM,
    blocks,
    environment_inputs,
    first,
    parse,
    tfvars,
)


def variable_default(path, name):
    for entry in parse(path)["variable"]:
        if name in entry:
            return first(entry[name].get("default"))
    raise KeyError(name)


def test_the_api_requires_iam_auth_unless_told_otherwise():
    assert variable_default(MODULES / "api" / "variables.tf", "auth") == "iam"
    assert variable_default(MODULES / "stack" / "variables.tf", "api_auth") == "iam"
    assert variable_default(ENVIRONMENT / "variables.tf", "api_auth") == "iam"
    for env in ENVS:
        assert "api_auth" not in tfvars(env)
        assert environment_inputs(env)["api_auth"] == "iam"
    api = blocks(parse(MODULES / "api" / "main.tf"), "resource")
    route = first(api["aws_apigatewayv2_route.http"]["authorization_type"])
    assert route.startswith('${var.auth == "iam" ? "AWS_IAM"')
    method = first(api["aws_api_gateway_method.proxy"]["authorization"])
    assert method == '${var.auth == "iam" ? "AWS_IAM" : "NONE"}'


def test_prod_keeps_its_tables_and_buckets():
    """Only dev may be torn down: elsewhere the tables are protected from deletion and the
    buckets are not emptied on destroy, unless a tfvars says otherwise (none does)."""
    assert variable_default(ENVIRONMENT / "variables.tf", "deletion_protection") is True
    assert variable_default(ENVIRONMENT / "variables.tf", "force_destroy") is False
    for env in ("staging", "prod"):
        inputs = environment_inputs(env)
        assert inputs["deletion_protection"] is True and inputs["force_destroy"] is False, env


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


# -- dead letters, transport, the deploy role, the access log -----------------------------------


def _modules(parsed):
    return {name: body for entry in parsed.get("module", []) for name, body in entry.items()}


def _outputs(module):
    parsed = parse(MODULES / module / "outputs.tf")
    return {
        name: first(body["value"]) for entry in parsed["output"] for name, body in entry.items()
    }


def test_every_dead_letter_queue_raises_an_alarm_to_the_ops_topic():
    queues = {
        (path.parent.name, name.removeprefix("aws_sqs_queue."))
        for path in MODULES.glob("*/main.tf")
        for name in blocks(parse(path), "resource")
        # Working queues (streaming scoring's input and output) are named otherwise.
        if name.startswith("aws_sqs_queue.") and name.endswith("dead_letters")
    }
    # The functions' DLQ, the incoming-data rule's and streaming scoring's.
    assert len(queues) >= 3
    watched = first(_modules(parse(MODULES / "stack" / "main.tf"))["monitoring"])[
        "dead_letter_queues"
    ]
    for module, queue in queues:
        output = next(
            (k for k, v in _outputs(module).items() if v == f"${{aws_sqs_queue.{queue}.name}}"),
            None,
        )
        assert output, f"{module} does not output the name of aws_sqs_queue.{queue}"
        assert f"${{module.{module}.{output}}}" in watched.values(), f"{module}.{queue} unwatched"
    alarm = blocks(parse(MODULES / "monitoring" / "main.tf"), "resource")[
        "aws_cloudwatch_metric_alarm.dead_letters"
    ]
    assert alarm["for_each"] == "${var.dead_letter_queues}"
    assert (alarm["namespace"], alarm["metric_name"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert first(alarm["dimensions"]) == {"QueueName": "${each.value}"}
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["alarm_actions"] == ['${aws_sns_topic.this["ops"].arn}']


def test_undelivered_incoming_events_go_to_an_encrypted_queue_only_that_rule_writes():
    pipeline = parse(MODULES / "pipeline" / "main.tf")
    resources = blocks(pipeline, "resource")
    target = resources["aws_cloudwatch_event_target.incoming"]
    dlq_arn = first(target["dead_letter_config"])["arn"]
    queue = re.fullmatch(r"\$\{aws_sqs_queue\.(\w+)\.arn\}", dlq_arn).group(1)
    assert resources[f"aws_sqs_queue.{queue}"]["kms_master_key_id"] == "${var.kms_key_arn}"
    policy = next(
        body
        for body in resources.values()
        if body.get("queue_url") == f"${{aws_sqs_queue.{queue}.id}}"
    )
    document = policy["policy"].removeprefix("${data.").removesuffix(".json}")
    (statement,) = blocks(pipeline, "data")[document]["statement"]
    assert statement["actions"] == ["sqs:SendMessage"]
    assert first(statement["principals"])["identifiers"] == ["events.amazonaws.com"]
    condition = first(statement["condition"])
    assert (condition["test"], condition["variable"]) == ("ArnEquals", "aws:SourceArn")
    assert condition["values"] == ["${aws_cloudwatch_event_rule.incoming.arn}"]
    # EventBridge must be able to use the stack's key to write to the encrypted queue.
    key = blocks(parse(MODULES / "storage" / "main.tf"), "data")["aws_iam_policy_document.key"]
    assert any(
        "events.amazonaws.com" in first(s["principals"])["identifiers"]
        and {"kms:GenerateDataKey", "kms:Decrypt"} <= set(s["actions"])
        for s in key["statement"]
    )


def test_tls_only_bucket_policies_deny_every_s3_action():
    found = 0
    for path in (MODULES / "storage" / "main.tf", TERRAFORM / "bootstrap" / "main.tf"):
        for name, body in blocks(parse(path), "data").items():
            for statement in body.get("statement", []):
                conditions = statement.get("condition", [])
                if any(c["variable"] == "aws:SecureTransport" for c in conditions):
                    found += 1
                    assert statement["effect"] == "Deny", f"{path.name} {name}"
                    assert statement["actions"] == ["s3:*"], f"{path.name} {name}"
                    bucket, objects = statement["resources"]
                    assert objects == f"{bucket}/*", f"{path.name} {name}"
    assert found == 3  # data/artifacts, access logs, Terraform state


# What Terraform calls to set (and to remove) each bucket resource the stack declares.
PUT_ACTION_OF = {
    "aws_s3_bucket": "s3:PutBucketTagging",
    "aws_s3_bucket_versioning": "s3:PutBucketVersioning",
    "aws_s3_bucket_server_side_encryption_configuration": "s3:PutEncryptionConfiguration",
    "aws_s3_bucket_public_access_block": "s3:PutBucketPublicAccessBlock",
    "aws_s3_bucket_ownership_controls": "s3:PutBucketOwnershipControls",
    "aws_s3_bucket_logging": "s3:PutBucketLogging",
    "aws_s3_bucket_lifecycle_configuration": "s3:PutLifecycleConfiguration",
    "aws_s3_bucket_policy": "s3:PutBucketPolicy",
    "aws_s3_bucket_notification": "s3:PutBucketNotification",
}


def test_the_deploy_role_puts_only_what_terraform_sets_on_the_buckets():
    bucket_resources = {
        name.split(".")[0]
        for name in blocks(parse(MODULES / "storage" / "main.tf"), "resource")
        if name.startswith("aws_s3_bucket")
    }
    assert bucket_resources <= set(PUT_ACTION_OF), "a new bucket resource: name its Put action"
    deploy = blocks(parse(MODULES / "ci_access" / "main.tf"), "data")[
        "aws_iam_policy_document.deploy"
    ]
    puts: dict[str, list[str]] = {}
    for statement in deploy["statement"]:
        for action in statement["actions"]:
            if action.startswith("s3:Put"):
                puts.setdefault(action, []).extend(statement["resources"])
    state_puts = {"s3:PutObject": [r for r in puts.get("s3:PutObject", []) if "state_bucket" in r]}
    assert not any("*" in action for action in puts), "no s3:Put* wildcard"
    assert set(puts) == {PUT_ACTION_OF[r] for r in bucket_resources} | {"s3:PutObject"}
    # Objects: the Terraform state, and model versions imported into the artifact bucket.
    object_writes = set(puts["s3:PutObject"]) - set(state_puts["s3:PutObject"])
    assert object_writes == {"arn:${local.p}:s3:::${local.prefix}-artifacts-*/models/*"}


def test_the_api_access_log_records_who_called():
    api = parse(MODULES / "api" / "main.tf")
    local = {k: v for entry in api["locals"] for k, v in entry.items()}
    assert set(first(local["caller_log_fields"]).values()) == {
        "$context.identity.userArn",
        "$context.identity.caller",
        "$context.identity.accountId",
    }
    authorizer = local["authorizer_log_fields"]
    assert "$context.authorizer.claims.sub" in authorizer  # JWT (HTTP API)
    assert "$context.authorizer.principalId" in authorizer  # REST
    assert "local.caller_log_fields, local.authorizer_log_fields" in local["access_log_format"]
    resources = blocks(api, "resource")
    for stage in ("aws_apigatewayv2_stage.http", "aws_api_gateway_stage.rest"):
        settings = first(resources[stage]["access_log_settings"])
        assert settings["format"] == "${local.access_log_format}"
