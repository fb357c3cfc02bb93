"""The wheel: built from the checkout, installed into a fresh virtual environment and run from elsewhere.

It must add exactly one import name, ``octotui``, to site-packages (the screens inside it as
``octotui.screens``: a top-level ``screens`` would collide with other projects) and carry its assets.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from octotui import __version__

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, timeout=300, cwd=out)
    wheels = list(out.glob("octotui-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_adds_one_top_level_name_and_carries_assets(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names if not n.startswith("octotui-")}
    assert top == {"octotui"}
    assert "octotui/screens/__init__.py" in names
    assert any(n.startswith("octotui/assets/ps/") and n.endswith(".ps1") for n in names)
    assert not any(n.startswith(("screens/", "assets/", "tests/", "bench/")) for n in names)
    # Every module of the checkout is in the wheel (packages are listed by hand in pyproject.toml).
    engine = {f"octotui/{p.relative_to(ROOT / 'octotui').as_posix()}" for p in (ROOT / "octotui").rglob("*.py")}
    screens = {f"octotui/screens/{p.relative_to(ROOT / 'screens').as_posix()}" for p in (ROOT / "screens").rglob("*.py")}
    assert (engine | screens) - set(names) == set()


@pytest.mark.slow
def test_installed_wheel_runs_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, timeout=600, cwd=tmp_path)
    version = subprocess.run([str(env_dir / "bin" / "octotui"), "--version"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert version.stdout.strip() == f"octotui {__version__}"
    probe = (
        "import octotui, octotui.screens, octotui.resources as r, pathlib;"
        "print(pathlib.Path(octotui.__file__).parent);"
        "print(len(r.ps_script_names()));"
        "print(r.ps_script_source('bootstrap').splitlines()[0])"
    )
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         check=True).stdout.splitlines()
    assert str(env_dir) in out[0] and str(ROOT) not in out[0]
    assert int(out[1]) >= 5
    assert out[2].startswith("# octotui-ps: bootstrap")
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    assert not (site / "screens").exists() and not (site / "assets").exists()
