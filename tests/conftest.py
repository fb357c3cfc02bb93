"""Session-wide fixtures shared by more than one test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.lab_dc import DcLab, session_lab_with_dc


@pytest.fixture(scope="session")
def lab_with_dc() -> Iterator[DcLab]:
    """One running ``octotui lab up --dc`` (2 nodes) for the session (tests/fixtures/lab_dc.py)."""
    yield from session_lab_with_dc()
