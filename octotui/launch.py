"""Preparing and starting a run without a terminal in between: problems as values, the run folder back.

``octotui apply`` asks at a terminal (secrets, confirmation) and prints; the wizard has already asked, in
its own way, and needs values: the plan and its problems to show, then the run folder to follow. Both
start the same detached runner (``python -m octotui _runner``) with the secrets over its stdin, under the
same cluster lock, so a run started here is followed by ``octotui attach`` and the other way round.

The master-key gate: a run started with ``confirm_master_key=True`` (the wizard in create mode) waits,
after the first node's master key is read and before any other node joins, until the administrator
confirms the key is recorded (``confirm_master_key``) or the run is cancelled. The journal says it waits
(``master_key_waiting``) and when it goes on (``master_key_confirmed``). The CLI's ``apply --yes`` never
sets the gate, so scripted runs behave as before.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octotui.errors import BadInput, ClusterBusy, OctotuiError
from octotui.plan.build import Plan
from octotui.spec.answers import Problem
from octotui.spec.model import ClusterSpec

#: In a run folder: the answers file the run was started from (a path, no secret), for resume and review.
ANSWERS_POINTER = "answers.path"
#: In a run folder: present when the run must wait for the master key to be confirmed before joins.
KEY_GATE = "master-key.gate"
#: In a run folder: written when the administrator confirmed that the master key is recorded.
KEY_CONFIRMED = "master-key.confirmed"


@dataclass
class Preparation:
    """What a run of these answers would do, or why it cannot start (``problems`` non-empty)."""

    spec: ClusterSpec | None = None
    plan: Plan | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and self.plan is not None and not self.problems


def prepare_values(data: Mapping[str, Any], secrets: Mapping[str, str], *,
                   base_dir: Path | None = None) -> Preparation:
    """Validate the answers and build the plan with the secrets at hand; never prints or prompts."""
    from octotui.answers_writer import clean_answers
    from octotui.plan.build import build_plan
    from octotui.secrets.store import valid_master_key
    from octotui.spec.answers import AnswersError, parse_answers

    try:
        spec = parse_answers(clean_answers(data), base_dir=base_dir)
    except AnswersError as exc:
        return Preparation(problems=exc.problems)
    problems: list[Problem] = []
    if spec.winrm.transport not in ("certificate", "kerberos") and not secrets.get("winrm"):
        problems.append(Problem("winrm.password", f"no password for {spec.winrm.username}",
                                "type it on the Nodes screen"))
    if not spec.service_account.is_gmsa and not secrets.get("service"):
        problems.append(Problem("service_account.password", f"no password for {spec.service_account.username}",
                                "type it on the Service account screen"))
    if spec.mode == "join":
        key = secrets.get("master_key") or ""
        if not valid_master_key(key):
            problems.append(Problem("master_key", "no valid master key (base64 of 16 or 32 bytes)",
                                    "give the cluster's master key on the Master key screen"))
    plan = build_plan(spec, have_winrm_password=bool(secrets.get("winrm")),
                      have_service_password=bool(secrets.get("service")))
    if plan.credential_identity is None:
        problems.append(Problem("winrm.transport", plan.warnings[-1] if plan.warnings else
                                "no identity can reach SQL Server and the share from the nodes",
                                "use transport = \"credssp\" or give the WinRM password"))
    warnings = list(plan.warnings)
    if spec.winrm.https and spec.winrm.server_cert_validation == "ignore":
        warnings.insert(0, "WinRM certificates are not validated (server_cert_validation = \"ignore\"): anyone "
                           "between this console and the nodes could read the passwords")
    return Preparation(spec=spec, plan=plan, problems=problems, warnings=warnings)


def _runner_secrets(secrets: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in secrets.items() if k in ("winrm", "service", "master_key") and v}


def start_run(answers: Path, secrets: Mapping[str, str], *, home: Path | None = None, resume: Path | None = None,
              confirm_master_key: bool = False) -> Path:
    """Start (or resume) a detached run of ``answers`` and return its run folder at once.

    Raises ``ClusterBusy`` when another run drives the same answers file, ``BadInput`` for answers that do
    not validate. The secrets go to the runner over a pipe; nothing here prints."""
    from octotui.home import octotui_home, write_private_text
    from octotui.run import detach
    from octotui.run import store as runstore
    from octotui.run.cancel import clear_cancel_request
    from octotui.spec.answers import AnswersError, load_answers

    answers_path = Path(answers).resolve()
    try:
        load_answers(answers_path)
    except AnswersError as exc:
        raise BadInput(str(exc), "fix the answers, then start again") from None
    home = home or octotui_home()
    try:
        lock = runstore.lock_cluster(home, answers_path, "pending")
    except runstore.LockBusy as exc:
        raise ClusterBusy(str(exc), "attach to that run from the welcome screen") from None
    try:
        if resume is not None:
            run_dir = Path(resume)
            clear_cancel_request(run_dir)
        else:
            run_dir = runstore.create_run_dir(home)
        write_private_text(run_dir / ANSWERS_POINTER, str(answers_path) + "\n")
        if confirm_master_key:
            write_private_text(run_dir / KEY_GATE, json.dumps({"ts": round(time.time(), 3)}) + "\n")
        else:
            (run_dir / KEY_GATE).unlink(missing_ok=True)
        argv = [sys.executable, "-m", "octotui", "_runner", "--run", str(run_dir), "--answers", str(answers_path)]
        detach.start_detached(argv, _runner_secrets(secrets), run_dir, env=dict(os.environ), handover=[lock])
    except OSError as exc:
        raise OctotuiError(f"could not start the run: {exc}", "check OCTOTUI_HOME is writable") from None
    finally:
        lock.close_handle()
    return run_dir


def run_answers(run_dir: Path) -> Path | None:
    """The answers file a run was started from (runs started by ``octotui apply`` do not record it)."""
    try:
        text = (Path(run_dir) / ANSWERS_POINTER).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None


# --- the master-key gate -----------------------------------------------------------------------------------


def key_gate_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / KEY_GATE).exists()


def confirm_master_key(run_dir: Path) -> None:
    """The administrator has recorded the master key: let the joins start."""
    from octotui.home import write_private_text

    write_private_text(Path(run_dir) / KEY_CONFIRMED, json.dumps({"ts": round(time.time(), 3)}) + "\n")


def key_confirmed(run_dir: Path) -> bool:
    return (Path(run_dir) / KEY_CONFIRMED).exists()


def key_gate_waiter(run_dir: Path, cancel: Any, journal: Any, *, poll: float = 0.2) -> Callable[[], bool]:
    """For the runner: a function that blocks until the key is confirmed (True) or the run is cancelled
    (False). Journals ``master_key_waiting`` once, then ``master_key_confirmed``."""
    def wait() -> bool:
        if key_confirmed(run_dir):
            return True
        journal.emit("master_key_waiting", node="")
        while not key_confirmed(run_dir):
            if cancel.requested:
                return False
            cancel.wait(poll)
        journal.emit("master_key_confirmed")
        return True

    return wait
