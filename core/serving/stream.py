"""Streaming scoring: one queue message in, its predictions out on another queue.

A message's body is JSON: either one record (the served model's features, as one item of
/predict's `records`) or `{"records": [...]}`; either may carry a `request_id`, and a single
record a `prediction_id` too. Records are validated exactly as /predict validates them (the
served version's record model, no key twice in an object, at most `max_batch_records`), then
scored, captured, shadowed and measured by the same `Scorer`. The result is /predict's answer
plus the `request_id`, sent as one message to the `ResultQueue`.

Prediction ids are deterministic: `prediction_id` as given, else `<request_id>-<n>`, where the
request id defaults to the queue's id of the message. A message delivered twice (queues deliver
at least once) is answered with the same ids, and its capture overwrites itself.

What fails raises, and the caller (the Lambda handler's batch processor) reports that message
as failed so that the queue delivers it again: `MessageRejected` when the message can never be
scored by this version (not JSON, not a record, a record failing validation), `ModelUnavailable`
when no model is loaded, and whatever the result queue raises when the result was not sent.
Both are retried the same way: the queue's redrive policy moves a message to its dead-letter
queue after maxReceiveCount receives, so a poison message is retried a bounded number of times
(a promotion of a version with another schema may even make it valid) and never blocks others.
Nothing here knows about SQS or Lambda.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import from_json, to_json

from mlops_template.core.ports import ResultQueue
from mlops_template.core.serving.bodies import (
    BodyValidationError,
    excerpt_text,
    fields_given,
    parse_json_body,
)
from mlops_template.core.serving.router import LoadedModel
from mlops_template.core.serving.scoring import Scorer

# A request id names each prediction `<request_id>-<n>`; feedback takes ids of up to 64.
REQUEST_ID = Field(default=None, min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:-]+$")
PREDICTION_ID = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
ID_FIELDS = ("request_id", "prediction_id")
# How many validation errors a rejection reports (in the log and the exception).
REPORTED_ERRORS = 5


class MessageRejected(Exception):
    """The message cannot be scored by the served version: retrying it cannot help unless
    the served version changes. `errors` are where and what, without the input."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.errors = errors or []


class ModelUnavailable(Exception):
    """No version of the model is loaded (none in the stage, or its artifacts fail their
    check): the message is retried."""


def _members(parsed: Any) -> int:
    """The object members of {"records": [...], "request_id": ...} (see `parse_json_body`)."""
    return len(parsed.model_fields_set) + sum(len(r.model_fields_set) for r in parsed.records)


class StreamScorer:
    """Scores queue messages with a `Scorer` and sends each result to a `ResultQueue`."""

    def __init__(self, scorer: Scorer, results: ResultQueue) -> None:
        self.scorer = scorer
        self.results = results
        self._models: dict[tuple[str, int], tuple[type[BaseModel], type[BaseModel]]] = {}

    def message_models(self, loaded: LoadedModel) -> tuple[type[BaseModel], type[BaseModel]]:
        """(batch, single) message models for this version, built once per version: the
        batch form is /predict's body plus `request_id`; the single form is the record model
        plus `request_id` and `prediction_id`."""
        key = (loaded.record.model, loaded.version)
        if key not in self._models:
            record = loaded.schema.record_model
            batch = create_model(
                "StreamBatch",
                __config__=ConfigDict(extra="forbid"),
                records=(
                    list[record],  # type: ignore[valid-type]
                    Field(min_length=1, max_length=self.scorer.limits.max_batch_records),
                ),
                request_id=(str | None, REQUEST_ID),
            )
            single = create_model(
                "StreamRecord",
                __base__=record,
                request_id=(str | None, REQUEST_ID),
                prediction_id=(str | None, PREDICTION_ID),
            )
            self._models[key] = (batch, single)
        return self._models[key]

    def parse(
        self, loaded: LoadedModel, body: bytes, message_id: str
    ) -> tuple[str, list[BaseModel], list[str]]:
        """(request id, validated records, prediction ids) of a message body."""
        try:
            top = from_json(body)
        except ValueError as exc:
            raise MessageRejected(f"not JSON: {excerpt_text(str(exc))}") from None
        if not isinstance(top, dict):
            raise MessageRejected(f"not a JSON object but {type(top).__name__}")
        batch, single = self.message_models(loaded)
        try:
            if "records" in top and "records" not in loaded.schema.feature_names:
                parsed = parse_json_body(batch, body, _members)
                request_id = parsed.request_id or message_id  # type: ignore[attr-defined]
                records: list[BaseModel] = parsed.records  # type: ignore[attr-defined]
                return request_id, records, [f"{request_id}-{i}" for i in range(len(records))]
            one = parse_json_body(single, body, fields_given)
        except BodyValidationError as exc:
            raise _rejected(exc.errors(), exc.count) from None
        request_id = one.request_id or message_id  # type: ignore[attr-defined]
        prediction_id = one.prediction_id or f"{request_id}-0"  # type: ignore[attr-defined]
        record = loaded.schema.record_model
        names = record.model_fields
        fields = {name: getattr(one, name) for name in names}
        # The record without the ids: what /predict would have validated, already valid.
        plain = record.model_construct(_fields_set=one.model_fields_set & set(names), **fields)
        return request_id, [plain], [prediction_id]

    def score(self, body: str | bytes, message_id: str) -> dict[str, Any]:
        """The result of one message: /predict's answer plus its `request_id`."""
        started = time.perf_counter()
        route = self.scorer.router.route()
        if route is None:
            self.scorer.emit("PredictionErrors", 1)
            raise ModelUnavailable(self.scorer.router.last_error or "no model loaded")
        raw = body.encode() if isinstance(body, str) else body
        try:
            request_id, records, ids = self.parse(route.serving, raw, message_id)
        except MessageRejected:
            self.scorer.emit("StreamMessagesRejected", 1)
            raise
        payload = self.scorer.score_records(route, records, ids=ids, started=started)
        return {"request_id": request_id, **payload}

    def handle(self, body: str | bytes, message_id: str) -> dict[str, Any]:
        """Score one message and send its result; what is returned is what was sent."""
        result = self.score(body, message_id)
        self.results.send(to_json(result).decode())
        return result


def _rejected(errors: Any, count: int) -> MessageRejected:
    shown = [
        {
            "loc": [p for p in error["loc"] if p != "body"],
            "type": str(error["type"]),
            "msg": excerpt_text(str(error["msg"]), 200),
        }
        for error in list(errors)[:REPORTED_ERRORS]
    ]
    where = ", ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}" for e in shown
    )
    return MessageRejected(f"{count} validation error(s): {where}", shown)
