"""The inference Lambda package: within budget, self-contained, reproducible, byte-compiled."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from mlops_template.tooling.emulation import http_api_event
from mlops_template.tooling.packaging import (
    INFERENCE_BUDGET,
    MB,
    build_inference,
    deterministic_zip,
    find_python,
    host_architecture,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return build_inference(out, host_architecture())


def test_the_package_is_within_its_budget(built, figure):
    figure(
        "inference package",
        f"{built.unzipped_bytes / MB:.1f} MB unzipped, {built.zipped_bytes / MB:.1f} MB zipped "
        f"(budget 150 / 50), {built.files} files, {built.compiled_modules} modules byte-compiled",
    )
    assert built.within_budget
    assert built.unzipped_bytes <= INFERENCE_BUDGET.unzipped_mb * MB
    assert built.zipped_bytes <= INFERENCE_BUDGET.zipped_mb * MB


def test_the_package_holds_serving_code_and_nothing_heavy(built, figure):
    with zipfile.ZipFile(built.path) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    figure("inference zip top level", ", ".join(sorted(t for t in tops if "." not in t)))
    assert {"mlops_template", "onnxruntime", "numpy", "fastapi", "mangum"} <= tops
    # Ours: what a Lambda runs, never the tooling (CLI, emulator, packaging, bench).
    ours = {n.split("/")[1] for n in names if n.startswith("mlops_template/")}
    assert ours == {"training", "core", "infra", "functions"}
    # /docs and /redoc render offline: their assets travel with the app.
    assert {
        "fastapi_offline/static/swagger-ui-bundle.js",
        "fastapi_offline/static/swagger-ui.css",
        "fastapi_offline/static/redoc.standalone.js",
    } <= set(names)
    # LightGBM/XGBoost models are served as ONNX graphs: neither library (nor their converters)
    # travels, whichever extras the build machine has.
    boosting = ("lightgbm", "xgboost", "onnxmltools")
    for heavy in ("pandas", "sklearn", "scipy", "skl2onnx", "boto3", "botocore", *boosting):
        assert heavy not in tops, heavy
    tooling = ("moto", "typer", "rich", "tests", "pytest", "httpx2", "uvicorn", "azure")
    assert not tops & set(tooling), tops & set(tooling)
    # No command line of ours or of a library (fastapi/cli.py...): tooling, never run here.
    entry_points = [
        n for n in names if n.count("/") <= 1 and n.endswith(("/cli.py", "__main__.py"))
    ]
    assert not entry_points and not [n for n in names if "emulat" in n]
    assert not [n for n in names if "/tests/" in n or n.endswith((".pyi", ".c", ".h"))]
    assert all(zf_time == (1980, 1, 1, 0, 0, 0) for zf_time in _times(built.path))


def _times(path):
    with zipfile.ZipFile(path) as zf:
        return {i.date_time for i in zf.infolist()}


def test_zipping_the_same_tree_gives_the_same_bytes(tmp_path):
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "a.py").write_text("x = 1\n")
    (tree / "b.txt").write_text("b")
    deterministic_zip(tree, tmp_path / "one.zip")
    (tree / "b.txt").touch()  # a new mtime must not matter
    deterministic_zip(tree, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


# What the Lambda runtime does: Python 3.12, the zip's contents, no site-packages; a handler
# imported and given one event. Prints its answer, the heavy modules loaded, and the seconds.
PROBE = (
    "import importlib, json, sys, time; sys.path.insert(0, sys.argv[1]);"
    "start = time.perf_counter();"
    "module, name = sys.argv[3].rsplit('.', 1);"
    "handler = getattr(importlib.import_module(module), name);"
    "context = type('Context', (), {'function_name': 'probe', 'aws_request_id': 'r',"
    " 'memory_limit_in_mb': 1024, 'invoked_function_arn': 'arn', 'function_version': '1'});"
    "answer = handler(json.loads(sys.argv[2]), context());"
    "heavy = [m for m in ('pandas', 'sklearn', 'scipy') if m in sys.modules];"
    "print(json.dumps({'answer': answer, 'heavy': heavy, 'seconds': time.perf_counter() - start}))"
)


def run_in_package(built, tmp_path, handler: str, event: dict) -> dict:
    root = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(root)
    result = subprocess.run(
        [find_python(), "-I", "-S", "-c", PROBE, str(root), json.dumps(event), handler],
        capture_output=True,
        text=True,
        check=False,
        env={"MLOPS_HOME": str(tmp_path / "home"), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(find_python() is None, reason="no Python 3.12 to run the Lambda package with")
def test_the_package_serves_on_python_3_12_with_nothing_else(built, tmp_path, figure):
    """What the Lambda runtime does: Python 3.12, the zip's contents, no site-packages."""
    assert built.compiled_modules > 100
    event = http_api_event("GET", "/health")  # as API Gateway sends it (the zip has no tooling)
    out = run_in_package(
        built, tmp_path, "mlops_template.functions.inference.handler.handler", event
    )
    body = json.loads(out["answer"]["body"])
    assert out["answer"]["statusCode"] == 503 and body["status"] == "unavailable"  # no model yet
    assert out["heavy"] == []
    figure("inference package on Python 3.12", f"import + first request {out['seconds']:.2f}s")


@pytest.mark.skipif(find_python() is None, reason="no Python 3.12 to run the Lambda package with")
def test_the_stream_function_runs_from_the_same_package(built, tmp_path):
    """Streaming scoring ships in the inference zip: its handler answers an SQS event there
    (no model yet: the message is reported as a batch item failure, to be retried)."""
    event = json.loads((REPO / "tests" / "events" / "sqs_predict.json").read_text())
    event["Records"][0]["body"] = json.dumps({"records": [{"x": 1}]})
    out = run_in_package(built, tmp_path, "mlops_template.functions.stream.handler", event)
    failures = [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert (out["answer"], out["heavy"]) == ({"batchItemFailures": failures}, [])
