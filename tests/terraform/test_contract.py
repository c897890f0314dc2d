"""Terraform held against the code: handlers, environment variables, IAM actions, the pipeline
template, alarms and tables."""

from __future__ import annotations

import json
import re

import pytest

from mlops_template.core.monitoring import DRIFT_SHARE_METRIC, FEEDBACK_ACCURACY_METRIC
from mlops_template.core.pipeline import pipeline_definition, pipeline_steps
from mlops_template.core.settings import Settings
from mlops_template.tooling.emulation import BATCH_FUNCTIONS, render_template, resolve_handler
from mlops_template.training.config import MODEL_NAME_PATTERN

from .conftest import (
    ENVIRONMENT,
    ENVS,
    MODULES,
    ROOT,
    TERRAFORM,
    blocks,
    first,
    handler_of,
    parse,
    tfvars,
)

SETTINGS_ENV = {f"MLOPS_{name.upper()}" for name in Settings.model_fields}
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}

# What each handler needs set (beyond what every handler needs): docs/handlers.md.
EVERY_FUNCTION = {
    "MLOPS_BACKEND",
    "MLOPS_MODEL_NAME",
    "MLOPS_DATA_BUCKET",
    "MLOPS_ARTIFACT_BUCKET",
    "MLOPS_REGISTRY_TABLE",
    "MLOPS_PREDICTIONS_TABLE",
    "MLOPS_CAPTURE_STREAM",
    "MLOPS_KMS_KEY_ID",
    "MLOPS_METRICS_NAMESPACE",
}
NEEDS = {
    "ingest": {"MLOPS_STATE_MACHINE_ARN"},
    "route": {
        "MLOPS_TRAINING_MODE",
        "MLOPS_PIPELINE_MEMORY_MB",
        "MLOPS_TRAINING_IMAGE_URI",
        "MLOPS_SAGEMAKER_INSTANCE_TYPE",
        "MLOPS_PROCESSING_INSTANCE_TYPE",
        "MLOPS_TRAINING_MAX_RUNTIME_SECONDS",
    },
    "collect_validation": set(),
    "quarantine": set(),
    "train": set(),
    "collect": {"MLOPS_SAGEMAKER_ROLE_ARN", "MLOPS_TRAINING_IMAGE_URI"},
    "register": {"MLOPS_AUTO_PROMOTE_STAGE"},
    "monitor": {
        "MLOPS_METRICS_SINK",
        "MLOPS_SERVING_STAGE",
        "MLOPS_MONITOR_WINDOW_HOURS",
        "MLOPS_DRIFT_WINDOW_HOURS",
    },
    "retrain": {
        "MLOPS_STATE_MACHINE_ARN",
        "MLOPS_IDEMPOTENCY_TABLE",
        "MLOPS_RETRAIN_COOLDOWN_SECONDS",
    },
    "rollback": {"MLOPS_SERVING_STAGE", "MLOPS_ROLLBACK_WINDOW_SECONDS"},
    "inference": {"MLOPS_METRICS_SINK", "MLOPS_SERVING_STAGE", "MLOPS_MODEL_REFRESH_SECONDS"},
    "batch_split": set(),
    "batch_score": set(),
    "batch_summarize": set(),
    "stream": {
        "MLOPS_METRICS_SINK",
        "MLOPS_SERVING_STAGE",
        "MLOPS_MODEL_REFRESH_SECONDS",
        "MLOPS_STREAM_OUTPUT_QUEUE_URL",
    },
}
# The only actions AWS does not let us scope to a resource.
UNSCOPABLE = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "kms:CreateKey",
    "kms:ListAliases",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "sts:GetCallerIdentity",
}


def test_every_function_handler_exists(functions_locals):
    functions = functions_locals["functions"]
    assert set(functions) == {*NEEDS, "validate", "evaluate"}
    steps = {step.name for step in pipeline_steps()}
    for name, spec in functions.items():
        handler = handler_of(name, spec, functions_locals)
        assert callable(resolve_handler(handler)), name
    # The pipeline's tasks: Terraform takes their handlers from the steps file.
    assert {n for n, s in functions.items() if "pipeline_handlers" in s["handler"]} == steps
    # Batch scoring: the functions the emulator deploys are the ones Terraform does.
    batch = {step: functions_locals["batch_handlers"][f"batch_{step}"] for step in BATCH_FUNCTIONS}
    assert batch == BATCH_FUNCTIONS


def test_only_the_scoring_functions_ship_as_a_zip(functions_locals):
    # Inference and streaming scoring both score ONNX: the small zip, without pandas.
    packages = {name: spec["package"] for name, spec in functions_locals["functions"].items()}
    assert [n for n, p in packages.items() if p == "zip"] == ["inference", "stream"]


def test_every_variable_terraform_sets_is_a_setting(functions_locals):
    names = set(functions_locals["common_env"])
    for spec in functions_locals["functions"].values():
        names |= set(spec["env"])
    unknown = names - SETTINGS_ENV - POWERTOOLS_ENV
    assert not unknown, f"Terraform sets variables no code reads: {unknown}"


@pytest.mark.parametrize("function", [*sorted(NEEDS), "validate", "evaluate"])
def test_every_variable_a_handler_reads_is_set(functions_locals, function):
    spec = functions_locals["functions"][function]
    present = set(functions_locals["common_env"]) | set(spec["env"])
    missing = (EVERY_FUNCTION | NEEDS.get(function, set())) - present
    assert not missing, f"{function} lacks {missing}"


def test_metrics_sinks_are_emf_on_the_hot_path_and_api_elsewhere(functions_locals):
    functions = functions_locals["functions"]
    assert functions["inference"]["env"]["MLOPS_METRICS_SINK"] == "emf"
    assert functions["stream"]["env"]["MLOPS_METRICS_SINK"] == "emf"
    assert functions["monitor"]["env"]["MLOPS_METRICS_SINK"] == "cloudwatch"


def as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value or [])


def policy_statements():
    """(file, block, statement) for every IAM statement written in HCL."""
    for path in sorted(TERRAFORM.rglob("*.tf")):
        parsed = parse(path)
        for name, body in blocks(parsed, "data").items():
            if not name.startswith("aws_iam_policy_document."):
                continue
            for statement in body.get("statement", []):
                yield path, name, statement
        for entry in parsed.get("locals", []):
            functions = first(entry.get("functions", {}))
            for function, spec in (functions or {}).items():
                for statement in spec["statements"]:
                    yield path, f"functions.{function}", statement


def test_no_policy_allows_every_action_of_a_service():
    for path, name, statement in policy_statements():
        if statement.get("effect") == "Deny":
            continue  # denying every action (plain HTTP to a bucket) is the safe direction
        for action in as_list(statement.get("actions")):
            assert action != "*" and not action.endswith(":*"), f"{path} {name}: {action}"


def test_a_star_resource_only_for_actions_aws_cannot_scope():
    key_policies = {
        "aws_iam_policy_document.key",
        "aws_iam_policy_document.state_key",
        "aws_iam_policy_document.export_signing",
    }
    for path, name, statement in policy_statements():
        if name in key_policies:
            continue  # in a key policy, "*" is the key itself
        if "*" in as_list(statement.get("resources")) and statement.get("effect") != "Deny":
            loose = set(as_list(statement["actions"])) - UNSCOPABLE
            assert not loose, f"{path} {name}: {loose} on '*'"


def test_the_pipeline_template_placeholders_match_templatefile():
    template = pipeline_definition()
    placeholders = set(re.findall(r"\$\{(\w+)\}", template))
    main = (MODULES / "pipeline" / "main.tf").read_text()
    call = re.search(r'templatefile\("\$\{path\.module\}/([^"]+)", merge\((.*?)\)\)', main, re.S)
    assert call, "the state machine is not rendered from a template"
    assert (MODULES / "pipeline" / call.group(1)).resolve() == ROOT / "core" / "pipeline.asl.json"
    assert '"${step}_function_arn" => arn' in call.group(2)
    passed = set(re.findall(r"^\s*(\w+)\s*=", call.group(2), re.M))
    assert placeholders == passed | {f"{step.name}_function_arn" for step in pipeline_steps()}


def test_the_batch_template_placeholders_match_templatefile():
    from importlib.resources import files

    template = (files("mlops_template.core") / "batch.asl.json").read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", template))
    main = (MODULES / "pipeline" / "main.tf").read_text()
    call = re.search(
        r'templatefile\("\$\{path\.module\}/([^"]+batch\.asl\.json)", merge\((.*?)\)\)', main, re.S
    )
    assert call, "the batch state machine is not rendered from core/batch.asl.json"
    assert (MODULES / "pipeline" / call.group(1)).resolve() == ROOT / "core" / "batch.asl.json"
    passed = set(re.findall(r"^\s*(\w+)\s*=", call.group(2), re.M))
    assert placeholders == passed | {f"{step}_function_arn" for step in BATCH_FUNCTIONS}
    # The stack wires the functions module's batch functions, one per step.
    stack = parse(MODULES / "stack" / "main.tf")["module"]
    pipeline = next(m["pipeline"] for m in stack if "pipeline" in m)
    assert pipeline["batch_function_arns"] == "${module.functions.batch_task_arns}"


def test_each_step_is_the_task_state_it_names():
    functions = (MODULES / "functions").resolve()
    main = (functions / "main.tf").read_text()
    shape = re.search(r'jsondecode\(file\("\$\{path\.module\}/([^"]+)"\)\)', main)
    assert shape and (functions / shape.group(1)).resolve() == ROOT / "core" / "pipeline_steps.json"
    stack = parse(MODULES / "stack" / "main.tf")["module"]
    pipeline = next(m["pipeline"] for m in stack if "pipeline" in m)
    assert pipeline["task_function_arns"] == "${module.functions.pipeline_task_arns}"

    values = {name: name for name in re.findall(r"\$\{(\w+)\}", pipeline_definition())}
    values["training_poll_seconds"] = "1"  # the one number
    states = json.loads(render_template(pipeline_definition(), values))["States"]
    for step in pipeline_steps():
        state = states[step.state]
        assert state["Type"] == "Task"
        assert state["Resource"] == f"{step.name}_function_arn"
        assert state["ResultPath"] == f"$.{step.result_path}"
    invoking = {n for n, state in states.items() if state.get("Resource", "").endswith("_arn")}
    assert invoking == {step.state for step in pipeline_steps()}


def test_the_size_route_uses_the_memory_the_data_functions_get(functions_locals):
    """The Route function computes the limit from the memory the validate and train functions
    really have: both come from the same variable."""
    functions = functions_locals["functions"]
    memory = "${var.training_memory_mb}"
    assert functions["validate"]["memory"] == functions["train"]["memory"] == memory
    assert (
        functions["route"]["env"]["MLOPS_PIPELINE_MEMORY_MB"]
        == "${tostring(var.training_memory_mb)}"
    )
    stack = parse(MODULES / "stack" / "main.tf")["module"]
    wired = next(m["functions"] for m in stack if "functions" in m)
    for name in ("training_memory_mb", "sagemaker_instance_type", "processing_instance_type"):
        assert wired[name] == f"${{var.{name}}}", name


@pytest.mark.parametrize("env", ENVS)
def test_each_environment_sets_the_monitor_window_the_monitor_reads(functions_locals, env):
    """monitor_window_hours goes from each environment's tfvars through the stack to the
    monitor function's MLOPS_MONITOR_WINDOW_HOURS, within the bounds Settings accepts."""
    monitor = functions_locals["functions"]["monitor"]
    assert monitor["env"]["MLOPS_MONITOR_WINDOW_HOURS"] == "${tostring(var.monitor_window_hours)}"
    stack = parse(MODULES / "stack" / "main.tf")["module"]
    assert next(m["functions"] for m in stack if "functions" in m)["monitor_window_hours"] == (
        "${var.monitor_window_hours}"
    )
    root = parse(ENVIRONMENT / "main.tf")["module"]
    assert next(m["stack"] for m in root if "stack" in m)["monitor_window_hours"] == (
        "${var.monitor_window_hours}"
    )
    hours = tfvars(env)["monitor_window_hours"]
    assert Settings(monitor_window_hours=hours).monitor_window_hours == hours


def test_the_sagemaker_jobs_wait_with_sync_on_aws_and_every_crash_is_quarantined():
    main = (MODULES / "pipeline" / "main.tf").read_text()
    assert re.search(r'sagemaker_sync\s*=\s*"\.sync"', main)
    values = {name: name for name in re.findall(r"\$\{(\w+)\}", pipeline_definition())}
    values.update(training_poll_seconds="1", sagemaker_sync=".sync")
    states = json.loads(render_template(pipeline_definition(), values))["States"]
    assert states["ValidateOnSageMaker"]["Resource"].endswith("createProcessingJob.sync")
    assert states["TrainOnSageMaker"]["Resource"].endswith("createTrainingJob.sync")
    # Every state that holds the file or a job on it ends, on a crash, in Quarantine.
    for name in (
        "Route",
        "Validate",
        "Train",
        "ValidateOnSageMaker",
        "CollectValidation",
        "TrainOnSageMaker",
        "DescribeTrainingJob",
        "CollectTrainingJob",
    ):
        nexts = {states[c["Next"]].get("Next", c["Next"]) for c in states[name]["Catch"]}
        assert "Quarantine" in nexts, name
    memory = next(c for c in states["Train"]["Catch"] if "Lambda.Unknown" in c["ErrorEquals"])
    assert {"Runtime.OutOfMemory", "Sandbox.Timedout", "States.Timeout"} <= set(
        memory["ErrorEquals"]
    )


def test_the_abtest_alarm_reaches_the_function_that_applies_its_decision():
    from mlops_template.core.abtest import ABTEST_DECIDED_METRIC, DECIDED_ALARM_SUFFIX

    alarm = blocks(parse(MODULES / "monitoring" / "main.tf"), "resource")[
        "aws_cloudwatch_metric_alarm.abtest_decided"
    ]
    assert first(alarm["alarm_name"]).endswith(DECIDED_ALARM_SUFFIX)
    assert first(alarm["metric_name"]) == ABTEST_DECIDED_METRIC
    assert first(alarm["dimensions"]) == "${local.model_dimensions}"
    assert '${aws_sns_topic.this["rollback"].arn}' in first(alarm["alarm_actions"])


def test_alarms_watch_the_metrics_the_monitor_publishes():
    alarms = blocks(parse(MODULES / "monitoring" / "main.tf"), "resource")
    drift = alarms["aws_cloudwatch_metric_alarm.drift"]
    accuracy = alarms["aws_cloudwatch_metric_alarm.accuracy"]
    assert first(drift["metric_name"]) == DRIFT_SHARE_METRIC
    assert first(accuracy["metric_name"]) == FEEDBACK_ACCURACY_METRIC
    for alarm in (drift, accuracy):
        assert first(alarm["dimensions"]) == "${local.model_dimensions}"
    monitoring = (MODULES / "monitoring" / "main.tf").read_text()
    assert 'model_dimensions = { model = var.model_name, stage = "production" }' in monitoring


def test_tables_have_the_keys_and_index_the_adapters_use():
    tables = blocks(parse(MODULES / "registry" / "main.tf"), "resource")
    registry = tables["aws_dynamodb_table.registry"]
    assert (first(registry["hash_key"]), first(registry["range_key"])) == ("PK", "SK")
    predictions = tables["aws_dynamodb_table.predictions"]
    assert first(predictions["hash_key"]) == "prediction_id"
    index = first(predictions["global_secondary_index"])
    assert (index["name"], index["hash_key"], index["range_key"]) == ("by_model", "model", "at")
    from mlops_template.infra.aws.predictions import BY_MODEL_INDEX

    assert index["name"] == BY_MODEL_INDEX
    assert first(predictions["ttl"])["attribute_name"] == "expires_at"
    idempotency = tables["aws_dynamodb_table.idempotency"]
    assert first(idempotency["hash_key"]) == "id"  # Powertools' default key attribute
    assert first(idempotency["ttl"])["attribute_name"] == "expiration"
    for table in tables.values():
        assert first(table["point_in_time_recovery"])["enabled"] is True
        assert first(table["server_side_encryption"])["enabled"] is True


def test_the_capture_stream_partitions_as_the_readers_expect():
    """Firehose writes where core/captures.py looks: the prefix, jq query and error prefix are
    the code's (the emulator's stream uses the same), and only scoring functions may write."""
    from mlops_template.core.captures import CAPTURE_PREFIX
    from mlops_template.infra.aws.predictions import (
        ERROR_PREFIX,
        PARTITION_PREFIX,
        PARTITION_QUERY,
    )

    stream = blocks(parse(MODULES / "captures" / "main.tf"), "resource")[
        "aws_kinesis_firehose_delivery_stream.captures"
    ]
    s3 = first(stream["extended_s3_configuration"])
    assert s3["prefix"] == PARTITION_PREFIX and PARTITION_PREFIX.startswith(CAPTURE_PREFIX)
    assert s3["error_output_prefix"] == ERROR_PREFIX
    assert first(s3["dynamic_partitioning_configuration"])["enabled"] is True
    (processor,) = first(s3["processing_configuration"])["processors"]
    parameters = {p["parameter_name"]: p["parameter_value"] for p in processor["parameters"]}
    assert parameters["MetadataExtractionQuery"] == PARTITION_QUERY
    assert first(stream["server_side_encryption"])["enabled"] is True
    functions = (MODULES / "functions" / "main.tf").read_text()
    writers = re.findall(
        r'actions = \["firehose:PutRecordBatch"\], resources = \[(.*?)\]', functions
    )
    assert writers == ["var.capture_stream_arn"] * 2  # inference and stream, that stream only


def test_the_stack_checks_model_names_with_the_same_rule_as_the_code():
    for entry in parse(MODULES / "stack" / "variables.tf")["variable"]:
        if "model_name" in entry:
            (validation,) = entry["model_name"]["validation"]
            assert f'can(regex("{MODEL_NAME_PATTERN}", var.model_name))' in validation["condition"]
            return
    raise AssertionError("the stack has no model_name variable")


def test_the_ml_test_score_alarms_watch_what_the_monitor_and_the_api_publish():
    from mlops_template.core import health_checks

    alarms = blocks(parse(MODULES / "monitoring" / "main.tf"), "resource")
    expected = {
        "model_age": (health_checks.MODEL_AGE_METRIC, "retrain"),
        "non_finite_outputs": (health_checks.NON_FINITE_METRIC, "rollback"),
        "training_serving_skew": (health_checks.SKEW_METRIC, "ops"),
        "offline_online_gap": (health_checks.GAP_METRIC, "retrain"),
        "canary_decided": ("CanaryDecided", "rollback"),
    }
    for name, (metric, topic) in expected.items():
        alarm = alarms[f"aws_cloudwatch_metric_alarm.{name}"]
        assert first(alarm["metric_name"]) == metric, name
        assert first(alarm["dimensions"]) == "${local.model_dimensions}", name
        assert f'${{aws_sns_topic.this["{topic}"].arn}}' in first(alarm["alarm_actions"]), name
    # The model-age limit is set per environment and reaches the alarm through the stack.
    for env in ("dev", "staging", "prod"):
        tfvars = parse(TERRAFORM / "environment" / f"{env}.tfvars")
        assert first(tfvars["max_model_age_days"]) > 0
    stack = (MODULES / "stack" / "main.tf").read_text()
    assert "max_model_age_days  = var.max_model_age_days" in stack
    from mlops_template.core.canary import CANARY_DECIDED_ALARM_SUFFIX, CANARY_DECIDED_METRIC

    canary = alarms["aws_cloudwatch_metric_alarm.canary_decided"]
    assert first(canary["alarm_name"]).endswith(CANARY_DECIDED_ALARM_SUFFIX)
    assert first(canary["metric_name"]) == CANARY_DECIDED_METRIC
