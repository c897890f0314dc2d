"""The PipelineStarter port on Step Functions: StartExecution under a deterministic name.

Execution names are unique per state machine for 90 days, so a retried event, a duplicated S3
notification or an alarm storm that maps to the same token starts exactly one run.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from mlops_template.core.records import PipelineStart
from mlops_template.infra.aws.clients import client, error_code


def execution_name(model: str, token: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{model}-{token}").strip("-")[:80]


class StepFunctionsPipelineStarter:
    def __init__(self, state_machine_arn: str, *, stepfunctions: Any = None) -> None:
        if not state_machine_arn:
            raise ValueError("no state machine: set MLOPS_STATE_MACHINE_ARN")
        self.state_machine_arn = state_machine_arn
        self._sfn = stepfunctions or client("stepfunctions")

    def start(self, model: str, key: str, *, token: str, reason: str) -> PipelineStart:
        name = execution_name(model, token)
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        try:
            self._sfn.describe_execution(executionArn=arn)
            return PipelineStart(execution=arn, started=False)
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps({"model": model, "key": key, "run_id": name, "reason": reason}),
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return PipelineStart(execution=arn, started=False)
            raise
        return PipelineStart(execution=response["executionArn"], started=True)
