"""No secret in the repository: detect-secrets over every tracked file, against an audited
baseline of known false positives (sample event ids, test-only fake credentials, GitHub's OIDC
certificate thumbprints)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def hook() -> str:
    local = Path(sys.executable).with_name("detect-secrets-hook")
    found = str(local) if local.exists() else shutil.which("detect-secrets-hook")
    assert found, "detect-secrets is not installed: pip install -e '.[dev]'"
    return found


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout.strip():
        names = listed.stdout.split()
    else:  # not a git checkout: every file outside virtualenvs and caches
        names = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not {".venv", ".git", "__pycache__", ".mypy_cache"} & set(p.parts)
        ]
    # The corpus of bad CSV files is random bytes by design; the baseline lists hashes.
    return [n for n in names if not n.startswith("tests/data/bad/") and n != ".secrets.baseline"]


def test_no_secret_outside_the_audited_baseline(tmp_path):
    # The hook rewrites a baseline whose line numbers moved (exit 3): give it a copy, so the
    # test never edits the repository. Exit 1 means a secret the baseline does not know.
    baseline = tmp_path / "baseline.json"
    shutil.copy(ROOT / ".secrets.baseline", baseline)
    result = subprocess.run(
        [hook(), "--baseline", str(baseline), *tracked_files()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 3), result.stdout[-3000:] + result.stderr[-2000:]


def test_the_scanner_catches_a_committed_key(tmp_path):
    leaked = tmp_path / "settings.py"
    key = "AKIA" + "Z7QX4R2MPL5VN3KD"  # split so this file does not hold a key itself
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "ZQX4R2MPL5VN3KD"  # pragma: allowlist secret
    leaked.write_text(f'AWS_ACCESS_KEY_ID = "{key}"\nAWS_SECRET_ACCESS_KEY = "{secret}"\n')
    result = subprocess.run([hook(), str(leaked)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "AWS Access Key" in result.stdout
