"""Smoke tests of a deployed prediction API: health, model, a prediction, a rejected record.

The same checks run against the in-process app, an emulated Lambda, or an HTTPS URL (signed
with SigV4 when the API uses IAM auth)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel

from training.schema import DatasetSchema, Label


class Response(Protocol):
    status_code: int

    def json(self) -> Any: ...


class ApiClient(Protocol):
    def get(self, path: str) -> Response: ...

    def post(self, path: str, json: Any = None) -> Response: ...


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
            else:
                record[column.name] = (
                    column.categories[i % len(column.categories)] if column.categories else ""
                )
        records.append(record)
    return records


def smoke_test_from_api(client: ApiClient, *, expect_version: int | None) -> SmokeResult:
    """Smoke-test an API knowing nothing but its URL: the schema comes from GET /model."""
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
    )


def smoke_test(
    client: ApiClient,
    *,
    expect_version: int | None,
    records: list[dict[str, Any]],
    classes: list[Label],
) -> SmokeResult:
    """`classes` typed as the API answers them (see `TargetSchema.label_values`)."""
    checks: list[Check] = []

    def check(name: str, passed: bool, detail: str = "") -> None:
        checks.append(Check(name=name, passed=bool(passed), detail=detail))

    health = client.get("/health")
    body = _json(health)
    check("health", health.status_code == 200, f"HTTP {health.status_code} {body}")
    if expect_version is not None:
        check(
            "serves the promoted version",
            body.get("version") == expect_version,
            f"serves v{body.get('version')}, expected v{expect_version}",
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


class HttpApiClient:
    """An HTTPS client for a deployed API; `sigv4=True` signs requests for IAM-auth APIs."""

    def __init__(
        self,
        base_url: str,
        *,
        sigv4: bool = False,
        region: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        import httpx2

        self.base_url = base_url.rstrip("/")
        self.sigv4 = sigv4
        self.region = region
        self._http = httpx2.Client(timeout=timeout)

    def _send(self, method: str, path: str, body: bytes | None) -> Any:
        url = self.base_url + path
        headers = {"content-type": "application/json"} if body is not None else {}
        if self.sigv4:
            headers = self._signed(method, url, body, headers)
        return self._http.request(method, url, content=body, headers=headers)

    def _signed(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials to sign the smoke test with")
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(
            credentials.get_frozen_credentials(),
            "execute-api",
            self.region or session.region_name or "us-east-1",
        ).add_auth(request)
        return dict(request.headers.items())

    def get(self, path: str) -> Any:
        return self._send("GET", path, None)

    def post(self, path: str, json: Any = None) -> Any:
        import json as json_module

        return self._send("POST", path, json_module.dumps(json).encode())
