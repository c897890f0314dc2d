"""Streaming scoring's queues and trigger, as AWS advises for SQS and Lambda."""

from __future__ import annotations

import json

from .conftest import MODULES, blocks, first, parse


def resources():
    return blocks(parse(MODULES / "functions" / "main.tf"), "resource")


def test_the_input_queue_is_encrypted_and_redrives_to_its_dlq():
    found = resources()
    source = found["aws_sqs_queue.stream_input"]
    assert source["kms_master_key_id"] == "${var.kms_key_arn}"
    assert found["aws_sqs_queue.stream_output"]["kms_master_key_id"] == "${var.kms_key_arn}"
    assert found["aws_sqs_queue.stream_dead_letters"]["kms_master_key_id"] == "${var.kms_key_arn}"
    redrive = source["redrive_policy"]
    assert "aws_sqs_queue.stream_dead_letters.arn" in redrive
    assert "var.stream_max_receive_count" in redrive
    # At least six times the function's timeout (plus the batching window).
    assert source["visibility_timeout_seconds"] == (
        "${6 * local.functions.stream.timeout + var.stream_batching_window_seconds}"
    )


def test_the_trigger_reports_partial_batch_failures():
    mapping = resources()["aws_lambda_event_source_mapping.stream"]
    assert mapping["event_source_arn"] == "${aws_sqs_queue.stream_input.arn}"
    assert mapping["function_name"] == "${aws_lambda_function.stream.arn}"
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    scaling = first(mapping["scaling_config"])
    assert scaling["maximum_concurrency"] == "${var.stream_max_concurrency}"


def test_the_function_ships_as_the_inference_zip():
    function = resources()["aws_lambda_function.stream"]
    inference = resources()["aws_lambda_function.inference"]
    for key in ("filename", "source_code_hash", "runtime", "architectures"):
        assert function[key] == inference[key], key
    assert function["handler"] == "${local.functions.stream.handler}"
    assert json.dumps(function["environment"]).count("local.functions.stream.env") == 1
