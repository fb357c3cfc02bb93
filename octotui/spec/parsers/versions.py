"""Octopus Server version numbers (``2025.3.1234``) and the feature gates that depend on them.

Why exact versions: the plan chooses commands by version (``path --clusterShared`` only from 2020.2.15) and
the installer's file name carries the version; "latest" or "2025.3" would make a rerun install something
else than the first run did.
"""

from __future__ import annotations

from dataclasses import dataclass

from octotui.spec.parsers.errors import ParseError, written
from octotui.textsafe import shown

#: ``path --clusterShared`` exists from this version (Octopus HA with AD guide).
CLUSTER_SHARED_FROM = (2020, 2, 15)
#: The Imports folder exists from 2021.1.
IMPORTS_FOLDER_FROM = (2021, 1, 0)


@dataclass(frozen=True, order=True)
class OctopusVersion:
    parts: tuple[int, ...]

    def at_least(self, other: tuple[int, ...]) -> bool:
        width = max(len(self.parts), len(other))
        return self.parts + (0,) * (width - len(self.parts)) >= other + (0,) * (width - len(other))

    @property
    def supports_cluster_shared(self) -> bool:
        return self.at_least(CLUSTER_SHARED_FROM)

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)


def parse_octopus_version(text: object) -> OctopusVersion:
    """Three or four dot-separated numbers, e.g. ``2025.3.1234`` (as in ``Octopus.2025.3.1234-x64.msi``)."""
    if not isinstance(text, str):
        raise ParseError(f"the version must be a string, not {written(text)}",
                         'write it in quotes, e.g. octopus_version = "2025.3.1234"')
    pieces = text.split(".")
    if not 3 <= len(pieces) <= 4 or not all(p.isdigit() and p.isascii() and len(p) <= 9 for p in pieces):
        hint = ""
        if text.lower() in ("latest", "newest", "current"):
            hint = "; octotui installs an exact version so that a rerun installs the same one"
        raise ParseError(f"'{shown(text)}' is not an Octopus version (three numbers with dots, e.g. "
                         f"2025.3.1234){hint}",
                         'write the exact version, e.g. octopus_version = "2025.3.1234"')
    parts = tuple(int(p) for p in pieces)
    if parts[0] < 3:
        raise ParseError(f"'{shown(text)}' is not an Octopus Server version (they start at 3.0)",
                         "check the version on the installer, e.g. Octopus.2025.3.1234-x64.msi")
    return OctopusVersion(parts)
