"""Guided join end to end against the lab: a cluster created by the engine, then a node joined through the wizard.

``octotui apply`` creates the cluster on OCTO1 (as a script would). The wizard then starts empty: Guided
join points at OCTO1's WinRM endpoint and reads the version, the instance, the database, the shared storage
and the web settings from it; the administrator adds the new host (OCTO2) on the Nodes screen, the service
account's password, the installer, and the master key read from the same node; the run joins OCTO2 and the
wizard ends on the health view with every node of the answers healthy; the lab's database lists both.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from octotui.screens.app import WizardApp
from octotui.screens.state import WizardState
from textual.notifications import Notify

from tests.fixtures.cli import octotui, octotui_env, write_answers
from tests.fixtures.lab import LabProcess, running_lab
from tests.tui.wizard_driver import current, field_state, next_screen, settled, status_text, wait_until

VERSION = "2025.3.1234"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A lab of 3 nodes whose cluster was created on OCTO1 by ``octotui apply``."""
    tmp = tmp_path_factory.mktemp("guided-join")
    with running_lab(tmp / "state", "--nodes", "3") as lab:
        env = octotui_env(lab, tmp)
        done = octotui(env, "apply", str(write_answers(lab, tmp / "create.toml", ["OCTO1"])), "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        yield lab


def _set(app: WizardApp, selector: str, value: Any) -> None:
    widget: Any = app.screen.query_one(selector)
    widget.value = value


def test_guided_join_reads_the_cluster_and_joins_a_node(cluster: LabProcess, isolated_home: Path) -> None:
    lab = cluster
    messages: list[Any] = []
    app = WizardApp(WizardState())
    asyncio.run(_walk(app, lab, messages))

    world = lab.inspect()
    (db,) = world["sql"]["databases"]
    assert sorted(n["name"] for n in db["nodes"]) == ["OCTO1", "OCTO2"]
    saved = (isolated_home / "wizard" / "answers.toml").read_text()
    assert 'mode = "join"' in saved and "OCTO2" in saved and "OCTO1" not in saved
    secrets = [lab.ready["admin"]["password"], lab.ready["service_account"]["password"], app.state.secrets["master_key"]]
    assert not any(s in saved for s in secrets)
    notes = [m.notification.message for m in messages if isinstance(m, Notify)]
    assert not any(s in n for n in notes for s in secrets)
    written = [p for p in isolated_home.rglob("*") if p.is_file()]  # answers, draft, the run's journal and logs
    assert any(p.name == "journal.jsonl" for p in written)
    leaks = [str(p) for p in written for s in secrets if s.encode() in p.read_bytes()]
    assert leaks == []


async def _walk(app: WizardApp, lab: LabProcess, messages: list[Any]) -> None:
    ready = lab.ready
    async with app.run_test(size=(100, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen", 30, "the welcome screen")
        await pilot.press("g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "GuidedJoinScreen", 10, "guided join")
        _set(app, "#g-node", lab.node("OCTO1")["endpoint"])
        _set(app, "#g-user", ready["admin"]["username"])
        _set(app, "#g-pass", ready["admin"]["password"])
        _set(app, "#g-https", "ca_cert" in ready)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: current(app) == "nodes" or "Could not" in status_text(app), 90,
                         "the settings read from OCTO1")
        assert current(app) == "nodes", status_text(app)

        # What was read from OCTO1: version, instance, SQL and web settings in the answers; the shared
        # storage (set once, cluster-wide, never by a joining node) in the note shown.
        data = app.state.data
        assert data["mode"] == "join" and app.state.mode == "join"
        assert data["octopus_version"] == VERSION and data["instance"] == "Default"
        assert data["sql"]["connection_string"].rstrip(";").lower() == \
            ready["sql"]["connection_string"].rstrip(";").lower()
        assert data["web"] == {"listen_prefixes": ["http://+:80/"], "force_ssl": False, "comms_port": 10943}
        assert not any(row.get("host") for row in data["nodes"]) and "storage" not in data  # hosts: the user's
        (note,) = [m.notification.message for m in messages if isinstance(m, Notify)]
        assert f"Octopus {VERSION}" in note and "instance Default" in note and ready["share"] in note, note

        # The new host; the WinRM account and password came with guided join.
        _set(app, "#f-nodes-1--host-in", "OCTO2")
        _set(app, "#f-nodes-1--endpoint-in", lab.node("OCTO2")["endpoint"])
        await settled(pilot, app)
        assert field_state(app, "nodes[1].host")[0] == "pass", field_state(app, "nodes[1].host")
        await next_screen(pilot, app, "home")
        await next_screen(pilot, app, "service")
        _set(app, "#f-service_account-username-in", ready["service_account"]["username"])
        _set(app, "#f-secret-service-in", ready["service_account"]["password"])
        await next_screen(pilot, app, "sql")
        await settled(pilot, app)
        assert field_state(app, "sql.connection_string")[0] == "pass", field_state(app, "sql.connection_string")
        await next_screen(pilot, app, "install")
        _set(app, "#f-install-source-in", ready["installers"][VERSION]["node_path"])
        await next_screen(pilot, app, "join_key")

        # The key, read over WinRM from the node guided join pointed at (it is already in the field).
        key_node: Any = app.screen.query_one("#f-secret-key_node-in")
        assert key_node.value == lab.node("OCTO1")["endpoint"]
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: bool(app.state.secrets.get("master_key")), 60,
                         f"the master key (status: {status_text(app)})")
        assert "Master key loaded" in status_text(app)
        await next_screen(pilot, app, "review")

        for box in [c for c in app.screen.query("Checkbox") if (c.id or "").startswith("warn-")]:
            box.value = True  # each warning confirmed, as the user ticks it
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "FinishScreen", 240,
                         f"the finish screen (status: {status_text(app)})")
        await wait_until(pilot, lambda: app.screen.healthy is not None, 90, "the health read")  # type: ignore[attr-defined]
        health: Any = app.screen
        assert health.healthy is True, str(health.query_one("#problems").render())
        table = health.query_one("#health")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["OCTO2"] and "200" in rows[0][1] and "yes" in rows[0][2], rows
        assert app.unhandled == [] and app.errors_shown == []
