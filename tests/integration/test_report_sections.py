"""The report's A/B test, shadow and sweep sections (the demo has none of them), on the local
backend: a real sweep (`mlops train --sweep`), an A/B test with captured outcomes and feedback,
and a shadow version with paired captures. Each section is read by its elements and its charts'
values, and checked against what `core.abtest`, `core.shadow` and the run records say."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from mlops_template.core.abtest import abtest_status, start_abtest
from mlops_template.core.monitoring import DEFAULT_WINDOW
from mlops_template.core.records import PredictionRecord
from mlops_template.core.report import gather_report
from mlops_template.core.report.html import render_html
from mlops_template.core.report.model import SweepSummary, SweepTrial
from mlops_template.core.shadow import SHADOW_SUFFIX, shadow_window_report
from tests.conftest import capture_outcomes as capture

from .conftest import MODEL, register

GRID = """
method = "grid"
[[search]]
algorithm = "random_forest"
params = { n_estimators = [5, 10], max_depth = [2, 4] }
[[search]]
algorithm = "logistic_regression"
params = { C = [0.1, 1.0] }
"""
# Served and shadow answers of ten captures: the shadow agrees on 7 (benign 4 of 6, malignant
# 3 of 4).
SERVED = ["benign"] * 6 + ["malignant"] * 4
SHADOW = ["benign"] * 4 + ["malignant"] * 2 + ["malignant"] * 3 + ["benign"]


class Charts(HTMLParser):
    """Per section, its text, and per chart (`figure data-chart`): its series' legend names and
    the values pygal wrote for each point (`desc class="value"`), by series index."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self.charts: dict[str, dict[str, list]] = {}
        self.sections: dict[str, list[str]] = {}

    def _open(self, name: str) -> str | None:
        return next((a.get(name) for _, a in reversed(self.stack) if a.get(name)), None)

    def _section(self) -> str | None:
        return next((a.get("id") for t, a in reversed(self.stack) if t == "section"), None)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.stack.append((tag, attributes))
        chart = attributes.get("data-chart")
        if tag == "figure" and chart:
            self.charts[chart] = {"svg": 0, "legend": [], "values": {}}
            self.sections.setdefault(self._section() or "", []).append(chart)
        if tag == "svg" and (chart := self._open("data-chart")):
            self.charts[chart]["svg"] += 1

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        section = self._section()
        if section is None:
            return
        self.text.setdefault(section, []).append(data)
        chart = self._open("data-chart")
        if chart is None:
            return
        tag, attributes = self.stack[-1]
        classes = [(a.get("class") or "").split() for _, a in self.stack]
        if tag == "desc" and attributes.get("class") == "value":
            serie = next(int(c[6:]) for cs in reversed(classes) for c in cs if c[:6] == "serie-")
            self.charts[chart]["values"].setdefault(serie, []).append(data)
        elif tag == "text" and any("legend" in cs for cs in classes):
            self.charts[chart]["legend"].append(data)

    def series(self, chart: str) -> dict[str, list[str]]:
        """Each series' point values, by its legend name."""
        found = self.charts[chart]
        return {name: found["values"].get(i, []) for i, name in enumerate(found["legend"])}

    def section_text(self, section: str) -> str:
        return " ".join("".join(self.text.get(section, [])).split())


def parse(page: str) -> Charts:
    charts = Charts()
    charts.feed(page)
    return charts


def floats(values: list[str]) -> list[float]:
    return [float(v) for v in values]


@pytest.fixture
def report_setup(run, backend, trained, data_file, tmp_path):
    """A sweep of 6 trials (its best registered as v1, in production), v2 a canary under an
    A/B test with 200 outcomes per arm, v3 a shadow with 10 paired captures."""
    spec = tmp_path / "sweep.toml"
    spec.write_text(GRID)
    swept = run(
        "train", "--data", str(data_file), "--target", "diagnosis", "--sweep", str(spec),
        "--run-id", "sw",
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    for run_id in ("r2", "r3"):
        register(backend, trained, run_id)
    backend.registry.promote(MODEL, 1, "production", actor="test")
    backend.registry.promote(MODEL, 2, "canary", actor="test", weight=0.5)
    backend.registry.promote(MODEL, 3, "shadow", actor="test")
    start_abtest(backend, MODEL, mde=0.1, look_every=100, baseline=0.8, actor="test")
    capture(backend, 1, "production", 160, 40, "c")  # 0.80
    capture(backend, 2, "canary", 190, 10, "e")  # 0.95
    backend.predictions.record(
        [
            PredictionRecord(
                prediction_id=pid,
                model=MODEL,
                version=version,
                stage=stage,
                features={},
                label=label,
                probability=0.8,
            )
            for i, (served, shadow) in enumerate(zip(SERVED, SHADOW, strict=True))
            for pid, version, stage, label in (
                (f"s{i}", 1, "production", served),
                (f"s{i}{SHADOW_SUFFIX}", 3, "shadow", shadow),
            )
        ]
    )
    end = datetime.now(UTC) + timedelta(seconds=5)
    report = gather_report(backend, MODEL, end=end)
    return report, render_html(report), end


def test_the_sweep_section_charts_each_varied_hyperparameter_against_the_trials_metric(
    backend, report_setup
):
    report, page, _ = report_setup
    trials = sorted(
        (r for r in backend.registry.runs(MODEL) if r.sweep == "sw"), key=lambda r: r.run_id
    )
    assert [r.run_id for r in trials] == [f"sw-t{k}" for k in range(1, 7)]
    charts = parse(page)
    assert "sw: 6 trials on roc_auc" in charts.section_text("sweeps")
    # One chart per hyperparameter that varies across the trials, each one SVG with one series
    # named after the sweep's metric.
    names = ["algorithm", "params.C", "params.max_depth", "params.n_estimators"]
    assert sorted(charts.sections["sweeps"]) == [f"sweep-{n}" for n in names]
    for name in names:
        assert charts.charts[f"sweep-{name}"]["svg"] == 1
        assert list(charts.series(f"sweep-{name}")) == ["roc_auc"]
    # A numeric one: a point (value, roc_auc) per trial that has it.
    for name in ("params.C", "params.max_depth", "params.n_estimators"):
        drawn = [
            tuple(float(x) for x in v.split(": "))
            for v in charts.series(f"sweep-{name}")["roc_auc"]
        ]
        expected = [
            (float(r.hyperparameters[name]), r.metrics["roc_auc"])
            for r in trials
            if name in r.hyperparameters
        ]
        drawn, expected = sorted(drawn), sorted(expected)
        assert [x for x, _ in drawn] == [x for x, _ in expected], name
        assert [y for _, y in drawn] == pytest.approx([y for _, y in expected], rel=1e-6), name
    assert len(charts.series("sweep-params.max_depth")["roc_auc"]) == 4
    # The algorithm (categorical): the best trial's roc_auc per algorithm, a bar each.
    best: dict[str, float] = {}
    for r in trials:
        algorithm = r.hyperparameters["algorithm"]
        best[algorithm] = max(best.get(algorithm, 0.0), r.metrics["roc_auc"])
    bars = floats(charts.series("sweep-algorithm")["roc_auc"])
    assert sorted(bars) == pytest.approx(sorted(best.values()), rel=1e-6)
    assert report.sweeps[0].metric == "roc_auc" and len(report.sweeps[0].trials) == 6


def test_the_categorical_sweep_chart_shows_the_lowest_error_of_a_regression(report_setup):
    """Per value of a categorical hyperparameter, the best trial: for an error (RMSE), the
    lowest."""
    report, _, _ = report_setup
    trials = [
        SweepTrial(run_id=f"x-t{k}", status="done", value=rmse, hyperparameters={"algorithm": a})
        for k, (a, rmse) in enumerate(
            [("ridge", 3.0), ("ridge", 2.0), ("random_forest", 5.0), ("random_forest", 1.5)]
        )
    ]
    regression = report.model_copy(
        update={"sweeps": [SweepSummary(sweep="x", metric="rmse", trials=trials)]}
    )
    charts = parse(render_html(regression))
    assert floats(charts.series("sweep-algorithm")["rmse"]) == [2.0, 1.5]


def test_the_abtest_section_shows_the_difference_and_its_band_as_core_abtest_does(
    backend, report_setup
):
    report, page, end = report_setup
    status = abtest_status(backend, MODEL, end=end)
    assert status.decision == "promote" and len(status.looks) == 2
    assert report.abtest == status
    charts = parse(page)
    text = charts.section_text("abtest")
    assert (
        f"control v1 ({status.control.successes}/{status.control.outcomes}) vs "
        f"experiment v2 ({status.experiment.successes}/{status.experiment.outcomes})"
    ) in text
    assert f"decision {status.decision}: {status.reason}" in text
    assert charts.sections["abtest"] == ["abtest"] and charts.charts["abtest"]["svg"] == 1
    drawn = {name: floats(values) for name, values in charts.series("abtest").items()}
    assert list(drawn) == [
        "difference (experiment - control)",
        "CI low",
        "CI high",
        "boundary +",
        "boundary -",
    ]
    looks = status.looks
    assert drawn["difference (experiment - control)"] == pytest.approx(
        [look.difference for look in looks], rel=1e-6
    )
    assert drawn["CI low"] == pytest.approx([look.ci_low for look in looks], rel=1e-6)
    assert drawn["CI high"] == pytest.approx([look.ci_high for look in looks], rel=1e-6)
    band = [look.bound * look.standard_error for look in looks]
    assert drawn["boundary +"] == pytest.approx(band, rel=1e-6)
    assert drawn["boundary -"] == pytest.approx([-b for b in band], rel=1e-6)
    # The last look: the canary's 0.95 against 0.80, its band above zero (why it promotes).
    assert drawn["difference (experiment - control)"][-1] == pytest.approx(0.15)
    assert drawn["CI low"][-1] > 0


def test_the_shadow_section_shows_the_agreement_core_shadow_reports(backend, report_setup):
    report, page, end = report_setup
    expected = shadow_window_report(backend.predictions, MODEL, end - DEFAULT_WINDOW, end)
    assert expected.pairs == 10 and expected.agreement == pytest.approx(0.7)
    assert report.shadow is not None and report.shadow.agreement == expected.agreement
    charts = parse(page)
    text = charts.section_text("shadow")
    assert f"Shadow v3: {expected.pairs} pairs, agreement {expected.agreement:.3f}" in text
    assert charts.sections["shadow"] == ["shadow"] and charts.charts["shadow"]["svg"] == 1
    per_class = floats(charts.series("shadow")["agreement"])
    assert per_class == pytest.approx([c.agreement for c in expected.per_class])
    assert [c.label for c in expected.per_class] == ["benign", "malignant"]
    assert per_class == pytest.approx([4 / 6, 3 / 4], rel=1e-6)
    # Only the pairs count: the A/B test's captures have no shadow twin.
    assert re.search(r"agreement 0\.700\b", text)
