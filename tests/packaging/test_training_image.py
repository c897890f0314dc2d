"""The training image's Dockerfile (Docker does not run here): it builds from every folder the
distribution is made of, and removes the tooling once installed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "functions" / "training.Dockerfile"


def test_the_image_copies_every_package_folder_and_drops_the_tooling():
    folders = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "package-dir"
        ].values()
    )
    text = DOCKERFILE.read_text()
    copied = set(re.findall(r"^COPY (\w+) /build/\1$", text, re.M))
    assert copied == folders  # pip builds the distribution, so it needs all of it
    assert '"${LAMBDA_TASK_ROOT}/mlops_template/tooling"' in text.split("RUN pip install")[1]
    handler = re.search(r'^CMD \["([\w.]+)"\]', text, re.M)
    assert handler and handler.group(1).startswith("mlops_template.functions.")
