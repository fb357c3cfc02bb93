"""The executor's answer to transport faults, with a scripted node in place of WinRM: a step cut off by one
is run again from its read on a new connection, within a bounded patience, and says so in the journal;
every other failure ends the step at once. (The same against the lab, with a real reboot and a real
WS-Man 500, is in ``test_transient_faults.py``.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from octotui.cli.progress import render
from octotui.plan.build import Plan, build_plan
from octotui.remote.errors import RemoteError, ScriptError
from octotui.run.executor import MAX_STEP_ATTEMPTS, Executor
from octotui.run.journal import JournalWriter
from octotui.run.journal_read import read_events
from octotui.run.progress import fold
from octotui.run.store import create_run_dir
from octotui.secrets.redact import Redactor
from octotui.spec.answers import load_answers
from octotui.spec.model import NodeSpec

ANSWERS = """\
mode = "create"
octopus_version = "2025.3.1234"
instance = "Default"

[winrm]
username = 'WORK\\labadmin'
https = false

[[nodes]]
host = "OCTO1"
endpoint = "http://127.0.0.1:5985/wsman"

[service_account]
username = 'WORK\\svcOctopus'

[sql]
connection_string = "Data Source=sql;Initial Catalog=Octopus;Integrated Security=True;"

[web]
listen_prefixes = ["http://+:80/"]

[install]
source = 'C:\\Install\\Octopus.2025.3.1234-x64.msi'

[storage]
cluster_shared = '\\\\files\\Octopus'

[admin]
username = 'WORK\\labadmin'
"""

Outcome = dict[str, Any] | BaseException


def dropped() -> RemoteError:
    return RemoteError("OCTO1", "dropped", "the connection to the node was closed during a call", "check the node",
                       retryable=True, reconnect=True, transient=True)


class Node:
    """What the node answers, one outcome per script run, shared by every session to it."""

    def __init__(self, outcomes: list[Outcome], *, connect: Callable[[float | None], None] | None = None) -> None:
        self.outcomes = outcomes
        self.sessions: list[Session] = []
        self.patience: list[float | None] = []
        self.connect = connect
        self.reaped: list[str] = []

    def factory(self, node: NodeSpec, /, *, patience_s: float | None = None) -> Session:
        self.patience.append(patience_s)
        if self.connect is not None and len(self.patience) > 1:
            self.connect(patience_s)
        session = Session(self, len(self.sessions) + 1)
        self.sessions.append(session)
        return session


class Session:
    def __init__(self, node: Node, number: int) -> None:
        self.node = node
        self.number = number
        self.closed = False
        self.abandoned_shells: list[str] = []

    def run_script(self, name: str, params: dict[str, Any], *, deadline_s: float = 0,
                   on_output: Any = None) -> dict[str, Any]:
        outcome = self.node.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            if isinstance(outcome, RemoteError) and outcome.reconnect:
                self.abandoned_shells.append(f"shell-{self.number}")
            raise outcome
        return outcome

    def reap(self, shells: list[str]) -> int:
        self.node.reaped += shells
        return len(shells)

    def close(self) -> None:
        self.closed = True


class Cancel:
    requested = False


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    (tmp_path / "answers.toml").write_text(ANSWERS)
    spec = load_answers(str(tmp_path / "answers.toml"))
    full = build_plan(spec, have_winrm_password=True, have_service_password=True)
    ping = next(s for s in full.first if s.step == "ping")
    return Plan(spec=spec, first=[ping], credential_identity=full.credential_identity)


def execute(plan: Plan, node: Node, tmp_path: Path, **kwargs: Any) -> tuple[int, list[dict[str, Any]], Path]:
    run = create_run_dir(tmp_path / "home")
    with JournalWriter(run, Redactor()) as journal:
        outcome = Executor(plan, node.factory, journal, Cancel(), passwords={}, master_key=None,
                           retry_pause_s=0, **kwargs).run()
    return outcome.exit_code, read_events(run), run


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def test_a_transport_fault_runs_the_step_again_from_its_read_and_says_so(plan: Plan, tmp_path: Path) -> None:
    node = Node([dropped(), {"status": 200}])
    code, events, run = execute(plan, node, tmp_path)
    assert code == 0
    (retried,) = of(events, "step_retried")
    assert retried["node"] == "OCTO1" and retried["step"] == "ping"
    assert (retried["attempt"], retried["attempts"], retried["kind"]) == (2, MAX_STEP_ATTEMPTS, "dropped")
    assert "closed during a call" in retried["cause"]
    assert not of(events, "step_failed")
    (done,) = of(events, "step_done")
    assert done["step"] == "ping" and done["attempts"] == 2
    # A new connection, within the node's patience; the old one closed, the shell it left behind deleted.
    assert len(node.sessions) == 2 and node.sessions[0].closed
    assert node.patience[0] is None and node.patience[1] is not None and 0 < node.patience[1] <= 90
    assert node.reaped == ["shell-1"]
    # The step log and the display say it too.
    assert "again from its read (attempt 2 of" in (run / "OCTO1" / "ping.log").read_text()
    assert any("ping was cut off" in line and "attempt 2" in line for line in render(fold(events), width=300))


@pytest.mark.parametrize("failure", [
    ScriptError("OCTO1", "wait-ping", "request", "boom", 1),
    RemoteError("OCTO1", "auth", "the node rejected the credentials (HTTP 401)", "check the password"),
    RemoteError("OCTO1", "tls", "TLS with OCTO1 failed", "set ca_cert"),
    RemoteError("OCTO1", "timeout", "the command did not finish within 180 s and was terminated", "raise it",
                retryable=True),
    RemoteError("OCTO1", "wsman", "WS-Management fault 5 (0x00000005): Access is denied.", "see the event log",
                retryable=True, http_status=500, fault_code=5),
], ids=["script-error", "auth", "tls", "deadline", "wsman-access-denied"])
def test_failures_that_are_not_transport_are_never_retried(plan: Plan, tmp_path: Path,
                                                           failure: BaseException) -> None:
    node = Node([failure, {"status": 200}])
    code, events, _ = execute(plan, node, tmp_path)
    assert code == 1
    assert not of(events, "step_retried") and len(node.sessions) == 1
    (failed,) = of(events, "step_failed")
    assert failed["step"] == "ping" and failed["hint"]


def test_a_step_is_tried_a_bounded_number_of_times_and_the_hint_says_what_was_done(plan: Plan,
                                                                                     tmp_path: Path) -> None:
    node = Node([dropped() for _ in range(10)])
    code, events, _ = execute(plan, node, tmp_path)
    assert code == 1
    assert [e["attempt"] for e in of(events, "step_retried")] == list(range(2, MAX_STEP_ATTEMPTS + 1))
    assert len(node.sessions) == MAX_STEP_ATTEMPTS
    (failed,) = of(events, "step_failed")
    assert failed["step"] == "ping"
    assert f"tried {MAX_STEP_ATTEMPTS} times" in failed["error"]
    assert f"again from its read {MAX_STEP_ATTEMPTS - 1} times" in failed["hint"]
    assert "octotui apply" in failed["hint"] and "commands that are safe to repeat" not in failed["hint"]


def test_the_patience_for_a_node_is_shared_by_its_retries(plan: Plan, tmp_path: Path) -> None:
    """A node that does not come back within the patience fails the step it cut off (not ``connect``)."""
    def refuse(patience: float | None) -> None:
        assert patience is not None and patience <= 5
        raise RemoteError("OCTO1", "refused", "127.0.0.1:5985 refused the connection", "enable the listener",
                          retryable=True, transient=True)

    node = Node([dropped()], connect=refuse)
    code, events, _ = execute(plan, node, tmp_path, retry_patience_s=5)
    assert code == 1
    assert len(of(events, "step_retried")) == 1
    (failed,) = of(events, "step_failed")
    assert failed["step"] == "ping"
    assert "refused" in failed["error"] and "connecting again" in failed["error"]
    assert "patience for OCTO1" in failed["hint"]


def test_no_patience_left_means_no_retry(plan: Plan, tmp_path: Path) -> None:
    node = Node([dropped(), {"status": 200}])
    code, events, _ = execute(plan, node, tmp_path, retry_patience_s=0)
    assert code == 1 and not of(events, "step_retried")
    (failed,) = of(events, "step_failed")
    assert "used up" in failed["hint"]
