"""`mlops features export-feast`: a Feast repository over the same Parquet."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from mlops_template.core.features.definitions import load_repo
from mlops_template.tooling import feature_demo

REPO_FILE = feature_demo.__file__


def test_export_writes_a_duckdb_feature_store_over_the_view_versions_parquet(run, tmp_path):
    source, _ = feature_demo.demo_files()
    (tmp_path / "source.csv").write_bytes(source)
    assert (
        run(
            "features",
            "ingest",
            "customer_stats",
            str(tmp_path / "source.csv"),
            "--repo",
            REPO_FILE,
        ).exit_code
        == 0
    )
    out = run("features", "export-feast", str(tmp_path / "feast"), "--repo", REPO_FILE)
    assert out.exit_code == 0, out.output
    text = (tmp_path / "feast" / "feature_store.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["offline_store"]["type"] == "duckdb"
    assert "silently dropped" in text  # the reason, next to the choice
    code = (tmp_path / "feast" / "features.py").read_text()
    tree = ast.parse(code)
    calls = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert {"Entity", "FeatureView", "FileSource", "Field"} <= calls
    view = load_repo(REPO_FILE).view("customer_stats")
    assert view.version in code
    path = next(
        n.value.value
        for n in ast.walk(tree)
        if isinstance(n, ast.keyword) and n.arg == "path" and isinstance(n.value, ast.Constant)
    )
    folder = Path(path.removeprefix("file://"))
    assert list(folder.rglob("*.parquet")), folder  # Feast reads the very files ingest wrote


@pytest.mark.skip(
    reason="Running Feast needs its own virtual environment (it requires pandas<3, this project "
    "pins pandas 3): about 550-600 MiB to install, minutes on these machines; not cheap enough "
    "for the suite. The export's content is checked above; docs/feature-store.md has the mapping."
)
def test_feast_reads_the_export():
    """Placeholder for the run in a separate venv (see the skip reason)."""
