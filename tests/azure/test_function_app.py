"""The Azure function app end to end on Azurite: its user functions called in-process as the
Functions host calls them (tooling/azure_emulation.py), the Storage-queue chain driven by
core/pipeline_steps.json, and Azure Monitor alerts in the common alert schema."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pytest

from mlops_template.core.artifacts import arrival_key
from mlops_template.core.chain import ChainMessage, chain_steps, queue_name
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.core.registry import RegistryError
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, to_csv_bytes

EVENTS = Path(__file__).resolve().parents[1] / "events"
MODEL = "azure-model"


def common_alert(condition: str = "Fired") -> dict:
    """Microsoft's published sample payload (common alert schema), with its monitorCondition."""
    alert = json.loads((EVENTS / "azure_monitor_common_alert.json").read_text())
    alert = copy.deepcopy(alert)
    alert["data"]["essentials"]["monitorCondition"] = condition
    return alert


@pytest.fixture(scope="module")
def deployed(azurite):
    """One emulated deployment for the module (fresh containers, tables and queues)."""
    from mlops_template.tooling.azure_emulation import FunctionHost, deployment

    with deployment(azurite, model=MODEL) as settings:
        from mlops_template.azure_functions.runtime import backend

        PipelineSteps(backend()).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
        yield FunctionHost(settings), backend()


@pytest.fixture(scope="module")
def first_run(deployed, frame):
    """A good file through Event Grid and the queue chain: v1."""
    from mlops_template.tooling.azure_emulation import QueueChainPipeline

    host, backend = deployed
    key = arrival_key("good.csv")
    backend.data.put(key, to_csv_bytes(frame.sample(frac=0.8, random_state=1)))
    return QueueChainPipeline(host).run(MODEL, key)


def queued(host, step: str) -> list[ChainMessage]:
    client = host.queues[queue_name(host.settings.azure_pipeline_queue_prefix, step)]
    return [ChainMessage.model_validate_json(m.content) for m in client.peek_messages(32)]


def test_every_step_of_the_pipeline_data_has_its_queue_function_and_poison_function(deployed):
    host, _ = deployed
    for step in chain_steps():
        assert f"pipeline_{step.name}" in host.functions
        assert f"pipeline_{step.name}_poison" in host.functions
    assert {"http_app_func", "ingest", "monitor", "retrain", "rollback"} <= set(host.functions)


def test_a_good_file_registers_a_version_through_the_queue_chain(deployed, first_run):
    _, backend = deployed
    assert first_run.status == "registered", first_run.error
    assert [s.name for s in first_run.steps] == ["validate", "train", "evaluate", "register"]
    assert [v.version for v in backend.registry.versions(MODEL)] == [first_run.version]
    run = backend.registry.get_run(MODEL, first_run.run_id)
    assert run.status == "registered"
    assert run.version == first_run.version


def test_a_second_event_for_the_same_blob_write_starts_nothing(deployed, first_run):
    host, _ = deployed
    key = arrival_key("twice.csv")
    first = host.blob_created(host.settings.azure_data_container, key, etag="0xSAME")
    again = host.blob_created(host.settings.azure_data_container, key, etag="0xSAME")
    assert first["started"][0]["started"] is True
    assert again["started"][0]["started"] is False
    assert len(queued(host, "validate")) == 1
    host.drain()  # the file does not exist: the run fails at validate and the queue empties
    assert queued(host, "validate") == []


def test_events_outside_incoming_csv_are_ignored(deployed):
    host, _ = deployed
    container = host.settings.azure_data_container
    assert host.blob_created(container, "validated/x.csv")["started"] == []
    assert host.blob_created(container, "incoming/notes.txt")["started"] == []
    assert host.blob_created("othercontainer", "incoming/x.csv")["started"] == []


def test_a_bad_file_is_quarantined_with_its_report_and_the_registry_is_unchanged(
    deployed, first_run, frame
):
    from mlops_template.tooling.azure_emulation import QueueChainPipeline

    host, backend = deployed
    before = [v.model_dump() for v in backend.registry.versions(MODEL)]
    aliases = backend.registry.aliases(MODEL)
    bad = frame.head(40).drop(columns=["worst_texture"])
    key = arrival_key("bad.csv")
    backend.data.put(key, to_csv_bytes(bad))
    result = QueueChainPipeline(host).run(MODEL, key)
    assert result.status == "failed"
    assert result.error_type == "DataValidationError"
    assert [s.name for s in result.steps] == ["validate"]
    assert [v.model_dump() for v in backend.registry.versions(MODEL)] == before
    assert backend.registry.aliases(MODEL) == aliases
    reports = [k for k in backend.data.keys("quarantine/") if k.endswith("bad.csv.report.json")]
    assert len(reports) == 1
    report = json.loads(backend.data.get(reports[0]))
    assert report["passed"] is False
    assert any(i["check"] == "missing_column" for i in report["issues"])
    assert backend.registry.get_run(MODEL, result.run_id).status == "rejected_data"


def test_a_step_error_ends_the_run_and_consumes_its_message(deployed, first_run):
    host, backend = deployed
    state = {"model": MODEL, "key": "incoming/vanished.csv", "run_id": "broken-run"}
    host.queues[queue_name(host.settings.azure_pipeline_queue_prefix, "validate")].send_message(
        ChainMessage(step="validate", state=state).model_dump_json()
    )
    [outcome] = host.drain()
    assert outcome["status"] == "failed"
    assert outcome["error_type"] == "BlobNotFound"
    assert queued(host, "validate") == []
    assert queued(host, "train") == []
    run = backend.registry.get_run(MODEL, "broken-run")
    assert run.status == "error"


def test_a_message_that_keeps_failing_goes_to_poison_and_its_run_is_recorded_failed(
    deployed, first_run
):
    host, backend = deployed
    prefix = host.settings.azure_pipeline_queue_prefix
    # A body the step function cannot even read: it raises on every delivery.
    host.queues[queue_name(prefix, "evaluate")].send_message("not json")
    deliveries = host.drain()
    raised = [d for d in deliveries if "raised" in d]
    assert len(raised) == host.settings.azure_max_dequeue_count  # then the host gives up
    assert deliveries[-1]["status"] == "failed"  # the poison function read what it could
    assert queued(host, "evaluate") == []
    # A readable message the host gave up on (the function timed out each time).
    PipelineSteps(backend).update_run(MODEL, "timed-out-run")
    state = {"model": MODEL, "key": "k", "run_id": "timed-out-run"}
    host.queues[f"{queue_name(prefix, 'train')}-poison"].send_message(
        ChainMessage(step="train", state=state).model_dump_json()
    )
    [outcome] = host.drain()
    assert outcome["error_type"] == "PoisonedStep"
    run = backend.registry.get_run(MODEL, "timed-out-run")
    assert run.status == "error"
    assert "poison" in run.reason


def test_two_racing_promotions_one_wins(deployed, first_run):
    _, backend = deployed
    registry = backend.registry
    revision = len(registry.history(MODEL, "staging"))
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def promote(actor: str) -> None:
        barrier.wait()
        try:
            registry.promote(
                MODEL, first_run.version, "staging", actor=actor, expected_revision=revision
            )
            outcomes.append("won")
        except RegistryError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=promote, args=(f"team-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["StaleStageError", "won"]
    assert len(registry.history(MODEL, "staging")) == 1


def test_the_api_serves_under_the_route_prefix_with_field_errors(deployed, first_run, frame):
    host, backend = deployed
    backend.registry.promote(MODEL, first_run.version, "production", actor="t")
    health = host.http("GET", "/api/health")
    assert health.status_code == 200
    record = frame.drop(columns=[TARGET]).head(1).to_dict(orient="records")[0]
    answer = host.http("POST", "/api/predict", {"records": [record]})
    assert answer.status_code == 200, answer.get_body()
    assert json.loads(answer.get_body())["version"] == first_run.version
    bad = host.http("POST", "/api/predict", {"records": [{**record, "mean_radius": "large"}]})
    assert bad.status_code == 422
    assert "mean_radius" in json.dumps(json.loads(bad.get_body())["detail"])
    docs = host.http("GET", "/api/openapi.json")
    assert docs.status_code == 200


def test_the_timer_monitors_the_served_model(deployed, first_run):
    host, backend = deployed
    if backend.registry.current(MODEL, "production") is None:
        backend.registry.promote(MODEL, first_run.version, "production", actor="t")
    result = host.timer()
    assert result["version"] == backend.registry.current(MODEL, "production").version


def test_an_alert_starts_one_retrain_and_a_second_within_the_cooldown_none(deployed, first_run):
    host, _ = deployed
    first = host.http("POST", "/api/alerts/retrain", common_alert("Fired"))
    assert first.status_code == 200
    [reaction] = json.loads(first.get_body())["reactions"]
    assert reaction["action"] == "retrain"
    assert reaction["started"] is True
    second = host.http("POST", "/api/alerts/retrain", common_alert("Fired"))
    [again] = json.loads(second.get_body())["reactions"]
    assert again["action"] == "ignored"
    assert again["started"] is False
    assert "cool-down" in again["detail"]
    runs = [m.run_id for m in queued(host, "validate")]
    assert runs == [reaction["execution"]]
    host.drain()


def test_a_resolved_alert_starts_nothing_and_a_non_alert_is_refused(deployed):
    host, _ = deployed
    resolved = host.http("POST", "/api/alerts/retrain", common_alert("Resolved"))
    [reaction] = json.loads(resolved.get_body())["reactions"]
    assert reaction["action"] == "ignored"
    refused = host.http("POST", "/api/alerts/rollback", {"hello": "world"})
    assert refused.status_code == 400
    assert "common alert schema" in json.loads(refused.get_body())["rejected"]


def test_an_alert_on_a_fresh_promotion_rolls_it_back(deployed, first_run, frame):
    from mlops_template.tooling.azure_emulation import QueueChainPipeline

    host, backend = deployed
    registry = backend.registry
    if registry.current(MODEL, "production") is None:
        registry.promote(MODEL, first_run.version, "production", actor="t")
    key = arrival_key("more.csv")
    backend.data.put(key, to_csv_bytes(frame.sample(frac=0.9, random_state=2)))
    second = QueueChainPipeline(host).run(MODEL, key)
    if second.status != "registered":
        pytest.skip(f"the second candidate was not registered ({second.status})")
    registry.promote(MODEL, second.version, "production", actor="t", require_gate=False)
    answer = host.http("POST", "/api/alerts/rollback", common_alert("Fired"))
    [reaction] = json.loads(answer.get_body())["reactions"]
    assert reaction["action"] == "rollback"
    assert registry.current(MODEL, "production").version == reaction["to_version"]


def test_host_json_agrees_with_the_code():
    """The host's route prefix is the one the app is told; its poison rule the one emulated."""
    from mlops_template.azure_functions.app import ROUTE_PREFIX
    from mlops_template.core.settings import Settings

    host = json.loads(
        (Path(__file__).resolve().parents[2] / "azure_functions/host.json").read_text()
    )
    assert f"/{host['extensions']['http']['routePrefix']}" == ROUTE_PREFIX
    queues = host["extensions"]["queues"]
    assert queues["maxDequeueCount"] == Settings().azure_max_dequeue_count
    assert queues["messageEncoding"] == "base64"  # what StorageQueues sends


def test_a_start_whose_message_was_not_sent_can_be_started_again(deployed):
    from mlops_template.core.chain import QueuePipelineStarter

    host, backend = deployed

    class Down:
        def send(self, queue: str, body: str) -> None:
            raise ConnectionError("queue service unavailable")

    prefix = host.settings.azure_pipeline_queue_prefix
    with pytest.raises(ConnectionError):
        QueuePipelineStarter(backend, Down(), prefix=prefix).start(
            MODEL, "incoming/x.csv", token="tok-unsent", reason="t"
        )
    from mlops_template.azure_functions.runtime import step_queues

    started = QueuePipelineStarter(backend, step_queues(), prefix=prefix).start(
        MODEL, "incoming/x.csv", token="tok-unsent", reason="t"
    )
    assert started.started is True
    assert [m.run_id for m in queued(host, "validate")] == ["tok-unsent"]
    host.drain()
