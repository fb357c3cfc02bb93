"""Lab-wide settings every node runtime shares.

Apart from the runtime so that the process context, which every simulated program imports, can name
them without importing the runtime (which imports cmd.exe, which imports the process context).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from octotui.lab.faults import FaultPlan
from octotui.lab.timing import INSTANT, TimingProfile


@dataclass
class LabSettings:
    """Where the installers are served from, which faults to inject, and the web endpoints' switches."""

    installer_base_url: str = ""
    faults: FaultPlan | None = None
    #: How long simulated programs take (``--timing``): instant unless asked for ``realistic``.
    timing: TimingProfile = INSTANT
    #: Called when a node's web endpoint must open or close (service started or stopped).
    web_hooks: dict[str, Callable[[bool], None]] = field(default_factory=dict)
    #: Set by ``lab up --dc``: the keytab holding every node's ``HTTP/<fqdn>`` and the SQL host's ``MSSQLSvc``
    #: keys, and the realm they belong to. The WinRM and TDS acceptors offer Kerberos only when it is set.
    kerberos_keytab: Path | None = None
    kerberos_realm: str | None = None
