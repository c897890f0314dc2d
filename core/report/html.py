"""One self-contained HTML file from a `ModelReport`: styles inline, charts as inline SVG, no
script and no link to anything outside the file, so it renders with no network.

Every value from the registry (names, reasons, actors, file names) is escaped where it is
written; each section has an id (`summary`, `versions`, `drift`...) that tests and readers'
links address."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

import mlops_template.core.report.charts as charts
from mlops_template.core.records import StageEvent, version_label
from mlops_template.core.report.model import DriftRow, ModelReport, VersionCard
from mlops_template.training.evaluate import better

# Line charts of metrics over versions: these share the 0..1 scale of one chart.
UNIT_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")
# Histograms drawn for the worst features; the rest are listed with their statistics only.
DRIFT_CHARTS = 12
IMPORTANCE_SHOWN = 15
SLICES_SHOWN = 20

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#2c3e50;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85}
nav{padding:6px 28px;background:#34495e} nav a{color:#ecf0f1;margin-right:14px;font-size:13px}
main{padding:12px 28px;max-width:1300px}
section{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px 18px;margin:14px 0}
h2{font-size:18px;margin:4px 0 10px} h3{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e5e5ea;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e8449;font-weight:600} .bad{color:#c0392b;font-weight:600}
.muted{color:#777} .attention li{color:#922b21}
.grid{display:flex;flex-wrap:wrap;gap:10px} .grid figure{margin:0}
figure figcaption{font-size:12px;color:#555}
tr.rollback td{background:#fdecea} .card{border-top:2px solid #dde;margin-top:10px}
code{font-size:12px;background:#f0f2f5;padding:1px 3px;border-radius:3px}
.kv td:first-child{color:#555;white-space:nowrap}
"""

SECTIONS = (
    ("summary", "Summary"),
    ("versions", "Model cards"),
    ("metrics", "Metrics over versions"),
    ("timeline", "Stage timeline"),
    ("drift", "Drift"),
    ("quality", "Live quality"),
    ("abtest", "A/B test"),
    ("shadow", "Shadow"),
    ("sweeps", "Sweeps"),
    ("slices", "Slices and groups"),
    ("importance", "Feature importance"),
    ("readiness", "ML Test Score"),
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    return _e(value)


def _flag(ok: bool | None, yes: str = "passed", no: str = "failed") -> str:
    if ok is None:
        return '<span class="muted">-</span>'
    return f'<span class="ok">{yes}</span>' if ok else f'<span class="bad">{no}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{body}</section>'


def _figure(svg: str, caption: str = "", ident: str = "") -> str:
    attr = f' data-chart="{_e(ident)}"' if ident else ""
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f"<figure{attr}>{svg}{cap}</figure>"


def _absent(what: str) -> str:
    return f'<p class="muted">{_e(what)}</p>'


# -- sections --------------------------------------------------------------------------------


def _summary(report: ModelReport) -> str:
    s = report.summary
    production = (
        f"<b>{version_label(s.production)}</b> since {_e((s.production_since or '')[:19])} "
        f"(by {_e(s.production_by)})"
        if s.production is not None
        else '<span class="bad">nothing</span>'
    )
    stages = ", ".join(f"{_e(k)}: v{v}" for k, v in s.stages.items()) or "none"
    rows = [
        ("In production", production),
        ("Stages", stages),
        ("How it is doing", _e(s.health)),
        ("Versions / runs", f"{s.versions} / {s.runs}"),
    ]
    table = _table(("", ""), rows, cls="kv")
    if s.attention:
        items = "".join(f"<li>{_e(a)}</li>" for a in s.attention)
        needs = f'<h3>Needs attention</h3><ul class="attention">{items}</ul>'
    else:
        needs = '<h3>Needs attention</h3><p class="ok">nothing</p>'
    return _section("summary", "Summary", table + needs)


def _card(card: VersionCard) -> str:
    facts = [
        ("Created", f"{_e(card.created_at[:19])} by {_e(card.created_by)}"),
        ("Stages now", _e(", ".join(card.stages) or "none")),
        ("Run", f"<code>{_e(card.run_id)}</code>"),
        ("Training data", f"{_e(card.source)} <code>sha256 {_e(card.data_sha256[:16])}</code>"),
        ("Rows", _e(", ".join(f"{k} {v}" for k, v in card.rows.items()) or "-")),
        (
            "Model",
            f"<code>sha256 {_e(card.model_sha256[:16])}</code>, code {_e(card.code_version)}",
        ),
        ("Lineage", " &rarr; ".join(_e(step) for step in card.lineage)),
    ]
    if card.contract is not None:
        c = card.contract
        classes = f", classes {', '.join(c.classes)}" if c.classes else ""
        facts.insert(
            1,
            (
                "Task / contract",
                _e(
                    f"{c.task}: target {c.target}{classes}; {len(c.numeric)} numeric, "
                    f"{len(c.categorical)} categorical features; {c.rows} rows profiled"
                    + (f"; excluded {', '.join(c.excluded)}" if c.excluded else "")
                ),
            ),
        )
    gate = _table(
        ("against", "metric", "candidate", "other", "result"),
        [
            (
                _e(r.against),
                _e(r.metric),
                _num(r.candidate),
                _num(r.other),
                _flag(r.passed) if r.passed is not None else "",
            )
            for r in card.comparisons
        ],
    )
    verdict = _flag(card.gate_passed)
    reasons = "".join(f"<li>{_e(r)}</li>" for r in card.gate_reasons)
    metrics = _table(
        ("metric", "value"), [(_e(k), _num(v)) for k, v in sorted(card.metrics.items())]
    )
    history = _events(card.history) if card.history else _absent("never moved to a stage")
    return (
        f'<div class="card" id="v{card.version}" data-version="{card.version}">'
        f"<h3>v{card.version}</h3>{_table(('', ''), facts, cls='kv')}"
        f"<p>Gate on {_e(card.gate_metric)}: {verdict}</p>{gate}"
        f"{f'<ul>{reasons}</ul>' if reasons else ''}"
        f'<div class="grid"><div>{metrics}</div><div>{history}</div></div></div>'
    )


def _events(events: Sequence[StageEvent]) -> str:
    rows = []
    for e in events:
        rows.append(
            f'<tr class="{e.action}" data-action="{e.action}" data-stage="{_e(e.stage)}" '
            f'data-to="{e.to_version}"><td>{_e(e.at[:19])}</td><td>{_e(e.stage)}</td>'
            f"<td>{_e(e.action)}</td><td>{_e(version_label(e.from_version))}</td>"
            f"<td>v{e.to_version}</td><td>{_e(e.actor)}</td><td>{_e(e.reason)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("at", "stage", "action", "from", "to", "who", "reason")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _versions(report: ModelReport) -> str:
    if not report.versions:
        return _section("versions", "Model cards", _absent("no version is registered"))
    runs = _table(
        ("run", "status", "started", "who", "version", "metric", "value", "reason"),
        [
            (
                f"<code>{_e(r.run_id)}</code>",
                _e(r.status),
                _e(r.started_at[:19]),
                _e(r.actor),
                _e(version_label(r.version)) if r.version else "-",
                _e(r.gate_metric),
                _num(r.value),
                _e(r.reason),
            )
            for r in report.runs
        ],
    )
    body = "".join(_card(c) for c in report.versions)
    return _section("versions", "Model cards", body + "<h3>Runs, newest first</h3>" + runs)


def _metrics(report: ModelReport) -> str:
    versions = sorted(report.versions, key=lambda v: v.version)
    if not versions:
        return _section("metrics", "Metrics over versions", _absent("no version is registered"))
    labels = [f"v{v.version}" for v in versions]
    names = sorted({m for v in versions for m in v.metrics})
    unit = [n for n in names if n in UNIT_METRICS]
    other = [n for n in names if n not in UNIT_METRICS and not n.startswith("ece")]
    figures = []
    for title, chosen in (("Scores (0 to 1)", unit), ("Errors and losses", other)):
        if chosen:
            svg = charts.line(
                title, labels, {n: [v.metrics.get(n) for v in versions] for n in chosen}
            )
            figures.append(_figure(svg, ident="metrics"))
    grid = '<div class="grid">' + "".join(figures) + "</div>"
    return _section("metrics", "Metrics over versions", grid)


def _timeline(report: ModelReport) -> str:
    events = report.timeline
    if not events:
        return _section("timeline", "Stage timeline", _absent("no stage move yet"))
    # One step per move, evenly spaced and labelled with its time: moves minutes apart and
    # months apart both stay readable.
    series: dict[str, list[tuple[float, float]]] = {}
    for index, e in enumerate(events):
        series.setdefault(e.stage, []).append((float(index), float(e.to_version)))
    rollbacks = [
        (float(index), float(e.to_version))
        for index, e in enumerate(events)
        if e.action == "rollback"
    ]
    labels = {float(index): e.at[5:16].replace("T", " ") for index, e in enumerate(events)}
    svg = charts.steps(
        "Version served by each stage",
        series,
        x_labels=labels,
        marks={"rollback": rollbacks} if rollbacks else None,
    )
    return _section("timeline", "Stage timeline", _figure(svg, ident="timeline") + _events(events))


def _drift_figure(row: DriftRow) -> str:
    h = row.histogram
    svg = charts.bars(
        row.name,
        h.labels,
        {"reference": h.reference, "current": h.current},
        colors=(charts.REFERENCE, charts.CURRENT),
        width=420,
        height=230,
    )
    ks = f", KS {row.ks_statistic:.3f}" if row.ks_statistic is not None else ""
    caption = f"PSI {row.psi:.3f}{ks}" + (" - drifted" if row.drifted else "")
    return _figure(svg, caption, ident=f"drift-{row.name}")


def _drift(report: ModelReport) -> str:
    d = report.drift
    if d is None:
        return _section("drift", "Drift", _absent("no version serves production, or no profile"))
    head = (
        f"<p>{_e(d.stage)} v{d.version}, window {_e(d.window_start[:19])} to "
        f"{_e(d.window_end[:19])}: {d.rows} captures against {d.reference_rows} training rows; "
        f"{_flag(not d.drift_detected, 'no drift', 'drift detected')} "
        f"({d.drifted_share:.0%} of features drifted)"
        + ("" if d.enough_data else " - too few captures to judge")
        + "</p>"
    )
    rows = []
    for rank, f in enumerate(d.features, 1):
        rows.append(
            f'<tr data-feature="{_e(f.name)}" data-rank="{rank}"><td class="num">{rank}</td>'
            f"<td>{_e(f.name)}</td><td>{_e(f.kind)}</td><td class='num'>{_num(f.psi, 3)}</td>"
            f"<td class='num'>{_num(f.ks_statistic, 3)}</td>"
            f"<td class='num'>{_num(f.ks_pvalue, 4)}</td>"
            f"<td>{_flag(not f.drifted, 'stable', 'drifted')}</td></tr>"
        )
    head_row = "".join(
        f"<th>{h}</th>" for h in ("#", "feature", "kind", "PSI", "KS", "KS p", "verdict")
    )
    table = (
        f'<table id="drift-table"><thead><tr>{head_row}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    shown = d.features[:DRIFT_CHARTS]
    if d.prediction is not None:
        shown = [d.prediction, *shown]
    grid = '<div class="grid">' + "".join(_drift_figure(f) for f in shown) + "</div>"
    more = (
        f'<p class="muted">Histograms of the {DRIFT_CHARTS} worst features; the table has all '
        f"{len(d.features)}.</p>"
        if len(d.features) > DRIFT_CHARTS
        else ""
    )
    return _section("drift", "Drift", head + grid + more + table)


def _quality(report: ModelReport) -> str:
    q = report.quality
    if q is None:
        return _section("quality", "Live quality", _absent("no feedback (true labels) yet"))
    labels = [p.start[5:19].replace("T", " ") for p in q.points]
    series: dict[str, list[float | None]] = {f"live {q.metric}": [p.value for p in q.points]}
    if q.offline is not None:
        series[f"offline ({version_label(q.offline_version)} held-out)"] = [q.offline] * len(
            q.points
        )
    svg = charts.line(
        f"{q.metric} from feedback over time",
        labels,
        series,
        colors=(charts.ACCENT, charts.OFFLINE),
        dashed=[n for n in series if n.startswith("offline")],
    )
    table = _table(
        ("from", "to", "labelled", q.metric),
        [(_e(p.start[:19]), _e(p.end[:19]), str(p.labelled), _num(p.value)) for p in q.points],
    )
    text = f"<p>{q.labelled} labelled predictions in {len(q.points)} time buckets.</p>"
    return _section("quality", "Live quality", text + _figure(svg, ident="quality") + table)


def _abtest(report: ModelReport) -> str:
    a = report.abtest
    if a is None:
        return _section("abtest", "A/B test", _absent("no A/B test is running"))
    looks = a.looks
    labels = [str(look.n) for look in looks]
    series: dict[str, list[float | None]] = {
        "difference (experiment - control)": [look.difference for look in looks],
        "CI low": [look.ci_low for look in looks],
        "CI high": [look.ci_high for look in looks],
        "boundary +": [look.bound * look.standard_error for look in looks],
        "boundary -": [-look.bound * look.standard_error for look in looks],
    }
    svg = (
        charts.line(
            f"{a.plan.metric}: difference per look (outcomes per arm)",
            labels,
            series,
            colors=(charts.ACCENT, "#aed6f1", "#aed6f1", "#c0392b", "#c0392b"),
            dashed=["CI low", "CI high", "boundary +", "boundary -"],
        )
        if looks
        else ""
    )
    text = (
        f"<p>control v{a.control.version} ({a.control.successes}/{a.control.outcomes}) vs "
        f"experiment v{a.experiment.version} ({a.experiment.successes}/"
        f"{a.experiment.outcomes}); decision <b>{_e(a.decision)}</b>: {_e(a.reason)}. Planned "
        f"{a.plan.n_per_arm} outcomes per arm at most, looks at {_e(a.plan.looks)}.</p>"
    )
    body = text + (_figure(svg, ident="abtest") if svg else _absent("no look reached yet"))
    return _section("abtest", "A/B test", body)


def _shadow(report: ModelReport) -> str:
    s = report.shadow
    if s is None:
        return _section("shadow", "Shadow", _absent("no shadow version scored live traffic"))
    svg = charts.bars(
        "Agreement with the served model, per served class",
        [c.label for c in s.per_class],
        {"agreement": [c.agreement for c in s.per_class]},
    )
    text = (
        f"<p>Shadow {_e(', '.join(f'v{v}' for v in s.shadow_versions))}: {s.pairs} pairs, "
        f"agreement {_num(s.agreement, 3)}; on {s.labelled} labelled: served accuracy "
        f"{_num(s.served_accuracy, 3)}, shadow {_num(s.shadow_accuracy, 3)}.</p>"
    )
    return _section("shadow", "Shadow", text + _figure(svg, ident="shadow"))


def _sweeps(report: ModelReport) -> str:
    if not report.sweeps:
        return _section("sweeps", "Sweeps", _absent("no sweep was run (mlops train --sweep)"))
    parts = []
    for sweep in report.sweeps:
        names = sorted({k for t in sweep.trials for k in t.hyperparameters})
        figures = []
        for name in names:
            values = {t.hyperparameters.get(name) for t in sweep.trials}
            if len(values) < 2:
                continue
            points = [
                (float(t.hyperparameters[name]), t.value)
                for t in sweep.trials
                if isinstance(t.hyperparameters.get(name), int | float) and t.value is not None
            ]
            if points:
                svg = charts.scatter(
                    name, {sweep.metric: points}, x_title=name, y_title=sweep.metric
                )
            else:  # a categorical hyperparameter: the best trial per value
                best: dict[str, float] = {}
                for t in sweep.trials:
                    if t.value is not None:
                        key = str(t.hyperparameters.get(name))
                        # The lowest for an error (RMSE): max would show each value's worst.
                        if key not in best or better(sweep.metric, t.value, best[key]):
                            best[key] = t.value
                svg = charts.bars(name, list(best), {sweep.metric: list(best.values())}, width=420)
            figures.append(_figure(svg, ident=f"sweep-{name}"))
        parts.append(
            f"<h3>{_e(sweep.sweep)}: {len(sweep.trials)} trials on {_e(sweep.metric)}</h3>"
            + '<div class="grid">'
            + "".join(figures)
            + "</div>"
        )
    return _section("sweeps", "Sweeps", "".join(parts))


def _slices(report: ModelReport) -> str:
    if not report.slices and not report.fairness:
        return _section("slices", "Slices and groups", _absent("no slices or groups configured"))
    body = ""
    if report.slices:
        # The weakest slices: where a model that looks good overall can fail a group.
        worst = sorted(
            report.slices,
            key=lambda s: math.inf if s.get("candidate") is None else s["candidate"],
        )[:SLICES_SHOWN]
        labels = [f"{s.get('column')}={s.get('value')}" for s in worst]
        series: dict[str, list[float | None]] = {"candidate": [s.get("candidate") for s in worst]}
        if any(s.get("production") is not None for s in worst):
            series["production (same rows)"] = [s.get("production") for s in worst]
        svg = charts.bars(
            f"Gate metric on the {len(worst)} weakest of {len(report.slices)} slices",
            labels,
            series,
            horizontal=True,
            height=max(220, 60 + 24 * len(labels)),
        )
        body += _figure(svg, ident="slices")
    for column, found in report.fairness.items():
        groups = found.get("by_group", {})
        body += f"<h3>Groups by {_e(column)}</h3>" + _table(
            ("group", "accuracy", "selection rate"),
            [
                (_e(g), _num(v.get("accuracy")), _num(v.get("selection_rate")))
                for g, v in groups.items()
            ],
        )
        body += (
            f"<p>demographic parity difference "
            f"{_num(found.get('demographic_parity_difference'))}, equalized odds difference "
            f"{_num(found.get('equalized_odds_difference'))}</p>"
        )
    return _section("slices", "Slices and groups", body)


def _importance(report: ModelReport) -> str:
    if not report.importance:
        return _section("importance", "Feature importance", _absent("no importance measured"))
    top = sorted(report.importance.items(), key=lambda kv: kv[1], reverse=True)[:IMPORTANCE_SHOWN]
    svg = charts.bars(
        f"Permutation importance (drop in {report.importance_metric})",
        [name for name, _ in top],
        {"importance": [value for _, value in top]},
        horizontal=True,
        height=max(220, 40 + 24 * len(top)),
    )
    return _section("importance", "Feature importance", _figure(svg, ident="importance"))


def _readiness(report: ModelReport) -> str:
    r = report.readiness
    if r is None:
        return _section(
            "readiness", "ML Test Score", _absent("not computed here (mlops readiness)")
        )
    sections = ", ".join(f"{_e(k)} {v:g}" for k, v in r.sections.items())
    table = _table(
        ("section", "#", "test", "score", "evidence"),
        [
            (_e(x.section), str(x.number), _e(x.test), f"{x.score:g}", _e(x.evidence))
            for x in r.rows
        ],
    )
    return _section("readiness", "ML Test Score", f"<p>Final {r.final:g} ({sections})</p>" + table)


def render_html(report: ModelReport) -> str:
    body = "".join(
        part(report)
        for part in (
            _summary,
            _versions,
            _metrics,
            _timeline,
            _drift,
            _quality,
            _abtest,
            _shadow,
            _sweeps,
            _slices,
            _importance,
            _readiness,
        )
    )
    nav = "".join(f'<a href="#{ident}">{_e(title)}</a>' for ident, title in SECTIONS)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(report.model)}: model report</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>"
        f"<header><h1>{_e(report.model)}</h1><p>{_e(report.task)} model, "
        f"{_e(report.environment)} ({_e(report.backend)}), report of "
        f"{_e(report.generated_at[:19])} UTC</p></header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>"
    )
