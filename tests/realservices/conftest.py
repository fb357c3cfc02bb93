"""One real Samba AD DC for the whole test session, on loopback, in a temp folder, stopped at the end.

In CI (``CI`` set to true) a DC that cannot start fails the tests that need it, never skips them: a silent skip
would let the AD and share checks go untested. Locally, a machine without root or the Samba packages skips
with the reason; a DC that has what it needs but fails to start is always a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.realservices.samba_dc import DCUnavailable, SambaDC, missing_prerequisites, running_dc


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[SambaDC]:
    reason = missing_prerequisites()
    if reason:
        if _in_ci():
            pytest.fail(f"the Samba AD DC cannot start in CI: {reason}", pytrace=False)
        pytest.skip(f"Samba AD DC unavailable here: {reason}")
    try:
        dc_context = running_dc(lock_wait_s=240)  # its own temp folder: smbd needs o+x on every level
        dc = dc_context.__enter__()
    except DCUnavailable as exc:
        pytest.fail(f"the Samba AD DC did not start: {exc}", pytrace=False)
    try:
        yield dc
    finally:
        dc_context.__exit__(None, None, None)
