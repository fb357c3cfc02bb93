"""Shared storage the service account may only read: the Storage screen says so on its field and refuses Next.

The lab's share holds per-account permissions (``octotui lab up --share-access``, or its control endpoint
while it runs). With the service account cut down to ``read``, the storage check (``share.reach`` on every
node, as the service account: create, read back and delete a file) fails on the Shared root field; given
``full`` again, the same value passes and Next goes on.
"""

from __future__ import annotations

import asyncio
import urllib.error
from typing import Any

import pytest
from octotui.screens.app import WizardApp

from tests.fixtures.lab import LabProcess
from tests.tui.wizard_driver import current, field_detail, field_state, lab_state, settled, status_text, wait_until

FIELD = "storage.cluster_shared"


def test_read_only_share_fails_on_the_storage_field_and_next_is_refused(lab: LabProcess) -> None:
    account = lab.ready["service_account"]["username"]
    share = lab.ready["share"]
    assert lab.set_share_access(account, "read") == {"share": share.rsplit("\\", 1)[-1], "account": account,
                                                       "access": "read"}
    try:
        (acl,) = [s["acl"] for s in lab.inspect()["shares"] if s["unc"] == share]
        assert acl[account] == "read"
        with pytest.raises(urllib.error.HTTPError) as refused:  # a level the lab does not know
            lab.set_share_access(account, "write")
        assert refused.value.code == 400 and "full, change, read, none" in refused.value.read().decode()
        state = lab_state(lab)
        assert state.data["storage"]["cluster_shared"] == share
        app = WizardApp(state, start="storage")
        asyncio.run(_refused_then_allowed(app, lab, account))
    finally:
        lab.set_share_access(account, "full")


async def _refused_then_allowed(app: WizardApp, lab: LabProcess, account: str) -> None:
    secrets = (lab.ready["admin"]["password"], lab.ready["service_account"]["password"])
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until(pilot, lambda: current(app) == "storage", 30, "the storage screen")
        await settled(pilot, app)
        mark, reason = field_state(app, FIELD)
        assert mark == "fail", reason
        assert f"{account} may not write to" in reason, reason
        detail = field_detail(app, FIELD)
        assert "Change or Full Control on the share" in detail, detail
        assert all(f"share.reach:OCTO{i}" in detail for i in (1, 2, 3)), detail

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: "Not yet" in status_text(app), 10, "Next refused")
        assert current(app) == "storage"
        assert "Shared root" in status_text(app) and "may not write to" in status_text(app), status_text(app)
        assert app.focused is not None and app.focused.id == "f-storage-cluster_shared-in"
        screenshot = app.export_screenshot()
        assert not any(s in screenshot for s in secrets)

        # The same answer passes once the account may write again: it was the rights, nothing else.
        lab.set_share_access(account, "full")
        box: Any = app.screen.query_one("#f-storage-cluster_shared-in")
        box.value = box.value + " "  # typed again (the answer is stored trimmed): the checks run again
        await settled(pilot, app)
        assert field_state(app, FIELD)[0] == "pass", field_state(app, FIELD)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: current(app) == "install", 30, "the install screen")
        assert app.unhandled == []
