"""Check octotui's layer contracts (pyproject.toml, [tool.importlinter]) on the package as it is installed.

Installed, the screens are ``octotui.screens`` (``package-dir`` maps them from ``screens/``). import-linter
builds its graph with grimp, which finds a package's modules by walking the one folder the package is
imported from, so a bare ``lint-imports`` in the checkout would never see the screens. This script lays out
a throwaway folder shaped like the installed package (symbolic links to ``octotui/*``, and to ``screens/``
and ``assets/`` as ``octotui/screens`` and ``octotui/assets``) and runs ``lint-imports`` there, against the
tree's own pyproject.toml.

Usage: ``.venv/bin/python scripts/lint_imports.py [--root TREE] [lint-imports options]``. ``--root`` names
another tree laid out like the checkout (the tests use it to prove a deliberate violation fails).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
#: The packages pyproject.toml's package-dir installs inside octotui from folders of their own.
PACKAGE_DIRS = ("screens", "assets")


def installed_shape(root: Path, dest: Path) -> Path:
    """Lay out ``dest/octotui`` as the installed package: the engine's entries, the screens and assets inside it."""
    package = dest / "octotui"
    package.mkdir()
    for entry in sorted((root / "octotui").iterdir()):
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    for name in PACKAGE_DIRS:
        (package / name).symlink_to((root / name).resolve(), target_is_directory=True)
    return dest


def lint_imports_command() -> str:
    """The ``lint-imports`` next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        raise SystemExit("lint_imports: lint-imports is not installed (pip install -e '.[test]')")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=CHECKOUT, help="a tree laid out like the checkout")
    args, rest = parser.parse_known_args(argv)
    root = args.root.resolve()
    with tempfile.TemporaryDirectory(prefix="octotui-lint-imports-") as tmp:
        # lint-imports puts its working folder first on sys.path, so octotui is imported from the layout.
        cwd = installed_shape(root, Path(tmp))
        command = [lint_imports_command(), str(root / "pyproject.toml"), "--no-cache", *rest]
        return subprocess.call(command, cwd=cwd)


if __name__ == "__main__":
    sys.exit(main())
