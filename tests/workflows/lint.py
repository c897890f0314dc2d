"""Checks of the GitHub workflows that a schema cannot express: pinned actions, OIDC and no keys,
least permissions, the promotion order, and that every `mlops` command they run exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml

from mlops_template.tooling.cli import app

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
AWS_KEYS = re.compile(
    r"aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY"
)
SEPARATORS = {"&&", "||", "|", ";", ">>", ">", "2>", "<"}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if isinstance(document, dict) and True in document:  # YAML 1.1 reads `on:` as True
        document["on"] = document.pop(True)
    return document if isinstance(document, dict) else {}


def job_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job.get("steps") or []
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def steps(document: dict[str, Any]):
    for job_name, job in (document.get("jobs") or {}).items():
        for step in job_steps(job):
            yield job_name, job, step


def mlops_commands(document: dict[str, Any]) -> list[list[str]]:
    """Each `mlops ...` invocation in the run blocks, as its words up to a shell separator."""
    found = []
    for _, _, step in steps(document):
        script = str(step.get("run", "")).replace("\\\n", " ")
        for line in script.splitlines():
            try:
                words = shlex.split(line, posix=True)
            except ValueError:
                continue
            for i, word in enumerate(words):
                if word == "mlops" or word.endswith("/mlops"):
                    command = []
                    for token in words[i + 1 :]:
                        if token in SEPARATORS:
                            break
                        command.append(token)
                    found.append(command)
    return found


def command_problem(words: list[str]) -> str | None:
    """None if `mlops <words>` names a real command and only its real options."""
    group: Any = typer.main.get_command(app)
    path = ["mlops"]
    remaining = list(words)
    # Typer vendors its own click: recognise groups by what they do, not by class.
    while hasattr(group, "list_commands") and remaining and not remaining[0].startswith("-"):
        name = remaining.pop(0)
        sub = group.get_command(None, name)
        if sub is None:
            return f"`{' '.join(path)} {name}` is not a command"
        path.append(name)
        group = sub
    if hasattr(group, "list_commands"):
        return f"`{' '.join(path)}` needs a subcommand"
    options = {opt for param in group.params for opt in getattr(param, "opts", [])}
    options |= {opt for param in group.params for opt in getattr(param, "secondary_opts", [])}
    for token in remaining:
        if token.startswith("--") and token.split("=", 1)[0] not in options:
            return f"`{' '.join(path)}` has no option {token}"
    return None


def workflow_problems(path: Path) -> list[str]:
    text = path.read_text()
    document = load(path)
    problems: list[str] = []
    if AWS_KEYS.search(text):
        problems.append("references long-lived AWS keys (use OIDC: role-to-assume)")
    permissions = document.get("permissions")
    if permissions is None:
        problems.append("no workflow-level permissions (set contents: read)")
    elif permissions == "write-all" or (
        isinstance(permissions, dict) and any(v == "write" for v in permissions.values())
    ):
        problems.append(f"workflow-level permissions grant writes: {permissions}")
    for job_name, job in (document.get("jobs") or {}).items():
        job_permissions = job.get("permissions") or {}
        assumes_role = False
        for step in job_steps(job):
            uses = step.get("uses")
            if uses and not uses.startswith("./") and not PINNED.match(uses):
                problems.append(f"{job_name}: `{uses}` is not pinned to a full commit SHA")
            if uses and uses.startswith("aws-actions/configure-aws-credentials@"):
                assumes_role = True
                if "role-to-assume" not in (step.get("with") or {}):
                    problems.append(f"{job_name}: AWS credentials without role-to-assume (OIDC)")
            if uses and uses.startswith("azure/login@"):
                assumes_role = True
                given = step.get("with") or {}
                # A federated credential: client, tenant and subscription ids, never `creds`.
                if "creds" in given or "client-id" not in given:
                    problems.append(f"{job_name}: Azure login without a federated credential")
        uses_job = job.get("uses", "")
        calls_deploy = (
            isinstance(uses_job, str)
            and re.search(r"deploy(-azure)?-environment", uses_job) is not None
        )
        if (assumes_role or calls_deploy) and job_permissions.get("id-token") != "write":
            problems.append(f"{job_name}: assumes an AWS role without id-token: write")
        if job_permissions.get("id-token") == "write" and not (assumes_role or calls_deploy):
            problems.append(f"{job_name}: id-token: write but assumes no role")
    for words in mlops_commands(document):
        problem = command_problem(words)
        if problem:
            problems.append(problem)
    if re.search(r"(^|\s)make\s", text) and not (path.parents[2] / "Makefile").exists():
        problems.append("runs `make` but the repository has no Makefile")
    return problems


def promotion_order(document: dict[str, Any]) -> list[str]:
    """The environments a deploy workflow reaches, in `needs` order."""
    jobs = document.get("jobs") or {}
    order, current = [], "build"
    while True:
        following = [
            name
            for name, job in jobs.items()
            if current
            in ([job.get("needs")] if isinstance(job.get("needs"), str) else job.get("needs") or [])
        ]
        if not following:
            return order
        if len(following) > 1:
            return [*order, "|".join(sorted(following))]
        current = following[0]
        order.append(current)
