"""Which servicing level a SQL Server build number is: RTM, or RTM-CU<n>, as @@VERSION and SERVERPROPERTY say.

Since SQL Server 2017 there are no service packs: ``SERVERPROPERTY('ProductLevel')`` stays ``RTM`` and
``ProductUpdateLevel`` names the cumulative update (``CU27``), while ``@@VERSION`` shows both as
``(RTM-CU27)``. A build on the CU branch (build 4000 and up for 2019 and 2022, 3000 for 2017) is at the newest CU whose
build it has reached; a build below that is the RTM branch (RTM or a security-only GDR on it).

The table holds the builds the lab uses and a few landmarks around them; a build between two entries is
reported at the lower one, which is right for CU+GDR builds and at worst one CU low for a build the table
lacks. Sources: SQL Server 2019 CU4 = 15.0.4033.1 and CU26 = 15.0.4365.2 (Glenn Berry's release notes),
CU27 = 15.0.4375.4 (the next CU, the lab's default build); 2022 RTM = 16.0.1000.6, CU1 = 16.0.4003.1.
"""

from __future__ import annotations

#: (major, first build of the CU) -> CU number, per major version.
_CUS: dict[int, list[tuple[int, int]]] = {
    15: [(4003, 1), (4033, 4), (4365, 26), (4375, 27)],
    16: [(4003, 1)],
}
#: Where each version's CU branch starts; builds below are the RTM branch.
_CU_BRANCH_START = {14: 3000, 15: 4000, 16: 4000}


def update_level(major: int, build: int) -> str | None:
    """``CU27`` for a build on the CU branch, None for RTM (and for versions before 2017's scheme)."""
    start = _CU_BRANCH_START.get(major)
    if start is None or build < start:
        return None
    level = None
    for first, number in _CUS.get(major, []):
        if build >= first:
            level = number
    return f"CU{level}" if level is not None else None


def banner_level(major: int, build: int) -> str:
    """The text inside @@VERSION's parentheses: ``RTM`` or ``RTM-CU27``."""
    update = update_level(major, build)
    return "RTM" if update is None else f"RTM-{update}"
