"""Home directory: each node's own Octopus home folder (local, never shared), and the instance name."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from textual.app import ComposeResult


class HomeScreen(WizardScreen):
    NAME = "home"
    SECTION = "home"
    TITLE_TEXT = "Home directory"
    OWNS: ClassVar[tuple[str, ...]] = (r"instance", r"nodes\[\d+\]\.home")
    HELP = """
The Octopus home folder of each node holds that node's configuration and logs. It is local to the node and
must not be shared between nodes (usually C:\\Octopus). Shared files go to the shared storage screen.

Each folder is checked on its node: a local fixed disk with room, not used by another Octopus instance.
The instance name names the Windows service (default OctopusServer).
"""

    def form(self) -> ComposeResult:
        yield self.field("instance", "Instance name", placeholder="OctopusServer")
        rows = self.state.data.get("nodes") if isinstance(self.state.data.get("nodes"), list) else []
        for i, row in enumerate(rows or [], start=1):
            host = str(row.get("host", "")) if isinstance(row, dict) else ""
            # The label column is 19 wide: a DNS name by its first label (octo1), an address as given.
            short = host.split(".", 1)[0] if host and not host[:1].isdigit() and ":" not in host else host
            yield self.field(f"nodes[{i}].home", f"Home on {short or f'node {i}'}"[:19], placeholder="C:\\Octopus")
