"""What the wizard holds while it runs: the answers table, the secrets (in memory only), where it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The wizard's screens in order, per mode (each answers section has its screen).
FLOW = {
    "create": ["nodes", "home", "service", "sql", "storage", "install", "review"],
    "join": ["nodes", "home", "service", "sql", "install", "join_key", "review"],
}


@dataclass
class WizardState:
    data: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # "winrm", "service", "master_key"
    answers_file: Path | None = None
    remember: set[str] = field(default_factory=set)  # secrets to keep in the keyring
    run_dir: Path | None = None
    demo: bool = False
    lab_state: Path | None = None

    @property
    def mode(self) -> str:
        return "join" if self.data.get("mode") == "join" else "create"

    def flow(self) -> list[str]:
        return FLOW[self.mode]
