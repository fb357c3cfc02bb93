"""Files shipped inside the package (PowerShell scripts, styles, examples), found the same way from a
checkout, an editable install and a wheel: through ``importlib.resources``, never relative paths."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

#: The line in a script where the shared helpers (``assets/ps/_helpers.ps1``) go. Each script travels to
#: the node alone, so it must carry the helpers; keeping them in one file keeps them from drifting apart.
HELPERS_MARKER = "# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----"


def assets() -> Traversable:
    return resources.files("octotui.assets")


def ps_script(name: str) -> str:
    """The text of ``assets/ps/<name>.ps1`` as it is sent: with the shared helpers in place."""
    text = (assets() / "ps" / f"{name}.ps1").read_text(encoding="utf-8")
    if HELPERS_MARKER in text:
        helpers = (assets() / "ps" / "_helpers.ps1").read_text(encoding="utf-8")
        text = text.replace(HELPERS_MARKER + "\n", helpers, 1)
    return text


def ps_script_names() -> list[str]:
    """The scripts a node can be sent (``_helpers`` is a part of them, not a script)."""
    return sorted(p.name[:-4] for p in (assets() / "ps").iterdir()
                  if p.name.endswith(".ps1") and not p.name.startswith("_"))
