"""Fixtures for the wizard's tests: an isolated OCTOTUI_HOME, a lab process, and waiting by condition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.lab import LabProcess, running_lab


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own OCTOTUI_HOME, no keyring, no secrets from the environment, no blinking."""
    home = tmp_path / "octotui-home"
    monkeypatch.setenv("OCTOTUI_HOME", str(home))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in ("OCTOTUI_WINRM_PASSWORD", "OCTOTUI_SERVICE_PASSWORD", "OCTOTUI_MASTER_KEY", "OCTOTUI_ASCII"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    yield home
    _stop_runs(home)


def _stop_runs(home: Path) -> None:
    """A test that failed half-way may leave a run waiting (e.g. for the master key): ask it to stop."""
    from octotui.run.cancel import request_cancel
    from octotui.run.journal_read import list_runs

    for run in list_runs(home):
        if run.status == "running":
            request_cancel(run.path, reason="test teardown")


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("tui-lab") / "state", "--nodes", "3") as lab:
        yield lab
