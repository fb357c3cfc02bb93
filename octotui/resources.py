"""Files shipped inside the package (PowerShell scripts, styles, examples), found the same way from a
checkout, an editable install and a wheel: through ``importlib.resources``, never relative paths."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable


def assets() -> Traversable:
    return resources.files("octotui.assets")


def ps_script_source(name: str) -> str:
    """The text of ``assets/ps/<name>.ps1`` as shipped. What is sent to a node (with the shared helpers
    inserted) is ``octotui.windows.scripts.ps_script``."""
    return (assets() / "ps" / f"{name}.ps1").read_text(encoding="utf-8")


def ps_script_names() -> list[str]:
    """The scripts a node can be sent (``_helpers`` is a part of them, not a script)."""
    return sorted(p.name[:-4] for p in (assets() / "ps").iterdir()
                  if p.name.endswith(".ps1") and not p.name.startswith("_"))
