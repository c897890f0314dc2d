"""Text for Rich comes only from our templates: user values go through `tooling.console.markup`.

Rich parses `[...]` in any string it prints, so a column named `[/oops]` printed through an
f-string crashes the CLI (MarkupError). This reads the CLI's source and refuses any argument of
a Rich call built another way (an f-string, `+` of a value, `.join`, an attribute).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    ROOT / "tooling" / "cli.py",
    ROOT / "tooling" / "console.py",
    ROOT / "tooling" / "abtest_cli.py",
]
RICH_METHODS = {"print", "add_row", "status", "update", "add_task", "log"}
SAFE_CALLS = {"markup", "cell", "escape", "Table", "Text"}


def _safe(node: ast.expr) -> bool:
    """Whether the expression can only carry markup we wrote."""
    match node:
        case ast.Constant():
            return True
        case ast.Name():
            return True  # a variable holds a renderable or text built by these same rules
        case ast.Call(func=ast.Name(id=name)):
            return name in SAFE_CALLS or name.endswith(("_table", "_verdict", "_ok"))
        case ast.IfExp(body=body, orelse=orelse):
            return _safe(body) and _safe(orelse)
        case ast.BinOp(op=ast.Add(), left=left, right=right):
            return _safe(left) and _safe(right)
        case ast.Subscript(value=ast.Name(id=name)):
            return name.isupper()  # a constant table of our own markup
        case ast.Starred(value=ast.GeneratorExp(elt=element)):
            return _safe(element)
        case ast.Starred(value=ast.Call(func=ast.Name(id="map"), args=[ast.Name(id="cell"), _])):
            return True
    return False


def _rich_arguments(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            rich = (isinstance(func, ast.Attribute) and func.attr in RICH_METHODS) or (
                isinstance(func, ast.Name) and func.id == "Table"
            )
            if rich:
                yield from node.args
                yield from (k.value for k in node.keywords if k.arg in {"title", "description"})
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "title":
                    yield node.value


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_value_printed_with_rich_is_escaped(source):
    tree = ast.parse(source.read_text())
    unsafe = [
        f"{source.name}:{arg.lineno}: {ast.unparse(arg)[:80]}"
        for arg in _rich_arguments(tree)
        if not _safe(arg)
    ]
    assert not unsafe, "build these with mlops_template.tooling.console.markup:\n" + "\n".join(
        unsafe
    )
