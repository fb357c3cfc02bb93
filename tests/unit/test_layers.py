"""The layer contracts hold, a deliberate break of each one fails them, and no modules of octotui import in a cycle.

The contracts are written for import-linter in pyproject.toml and run by scripts/lint_imports.py (which shows
import-linter the installed shape, with the screens inside octotui). A contract that cannot fail proves
nothing, so each is broken on purpose in a copy of the tree and must be reported broken by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "lint_imports.py"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # Wide enough that no contract name wraps in the report.
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True,
                          timeout=120, env=env)


def _copy_of_the_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "octotui", dest / "octotui", ignore=ignore)
    shutil.copytree(ROOT / "screens", dest / "screens", ignore=ignore)
    shutil.copytree(ROOT / "assets", dest / "assets", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def _broken(report: str) -> dict[str, str]:
    """Each broken contract's name, with what the report says under it (the offending imports)."""
    lines = report.splitlines()
    starts = [i for i in range(len(lines) - 1)
              if lines[i].strip() and set(lines[i + 1]) == {"-"} and len(lines[i + 1]) == len(lines[i])]
    first = next((n for n, i in enumerate(starts) if lines[i] == "Broken contracts"), len(starts))
    sections = starts[first + 1:]
    return {lines[i]: "\n".join(lines[i + 2:end]).strip()
            for i, end in zip(sections, [*sections[1:], len(lines)][:len(sections)], strict=True)}


@pytest.fixture(scope="module")
def as_it_stands() -> dict[str, str]:
    """What the checkout breaks already, so that a deliberate violation must add to it to count."""
    return _broken(_lint_imports(ROOT).stdout)


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


#: (what is broken, the file changed, the line added, the contract that must then be reported broken)
VIOLATIONS = [
    ("engine imports Textual", "octotui/errors.py", "import textual",
     "The engine never imports Textual: only the screens do"),
    ("spec imports a higher layer", "octotui/spec/model.py", "from octotui.plan import build",
     "Layers: a lower layer never imports a higher one"),
    ("engine imports a screen", "octotui/run/executor.py", "from octotui.screens import messages",
     "The engine never imports the screens"),
    ("a layer imports the one above it", "octotui/windows/quoting.py", "from octotui.remote import session",
     "Layers: a lower layer never imports a higher one"),
    ("lab imports the engine", "octotui/lab/state.py", "from octotui.errors import ExitCode",
     "The lab imports nothing from the rest of octotui"),
    ("lab imports octotui/__init__.py", "octotui/lab/winfs.py", "from octotui import __version__",
     "The lab imports nothing from octotui/__init__.py either"),
    ("engine imports the lab", "octotui/run/executor.py", "from octotui.lab import state",
     "Only the commands that start the lab import it"),
    ("two modules of a package import each other", "octotui/lab/identity.py", "from octotui.lab import state",
     "No import cycles inside any package of octotui"),
    ("a new top-level module outside every layer", "octotui/stray.py", "from octotui.errors import ExitCode",
     "Layers: a lower layer never imports a higher one"),
]


@pytest.mark.parametrize(("what", "path", "line", "contract"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_deliberate_violation_breaks_its_contract(tmp_path: Path, as_it_stands: dict[str, str], what: str,
                                                   path: str, line: str, contract: str) -> None:
    tree = _copy_of_the_tree(tmp_path / "tree")
    target = tree / path
    if not target.exists():
        target.write_text('"""A module that belongs to no layer."""\n', encoding="utf-8")
    _append(target, line)
    result = _lint_imports(tree)
    assert result.returncode != 0, result.stdout + result.stderr
    broken = _broken(result.stdout)
    assert contract in broken, result.stdout + result.stderr
    # Broken by this violation, not only by whatever the checkout already breaks.
    assert broken[contract] != as_it_stands.get(contract), result.stdout


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of modules that import each other round in a circle (strongly connected, Tarjan's method)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph.modules) + 100))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(cycles)


def test_no_import_cycle_anywhere_in_octotui() -> None:
    # Imports under `if TYPE_CHECKING:` count too: a cycle there is one a refactor can turn real.
    graph = grimp.build_graph("octotui", cache_dir=None)
    assert len(graph.modules) > 100
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.d", "p.e")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["p.a", "p.b", "p.c"]]
