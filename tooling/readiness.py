"""The ML Test Score (Breck, Cai, Nielsen, Salib, Sculley; IEEE Big Data 2017) of a deployed
model, read from facts: the stored config and schema, the newest run record, the registry's
history, the alarms in Terraform, the CI workflows and the tests in the repository.

Each of the 28 rows has a probe that looks for its mechanism and scores 1 when it is automated
and found, 0 otherwise (the rubric's 0.5, done by hand with the result written down, is never
claimed by a probe). A section's score is the sum of its rows; the final score is the minimum
over the four sections.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlops_template.core.backend import Backend
from mlops_template.core.records import ModelVersion, RunRecord

SECTIONS = ("Data", "Model", "Infrastructure", "Monitoring")
MONITORING_TF = Path("terraform/modules/monitoring/main.tf")
_ALARM = re.compile(
    r'resource\s+"aws_cloudwatch_metric_alarm"\s+"(?P<name>\w+)"\s*\{(?P<body>.*?)\n\}', re.S
)


class Finding(BaseModel):
    score: float
    evidence: str
    last: str = ""


class RowResult(BaseModel):
    section: str
    number: int
    test: str
    mechanism: str
    holds: str
    score: float
    evidence: str
    last: str


class Readiness(BaseModel):
    model: str
    rows: list[RowResult]
    sections: dict[str, float]
    final: float


@dataclass
class Facts:
    """What the probes read, each loaded once."""

    backend: Backend
    model: str
    repo: Path
    _cache: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def production(self) -> ModelVersion | None:
        return self.backend.registry.current(self.model, "production")

    @cached_property
    def run(self) -> RunRecord | None:
        """The run that produced the production version, else the newest run."""
        runs = self.backend.registry.runs(self.model)
        if self.production is not None:
            for run in runs:
                if run.run_id == self.production.run_id:
                    return run
        return runs[0] if runs else None

    @cached_property
    def config(self) -> dict[str, Any]:
        from mlops_template.core.pipeline import PipelineSteps

        stored = PipelineSteps(self.backend).stored_config(self.model)
        if stored is not None:
            return stored.model_dump(mode="json")
        return self.run.config if self.run is not None else {}

    @cached_property
    def assessment(self) -> dict[str, Any]:
        return dict(getattr(self.run, "assessment", None) or {})

    @cached_property
    def alarms(self) -> dict[str, dict[str, str]]:
        """Terraform's metric alarms: resource name -> metric_name and alarm_actions text."""
        path = self.repo / MONITORING_TF
        if not path.exists():
            return {}
        found = {}
        for match in _ALARM.finditer(path.read_text()):
            body = match.group("body")
            metric = re.search(r'metric_name\s*=\s*"?([\w.${}]+)"?', body)
            actions = re.search(r"alarm_actions\s*=\s*(.*)", body)
            found[match.group("name")] = {
                "metric": metric.group(1) if metric else "",
                "actions": actions.group(1) if actions else "",
            }
        return found

    def text(self, relative: str) -> str:
        path = self.repo / relative
        return path.read_text() if path.is_file() else ""

    def exists(self, relative: str) -> bool:
        return (self.repo / relative).exists()

    def run_label(self) -> str:
        run = self.run
        return (
            f"run {run.run_id} ({(run.ended_at or run.started_at)[:16]})" if run else "no run yet"
        )


Probe = Callable[[Facts], Finding]


@dataclass(frozen=True)
class Row:
    section: str
    number: int
    test: str
    mechanism: str
    holds: str  # the test in tests/ that holds the mechanism
    probe: Probe


def _found(ok: bool, yes: str, no: str, last: str = "") -> Finding:
    return Finding(score=1.0 if ok else 0.0, evidence=yes if ok else no, last=last)


def _alarm(metric: str, topic: str | None = None) -> Probe:
    def probe(facts: Facts) -> Finding:
        hits = [
            name
            for name, alarm in facts.alarms.items()
            if alarm["metric"] == metric
            and (topic is None or f'this["{topic}"]' in alarm["actions"])
        ]
        where = f" -> {topic}" if topic else ""
        return _found(
            bool(hits),
            f"Terraform alarm {hits[0] if hits else ''} on {metric}{where}",
            f"no Terraform alarm on {metric}{where} in {MONITORING_TF}",
            last="monitor (scheduled)" if hits else "",
        )

    return probe


def _assessment(key: str, what: str) -> Probe:
    def probe(facts: Facts) -> Finding:
        value = facts.assessment.get(key)
        return _found(
            value is not None and value != {},
            f"{what} in the run record (assessment.{key})",
            f"no assessment.{key} in the run record",
            last=facts.run_label(),
        )

    return probe


def _config_and_assessment(config_path: str, key: str, what: str) -> Probe:
    def probe(facts: Facts) -> Finding:
        node: Any = facts.config
        for part in config_path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not node:
            return Finding(
                score=0.0,
                evidence=f"the config does not say {config_path} (a person's judgement, once)",
                last=facts.run_label(),
            )
        return _assessment(key, what)(facts)

    return probe


def _files(*checks: tuple[str, str | None]) -> Callable[[Facts], bool]:
    """Every (file, text it must contain) holds."""
    return lambda facts: all(
        facts.exists(path) and (needle is None or needle in facts.text(path))
        for path, needle in checks
    )


def _module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# -- the probes that need more than one line --------------------------------------------------


def schema_probe(facts: Facts) -> Finding:
    from mlops_template.core.pipeline import PipelineSteps

    schema = PipelineSteps(facts.backend).load_schema(facts.model)
    return _found(
        schema is not None,
        f"schema of {len(schema.columns) if schema else 0} features; every file validated",
        "no stored schema",
        last=facts.run_label(),
    )


def policy_probe(facts: Facts) -> Finding:
    policy = facts.config.get("features") or {}
    said = bool(policy.get("forbidden") or policy.get("required"))
    return _found(
        said and _module("mlops_template.training.policy"),
        "features.forbidden/required enforced at validation",
        "the config says no features.forbidden or features.required",
        last=facts.run_label(),
    )


def privacy_probe(facts: Facts) -> Finding:
    from mlops_template.core.ports import PredictionLog

    ok = _module("mlops_template.training.privacy") and hasattr(PredictionLog, "forget")
    return _found(
        ok and _module("mlops_template.core.forget"),
        "personal-data columns excluded at schema inference; `mlops data forget` erases rows",
        "no personal-data detection or no erasure path",
    )


def new_feature_probe(facts: Facts) -> Finding:
    if not _module("mlops_template.core.schema_versions"):
        return Finding(score=0.0, evidence="schemas are not versioned")
    from mlops_template.core.schema_versions import schema_version

    number = schema_version(facts.backend, facts.model)
    return _found(True, f"`mlops schema infer --save` makes schema v{number + 1}", "")


def feature_code_probe(facts: Facts) -> Finding:
    floor = re.search(r"fail_under\s*=\s*\d+|--cov-fail-under[= ]\d+", facts.text("pyproject.toml"))
    tests = facts.repo / "tests"
    categorical = tests.exists() and any(
        re.search(r"def test_\w*categorical", p.read_text()) for p in tests.rglob("test_*.py")
    )
    return _found(
        bool(floor) and categorical,
        "coverage floor in CI and the categorical feature path tested",
        f"coverage floor: {'yes' if floor else 'no'}; categorical test: "
        f"{'yes' if categorical else 'no'}",
        last="ci",
    )


def spec_review_probe(facts: Facts) -> Finding:
    owners = facts.text(".github/CODEOWNERS")
    sha = getattr(facts.run, "config_sha256", "") if facts.run else ""
    return _found(
        bool(owners.strip()) and bool(sha),
        "CODEOWNERS reviews the config; the run records its SHA-256",
        f"CODEOWNERS: {'yes' if owners.strip() else 'no'}; config_sha256 in run: "
        f"{'yes' if sha else 'no'}",
        last=facts.run_label(),
    )


def reproducible_probe(facts: Facts) -> Finding:
    run = facts.run
    recorded = run is not None and bool(run.data_sha256 and run.code_version)
    return _found(
        recorded and facts.exists("tests/integration/test_reproducibility.py"),
        "data hash, code version and seed recorded; same bytes from separate processes",
        "no reproducibility test or the run lacks its data hash and code version",
        last=facts.run_label(),
    )


def gate_probe(facts: Facts) -> Finding:
    version = facts.production
    return _found(
        version is not None and version.gate_passed,
        f"v{version.version if version else '?'} passed its gate before serving",
        "no production version that passed a gate",
        last=facts.run_label(),
    )


def debuggable_probe(facts: Facts) -> Finding:
    version = facts.production
    if version is None or not _module("mlops_template.training.explain"):
        return Finding(score=0.0, evidence="no production version or no `mlops explain`")
    from mlops_template.core.artifacts import read_verified
    from mlops_template.core.smoke import example_date
    from mlops_template.training.explain import explain
    from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
    from mlops_template.training.schema import DatasetSchema

    schema = DatasetSchema.from_json(
        read_verified(facts.backend.artifacts, version.artifacts[SCHEMA_FILE])
    )
    record = {
        c.name: (
            c.mean
            if c.kind == "numeric"
            else example_date(c)
            if c.kind == "datetime"
            else (c.categories or [""])[0]
        )
        for c in schema.columns
    }
    result = explain(
        read_verified(facts.backend.artifacts, version.artifacts[MODEL_FILE]), schema, record
    )
    return _found(
        bool(result.steps),
        f"`mlops explain` traced a record through {len(result.steps)} graph steps",
        "the graph could not be traced",
        last=f"now, on v{version.version}",
    )


def canary_probe(facts: Facts) -> Finding:
    """Every release to production after the first (which has nothing to be compared with)
    served as canary first, and at least one did. Rollbacks return to a version that served."""
    history = sorted(facts.backend.registry.history(facts.model), key=lambda e: e.at)
    canaried: set[int] = set()
    releases: list[int] = []
    for event in history:
        if event.stage == "canary" and event.action == "promote":
            canaried.add(event.to_version)
        elif event.stage == "production" and event.action == "promote":
            releases.append(event.to_version)
    later = releases[1:]
    skipped = [v for v in later if v not in canaried]  # canaried before its release
    default = _module("mlops_template.core.canary")
    ok = default and bool(later) and not skipped
    return _found(
        ok,
        f"v{', v'.join(map(str, later))} served as canary before production "
        "(the default release path)",
        f"canary release path: {'yes' if default else 'no'}; releases after the first: "
        f"{later or 'none'}; not canaried: {skipped or 'none'}",
        last="registry history",
    )


def rollback_probe(facts: Facts) -> Finding:
    alarm = _alarm("local.api_5xx_metric", "rollback")(facts)
    handler = facts.exists("functions/rollback.py")
    return _found(
        alarm.score == 1 and handler,
        "5xx alarm -> rollback function; `mlops rollback`",
        "no 5xx alarm wired to the rollback function",
        last="alarm (automatic)",
    )


def dependency_probe(facts: Facts) -> Finding:
    bot = facts.text(".github/dependabot.yml")
    ecosystems = {
        e for e in ("pip", "github-actions", "terraform") if f"package-ecosystem: {e}" in bot
    }
    audit = facts.text(".github/workflows/dependency-audit.yml")
    strict = "pip-audit --strict" in audit and "schedule:" in audit
    return _found(
        len(ecosystems) == 3 and strict,
        "Dependabot (pip, Actions, Terraform) and a scheduled pip-audit --strict",
        f"Dependabot ecosystems {sorted(ecosystems)}; scheduled strict audit: "
        f"{'yes' if strict else 'no'}",
        last="GitHub (scheduled)",
    )


def performance_probe(facts: Facts) -> Finding:
    bench = _files(
        ("tests/benchmarks/test_scoring_ratio.py", None), ("tests/benchmarks/ratios.json", None)
    )(facts)
    latency = any(a["metric"] == "Latency" for a in facts.alarms.values())
    return _found(
        bench and latency,
        "CI ratio benchmark against the recorded ratios; p99 latency alarm; per-version "
        "latency and memory metrics",
        f"ratio benchmark: {'yes' if bench else 'no'}; latency alarm: {'yes' if latency else 'no'}",
        last="ci and CloudWatch",
    )


def _ci_test(path: str, what: str) -> Probe:
    return lambda facts: _found(
        facts.exists(path) and facts.exists(".ci/run"),
        f"{what} ({path}, run by CI)",
        f"no {path}",
        last="ci",
    )


RUBRIC: tuple[Row, ...] = (
    # -- Data ------------------------------------------------------------------------------
    Row("Data", 1, "Feature expectations are captured in a schema.",
        "inferred schema; every data file and request validated against it",
        "tests/unit/test_validation.py", schema_probe),
    Row("Data", 2, "All features are beneficial.",
        "permutation importance on held-out rows in every run record",
        "tests/unit/test_model_tests.py::test_training_records_permutation_importance_for_every_feature",
        _assessment("importance", "permutation importance")),
    Row("Data", 3, "No feature's cost is too much.",
        "ablation in the evaluate step (without costly / useless features)",
        "tests/unit/test_model_tests.py::test_the_ablation_retrains_without_the_useless_features_side_by_side",
        _assessment("ablation", "ablation")),
    Row("Data", 4, "Features adhere to meta-level requirements.",
        "feature policy in the config (forbidden / required columns), enforced by validation",
        "tests/integration/test_model_tests.py::test_a_forbidden_feature_is_quarantined_at_validation",
        policy_probe),
    Row("Data", 5, "The data pipeline has appropriate privacy controls.",
        "personal-data detection at schema inference; `mlops data forget`",
        "tests/integration/test_privacy.py::test_personal_columns_are_kept_out_of_features_unless_allowed",
        privacy_probe),
    Row("Data", 6, "New features can be added quickly.",
        "`mlops schema infer --save`: one command, a new schema version",
        "tests/integration/test_local_pipeline.py::test_after_a_column_is_added_the_gate_still_compares_with_production",
        new_feature_probe),
    Row("Data", 7, "All input feature code is tested.",
        "coverage floor on training/ in CI; categorical path tested",
        "tests/integration/test_model_tests.py::test_categorical_features_train_export_gate_and_serve",
        feature_code_probe),
    # -- Model -----------------------------------------------------------------------------
    Row("Model", 1, "Model specs are reviewed and submitted.",
        "config under CODEOWNERS; the run records the config's SHA-256",
        "tests/unit/test_model_tests.py::test_every_committed_config_is_valid_and_owned_by_reviewers",
        spec_review_probe),
    Row("Model", 2, "Offline and online metrics correlate.",
        "OfflineOnlineGap published by the monitor, alarmed",
        "tests/aws/test_health_alarms.py", _alarm("OfflineOnlineGap")),
    Row("Model", 3, "All hyperparameters have been tuned.",
        "tuning budget in the config (successive halving) used by the train step",
        "tests/unit/test_model_tests.py::test_a_search_space_is_tuned_by_successive_halving_and_the_choice_recorded",
        _config_and_assessment("tuning.search_space", "tuning", "the search")),
    Row("Model", 4, "The impact of model staleness is known.",
        "previous versions scored on new held-out rows: metric against age",
        "tests/integration/test_model_tests.py::test_the_evaluate_step_records_slices_staleness_and_the_config_hash",
        _assessment("staleness", "staleness")),
    Row("Model", 5, "A simpler model is not better.",
        "the gate trains a linear model on the same split",
        "tests/unit/test_model_tests.py::test_training_records_the_simple_model_and_the_gate_can_refuse_on_it",
        _assessment("simple_model", "simple-model comparison")),
    Row("Model", 6, "Model quality is sufficient on important data slices.",
        "per-slice metrics in the run record, gated",
        "tests/unit/test_model_tests.py::test_slices_cover_categorical_values_and_numeric_bins_and_the_gate_refuses_a_weak_one",
        _assessment("slices", "slice metrics")),
    Row("Model", 7, "The model is tested for considerations of inclusion.",
        "fairlearn group metrics for the config's sensitive columns, gated",
        "tests/unit/test_model_tests.py::test_group_fairness_is_measured_with_fairlearn_and_gated",
        _config_and_assessment("features.sensitive", "fairness", "group metrics")),
    # -- Infrastructure --------------------------------------------------------------------
    Row("Infrastructure", 1, "Training is reproducible.",
        "seeded training; data hash and code version recorded",
        "tests/integration/test_reproducibility.py", reproducible_probe),
    Row("Infrastructure", 2, "Model specs are unit tested.",
        "the training code and config tested on small data in CI",
        "tests/unit/test_training.py",
        _ci_test("tests/unit/test_training.py", "training unit tests")),
    Row("Infrastructure", 3, "The ML pipeline is integration tested.",
        "the real ASL executed end to end on moto",
        "tests/e2e/test_pipeline_on_step_functions.py",
        _ci_test("tests/e2e/test_pipeline_on_step_functions.py", "pipeline on Step Functions")),
    Row("Infrastructure", 4, "Model quality is validated before serving.",
        "the gate (baseline, production, parity) before registration",
        "tests/unit/test_gate.py", gate_probe),
    Row("Infrastructure", 5, "The model is debuggable.",
        "`mlops explain`: one record step by step with contributions",
        "tests/integration/test_explain.py::test_explain_shows_each_step_the_output_and_contributions",
        debuggable_probe),
    Row("Infrastructure", 6, "Models are canaried before serving.",
        "`mlops promote --to production` goes through a canary window",
        "tests/integration/test_canary.py::test_promote_to_production_starts_a_canary_that_the_monitor_promotes",
        canary_probe),
    Row("Infrastructure", 7, "Serving models can be rolled back.",
        "conditional stage moves with history; 5xx alarm rolls back",
        "tests/aws/test_trigger_handlers.py", rollback_probe),
    # -- Monitoring ------------------------------------------------------------------------
    Row("Monitoring", 1, "Dependency changes result in notification.",
        "Dependabot; scheduled pip-audit --strict",
        "tests/workflows/test_dependency_monitoring.py", dependency_probe),
    Row("Monitoring", 2, "Data invariants hold for inputs.",
        "requests validated by the schema; drift alarm retrains",
        "tests/e2e/test_pipeline_on_step_functions.py", _alarm("DataDriftShare", "retrain")),
    Row("Monitoring", 3, "Training and serving are not skewed.",
        "captured requests re-scored offline with the served artifact",
        "tests/aws/test_health_alarms.py", _alarm("TrainingServingSkew")),
    Row("Monitoring", 4, "Models are not too stale.",
        "ModelAgeDays alarm per environment retrains",
        "tests/aws/test_health_alarms.py", _alarm("ModelAgeDays", "retrain")),
    Row("Monitoring", 5, "Models are numerically stable.",
        "non-finite outputs counted per request, alarmed; NaN-safe gate",
        "tests/aws/test_health_alarms.py", _alarm("NonFiniteOutputs")),
    Row("Monitoring", 6, "Computing performance has not regressed.",
        "CI ratio benchmark; latency alarm; per-version latency and memory",
        "tests/benchmarks/test_scoring_ratio.py", performance_probe),
    Row("Monitoring", 7, "Prediction quality has not regressed.",
        "feedback accuracy alarm retrains",
        "tests/terraform/test_contract.py", _alarm("FeedbackAccuracy", "retrain")),
)  # fmt: skip


def readiness(
    backend: Backend, model: str, repo: Path, rows: tuple[Row, ...] = RUBRIC
) -> Readiness:
    facts = Facts(backend=backend, model=model, repo=repo)
    results = []
    for row in rows:
        try:
            finding = row.probe(facts)
        except Exception as exc:  # a probe that cannot read its fact scores 0 and says why
            finding = Finding(score=0.0, evidence=f"probe failed: {type(exc).__name__}: {exc}")
        results.append(
            RowResult(
                section=row.section,
                number=row.number,
                test=row.test,
                mechanism=row.mechanism,
                holds=row.holds,
                score=finding.score,
                evidence=finding.evidence,
                last=finding.last,
            )
        )
    sections = {s: sum(r.score for r in results if r.section == s) for s in SECTIONS}
    return Readiness(model=model, rows=results, sections=sections, final=min(sections.values()))
