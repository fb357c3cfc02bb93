"""The engine must run without the TUI: nothing under octotui/ may import Textual or the screens.

Checked on the syntax tree rather than by grepping text, so that a string or comment mentioning Textual
does not count and an aliased or nested import does.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "octotui"
FORBIDDEN = ("textual", "screens", "octotui.screens")
#: The console script may load the TUI lazily, only when asked for it (DESIGN.md, "Layers and folders").
LAZY_TUI_LAUNCH_ALLOWED = {"cli.py"}


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """Every imported module name with its line and whether it sits at module level."""
    found: list[tuple[str, int, bool]] = []
    top_level = {id(n) for n in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def _offending(path: Path) -> list[str]:
    problems = []
    for name, line, top in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            if path.name in LAZY_TUI_LAUNCH_ALLOWED and path.parent == ENGINE and not top:
                continue
            problems.append(f"{path.relative_to(ENGINE.parent)}:{line} imports {name}")
    return problems


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
    names = [n for n, _, _ in _imports(ast.parse(fake.read_text()))]
    assert "textual.app" in names and "screens.wizard" in names
