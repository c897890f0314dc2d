"""The house's rules, held by reading every import (ast): data flows one way, no circles, every
folder is installed, and nothing installed reaches into the tests."""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "mlops_template"
PACKAGE_DIRS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["package-dir"]
PROVIDERS = ("local", "aws", "azure")

# What each part may import of ours (DESIGN: the layout). `infra` means only its factories
# (the package itself), never a provider's package directly.
MAY_IMPORT = {
    "training": {"training"},
    "core": {"training", "core"},
    "infra": {"core", "infra"},
    "functions": {"training", "core", "infra", "functions"},
    # The Azure Functions app: the same house rules as the Lambda handlers.
    "azure_functions": {"training", "core", "infra", "azure_functions"},
    "tooling": {"training", "core", "infra", "functions", "azure_functions", "tooling"},
}


def module_name(path: Path) -> str:
    for package, folder in PACKAGE_DIRS.items():
        try:
            relative = path.relative_to(ROOT / folder)
        except ValueError:
            continue
        parts = [*package.split("."), *relative.with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise AssertionError(f"{path} is in no installed package")


def sources() -> dict[str, Path]:
    found = {}
    for folder in PACKAGE_DIRS.values():
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = sources()


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Our modules that `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in MODULES or m.split(".")[0] in ("tests", "conftest")}


def part(module: str) -> str:
    return module.split(".")[1]


def test_every_folder_with_code_is_an_installed_package():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    packages = {module_name(p.parent / "__init__.py") for p in MODULES.values()}
    assert packages == listed
    assert all(
        (ROOT / PACKAGE_DIRS[f"{NAMESPACE}.{p}"] / "__init__.py").exists() for p in MAY_IMPORT
    )


def violations(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The imports in `graph` (module -> our modules it imports) that break the rules."""
    wrong = defaultdict(set)
    for name, targets in graph.items():
        source = part(name)
        for target in targets:
            if target.startswith(("tests", "conftest")):
                wrong[name].add(target)  # nothing installed imports the tests
            elif part(target) not in MAY_IMPORT[source]:
                wrong[name].add(target)
            elif part(target) == "infra" and source not in ("infra", "tooling"):
                if target != f"{NAMESPACE}.infra":  # the factories only, never an adapter
                    wrong[name].add(target)
            elif source == "infra" and part(target) == "infra":
                mine, other = name.split("."), target.split(".")
                if len(mine) > 2 and len(other) > 2 and mine[2] != other[2]:
                    wrong[name].add(target)  # a provider never uses another's adapters
    return dict(wrong)


def test_each_part_imports_only_what_it_may():
    assert violations({name: imports(path) for name, path in MODULES.items()}) == {}


def test_the_rules_catch_arrows_that_run_up():
    ns = NAMESPACE
    graph = {
        f"{ns}.core.registry": {f"{ns}.infra.aws.s3", f"{ns}.training.schema"},
        f"{ns}.training.train": {f"{ns}.core.records"},
        f"{ns}.functions.validate": {f"{ns}.infra.aws", f"{ns}.infra", f"{ns}.core.pipeline"},
        f"{ns}.infra.azure.blobstore": {f"{ns}.infra.aws.clients", f"{ns}.core.ports"},
        f"{ns}.core.serving.app": {"tests.conftest"},
        f"{ns}.tooling.cli": {f"{ns}.infra.aws.s3", f"{ns}.functions.runtime"},
        f"{ns}.azure_functions.app": {f"{ns}.infra.azure.queues", f"{ns}.functions.runtime"},
    }
    assert violations(graph) == {
        f"{ns}.core.registry": {f"{ns}.infra.aws.s3"},
        f"{ns}.training.train": {f"{ns}.core.records"},
        f"{ns}.functions.validate": {f"{ns}.infra.aws"},
        f"{ns}.infra.azure.blobstore": {f"{ns}.infra.aws.clients"},
        f"{ns}.core.serving.app": {"tests.conftest"},
        f"{ns}.azure_functions.app": {f"{ns}.infra.azure.queues", f"{ns}.functions.runtime"},
    }


def test_no_import_circle():
    graph = {name: imports(path, top_level_only=True) for name, path in MODULES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                circle = [*stack[stack.index(target) :], target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
