"""Shared fixtures: the sample data set, its schema, one trained run, and a local backend."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import pandas as pd
import pytest

from mlops_template.core.backend import Backend
from mlops_template.core.settings import Settings
from mlops_template.infra.local import local_backend
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, breast_cancer_frame, to_csv_bytes
from mlops_template.training.schema import DatasetSchema, infer_schema
from mlops_template.training.train import TrainingRun, train
from mlops_template.training.validation import validate_csv


@pytest.fixture(scope="session", autouse=True)
def scratch_home(tmp_path_factory):
    """No test writes the state of the directory it runs in (./.mlops): code that falls back to
    the default home gets a scratch one. Tests that need their own still set MLOPS_HOME."""
    previous = os.environ.get("MLOPS_HOME")
    os.environ["MLOPS_HOME"] = str(tmp_path_factory.mktemp("default-home"))
    yield
    if previous is None:
        os.environ.pop("MLOPS_HOME", None)
    else:
        os.environ["MLOPS_HOME"] = previous


@pytest.fixture(scope="session", autouse=True)
def no_mlflow_of_yours():
    """A developer's MLFLOW_TRACKING_URI would log every test's runs to their MLflow: the suite
    runs without it (tests/integration/test_mlflow.py sets its own, a file store per test)."""
    names = ("MLFLOW_TRACKING_URI", "MLOPS_MLFLOW_TRACKING_URI")
    previous = {name: os.environ.pop(name) for name in names if name in os.environ}
    yield
    os.environ.update(previous)


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return breast_cancer_frame()


@pytest.fixture(scope="session")
def csv_bytes(frame: pd.DataFrame) -> bytes:
    return to_csv_bytes(frame)


@pytest.fixture(scope="session")
def customers_csv(frame: pd.DataFrame) -> bytes:
    """The sample data as a CRM export: a customer id unique per row and a constant column."""
    data = frame.head(300).copy()
    data.insert(0, "customer_id", [f"CUST-{i:05d}" for i in range(len(data))])
    data["source"] = "crm"
    return to_csv_bytes(data)


@pytest.fixture(scope="session")
def schema(csv_bytes: bytes) -> DatasetSchema:
    return infer_schema(pd.read_csv(io.BytesIO(csv_bytes)), TARGET)


@pytest.fixture(scope="session")
def typed_frame(csv_bytes: bytes, schema: DatasetSchema) -> pd.DataFrame:
    report, typed = validate_csv(csv_bytes, schema)
    assert report.passed and typed is not None
    return typed


@pytest.fixture(scope="session")
def config() -> TrainingConfig:
    return TrainingConfig(model_name="breast-cancer", target=TARGET)


@pytest.fixture(scope="session")
def trained(
    typed_frame: pd.DataFrame, schema: DatasetSchema, config: TrainingConfig
) -> TrainingRun:
    return train(typed_frame, schema, config, data_sha256="test")


@pytest.fixture
def data_file(tmp_path: Path, csv_bytes: bytes) -> Path:
    """The sample data as a CSV file, for commands that read one."""
    path = tmp_path / "data.csv"
    path.write_bytes(csv_bytes)
    return path


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return local_backend(Settings(home=tmp_path / "home"))


# -- AWS, emulated by moto: one mock for the session, unique resource names per test -----------


@pytest.fixture(scope="session")
def moto_session():
    from moto import mock_aws

    from mlops_template.tooling.emulation import FAKE_CREDENTIALS, environment, moto_patches

    with (
        environment(FAKE_CREDENTIALS),
        moto_patches(),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        yield


@pytest.fixture
def aws(moto_session, monkeypatch):
    """Settings of a fresh emulated environment; the handlers read them from the environment."""
    import uuid

    from mlops_template.core.settings import settings_env
    from mlops_template.functions import runtime
    from mlops_template.functions.inference import handler
    from mlops_template.tooling.emulation import create_resources, emulated_settings

    prefix = f"t{uuid.uuid4().hex[:12]}"
    # CloudWatch metrics outlive a test in the session's moto: a namespace of its own each.
    settings = emulated_settings(prefix, metrics_namespace=f"MLOps/{prefix}")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    runtime.reset()
    handler.reset()
    create_resources(settings)
    yield settings
    runtime.reset()
    handler.reset()


@pytest.fixture
def aws_backend(aws):
    from mlops_template.infra.aws import aws_backend as build

    return build(aws)


# -- Azure Storage, emulated by Azurite: one per session (per xdist worker), fresh names per test -


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """The connection string of a running Azurite (tests/azure_emulator.py)."""
    from tests.azure_emulator import Azurite, install, missing_tools

    if reason := missing_tools():
        pytest.skip(reason)
    binary, installed = install()
    emulator = Azurite(binary, tmp_path_factory.mktemp("azurite"))
    try:
        seconds = emulator.wait_ready()
        FIGURES["Azurite start"] = f"serving in {seconds:.1f}s" + (
            " (installed with npm in this run)" if installed else ""
        )
        yield emulator.connection_string
    finally:
        emulator.stop()


@pytest.fixture
def azure_names():
    """Fresh container and table names for one test (containers: 3-63 of a-z0-9-; tables:
    alphanumeric, starting with a letter)."""
    import uuid

    suffix = uuid.uuid4().hex[:16]
    return lambda kind: f"{kind}{suffix}"


@pytest.fixture
def azure_container(azurite, azure_names):
    """azure_container("data") -> a ContainerClient of a new, empty container."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite)
    return lambda kind: service.create_container(azure_names(kind))


@pytest.fixture
def azure_table(azurite, azure_names):
    """azure_table("registry") -> a TableClient of a new, empty table."""
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(azurite)
    return lambda kind: service.create_table(azure_names(kind))


# -- tools the tests fetch once and keep ---------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool_cache(name: str) -> Path:
    """A folder for a tool that is slow to fetch (a pinned binary, a LocalStack venv), kept across
    runs and clones: under XDG_CACHE_HOME (else ~/.cache), outside the repository and off PATH."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "serverless-mlops-template" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- figures measured by tests, printed at the end of the run (CI logs keep them) -------------
# Under pytest-xdist each worker fills its own FIGURES; it hands them to the controller, which
# prints them, when it finishes (figures from session fixtures' teardown included).

FIGURES: dict[str, str] = {}


@pytest.fixture
def figure():
    """figure("load", "1191 requests ...") records a measured figure for the run's summary."""

    def record(name: str, text: str) -> None:
        FIGURES[name] = text

    return record


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker
        workeroutput["mlops_figures"] = dict(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    FIGURES.update(getattr(node, "workeroutput", {}).get("mlops_figures", {}))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures measured by this run")
        for name, text in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {text}")


def capture_outcomes(backend, version, stage, correct, wrong, prefix, *, model="bc"):
    """`correct` + `wrong` labelled predictions of a version (an A/B arm's outcomes), the wrong
    ones spread evenly so that every look sees about the arm's rate."""
    from mlops_template.core.records import PredictionRecord

    records = [
        PredictionRecord(
            prediction_id=f"{prefix}{i}",
            model=model,
            version=version,
            stage=stage,
            features={},
            label="benign",
            probability=0.9,
        )
        for i in range(correct + wrong)
    ]
    backend.predictions.record(records)
    rate = correct / (correct + wrong)
    for i, record in enumerate(records):
        right = int((i + 1) * rate) > int(i * rate)
        backend.predictions.add_feedback(
            record.prediction_id, "benign" if right else "malignant", model=model
        )
