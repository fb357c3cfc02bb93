"""Driving the wizard in tests: waiting by condition, filling it for a lab, walking its screens."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from octotui.screens.app import WizardApp
from octotui.screens.state import WizardState

from tests.fixtures.lab import LabProcess


async def wait_until(pilot: Any, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            app = pilot.app
            raise AssertionError(f"timed out waiting for {what or predicate}; screen {type(app.screen).__name__}, "
                                 f"status {status_text(app)!r}, errors {getattr(app, 'errors_shown', None)}, "
                                 f"unhandled {getattr(app, 'unhandled', None)}")
        await pilot.pause(0.05)


def lab_state(lab: LabProcess, **overrides: Any) -> WizardState:
    """A wizard state filled from the lab's own answers file, with its passwords in memory."""
    from octotui.spec.writer import read_answers_data

    data = read_answers_data(lab.state / "answers.toml")
    data.update(overrides)
    secrets = {"winrm": lab.ready["admin"]["password"], "service": lab.ready["service_account"]["password"]}
    return WizardState(data=data, secrets=secrets)


def current(app: WizardApp) -> str:
    return str(getattr(app.screen, "NAME", type(app.screen).__name__))


async def settled(pilot: Any, app: WizardApp, timeout: float = 60.0) -> None:
    """Wait until the current screen's live checks have all answered."""
    await pilot.pause()
    await wait_until(pilot, lambda: getattr(app.screen, "checks_settled", lambda: True)(), timeout,
                     f"checks on {current(app)}")


async def next_screen(pilot: Any, app: WizardApp, expect: str, timeout: float = 60.0) -> None:
    """Wait for the checks, press ctrl+n, and wait for screen ``expect``."""
    await settled(pilot, app, timeout)
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: current(app) == expect, timeout, f"screen {expect} (on {current(app)}, "
                     f"status: {status_text(app)})")


def status_text(app: WizardApp) -> str:
    try:
        return str(app.screen.query_one("#status").render())
    except Exception:
        return ""


def answers_file(home: Path) -> Path:
    return home / "wizard" / "answers.toml"


def field_state(app: WizardApp, key: str) -> tuple[str, str]:
    """The mark of the field for answers key ``key`` on the current screen, and its one-line reason."""
    from octotui.screens.widgets.field import ValidatedField

    for f in app.screen.query(ValidatedField):
        if f.key == key:
            return f.state, f.worst()[1]
    raise AssertionError(f"no field {key} on {current(app)}")


def field_detail(app: WizardApp, key: str) -> str:
    """What F2 shows for the field (every check's message and hint)."""
    from octotui.screens.widgets.field import ValidatedField

    return next(f.detail() for f in app.screen.query(ValidatedField) if f.key == key)
