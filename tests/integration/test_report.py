"""The model report of the demo: it shows what the demo did (the drifted features rank first,
the rollback is on the timeline), stays small and offline, and renders in headless Chromium
(Debian's package), with a screenshot of the page and of each section kept as artifacts.

Screenshots go to $MLOPS_TEST_ARTIFACTS when set (CI uploads that folder), else to the test's
tmp folder; docs/images/report-*.png are these screenshots."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mlops_template.core.settings import Settings
from mlops_template.infra.local import local_backend
from mlops_template.tooling.demo import SHIFTED_FEATURES, Demo

MAX_BYTES = 3 * 1024 * 1024
# Sections every report of a model in production has, each with at least one chart.
CHARTED = ("metrics", "timeline", "drift", "quality", "slices", "importance")
SECTIONS = ("summary", "versions", *CHARTED, "abtest", "shadow", "sweeps", "readiness")
# Screenshot heights per section (the page is cut to the one section shown).
SHOT_HEIGHTS = {"summary": 420, "versions": 1500, "drift": 1500, "timeline": 900}


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The classification demo on a fresh local backend, and the report it ends with."""
    home = tmp_path_factory.mktemp("report-demo")
    backend = local_backend(Settings(home=home / "state"))
    result = Demo(backend, report_dir=home / "out").run()
    assert result.passed, [s for s in result.steps if s.status != "passed"]
    assert result.html_report is not None
    return Path(result.html_report), result


class Elements(HTMLParser):
    """Each element's tag and attributes, with the ids of the sections it is inside."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.found: list[tuple[str, dict[str, str | None], tuple[str, ...]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        sections = tuple(i for t, i in self.stack if t == "section" and i)
        self.found.append((tag, attributes, sections))
        if tag not in self.VOID and not tag.endswith("/"):
            self.stack.append((tag, attributes.get("id")))

    def handle_startendtag(self, tag, attrs):
        sections = tuple(i for t, i in self.stack if t == "section" and i)
        self.found.append((tag, dict(attrs), sections))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def inside(self, section: str, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a, s in self.found if t == tag and section in s]


def parsed(path: Path) -> Elements:
    elements = Elements()
    elements.feed(path.read_text(encoding="utf-8"))
    return elements


@pytest.mark.slow
def test_the_report_shows_the_drifted_features_first_and_the_rollback(demo_report):
    path, result = demo_report
    page = parsed(path)
    ranked = [a["data-feature"] for a in page.inside("drift", "tr") if a.get("data-feature")]
    assert ranked, "no feature in the drift section"
    # The demo multiplied these by 1.3: one of them is the worst, and all are above the rest.
    assert ranked[0] in SHIFTED_FEATURES
    assert set(ranked[: len(SHIFTED_FEATURES)]) == set(SHIFTED_FEATURES), ranked[:8]
    rollbacks = [a for a in page.inside("timeline", "tr") if a.get("data-action") == "rollback"]
    event = result.rollback
    assert event is not None and "refused" not in event
    assert [(r["data-stage"], r["data-to"]) for r in rollbacks] == [
        ("production", str(event["to_version"]))
    ]
    # The summary says what production serves and what needs attention (the rollback, drift).
    summary = "".join(path.read_text().split('id="summary"')[1].split("</section>")[:1])
    assert f"v{result.production_version}" in summary
    assert "rolled back" in summary and "drift" in summary
    # Every version has a card with its gate comparison and lineage.
    cards = [a["data-version"] for a in page.inside("versions", "div") if a.get("data-version")]
    assert sorted(cards) == sorted(str(v["version"]) for v in result.versions)


@pytest.mark.slow
def test_the_report_is_small_and_needs_no_network(demo_report):
    path, _ = demo_report
    size = path.stat().st_size
    assert 0 < size < MAX_BYTES, size
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text  # charts are static SVG: nothing to run, nothing to fetch
    for attribute in ("src", "href", "xlink:href"):
        for value in re.findall(rf'\s{attribute}="([^"]*)"', text):
            assert value.startswith("#"), f'{attribute}="{value}" points outside the file'
    assert "url(http" not in text and "@import" not in text


def _chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={user_data}",
            # No network at all: any fetch the page tried would fail (and show in the check).
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# Run in the page once it has loaded: per section, how many charts were laid out with a size,
# and what the page fetched (nothing, when it is self-contained).
CHECK = """<script>
window.addEventListener('load', () => {
  const out = {sections: {}, fetched: performance.getEntriesByType('resource').map(e => e.name)};
  for (const section of document.querySelectorAll('main > section[id]')) {
    const drawn = [...section.querySelectorAll('svg')].filter(svg => {
      const box = svg.getBoundingClientRect();
      return box.width > 50 && box.height > 50 && svg.querySelectorAll('path, rect').length > 0;
    });
    out.sections[section.id] = {charts: drawn.length, height: section.offsetHeight};
  }
  const pre = document.createElement('pre');
  pre.id = 'render-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MLOPS_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_report_renders_its_sections_and_charts_in_headless_chromium(demo_report, tmp_path):
    path, _ = demo_report
    checked = tmp_path / "checked.html"
    checked.write_text(path.read_text().replace("</body>", CHECK + "</body>"))
    dom = _chromium(
        "--virtual-time-budget=10000", "--dump-dom", checked.as_uri(), user_data=tmp_path / "u1"
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check["fetched"] == []
    assert set(SECTIONS) <= set(check["sections"]), check["sections"]
    for section in CHARTED:
        assert check["sections"][section]["charts"] >= 1, (section, check["sections"][section])
    assert check["sections"]["drift"]["charts"] >= len(SHIFTED_FEATURES)

    # Screenshots: the whole page's top, then each section alone (the others hidden).
    artifacts = artifacts_dir(tmp_path)
    shots = {"report": (path, 1400)}
    for section in ("summary", "versions", *CHARTED):
        alone = tmp_path / f"{section}.html"
        hide = f"<style>main > section:not(#{section}){{display:none}}</style>"
        alone.write_text(path.read_text().replace("</head>", hide + "</head>"))
        shots[f"report-{section}"] = (alone, SHOT_HEIGHTS.get(section, 760))
    for name, (page, height) in shots.items():
        png = artifacts / f"{name}.png"
        shot = _chromium(
            f"--screenshot={png}",
            f"--window-size=1320,{height}",
            page.as_uri(),
            user_data=tmp_path / f"u-{name}",
        )
        assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000  # a page with text and charts, not a blank one


def test_values_from_the_registry_are_shown_as_text_never_as_markup(backend, trained):
    from mlops_template.core.report import gather_report
    from mlops_template.core.report.html import render_html

    from .conftest import MODEL, register

    first = register(backend, trained, run_id="r1")
    second = register(backend, trained, run_id="r2")
    backend.registry.promote(MODEL, first.version, "production", actor="ci")
    backend.registry.promote(MODEL, second.version, "production", actor="<b>ci</b>")
    backend.registry.rollback(
        MODEL, "production", actor="ops", reason='<script>alert("x")</script> "quoted"'
    )
    report = gather_report(backend, MODEL, environment="prod")
    page = render_html(report)
    assert "<script" not in page and "<b>ci</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert report.summary.production == first.version
    assert any("rolled back" in line for line in report.summary.attention)
    assert [e.action for e in report.timeline] == ["promote", "promote", "rollback"]
    card = next(c for c in report.versions if c.version == first.version)
    assert card.lineage[-1] == "production in prod" and card.contract is not None


def test_a_model_with_nothing_registered_still_gets_a_report(backend):
    from mlops_template.core.report import gather_report
    from mlops_template.core.report.html import render_html

    report = gather_report(backend, "nothing-yet")
    assert report.summary.production is None
    assert report.summary.attention == ["no version serves production"]
    assert report.drift is None and report.quality is None
    page = render_html(report)
    assert 'id="summary"' in page and "no version is registered" in page
