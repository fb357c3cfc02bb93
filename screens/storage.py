"""Shared storage: the share every node reads and writes (artifacts, task logs, packages, imports)."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from textual.app import ComposeResult


class StorageScreen(WizardScreen):
    NAME = "storage"
    SECTION = "storage"
    TITLE_TEXT = "Shared storage"
    OWNS: ClassVar[tuple[str, ...]] = (r"storage(\..*)?",)
    HELP = """
The root of the cluster's shared storage, e.g. \\\\fileserver\\OctopusShared: Octopus puts artifacts, task
logs, packages, imports and event exports in folders under it (Octopus.Server.exe path --clusterShared).
It is set once, from the first node, and lives in the database. (Folders set one by one are supported in
the answers file: [storage] artifacts, task_logs, nuget_repository, imports, event_exports, telemetry.)

Checked from every node as the service account: create, read back and delete a file.
"""

    def form(self) -> ComposeResult:
        yield self.field("storage.cluster_shared", "Shared root", placeholder="\\\\fileserver\\OctopusShared")
