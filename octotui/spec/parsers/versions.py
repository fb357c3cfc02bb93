"""Octopus Server version numbers (``2025.3.1234``) and the feature gates that depend on them.

Why exact versions: the plan chooses commands by version (``path --clusterShared`` only from 2020.2.15) and
the installer's file name carries the version; "latest" or "2025.3" would make a rerun install something
else than the first run did.
"""

from __future__ import annotations

from dataclasses import dataclass

from octotui.spec.parsers.errors import ParseError, written
from octotui.textsafe import shown


@dataclass(frozen=True, order=True)
class OctopusVersion:
    parts: tuple[int, ...]

    def at_least(self, other: tuple[int, ...]) -> bool:
        return self.compare(other) >= 0

    def compare(self, other: OctopusVersion | tuple[int, ...]) -> int:
        """-1, 0 or 1, missing parts counting as 0 (``2020.2`` is ``2020.2.0``): for a version a node or a
        database reports, read into a tuple, against the one the answers install."""
        theirs = other.parts if isinstance(other, OctopusVersion) else other
        width = max(len(self.parts), len(theirs))
        mine, theirs = self.parts + (0,) * (width - len(self.parts)), theirs + (0,) * (width - len(theirs))
        return (mine > theirs) - (mine < theirs)

    def supports(self, feature: str) -> bool:
        """Whether this version has ``feature`` (a key of ``GATES``)."""
        return self.compare(GATES[feature]) >= 0

    @property
    def supports_cluster_shared(self) -> bool:
        return self.supports("cluster_shared")

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)


#: Feature -> the first Octopus Server version that has it (reference/octopus-server.md §2.9, §4.6): the one
#: table of version gates. It sits with the version type, in the lowest layer, because the answers reader
#: needs it too (which shared folders a version has); ``octotui.windows.gates`` asks it for the command lines.
GATES: dict[str, OctopusVersion] = {
    "show_configuration": OctopusVersion((3, 5)),
    "database_upgrade": OctopusVersion((3, 13, 9)),
    "home_on_create_instance": OctopusVersion((3, 16, 4)),
    "database_command": OctopusVersion((4, 0)),  # database before configure; before it, --StorageConnectionString
    "task_cap": OctopusVersion((2018, 6, 13)),
    "skip_license_check": OctopusVersion((2018, 8, 9)),
    "cluster_shared": OctopusVersion((2020, 2, 15)),  # path --clusterShared (Octopus HA with AD guide)
    "imports_folder": OctopusVersion((2021, 1)),
    "rotate_master_key": OctopusVersion((2022, 4)),
    "trusted_proxies": OctopusVersion((2023, 1)),
}


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
