"""The engine must run without the TUI: nothing under octotui/ may import Textual or the screens.

Checked on the syntax tree rather than by grepping text, so that a string or comment mentioning Textual
does not count and an aliased or nested import does. The layer contracts (tests/test_layers.py) say the same
about the installed package; this check also catches the checkout's own name, ``screens``, which is not one.

The console script loads the TUI lazily, only when asked for it (DESIGN.md, "Layers and folders"), through
``importlib.import_module("octotui.screens.app")`` in the cli: a call, not an import statement, so no import
statement is allowed anywhere in the engine, not even inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "octotui"
FORBIDDEN = ("textual", "screens", "octotui.screens")


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Every imported module name with its line, at any depth (a function's lazy import counts)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.lineno))
    return found


def _offending(path: Path) -> list[str]:
    return [f"{path.relative_to(ENGINE.parent)}:{line} imports {name}"
            for name, line in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]


def test_engine_never_imports_textual_or_screens() -> None:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 10
    problems = [p for f in files for p in _offending(f)]
    assert problems == []


def test_the_check_catches_an_offending_import(tmp_path: Path) -> None:
    bad = ENGINE / "lab" / "_probe_should_not_exist.py"
    assert not bad.exists()
    fake = tmp_path / "octotui_fake.py"
    fake.write_text("def f():\n    from textual.app import App\n    return App\nimport screens.wizard\n")
    names = [n for n, _ in _imports(ast.parse(fake.read_text()))]
    assert "textual.app" in names and "screens.wizard" in names
