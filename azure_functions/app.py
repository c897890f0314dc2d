"""The function app: each function parses its trigger, calls the core, returns.

`function_app.py` at the root of the deployment package is `from mlops_template.azure_functions
.app import app`. Nothing here reaches storage at import: the backend is built on first use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import azure.functions as func

from mlops_template.azure_functions.alerts import parse_alert
from mlops_template.azure_functions.runtime import (
    backend,
    pipeline_starter,
    settings,
    step_queues,
)
from mlops_template.core.alarms import AlarmNotification, NotAnAlarmError
from mlops_template.core.artifacts import INCOMING_PREFIX
from mlops_template.core.chain import POISON_SUFFIX, chain_steps, handle_poison, handle_step
from mlops_template.core.ports import BlobNotFound
from mlops_template.core.reactions import Reaction, retrain, rollback_if_fresh
from mlops_template.core.registry import RegistryError

log = logging.getLogger("mlops.functions")

# host.json's extensions.http.routePrefix: the host routes /api/<path> to the ASGI function and
# passes the full path on, so the FastAPI app is told it is mounted there.
ROUTE_PREFIX = "/api"
# The storage account of the triggers: an identity-based connection (AzureWebJobsStorage__*).
CONNECTION = "AzureWebJobsStorage"
QUEUE_PREFIX_SETTING = "%MLOPS_AZURE_PIPELINE_QUEUE_PREFIX%"
MONITOR_SCHEDULE = "0 0 * * * *"  # hourly, as the EventBridge schedule on AWS

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class RoutePrefix:
    """An ASGI app built on its first request (nothing reaches storage at import), told that the
    host serves it under the route prefix, as Mangum is told API Gateway's base path."""

    def __init__(self, build: Callable[[], Asgi], prefix: str = ROUTE_PREFIX) -> None:
        self._build, self._prefix = build, prefix
        self._app: Asgi | None = None

    def app(self) -> Asgi:
        if self._app is None:
            self._app = self._build()
        return self._app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (
            path == self._prefix or path.startswith(f"{self._prefix}/")
        ):
            scope = {**scope, "root_path": self._prefix}
        await self.app()(scope, receive, send)

    def reset(self) -> None:
        self._app = None


def _served_app() -> Asgi:
    from mlops_template.core.serving.app import app_from_settings

    return app_from_settings(settings(), backend())


served = RoutePrefix(_served_app)
app = func.AsgiFunctionApp(app=served, http_auth_level=func.AuthLevel.FUNCTION)


# -- data in: a blob created under incoming/ (Event Grid system topic of the account) ----------


def blob_of(event: func.EventGridEvent) -> tuple[str, str]:
    """(container, key) of a BlobCreated event; its subject is
    /blobServices/default/containers/<container>/blobs/<key>."""
    subject = event.subject or ""
    head, _, key = subject.partition("/blobs/")
    return head.rsplit("/", 1)[-1], unquote(key)


def ingest_token(container: str, key: str, tag: str) -> str:
    """One pipeline run per blob write, however often Event Grid delivers the event."""
    return hashlib.sha256(f"{container}/{key}/{tag}".encode()).hexdigest()[:20]


@app.function_name("ingest")
@app.event_grid_trigger(arg_name="event")
def ingest(event: func.EventGridEvent) -> dict[str, Any]:
    s = settings()
    container, key = blob_of(event)
    if event.event_type != "Microsoft.Storage.BlobCreated" or container != s.azure_data_container:
        log.info("not a blob of the data container, ignored: %s %s", event.event_type, container)
        return {"started": []}
    if not key.startswith(INCOMING_PREFIX) or not key.endswith(".csv"):
        log.info("not a data file, ignored: %s", key)
        return {"started": []}
    data = event.get_json() or {}
    token = ingest_token(container, key, data.get("sequencer") or data.get("eTag") or event.id)
    result = pipeline_starter().start(s.model_name, key, token=token, reason=f"new data {key}")
    log.info("pipeline %s for %s", result.model_dump(), key)
    return {"started": [{"key": key, **result.model_dump()}]}


# -- the pipeline: one queue per step of core/pipeline_steps.json, and their poison queues ----


def _step_function(step: str) -> Callable[[func.QueueMessage], dict[str, Any]]:
    def run_step(message: func.QueueMessage) -> dict[str, Any]:
        outcome = handle_step(
            backend(),
            step_queues(),
            message.get_body().decode(),
            prefix=settings().azure_pipeline_queue_prefix,
            actor="pipeline",
        )
        log.info("step %s of run %s: %s", step, outcome.run_id, outcome.status)
        return outcome.model_dump()

    return run_step


def _poison_function(step: str) -> Callable[[func.QueueMessage], dict[str, Any]]:
    def record_poison(message: func.QueueMessage) -> dict[str, Any]:
        outcome = handle_poison(backend(), message.get_body().decode())
        log.error("step %s of run %s never completed: run failed", step, outcome.run_id)
        return outcome.model_dump()

    return record_poison


for _step in chain_steps():
    _queue = f"{QUEUE_PREFIX_SETTING}-{_step.name}"
    app.function_name(f"pipeline_{_step.name}")(
        app.queue_trigger(arg_name="message", queue_name=_queue, connection=CONNECTION)(
            _step_function(_step.name)
        )
    )
    app.function_name(f"pipeline_{_step.name}_poison")(
        app.queue_trigger(
            arg_name="message", queue_name=f"{_queue}{POISON_SUFFIX}", connection=CONNECTION
        )(_poison_function(_step.name))
    )


# -- monitoring: drift and live accuracy on a schedule -------------------------------------------


@app.function_name("monitor")
@app.timer_trigger(arg_name="timer", schedule=MONITOR_SCHEDULE, run_on_startup=False)
def monitor(timer: func.TimerRequest) -> dict[str, Any]:
    from datetime import timedelta

    from mlops_template.core.monitoring import run_monitor

    s = settings()
    drift_window = timedelta(hours=s.drift_window_hours) if s.drift_window_hours else None
    try:
        result = run_monitor(
            backend(), s.model_name, stage=s.serving_stage, drift_window=drift_window
        )
    except RegistryError as exc:
        log.info("nothing to monitor: %s", exc)
        return {"skipped": str(exc)}
    flush = getattr(backend().metrics, "flush", None)
    if flush is not None:  # the instance may be frozen once the function returns
        flush()
    return result.model_dump(mode="json", exclude={"drift": {"features"}})


# -- reactions to Azure Monitor alerts (action group -> function, common alert schema) --------


def _alert(req: func.HttpRequest) -> AlarmNotification | func.HttpResponse:
    try:
        return parse_alert(req.get_json())
    except (ValueError, NotAnAlarmError) as exc:
        # 4xx: the action group does not retry a request that could never succeed.
        log.error("not an alert, ignored: %s", exc)
        return _json({"reactions": [], "rejected": str(exc)}, status=400)


def _json(body: dict[str, Any], status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def retrain_once(alarm: AlarmNotification, *, now: float | None = None) -> Reaction:
    """One retraining per (model, alert) within the cool-down: the last start is kept beside
    the data (what Powertools idempotency keeps in DynamoDB on AWS), and concurrent alerts are
    held to one run by the pipeline token itself."""
    s, b = settings(), backend()
    now = time.time() if now is None else now
    alert_id = hashlib.sha256(alarm.name.encode()).hexdigest()[:16]
    record = f"reactions/retrain/{s.model_name}/{alert_id}.json"
    if alarm.firing:
        try:
            last = json.loads(b.data.get(record))
        except BlobNotFound:
            last = None
        if last and now - float(last["at"]) < s.retrain_cooldown_seconds:
            return Reaction(
                alarm=alarm.name,
                action="ignored",
                detail=f"cool-down: retraining {last['execution']} started "
                f"{now - float(last['at']):.0f}s ago",
                execution=last["execution"],
                started=False,
            )
    reaction = retrain(
        b,
        pipeline_starter(),
        s.model_name,
        alarm,
        cooldown_seconds=s.retrain_cooldown_seconds,
        now=now,
    )
    if reaction.started:
        b.data.put(record, json.dumps({"at": now, "execution": reaction.execution}).encode())
    return reaction


@app.function_name("retrain")
@app.route(route="alerts/retrain", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def retrain_on_alert(req: func.HttpRequest) -> func.HttpResponse:
    alarm = _alert(req)
    if isinstance(alarm, func.HttpResponse):
        return alarm
    reaction = retrain_once(alarm)
    log.info("retrain: %s", reaction.model_dump())
    return _json({"reactions": [reaction.model_dump()]})


@app.function_name("rollback")
@app.route(route="alerts/rollback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def rollback_on_alert(req: func.HttpRequest) -> func.HttpResponse:
    alarm = _alert(req)
    if isinstance(alarm, func.HttpResponse):
        return alarm
    s = settings()
    reaction = rollback_if_fresh(
        backend(),
        s.model_name,
        s.serving_stage,
        alarm,
        window_seconds=s.rollback_window_seconds,
    )
    log.info("rollback: %s", reaction.model_dump())
    return _json({"reactions": [reaction.model_dump()]})


def reset() -> None:
    """Forget the built app and clients (tests switch accounts between cases)."""
    from mlops_template.azure_functions import runtime

    runtime.reset()
    served.reset()
