"""Which Octopus.Server.exe has what (reference/octopus-server.md §2.9, §4.6): the versions nodes and
databases report, read leniently, asked against the one table of gates, ``octotui.spec.parsers.versions.GATES``.

Why lenient here and strict in the answers reader: the answers name the exact version to install, so they
are held to ``2025.3.1234``; a node or a database reports what it reports (``v2020.2.15``, ``2020.2``,
``2024.1.5-preview.3``), and a gate only needs its numbers.
"""

from __future__ import annotations

import re

from octotui.spec.parsers.versions import OctopusVersion

_VERSION_RE = re.compile(r"(?<![\d.])v?(\d+(?:\.\d+){1,3})(?:[-+][0-9A-Za-z.+-]*)?(?![\d.])")


def version_numbers(text: str) -> tuple[int, ...] | None:
    """The numbers of the first version in ``text`` as written (``"v2020.2.0-x"`` -> ``(2020, 2, 0)``), or
    None. A pre-release or build suffix is dropped: the gates are about features, and a preview of X has
    X's features."""
    match = _VERSION_RE.search(text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def is_version(text: str) -> bool:
    """Whether ``text`` is a version and nothing else (a line of ``version``'s text output)."""
    return _VERSION_RE.fullmatch(text) is not None


def version_tuple(text: str) -> tuple[int, ...]:
    """``"2025.3.1234"`` -> ``(2025, 3, 1234)``, trailing zeros dropped (``2020.2.0`` == ``2020.2``). Raises
    ValueError naming the text when there is no version in it."""
    parts = version_numbers(text.strip())
    if parts is None:
        raise ValueError(f"{text!r} is not an Octopus version (expected e.g. 2025.3.1234)")
    while len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]
    return parts


def read_version(version: str | OctopusVersion) -> OctopusVersion:
    """A reported version as the version type (an ``OctopusVersion`` is returned as it is)."""
    return version if isinstance(version, OctopusVersion) else OctopusVersion(version_tuple(version))


def compare_versions(a: str | OctopusVersion, b: str | OctopusVersion) -> int:
    """-1, 0 or 1, like C's strcmp, on the numeric parts."""
    return read_version(a).compare(read_version(b))


def at_least(version: str | OctopusVersion, minimum: str | OctopusVersion) -> bool:
    return compare_versions(version, minimum) >= 0


def supports(feature: str, version: str | OctopusVersion) -> bool:
    """Whether ``version`` has ``feature`` (a key of ``GATES``)."""
    return read_version(version).supports(feature)


def supports_cluster_shared(version: str | OctopusVersion) -> bool:
    """``path --clusterShared`` exists from 2020.2.15; before it each folder is set on its own."""
    return supports("cluster_shared", version)


def supports_imports_folder(version: str | OctopusVersion) -> bool:
    return supports("imports_folder", version)


def supports_home_on_create_instance(version: str | OctopusVersion) -> bool:
    return supports("home_on_create_instance", version)


def supports_database_command(version: str | OctopusVersion) -> bool:
    return supports("database_command", version)


def supports_database_upgrade(version: str | OctopusVersion) -> bool:
    return supports("database_upgrade", version)


def supports_skip_license_check(version: str | OctopusVersion) -> bool:
    return supports("skip_license_check", version)
