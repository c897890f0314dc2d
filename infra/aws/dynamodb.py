"""The ModelRegistry port on one DynamoDB table (partition key PK, sort key SK).

    PK = MODEL#<name>   SK = COUNTER                          last allocated version number
                        SK = VERSION#<0000000001>             one item per version
                        SK = ALIAS#<stage>                    stage -> version, revision
                        SK = HISTORY#<at>#<stage>#<revision>  one item per stage move
                        SK = RUN#<run id>                     one item per training run

A run's `body` is written by the pipeline's steps; the state machine's failure state adds
`failure_error` and `failure_cause` to the same item (UpdateItem), which a read folds in.

A stage move is one TransactWriteItems: the alias Put conditioned on its revision, plus the
history Put. A failed condition cancels both.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_template.core.records import (
    ModelVersion,
    RunRecord,
    StageAlias,
    StageEvent,
    failure_reason,
)
from mlops_template.core.registry import (
    RunNotFound,
    StaleStageError,
    VersionExists,
    VersionNotFound,
)
from mlops_template.infra.aws.clients import client, error_code


def _pk(model: str) -> dict[str, str]:
    return {"S": f"MODEL#{model}"}


def _version_sk(version: int) -> dict[str, str]:
    return {"S": f"VERSION#{version:010d}"}


class DynamoRegistry:
    def __init__(self, table: str, *, dynamodb: Any = None) -> None:
        if not table:
            raise ValueError("no registry table: set MLOPS_REGISTRY_TABLE")
        self.table = table
        self._db = dynamodb or client("dynamodb")

    def _query(self, model: str, prefix: str, *, forward: bool = True) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": _pk(model), ":prefix": {"S": prefix}},
            "ScanIndexForward": forward,
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def allocate_version(self, model: str) -> int:
        response = self._db.update_item(
            TableName=self.table,
            Key={"PK": _pk(model), "SK": {"S": "COUNTER"}},
            UpdateExpression="ADD #last :one",
            ExpressionAttributeNames={"#last": "last"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["last"]["N"])

    def register(self, version: ModelVersion) -> ModelVersion:
        try:
            self._db.put_item(
                TableName=self.table,
                Item={
                    "PK": _pk(version.model),
                    "SK": _version_sk(version.version),
                    "version": {"N": str(version.version)},
                    "gate_passed": {"BOOL": version.gate_passed},
                    "created_at": {"S": version.created_at},
                    "body": {"S": version.model_dump_json()},
                },
                ConditionExpression="attribute_not_exists(SK)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise VersionExists(
                    f"{version.model} v{version.version} is already registered"
                ) from None
            raise
        return version

    def get(self, model: str, version: int) -> ModelVersion:
        item = self._db.get_item(
            TableName=self.table,
            Key={"PK": _pk(model), "SK": _version_sk(version)},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise VersionNotFound(f"{model} v{version} is not registered")
        return ModelVersion.model_validate_json(item["body"]["S"])

    def versions(self, model: str) -> list[ModelVersion]:
        return [
            ModelVersion.model_validate_json(i["body"]["S"]) for i in self._query(model, "VERSION#")
        ]

    def models(self) -> list[str]:
        names: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "SK = :counter",
            "ExpressionAttributeValues": {":counter": {"S": "COUNTER"}},
            "ProjectionExpression": "PK",
        }
        while True:
            page = self._db.scan(**kwargs)
            names.update(i["PK"]["S"].removeprefix("MODEL#") for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(names)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def alias(self, model: str, stage: str) -> StageAlias | None:
        item = self._db.get_item(
            TableName=self.table,
            Key={"PK": _pk(model), "SK": {"S": f"ALIAS#{stage}"}},
            ConsistentRead=True,
        ).get("Item")
        return StageAlias.model_validate_json(item["body"]["S"]) if item else None

    def aliases(self, model: str) -> dict[str, StageAlias]:
        found = [
            StageAlias.model_validate_json(i["body"]["S"]) for i in self._query(model, "ALIAS#")
        ]
        return {a.stage: a for a in found}

    def move_alias(
        self, model: str, stage: str, new: StageAlias, *, expected_revision: int, event: StageEvent
    ) -> None:
        if expected_revision == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(SK)"}
        else:
            condition = {
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_revision)}},
            }
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                "PK": _pk(model),
                                "SK": {"S": f"ALIAS#{stage}"},
                                "version": {"N": str(new.version)},
                                "revision": {"N": str(new.revision)},
                                "body": {"S": new.model_dump_json()},
                            },
                            **condition,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                "PK": _pk(model),
                                "SK": {"S": f"HISTORY#{event.at}#{stage}#{event.revision:08d}"},
                                "body": {"S": event.model_dump_json()},
                            },
                            "ConditionExpression": "attribute_not_exists(SK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise StaleStageError(
                    f"{stage} of {model} moved since it was read (expected revision "
                    f"{expected_revision}); read it again and retry"
                ) from None
            raise

    def history(self, model: str, stage: str | None = None) -> list[StageEvent]:
        events = [
            StageEvent.model_validate_json(i["body"]["S"]) for i in self._query(model, "HISTORY#")
        ]
        return [e for e in events if stage is None or e.stage == stage]

    def save_run(self, run: RunRecord) -> None:
        # SET, not Put: the failure state's attributes on the same item stay.
        self._db.update_item(
            TableName=self.table,
            Key={"PK": _pk(run.model), "SK": {"S": f"RUN#{run.run_id}"}},
            UpdateExpression="SET body = :body",
            ExpressionAttributeValues={":body": {"S": run.model_dump_json()}},
        )

    def get_run(self, model: str, run_id: str) -> RunRecord:
        item = self._db.get_item(
            TableName=self.table,
            Key={"PK": _pk(model), "SK": {"S": f"RUN#{run_id}"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise RunNotFound(f"no run {run_id} of {model}")
        return _run(model, run_id, item)

    def runs(self, model: str) -> list[RunRecord]:
        found = [
            _run(model, i["SK"]["S"].removeprefix("RUN#"), i) for i in self._query(model, "RUN#")
        ]
        return sorted(found, key=lambda r: (r.started_at, r.run_id), reverse=True)


def _run(model: str, run_id: str, item: dict[str, Any]) -> RunRecord:
    """The steps' record, with the failure the state machine caught folded in (a step that
    died before writing anything leaves only the failure)."""
    if "body" in item:
        run = RunRecord.model_validate_json(item["body"]["S"])
    else:
        run = RunRecord(model=model, run_id=run_id, started_at="")
    if "failure_error" in item and run.status == "running":
        error, cause = item["failure_error"]["S"], item.get("failure_cause", {}).get("S", "")
        run = run.ended("error", failure_reason(error, cause))
    return run
