"""`mlops export --edge`: the bundle's scorers give what /predict gives. The Python scorer runs
in a fresh virtual environment holding only onnxruntime and numpy (1,000 rows); the page runs
in headless Chromium from Debian's packages (100 rows)."""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.tooling.edge import CHECKSUMS, ONNXRUNTIME_WEB, export_edge
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import REGRESSION_TARGET, TARGET, to_csv_bytes

from ..conftest import free_port, tool_cache
from .conftest import MODEL

PINS = ("numpy==2.4.6", "onnxruntime==1.32.0")  # as pyproject pins them


@functools.cache
def scorer_python() -> Path:
    """A virtual environment with onnxruntime and numpy and nothing else (kept in the cache)."""
    env = tool_cache("edge-scorer-" + "-".join(p.replace("==", "") for p in PINS)) / "venv"
    python = env / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "-q",
                "--no-deps",
                *PINS,
            ],
            check=True,
            timeout=600,
        )
    return python


def served_answers(backend, model, records):
    router = ModelRouter(
        backend.registry, backend.artifacts, model, "production", refresh_seconds=0
    )
    client = TestClient(create_app(router))
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    return [
        {k: v for k, v in p.items() if k != "prediction_id"} for p in answer.json()["predictions"]
    ]


@pytest.fixture
def regression_model(backend):
    from mlops_template.training.datasets import diabetes_frame

    frame = diabetes_frame()
    PipelineSteps(backend).save_config(
        TrainingConfig(model_name="diabetes", target=REGRESSION_TARGET, prediction_interval=0.9)
    )
    backend.data.put("incoming/d.csv", to_csv_bytes(frame))
    result = LocalPipeline(backend).run("diabetes", "incoming/d.csv", auto_promote="production")
    assert result.status == "registered", result
    return "diabetes", result.version, frame.drop(columns=[REGRESSION_TARGET])


@pytest.fixture
def classification_model(live, frame):
    return MODEL, live.version, frame.drop(columns=[TARGET])


def _rows(features, n):
    return features.sample(n, replace=True, random_state=3).to_dict("records")


def test_the_bundle_holds_its_files_with_checksums_and_no_project_code(
    backend, classification_model, tmp_path
):
    model, version, _ = classification_model
    out = tmp_path / "bundle"
    written = export_edge(backend, model, version, out)
    assert set(written) == {
        "model.onnx",
        "record.schema.json",
        "model_card.json",
        "score.py",
        CHECKSUMS,
    }
    sums = dict(line.split("  ")[::-1] for line in (out / CHECKSUMS).read_text().splitlines())
    import hashlib

    assert {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in sums} == sums
    card = json.loads((out / "model_card.json").read_text())
    assert card["task"] == "classification" and card["classes"] == ["benign", "malignant"]
    assert card["model_sha256"] == backend.registry.get(model, version).model_sha256
    assert "mlops_template" not in (out / "score.py").read_text()


@pytest.mark.parametrize("which", ["classification_model", "regression_model"])
def test_the_python_scorer_in_a_bare_environment_answers_what_predict_answers(
    backend, tmp_path, request, which
):
    model, version, features = request.getfixturevalue(which)
    out = tmp_path / "bundle"
    export_edge(backend, model, version, out)
    records = _rows(features, 1000)
    (tmp_path / "records.json").write_text(json.dumps(records))
    scored = subprocess.run(
        [str(scorer_python()), "-I", "score.py", str(tmp_path / "records.json")],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    answers = [json.loads(line) for line in scored.stdout.splitlines()]
    assert answers == served_answers(backend, model, records)


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm fetches onnxruntime-web")
@pytest.mark.parametrize("which", ["classification_model", "regression_model"])
def test_the_page_in_headless_chromium_answers_what_predict_answers(
    backend, tmp_path, request, which
):
    model, version, features = request.getfixturevalue(which)
    out = tmp_path / "bundle"
    export_edge(
        backend, model, version, out, web_cache=tool_cache(f"onnxruntime-web-{ONNXRUNTIME_WEB}")
    )
    records = _rows(features, 100)
    (out / "records.json").write_text(json.dumps(records))
    server, port = _serve(out)
    try:
        page = subprocess.run(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=30000",
                "--dump-dom",
                f"http://127.0.0.1:{port}/index.html?records=records.json",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        server.shutdown()
    found = re.search(r'<pre id="result">(.*?)</pre>', page.stdout, re.S)
    assert found and found.group(1), page.stdout[-1500:] + page.stderr[-1500:]
    answers = json.loads(html.unescape(found.group(1)))
    expected = served_answers(backend, model, records)
    assert len(answers) == len(expected) == 100
    for got, want in zip(answers, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if key == "label":
                assert got[key] == value
            elif key in ("value", "interval"):
                # WebAssembly sums a tree ensemble's float32 leaves in another order than the
                # native build: a float32 ulp or two of the value apart (2.8e-7 relative seen),
                # and the interval's ends move with it.
                scale = max(1.0, abs(want["value"]))
                np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-6 * scale)
            else:
                np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-6)
