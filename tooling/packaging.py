"""Lambda deployment packages, built reproducibly for the Lambda platform.

The inference zip holds our code and only what serving imports (FastAPI and the assets of its
docs pages, Mangum, Powertools, pydantic, numpy, ONNX Runtime), as manylinux wheels for Python
3.12 on x86_64 or arm64. boto3 is left to the runtime. Files are added in sorted order with
fixed timestamps and modes, so the same inputs give the same bytes and the same SHA-256.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MB = 1024 * 1024
LAMBDA_PYTHON = "3.12"
PLATFORMS = {
    "x86_64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "arm64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"],
}
# What the serving path imports, at the versions this environment pins (pyproject.toml).
INFERENCE_DISTRIBUTIONS = (
    "fastapi",
    "fastapi-offline",
    "mangum",
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "pydantic",
    "pydantic-settings",
    "numpy",
    "onnxruntime",
    "protobuf",
)
# The runtime ships these (boto3 and what only it needs): a copy would only add weight.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six")
# Never imported when serving: tests, tooling, type stubs, caches.
PRUNED_DIRS = {"__pycache__", "tests", "testing", "f2py", "_pyinstaller", "benchmarks"}
PRUNED_PATHS = (
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "onnxruntime/datasets",
    "numpy/doc",
)
PRUNED_SUFFIXES = (".pyc", ".pyi", ".pxd", ".h", ".c", ".cpp")
# A library's command line (`fastapi/cli.py`, `python -m dotenv`): tooling, never run by a Lambda.
PRUNED_ENTRY_POINTS = ("cli.py", "__main__.py")
# What a Lambda runs: never the tooling (CLI, emulator, packaging, bench).
LAMBDA_PACKAGES = ("training", "core", "infra", "functions")
NAMESPACE = "mlops_template"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class BudgetExceeded(Exception):
    """A package is larger than its budget."""


@dataclass(frozen=True)
class Budget:
    unzipped_mb: float
    zipped_mb: float


INFERENCE_BUDGET = Budget(unzipped_mb=150, zipped_mb=50)
# The Azure function app carries the whole pipeline (training included): measured with
# `mlops package --azure-functions` at 496.8 MB unzipped, 166.1 MB zipped, 13,721 files, then
# 564.1 MB / 189.9 MB once DuckDB (the feature store's point-in-time joins, 69 MB) and
# fairlearn joined the dependencies, 592.2 MB / 195.5 MB with the Azure ML client (the
# `azureml` extra) (docs/azure.md); the budget leaves about 10% for growth.
AZURE_FUNCTIONS_BUDGET = Budget(unzipped_mb=650, zipped_mb=215)


@dataclass
class PackageReport:
    name: str
    architecture: str
    path: Path | None
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str
    budget: Budget | None
    largest: list[tuple[str, int]]
    compiled_modules: int = 0

    @property
    def within_budget(self) -> bool:
        if self.budget is None:
            return True
        return self.unzipped_bytes <= self.budget.unzipped_mb * MB and (
            not self.zipped_bytes or self.zipped_bytes <= self.budget.zipped_mb * MB
        )


def pinned(distributions: Iterable[str]) -> list[str]:
    """`name==version` for each distribution, as installed here."""
    requirements = []
    for name in distributions:
        try:
            requirements.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError as exc:
            raise RuntimeError(f"{name} is not installed; pip install the project first") from exc
    return requirements


def install_for_lambda(
    requirements: list[str], target: Path, architecture: str, *, python_version: str = LAMBDA_PYTHON
) -> None:
    """pip install binary wheels built for the Lambda platform into `target`."""
    if architecture not in PLATFORMS:
        raise ValueError(f"architecture must be one of {sorted(PLATFORMS)}")
    platforms = [arg for tag in PLATFORMS[architecture] for arg in ("--platform", tag)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-conflicts",
        "--target",
        str(target),
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--no-compile",
        "--upgrade",
        *requirements,
    ]
    subprocess.run(command, check=True)  # noqa: S603 - fixed arguments, no shell


def prune_runtime_provided(root: Path) -> None:
    """Remove what the Lambda Python runtime already has (boto3 and its dependencies)."""
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(root / name, ignore_errors=True)
        (root / f"{name}.py").unlink(missing_ok=True)
        for pattern in (f"{name}-*.dist-info", f"python_{name}-*.dist-info"):
            for path in root.glob(pattern):
                shutil.rmtree(path, ignore_errors=True)


def prune(root: Path) -> None:
    """Remove the runtime's copies and whatever serving never imports."""
    prune_runtime_provided(root)
    for relative in PRUNED_PATHS:
        shutil.rmtree(root / relative, ignore_errors=True)
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and (path.name in PRUNED_DIRS or path.name.endswith("-stubs")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and (path.suffix in PRUNED_SUFFIXES or path.name == "RECORD"):
            path.unlink()
    shutil.rmtree(root / "bin", ignore_errors=True)
    for name in PRUNED_ENTRY_POINTS:
        for path in root.glob(f"*/{name}"):
            path.unlink()


def copy_sources(target: Path) -> None:
    """Our runtime packages as installed (editable or not), under their namespace."""
    for package in LAMBDA_PACKAGES:
        module = importlib.import_module(f"{NAMESPACE}.{package}")
        source = Path(module.__file__ or "").parent
        for path in sorted(source.rglob("*")):
            if "__pycache__" in path.parts or path.suffix not in (".py", ".json"):
                continue
            destination = target / NAMESPACE / package / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)


def find_python(version: str = LAMBDA_PYTHON) -> str | None:
    """An interpreter of the Lambda runtime's Python version, to byte-compile for it."""
    found = shutil.which(f"python{version}")
    if found and "/shims/" not in found:  # a pyenv shim may point at no installed version
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob(f"{version}.*/bin/python"))
    return str(candidates[-1]) if candidates else None


_TRACE = """
import json, os, sys, tempfile
root = sys.argv[1]
sys.path.insert(0, root)
os.environ["MLOPS_HOME"] = tempfile.mkdtemp()
from mlops_template.functions.inference.handler import adapter
adapter()  # the app, as the first request builds it
import mlops_template.functions.stream  # streaming scoring ships in the same zip
import onnxruntime  # loaded by the first prediction
files = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
print(json.dumps(sorted(f for f in files if f.startswith(root) and f.endswith(".py"))))
"""
_COMPILE = """
import os, py_compile, sys
root = sys.argv[1]
for path in sys.argv[2:]:
    # The name tracebacks show: where Lambda unpacks the zip, not this build directory.
    shown = "/var/task/" + os.path.relpath(path, root)
    py_compile.compile(path, dfile=shown, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


def compile_cold_start(root: Path, python: str) -> int:
    """Byte-compile exactly the modules a cold start imports.

    /var/task is read-only, so without these Python compiles every module on every cold start.
    Unchecked-hash .pyc files (PEP 552) stay valid whatever timestamps the zip gives the sources.
    """
    import json

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    traced = subprocess.run(  # noqa: S603 - fixed arguments
        [python, "-I", "-S", "-c", _TRACE, str(root)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    files: list[str] = json.loads(traced.stdout.strip().splitlines()[-1])
    subprocess.run([python, "-I", "-c", _COMPILE, str(root), *files], check=True, env=env)  # noqa: S603
    return len(files)


def deterministic_zip(root: Path, output: Path, *, compresslevel: int = 9) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=compresslevel)


def measure(
    name: str, architecture: str, root: Path, output: Path | None, budget: Budget | None
) -> PackageReport:
    files = [p for p in root.rglob("*") if p.is_file()]
    top: dict[str, int] = {}
    for path in files:
        head = path.relative_to(root).parts[0]
        top[head] = top.get(head, 0) + path.stat().st_size
    digest = hashlib.sha256(output.read_bytes()).hexdigest() if output else ""
    return PackageReport(
        name=name,
        architecture=architecture,
        path=output,
        files=len(files),
        unzipped_bytes=sum(p.stat().st_size for p in files),
        zipped_bytes=output.stat().st_size if output else 0,
        sha256=digest,
        budget=budget,
        largest=sorted(top.items(), key=lambda kv: -kv[1])[:6],
    )


def host_architecture() -> str:
    import platform

    return {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")


def build_inference(
    output_dir: Path, architecture: str, *, python: str | None = None
) -> PackageReport:
    """dist/inference-<arch>.zip: our code plus the serving dependencies, pruned, with the
    cold-start modules byte-compiled when a Python 3.12 of the same architecture is at hand."""
    work = output_dir / f".build-inference-{architecture}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    install_for_lambda(pinned(INFERENCE_DISTRIBUTIONS), work, architecture)
    prune(work)
    copy_sources(work)
    compiled = 0
    python = python or find_python()
    if python and architecture == host_architecture():
        compiled = compile_cold_start(work, python)
    output = output_dir / f"inference-{architecture}.zip"
    deterministic_zip(work, output)
    report = measure("inference", architecture, work, output, INFERENCE_BUDGET)
    report.compiled_modules = compiled
    if os.environ.get("MLOPS_KEEP_BUILD") != "1":
        shutil.rmtree(work, ignore_errors=True)
    return report


def measure_training_image(output_dir: Path, architecture: str) -> PackageReport:
    """What the training image adds to the Lambda base image: every dependency, unpruned."""
    work = output_dir / f".build-training-{architecture}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    requirements = metadata.requires("serverless-mlops-template") or []
    names = [
        re.match(r"[A-Za-z0-9_.-]+", r).group(0)  # type: ignore[union-attr]
        for r in requirements
        if "extra ==" not in r
    ]
    install_for_lambda(pinned(n for n in names if n != "boto3"), work, architecture)
    report = measure("training image (site-packages)", architecture, work, None, None)
    shutil.rmtree(work, ignore_errors=True)
    return report


# -- the Azure function app package (Flex Consumption, Linux, Python 3.12) --------------------

# What the Azure function app never imports: the CLI and the AWS-only SDKs.
AZURE_EXCLUDED = ("typer", "rich", "uvicorn", "httpx2", "mangum", "boto3")
AZURE_PACKAGES = ("training", "core", "infra", "azure_functions")
AZURE_SITE_PACKAGES = ".python_packages/lib/site-packages"
FUNCTION_APP_PY = (
    "# The Functions host imports this file: the app lives in the installed package.\n"
    "from mlops_template.azure_functions.app import app  # noqa: F401\n"
)


# The app's own extra: a big file's train step submits an Azure ML job from the function app.
AZURE_EXTRAS = ('extra == "azureml"',)


def azure_requirements() -> list[str]:
    """The project's runtime dependencies at their pins (with the Azure ML client, so the
    deployed train step can send big files to a job), minus what the app never imports."""
    requirements = metadata.requires("serverless-mlops-template") or []
    names = [
        re.split(r"[\[<>=;! ]", r, maxsplit=1)[0]
        for r in requirements
        if "extra ==" not in r or any(extra in r for extra in AZURE_EXTRAS)
    ]
    return pinned(n for n in names if n.lower() not in AZURE_EXCLUDED)


def build_azure_functions(output_dir: Path) -> PackageReport:
    """dist/azure-functions.zip: function_app.py and host.json at the root, our packages and
    the dependencies under .python_packages (what a remote build would install), built once and
    promoted between environments."""
    work = output_dir / ".build-azure-functions"
    shutil.rmtree(work, ignore_errors=True)
    site = work / AZURE_SITE_PACKAGES
    site.mkdir(parents=True)
    install_for_lambda(azure_requirements(), site, "x86_64")
    prune(site)
    for package in AZURE_PACKAGES:
        module = importlib.import_module(f"{NAMESPACE}.{package}")
        source = Path(module.__file__ or "").parent
        for path in sorted(source.rglob("*")):
            if "__pycache__" in path.parts or path.suffix not in (".py", ".json"):
                continue
            destination = site / NAMESPACE / package / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    host = importlib.import_module(f"{NAMESPACE}.azure_functions")
    shutil.copyfile(Path(host.__file__ or "").parent / "host.json", work / "host.json")
    (work / "function_app.py").write_text(FUNCTION_APP_PY)
    output = output_dir / "azure-functions.zip"
    deterministic_zip(work, output)
    report = measure("azure-functions", "x86_64", work, output, AZURE_FUNCTIONS_BUDGET)
    report.largest = measure("site-packages", "x86_64", site, None, None).largest
    if os.environ.get("MLOPS_KEEP_BUILD") != "1":
        shutil.rmtree(work, ignore_errors=True)
    return report
