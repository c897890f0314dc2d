"""Smoke tests of a deployed prediction API: health, model, a prediction, a rejected record.

The same checks run against any `ApiClient`: the in-process app, an emulated Lambda, or an HTTPS
URL (`tooling.api_client`). Part of a release (core.promotion): a failed smoke test rolls back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel

from mlops_template.core.records import version_label
from mlops_template.training.schema import ColumnSchema, DatasetSchema, Label


class Response(Protocol):
    status_code: int

    def json(self) -> Any: ...


class ApiClient(Protocol):
    def get(self, path: str) -> Response: ...

    def post(self, path: str, json: Any = None) -> Response: ...


# The API re-reads its stage every MLOPS_MODEL_REFRESH_SECONDS (30 s by default): a smoke test
# right after a promotion waits this long, by default, for the new version to be served.
DEFAULT_WAIT_SECONDS = 60.0


class Check(BaseModel):
    name: str
    passed: bool
    detail: str = ""


class SmokeResult(BaseModel):
    passed: bool
    checks: list[Check]

    def summary(self) -> str:
        failed = [c.name for c in self.checks if not c.passed]
        return "failed: " + ", ".join(failed) if failed else "all checks passed"


def example_date(column: ColumnSchema) -> str:
    """The newest date of the training data, written as ISO 8601."""
    from mlops_template.training.timefeatures import ISO, iso_text

    text = iso_text(column.max or 0.0)
    if column.format not in (None, ISO):
        from datetime import datetime

        text = datetime.fromisoformat(text).strftime(column.format)
    return text[:10] if column.dtype == "date" and column.format in (None, ISO) else text


def example_records(schema: DatasetSchema, count: int = 3) -> list[dict[str, Any]]:
    """Plausible records from the data contract alone: means for numbers, known categories."""
    records = []
    for i in range(count):
        record: dict[str, Any] = {}
        for column in schema.columns:
            if column.kind == "numeric":
                low, high = column.min or 0.0, column.max or 1.0
                mean = column.mean if column.mean is not None else (low + high) / 2
                record[column.name] = round(mean + (i - count // 2) * (high - low) / 10, 6)
                if column.dtype == "integer":
                    record[column.name] = round(record[column.name])
            elif column.dtype == "boolean":
                record[column.name] = bool(i % 2)
            elif column.kind == "datetime":
                record[column.name] = example_date(column)
            else:
                record[column.name] = (
                    column.categories[i % len(column.categories)] if column.categories else ""
                )
        records.append(record)
    return records


def smoke_test_from_api(
    client: ApiClient,
    *,
    expect_version: int | None,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    poll_seconds: float = 1.0,
) -> SmokeResult:
    """Smoke-test an API knowing nothing but its URL: the schema comes from GET /model."""
    if expect_version is not None:
        # /model answers with the schema of the version served: wait until it is the new one.
        wait_for_version(client, expect_version, wait_seconds, poll_seconds)
    info = client.get("/model")
    if info.status_code != 200:
        return SmokeResult(
            passed=False,
            checks=[
                Check(name="model", passed=False, detail=f"HTTP {info.status_code} {_json(info)}")
            ],
        )
    schema = DatasetSchema.model_validate(_json(info)["schema"])
    return smoke_test(
        client,
        expect_version=expect_version,
        records=example_records(schema),
        classes=list(schema.target.label_values().values()),
        wait_seconds=wait_seconds,
        poll_seconds=poll_seconds,
    )


class Waited(BaseModel):
    """The last /health answer while waiting for a version, and how long it took."""

    status_code: int
    body: dict[str, Any]
    seconds: float

    @property
    def served(self) -> int | None:
        version = self.body.get("version")
        return version if isinstance(version, int) else None


def wait_for_version(
    client: ApiClient,
    version: int,
    wait_seconds: float,
    poll_seconds: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Waited:
    """Poll GET /health until the API serves `version`, it reports that it cannot load it, or
    `wait_seconds` pass."""
    start = clock()
    while True:
        health = client.get("/health")
        waited = Waited(status_code=health.status_code, body=_json(health), seconds=clock() - start)
        reason = waited.body.get("reason") or ""
        # The API saw the new version and failed to load it: waiting longer changes nothing.
        refused = f" v{version}:" in reason
        if waited.served == version or refused or waited.seconds + poll_seconds > wait_seconds:
            return waited
        sleep(poll_seconds)


def smoke_test(
    client: ApiClient,
    *,
    expect_version: int | None,
    records: list[dict[str, Any]],
    classes: list[Label],
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    poll_seconds: float = 1.0,
) -> SmokeResult:
    """The checks; with `expect_version`, first wait up to `wait_seconds` for it to be served.
    `classes` typed as the API answers them (see `TargetSchema.label_values`)."""
    checks: list[Check] = []

    def check(name: str, passed: bool, detail: str = "") -> None:
        checks.append(Check(name=name, passed=bool(passed), detail=detail))

    if expect_version is None:
        health = client.get("/health")
        waited = Waited(status_code=health.status_code, body=_json(health), seconds=0)
    else:
        waited = wait_for_version(client, expect_version, wait_seconds, poll_seconds)
    body = waited.body
    check("health", waited.status_code == 200, f"HTTP {waited.status_code} {body}")
    if expect_version is not None:
        served = waited.served == expect_version
        check(
            "serves the promoted version",
            served,
            f"served v{expect_version} after {waited.seconds:.1f}s"
            if served
            else f"serves {version_label(waited.served)} after {waited.seconds:.1f}s "
            f"(waited up to {wait_seconds:g}s), expected v{expect_version}"
            + (f": {body['reason']}" if body.get("reason") else ""),
        )
    answer = client.post("/predict", json={"records": records})
    payload = _json(answer)
    predictions = payload.get("predictions", []) if answer.status_code == 200 else []
    check(
        "predict",
        answer.status_code == 200 and len(predictions) == len(records),
        f"HTTP {answer.status_code}, {len(predictions)} predictions for {len(records)} records",
    )
    check(
        "labels are known classes",
        all(p.get("label") in classes for p in predictions),
        f"labels {sorted({p.get('label') for p in predictions})}",
    )
    check(
        "probabilities in [0, 1]", all(0 <= p.get("probability", -1) <= 1 for p in predictions), ""
    )
    bad = client.post("/predict", json={"records": [{"not a feature": 1}]})
    check("invalid record is refused with 422", bad.status_code == 422, f"HTTP {bad.status_code}")
    return SmokeResult(passed=all(c.passed for c in checks), checks=checks)


def _json(response: Response) -> dict[str, Any]:
    try:
        value = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
