"""Azure, emulated in this process: Azurite for Storage, and the function app's own functions
called as the Functions host would call them (the host itself cannot run here).

- `emulated_azure()` starts Azurite, creates the account's containers, tables and queues as
  Terraform does, and points the settings at it;
- `FunctionHost` delivers triggers: Event Grid events, Storage-queue messages (with the host's
  redelivery and poison-queue rule), HTTP requests, the timer;
- `QueueChainPipeline.run` is one pipeline run as a user causes it: a blob under incoming/, its
  Event Grid event, then the queue chain until every queue is empty;
- `EmulatedAzureML` stands in for Azure ML's job client (there is no Azure ML emulator): a
  submitted command job runs its own command in a shell on this machine, with its inputs
  downloaded from Azurite and its output folder uploaded back, as a compute cluster would.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from mlops_template.core.chain import POISON_SUFFIX, chain_steps, queue_name, queue_names
from mlops_template.core.settings import Settings, get_settings
from mlops_template.tooling.emulation import ApiResponse


class EmulatorUnavailable(RuntimeError):
    pass


def azure_env(connection_string: str, suffix: str, model: str) -> dict[str, str]:
    """The settings of one emulated deployment (fresh names, so deployments can share Azurite)."""
    return {
        "MLOPS_BACKEND": "azure",
        "MLOPS_MODEL_NAME": model,
        "MLOPS_AZURE_STORAGE_CONNECTION_STRING": connection_string,
        "MLOPS_AZURE_DATA_CONTAINER": f"data{suffix}",
        "MLOPS_AZURE_ARTIFACT_CONTAINER": f"artifacts{suffix}",
        "MLOPS_AZURE_REGISTRY_TABLE": f"registry{suffix}",
        "MLOPS_AZURE_PREDICTIONS_TABLE": f"predictions{suffix}",
        "MLOPS_AZURE_PIPELINE_QUEUE_PREFIX": f"pipeline{suffix}",
        "MLOPS_AZURE_STREAM_OUTPUT_QUEUE": f"results{suffix}",
        "MLOPS_MODEL_REFRESH_SECONDS": "0",
    }


def provision(settings: Settings) -> None:
    """What Terraform creates in the storage account."""
    from mlops_template.infra.azure.clients import blob_service, queue_service, table_service
    from mlops_template.infra.azure.queues import StorageQueues

    blobs, tables = blob_service(settings), table_service(settings)
    for container in (settings.azure_data_container, settings.azure_artifact_container):
        blobs.create_container(container)
    for table in (settings.azure_registry_table, settings.azure_predictions_table):
        tables.create_table_if_not_exists(table)
    queues = [*queue_names(settings.azure_pipeline_queue_prefix)]
    if settings.azure_stream_output_queue:
        queues.append(settings.azure_stream_output_queue)
    StorageQueues(queue_service(settings)).create(queues)


@contextmanager
def deployment(
    connection_string: str, *, model: str = "model", env: dict[str, str] | None = None
) -> Iterator[Settings]:
    """An emulated deployment on a running Azurite: env set (`env`: more settings, e.g. an
    Azure ML workspace), resources created, caches reset, Azure ML's jobs run by
    `EmulatedAzureML`; the environment is restored on exit."""
    from mlops_template.azure_functions import runtime
    from mlops_template.azure_functions.app import reset

    env = {**azure_env(connection_string, uuid.uuid4().hex[:10], model), **(env or {})}
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    reset()
    jobs = EmulatedAzureML(connection_string)
    runtime.use_ml_client(jobs)
    try:
        settings = get_settings()
        provision(settings)
        yield settings
    finally:
        runtime.use_ml_client(None)
        jobs.close()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        reset()


@contextmanager
def emulated_azure(location: Path | None = None, *, model: str = "model") -> Iterator[Settings]:
    """Start Azurite (installed with npm into the tool cache on first use), deploy, stop."""
    from mlops_template.tooling.azurite import Azurite, install, missing_tools

    if reason := missing_tools():
        raise EmulatorUnavailable(reason)
    try:
        binary, _ = install()
    except Exception as exc:  # npm without network, or a failed install
        raise EmulatorUnavailable(
            f"cannot install Azurite with npm ({exc}); install it with `npm install -g azurite`"
        ) from exc
    folder = location or Path(tempfile.mkdtemp(prefix="azurite-"))
    emulator = Azurite(binary, folder)
    try:
        emulator.wait_ready()
        with deployment(emulator.connection_string, model=model) as settings:
            yield settings
    finally:
        emulator.stop()


class _Job:
    """One submitted command job: its command running in a shell, in its own folder."""

    def __init__(self, body: dict[str, Any], process: Any, output: tuple[Path, str]) -> None:
        self.body, self.process, self.output = body, process, output
        self.status, self.looks, self.error = "Starting", 0, ""


class _JobOperations:
    def __init__(self, runner: EmulatedAzureML) -> None:
        self._runner = runner

    def create_or_update(self, job: Any) -> Any:
        return self._runner.submit(job)

    def get(self, name: str) -> Any:
        return self._runner.describe(name)


class EmulatedAzureML:
    """`MLClient` as far as the launcher uses it (`jobs.create_or_update`, `jobs.get`), for the
    emulator. A command job is read as the SDK would send it (its REST body): its `uri_file`
    inputs (blob URIs on Azurite) are downloaded into a folder, each `${{inputs.x}}` /
    `${{outputs.x}}` of its command replaced by a local path (a literal input by its value),
    and the command run by `bash` with this interpreter first on PATH, as the job's image runs
    it. The job is `Running` until the command ends; then its output folder is uploaded to the
    output URI and it is `Completed`, or `Failed` (its log says why). A job is seen
    `Running` at least once, as a real one (minutes on a cluster) is."""

    def __init__(self, connection_string: str) -> None:
        from azure.storage.blob import BlobServiceClient

        self._blobs = BlobServiceClient.from_connection_string(connection_string)
        self._root = Path(tempfile.mkdtemp(prefix="azureml-jobs-"))
        self._jobs: dict[str, _Job] = {}
        self.jobs = _JobOperations(self)

    def _blob(self, uri: str) -> Any:
        from urllib.parse import unquote

        base = str(self._blobs.url).rstrip("/") + "/"
        if not uri.startswith(base):
            raise ValueError(f"{uri} is not a blob of the emulated account {base}")
        container, _, key = uri.removeprefix(base).partition("/")
        return self._blobs.get_blob_client(container, unquote(key))

    def submit(self, job: Any) -> Any:
        import re
        import shutil
        import subprocess
        import sys

        body = job._to_job()._to_rest_object().as_dict()["properties"]
        if job.name in self._jobs:
            raise ValueError(f"a job named {job.name} already exists")
        folder = self._root / job.name
        paths: dict[str, str] = {}
        for name, given in body["inputs"].items():
            if given["jobInputType"] == "literal":
                paths[f"inputs.{name}"] = str(given["value"])
                continue
            local = folder / "inputs" / name / given["uri"].rsplit("/", 1)[-1]
            local.parent.mkdir(parents=True)
            local.write_bytes(self._blob(given["uri"]).download_blob().readall())
            paths[f"inputs.{name}"] = str(local)
        (name, output), *_ = body["outputs"].items()
        out = folder / "outputs" / name
        out.mkdir(parents=True)
        paths[f"outputs.{name}"] = str(out)
        command = re.sub(r"\$\{\{(\w+\.\w+)\}\}", lambda m: paths[m[1]], body["command"])
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        bash = shutil.which("bash") or "/bin/bash"
        with (folder / "std_log.txt").open("wb") as log:  # Azure ML's name for the job's log
            # The job's own command, as its compute runs it: a shell line we built (build_job).
            process = subprocess.Popen(  # noqa: S603
                [bash, "-c", command],
                cwd=folder,
                env={**os.environ, "PATH": path},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._jobs[job.name] = _Job(body, process, (out, output["uri"]))
        return self._described(job.name)

    def describe(self, name: str) -> Any:
        job = self._jobs[name]
        job.looks += 1
        if job.status in ("Starting", "Running"):
            code = job.process.poll() if job.looks > 1 else None
            if code is None:
                job.status = "Running"
            elif code == 0:
                self._upload(*job.output)
                job.status = "Completed"
            else:
                job.status = "Failed"
                log = self._root / name / "std_log.txt"
                job.error = log.read_text(errors="replace")[-2000:]
        return self._described(name)

    def _described(self, name: str) -> Any:
        from types import SimpleNamespace

        job = self._jobs[name]
        return SimpleNamespace(name=name, status=job.status, tags=dict(job.body.get("tags") or {}))

    def _upload(self, folder: Path, uri: str) -> None:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            blob = self._blob(f"{uri.rstrip('/')}/{path.relative_to(folder).as_posix()}")
            blob.upload_blob(path.read_bytes(), overwrite=True)

    def error(self, name: str) -> str:
        """The end of what a failed job's command wrote."""
        return self._jobs[name].error

    def close(self) -> None:
        import shutil

        for job in self._jobs.values():
            if job.process.poll() is None:
                job.process.kill()
            job.process.wait()
        shutil.rmtree(self._root, ignore_errors=True)


@cache
def app_functions() -> dict[str, Any]:
    """The function app's functions by name, indexed once per process: azure-functions'
    `get_functions()` refuses to index the same app twice ("not a unique function name")."""
    from mlops_template.azure_functions.app import app

    return {str(f.get_function_name()): f for f in app.get_functions()}


class FunctionHost:
    """The function app's user functions, called as the Functions host calls them."""

    def __init__(self, settings: Settings) -> None:
        from azure.storage.queue import (
            QueueServiceClient,
            TextBase64DecodePolicy,
            TextBase64EncodePolicy,
        )

        self.settings = settings
        self.functions = {name: f.get_user_function() for name, f in app_functions().items()}
        service = QueueServiceClient.from_connection_string(
            settings.azure_storage_connection_string
        )
        prefix = settings.azure_pipeline_queue_prefix
        self.routes: dict[str, str] = {}  # queue -> function
        for step in chain_steps():
            queue = queue_name(prefix, step.name)
            self.routes[queue] = f"pipeline_{step.name}"
            self.routes[f"{queue}{POISON_SUFFIX}"] = f"pipeline_{step.name}_poison"
        self.queues = {
            name: service.get_queue_client(
                name,
                message_encode_policy=TextBase64EncodePolicy(),
                message_decode_policy=TextBase64DecodePolicy(),
            )
            for name in self.routes
        }
        self.delivered: list[dict[str, Any]] = []

    # -- triggers ------------------------------------------------------------------------------
    def blob_created(self, container: str, key: str, *, etag: str = "") -> Any:
        """The Event Grid event the account's system topic sends for a new blob."""
        import azure.functions as func

        account = "devstoreaccount1"
        event = func.EventGridEvent(
            id=str(uuid.uuid4()),
            data={
                "api": "PutBlob",
                "contentType": "text/csv",
                "blobType": "BlockBlob",
                "eTag": etag,
                "url": f"https://{account}.blob.core.windows.net/{container}/{key}",
                "sequencer": etag,
            },
            topic=f"/subscriptions/emulated/resourceGroups/mlops/providers/"
            f"Microsoft.Storage/storageAccounts/{account}",
            subject=f"/blobServices/default/containers/{container}/blobs/{key}",
            event_type="Microsoft.Storage.BlobCreated",
            event_time=datetime.now(UTC),
            data_version="",
        )
        return self.functions["ingest"](event)

    def drain(
        self, *, max_deliveries: int = 200, max_wait_seconds: float = 300
    ) -> list[dict[str, Any]]:
        """Deliver queued messages until every queue is empty. A function that raises leaves
        its message to come back; after `azure_max_dequeue_count` deliveries it moves to the
        queue's poison queue (the host's rule, host.json maxDequeueCount). A message sent with
        a delay (the collect step waiting for its job) is waited for, up to `max_wait_seconds`
        in all."""
        import time

        import azure.functions as func

        delivered: list[dict[str, Any]] = []
        deadline = time.monotonic() + max_wait_seconds
        while len(delivered) < max_deliveries:
            busy = False
            for name, client in self.queues.items():
                for message in client.receive_messages(max_messages=1, visibility_timeout=60):
                    busy = True
                    request = func.QueueMessage(
                        id=message.id,
                        body=message.content.encode(),
                        pop_receipt=message.pop_receipt,
                    )
                    try:
                        outcome = self.functions[self.routes[name]](request)
                    except Exception as exc:
                        outcome = {"queue": name, "raised": f"{type(exc).__name__}: {exc}"}
                        if (message.dequeue_count or 1) >= self.settings.azure_max_dequeue_count:
                            poison = self.queues.get(f"{name}{POISON_SUFFIX}")
                            if poison is not None:
                                poison.send_message(message.content)
                            client.delete_message(message)
                        else:
                            client.update_message(message, visibility_timeout=0)
                    else:
                        client.delete_message(message)
                    delivered.append(outcome)
                    break
            if not busy:
                pending = any(
                    client.get_queue_properties().approximate_message_count
                    for client in self.queues.values()
                )
                if not pending or time.monotonic() > deadline:
                    break
                time.sleep(0.25)  # a delayed message is not visible yet
        self.delivered.extend(delivered)
        return delivered

    def http(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> Any:
        """An HTTP request to the function that owns the route (alerts, or the ASGI app)."""
        import azure.functions as func

        data = b"" if body is None else json.dumps(body).encode()
        request = func.HttpRequest(
            method,
            f"https://mlops.azurewebsites.net{path}",
            headers={"content-type": "application/json", **(headers or {})},
            body=data,
        )
        function = {"/api/alerts/retrain": "retrain", "/api/alerts/rollback": "rollback"}.get(path)
        if function is not None:
            return self.functions[function](request)
        return asyncio.run(self.functions["http_app_func"](request, None))

    def timer(self) -> Any:
        from azure.functions.timer import TimerRequest

        return self.functions["monitor"](TimerRequest(past_due=False))


class FunctionsApiClient:
    """The prediction API through the HTTP function, with the paths a client sends (/api/...)."""

    def __init__(self, host: FunctionHost) -> None:
        self.host = host

    def request(self, method: str, path: str, json_body: Any = None) -> ApiResponse:
        response = self.host.http(method, f"/api{path}", json_body)
        return ApiResponse(
            response.status_code, response.get_body().decode(), dict(response.headers)
        )

    def get(self, path: str) -> ApiResponse:
        return self.request("GET", path)

    def post(self, path: str, json: Any = None) -> ApiResponse:
        return self.request("POST", path, json)


class QueueChainPipeline:
    """One pipeline run the way it happens on Azure: the file is already under incoming/ (the
    caller put it there); Event Grid tells `ingest`, the queue chain runs to its end."""

    def __init__(self, host: FunctionHost) -> None:
        self.host = host
        self._runs = 0

    def run(self, model: str, key: str, **_: Any) -> Any:
        from mlops_template.azure_functions.app import ingest_token
        from mlops_template.core.pipeline import PipelineResult, StepRecord
        from mlops_template.training.gate import GateResult

        self._runs += 1
        container = self.host.settings.azure_data_container
        etag = f"0x{uuid.uuid4().hex[:16].upper()}"
        started = self.host.blob_created(container, key, etag=etag)
        run_id = ingest_token(container, key, etag)
        result = PipelineResult(run_id=run_id, status="failed", steps=[])
        if not started["started"]:
            result.error = f"no run started for {key}"
            return result
        outcomes = [o for o in self.host.drain() if o.get("run_id") == run_id]
        for outcome in outcomes:
            result.steps.append(
                StepRecord(
                    name=outcome["step"],
                    status="failed" if outcome["status"] == "failed" else "succeeded",
                    seconds=0,
                    detail=outcome.get("error") or "",
                )
            )
        for outcome in outcomes:
            output = outcome.get("output") or {}
            if outcome["step"] == "validate":
                result.validation_warnings = output.get("warnings", [])
            elif outcome["step"] == "evaluate":
                result.gate = GateResult.model_validate(output["gate"])
            elif outcome["step"] == "register":
                result.version = int(output["version"])
                result.promoted_to = output.get("promoted_to")
        last = outcomes[-1] if outcomes else {}
        if last.get("status") == "registered":
            result.status = "registered"
        elif last.get("status") == "rejected":
            result.status = "rejected"
        else:
            result.error = last.get("error") or last.get("raised") or "the run did not finish"
            result.error_type = last.get("error_type")
        return result
