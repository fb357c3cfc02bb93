"""Each screen's failure states, against the lab: Next is refused and the field says why."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from octotui.screens.app import WizardApp

from tests.fixtures.lab import LabProcess
from tests.tui.wizard_driver import current, lab_state, settled, status_text, wait_until


def field_state(app: WizardApp, key: str) -> tuple[str, str]:
    from octotui.screens.widgets.field import ValidatedField

    for f in app.screen.query(ValidatedField):
        if f.key == key:
            return f.state, f.worst()[1]
    raise AssertionError(f"no field {key} on {current(app)}")


async def refused(app: WizardApp, pilot: Any, screen: str) -> None:
    await settled(pilot, app)
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: "Not yet" in status_text(app), 10, "Next to be refused ('Not yet' in the status line)")
    assert current(app) == screen


def run(app: WizardApp, body: Any) -> None:
    async def main() -> None:
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_until(pilot, lambda: current(app) != "WelcomeScreen")
            await body(pilot)
            assert app.unhandled == []
    asyncio.run(main())


def test_unreachable_node_refuses_next(lab: LabProcess) -> None:
    state = lab_state(lab)
    state.data["nodes"][1]["endpoint"] = "http://127.0.0.1:9/wsman"  # nothing listens there
    app = WizardApp(state, start="nodes")

    async def body(pilot: Any) -> None:
        await refused(app, pilot, "nodes")
        status, reason = field_state(app, "nodes[2].host")
        assert status == "fail", reason
        assert field_state(app, "nodes[1].host")[0] == "pass"

    run(app, body)


def test_wrong_password_refuses_next_and_typing_the_right_one_allows_it(lab: LabProcess) -> None:
    state = lab_state(lab)
    right = state.secrets["winrm"]
    state.secrets["winrm"] = "not-the-password"
    app = WizardApp(state, start="nodes")

    async def body(pilot: Any) -> None:
        await refused(app, pilot, "nodes")
        status, reason = field_state(app, "nodes[1].host")
        assert status == "fail" and ("password" in reason.lower() or "logon" in reason.lower() or
                                     "refused" in reason.lower()), reason
        box = app.screen.query_one("#f-secret-winrm-in")
        box.focus()
        box.value = right  # type: ignore[attr-defined]
        await pilot.pause()
        await settled(pilot, app)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: current(app) == "home")

    run(app, body)


def test_sql_refused_refuses_next(lab: LabProcess) -> None:
    state = lab_state(lab)
    state.data["sql"] = {"connection_string": "Data Source=127.0.0.1,9;Initial Catalog=OctopusDeploy;"
                                              "Integrated Security=True;"}
    app = WizardApp(state, start="sql")

    async def body(pilot: Any) -> None:
        await refused(app, pilot, "sql")
        assert field_state(app, "sql.connection_string")[0] == "fail"

    run(app, body)


def test_syntax_problems_show_at_once_and_block_next(lab: LabProcess) -> None:
    state = lab_state(lab)
    app = WizardApp(state, start="home")

    async def body(pilot: Any) -> None:
        box = app.screen.query_one("#f-nodes-1--home-in")
        box.focus()
        box.value = "\\\\server\\share"  # type: ignore[attr-defined]
        # "At once": the syntax check answers without the network, well within a second.
        await wait_until(pilot, lambda: field_state(app, "nodes[1].home")[0] == "fail", 2,
                         "the home field to fail its syntax check")
        status, reason = field_state(app, "nodes[1].home")
        assert status == "fail" and "network" in reason.lower(), reason
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: "Not yet" in status_text(app), 10, "Next to be refused ('Not yet' in the status line)")
        assert current(app) == "home"

    run(app, body)


def test_occupied_database_refused_in_create_mode(lab: LabProcess, tmp_path: Any) -> None:
    """After a cluster exists in the lab's database, creating another there is refused at the SQL screen."""
    from tests.fixtures.cli import octotui, octotui_env, write_answers

    env = octotui_env(lab, tmp_path)
    done = octotui(env, "apply", str(write_answers(lab, tmp_path / "a.toml", ["OCTO1"])), "--yes")
    assert done.returncode == 0, done.stderr
    state = lab_state(lab)
    app = WizardApp(copy.deepcopy(state), start="sql")

    async def body(pilot: Any) -> None:
        await refused(app, pilot, "sql")
        status, reason = field_state(app, "sql.connection_string")
        assert status == "fail" and "already holds an Octopus cluster" in reason, reason

    run(app, body)
