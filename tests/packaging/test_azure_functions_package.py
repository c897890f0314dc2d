"""The Azure function app package: within budget, self-contained, and its app loads from the zip
alone on Python 3.12 (the Flex Consumption runtime)."""

from __future__ import annotations

import json
import subprocess
import zipfile

import pytest

from mlops_template.tooling.packaging import (
    AZURE_FUNCTIONS_BUDGET,
    AZURE_SITE_PACKAGES,
    MB,
    build_azure_functions,
    find_python,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_azure_functions(tmp_path_factory.mktemp("dist"))


def test_the_package_is_within_its_budget(built, figure):
    figure(
        "azure functions package",
        f"{built.unzipped_bytes / MB:.1f} MB unzipped, {built.zipped_bytes / MB:.1f} MB zipped "
        f"(budget {AZURE_FUNCTIONS_BUDGET.unzipped_mb} / {AZURE_FUNCTIONS_BUDGET.zipped_mb}), "
        f"{built.files} files",
    )
    assert built.within_budget


def test_the_package_holds_the_app_and_no_tooling(built):
    with zipfile.ZipFile(built.path) as zf:
        names = zf.namelist()
        host = json.loads(zf.read("host.json"))
        entry = zf.read("function_app.py").decode()
    assert host["extensions"]["http"]["routePrefix"] == "api"
    assert "from mlops_template.azure_functions.app import app" in entry
    site = f"{AZURE_SITE_PACKAGES}/"
    tops = {n.removeprefix(site).split("/", 1)[0] for n in names if n.startswith(site)}
    assert {"mlops_template", "azure", "sklearn", "onnxruntime", "fastapi"} <= tops
    ours = {n.removeprefix(site).split("/")[1] for n in names if n.startswith(f"{site}mlops_")}
    assert ours == {"training", "core", "infra", "azure_functions"}
    for tooling in ("moto", "typer", "rich", "uvicorn", "mangum", "boto3", "pytest", "tests"):
        assert tooling not in tops, tooling


def test_the_app_loads_from_the_zip_alone_on_python_3_12(built, tmp_path):
    python = find_python()
    if python is None:
        pytest.skip("no Python 3.12 here to load the package with")
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(tmp_path)
    probe = (
        "import sys; sys.path[:0] = ['.', '" + AZURE_SITE_PACKAGES + "']\n"
        "from function_app import app\n"
        "import mlops_template, json\n"
        "assert mlops_template.__path__[0].startswith(sys.path[1]) or '.python_packages' in "
        "mlops_template.__path__[0]\n"
        "print(json.dumps(sorted(f.get_function_name() for f in app.get_functions())))\n"
    )
    result = subprocess.run(
        [python, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    functions = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"http_app_func", "ingest", "monitor", "retrain", "rollback"} <= set(functions)
    assert "pipeline_register_poison" in functions
