"""Charts as inline SVG, drawn by pygal (a pure-Python SVG charting library: about 2 MB
installed, 0.07 s to import, where matplotlib with its dependencies is about 100 MB and 2.6 s;
docs/reports.md has the measurement). pygal's tooltip script would load from a CDN: `js=[]`
keeps every chart a static, offline SVG."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Colours a reader can tell apart (and in grey print): reference grey, current orange.
REFERENCE, CURRENT, OFFLINE, ACCENT = "#7f8c8d", "#e67e22", "#2c3e50", "#2980b9"
PALETTE = (ACCENT, CURRENT, "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#d35400", OFFLINE)


def _pygal() -> Any:
    import pygal

    return pygal


def _style(colors: Sequence[str] = PALETTE) -> Any:
    from pygal.style import Style

    return Style(
        background="white",
        plot_background="white",
        foreground="#333",
        foreground_strong="#111",
        foreground_subtle="#999",
        colors=tuple(colors),
        font_family="sans-serif",
        label_font_size=10,
        major_label_font_size=10,
        legend_font_size=11,
        title_font_size=13,
        value_font_size=9,
    )


def _config(
    width: int = 640, height: int = 280, colors: Sequence[str] = PALETTE, **extra: Any
) -> dict[str, Any]:
    return {
        "js": [],  # no tooltip script from a CDN: the report renders with no network
        "disable_xml_declaration": True,
        "width": width,
        "height": height,
        "style": _style(colors),
        "explicit_size": True,
        "print_values": False,
        "show_legend": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "truncate_legend": 40,
        "truncate_label": 18,
        "margin": 8,
        "margin_bottom": 22,  # pygal puts the legend at height - margin_bottom: room for its text
        **extra,
    }


# pygal also writes each chart's whole config as an inline script, for its tooltip script
# (turned off): dead weight, removed so the report runs no script at all.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _svg(chart: Any) -> str:
    rendered = chart.render()
    text = rendered.decode() if isinstance(rendered, bytes) else str(rendered)
    return _SCRIPT.sub("", text)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def line(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    colors: Sequence[str] = PALETTE,
    dashed: Sequence[str] = (),
    height: int = 280,
) -> str:
    pygal = _pygal()
    chart = pygal.Line(**_config(height=height, colors=colors, x_label_rotation=20), title=title)
    every = max(1, len(x_labels) // 8)  # at most about eight labels under the axis
    chart.x_labels = [label if i % every == 0 else "" for i, label in enumerate(x_labels)]
    for name, values in series.items():
        style = {"dasharray": "6, 4", "width": 2} if name in dashed else {"width": 2}
        chart.add(name, [_finite(v) for v in values], stroke_style=style, allow_interruptions=True)
    return _svg(chart)


def bars(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    horizontal: bool = False,
    colors: Sequence[str] = PALETTE,
    width: int = 640,
    height: int = 280,
) -> str:
    pygal = _pygal()
    if horizontal:  # pygal draws the first bar at the bottom: the first should read first
        x_labels = list(reversed(x_labels))
        series = {name: list(reversed(values)) for name, values in series.items()}
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    rotation = 0 if horizontal else 30
    chart = kind(
        **_config(width=width, height=height, colors=colors, x_label_rotation=rotation),
        title=title,
    )
    chart.x_labels = list(x_labels)
    for name, values in series.items():
        chart.add(name, [_finite(v) for v in values])
    return _svg(chart)


def scatter(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_title: str = "",
    y_title: str = "",
    width: int = 420,
    height: int = 260,
    stroke: bool = False,
    colors: Sequence[str] = PALETTE,
) -> str:
    pygal = _pygal()
    chart = pygal.XY(
        **_config(width=width, height=height, colors=colors),
        title=title,
        stroke=stroke,
        x_title=x_title,
        y_title=y_title,
        dots_size=4,
    )
    for name, points in series.items():
        chart.add(name, [(x, y) for x, y in points if _finite(x) is not None and _finite(y)])
    return _svg(chart)


def steps(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_labels: dict[float, str],
    marks: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    height: int = 300,
) -> str:
    """Which version each stage served over time: a step line per stage (x is seconds since
    the first move, labelled with times), and marks (rollbacks) as dots."""
    pygal = _pygal()
    chart = pygal.XY(
        **_config(height=height),
        title=title,
        x_title="time",
        y_title="version",
        dots_size=3,
        x_label_rotation=20,
    )
    chart.x_labels = list(x_labels)
    chart.x_value_formatter = lambda x: x_labels.get(x, "")
    for name, points in series.items():
        shaped: list[tuple[float, float]] = []
        for x, y in points:
            if shaped:
                shaped.append((x, shaped[-1][1]))  # hold the previous version until the move
            shaped.append((x, y))
        chart.add(name, shaped, stroke_style={"width": 3})
    for name, points in (marks or {}).items():
        chart.add(name, list(points), stroke=False, dots_size=8)
    return _svg(chart)
