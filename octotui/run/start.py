"""Starting (or resuming) a detached run: the one way both faces start one.

``octotui apply`` and the wizard each ask a person in their own way (secrets, the master-key store,
confirmation), then call ``start_run``: it creates the run folder, takes the local cluster lock in that
run's name, and starts the runner (``python -m octotui _runner``) with the secrets over its stdin and the
lock handed over. A run started by one face is followed or resumed by the other (``octotui attach``, the
wizard's welcome screen). Nothing here prints or prompts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from octotui.errors import BadInput, ClusterBusy, OctotuiError
from octotui.secrets.master_key import MasterKeyStore

#: In a run folder: the answers file the run was started from (a path, no secret), for resume and review.
ANSWERS_POINTER = "answers.path"


def start_run(answers: str | Path, secrets: Mapping[str, str], *, home: Path | None = None,
              resume: Path | None = None, confirm_master_key: bool = False, take_over: bool = False,
              master_key_store: MasterKeyStore | None = None) -> Path:
    """Start (or resume, ``resume`` being its run folder) a detached run of ``answers``; return its run
    folder at once.

    ``confirm_master_key``: the joins wait for the administrator (``octotui.run.key_gate``).
    ``take_over``: the runner takes the cluster's lease even from a live holder. ``master_key_store``: where
    the runner keeps the master key the first node creates (decided by the face; None: the default).
    Raises ``ClusterBusy`` when another run drives the same answers file (or executes ``resume``),
    ``BadInput`` for answers that do not validate."""
    from octotui.home import octotui_home, write_private_text
    from octotui.run import detach, locks
    from octotui.run import store as runstore
    from octotui.run.cancel import clear_cancel_request
    from octotui.run.key_gate import set_key_gate
    from octotui.run.prepare import load_spec, runner_secrets
    from octotui.spec.answers import AnswersError

    answers_path = Path(answers).resolve()
    try:
        load_spec(answers_path)
    except AnswersError as exc:
        raise BadInput(str(exc), "fix the answers, then start again") from None
    home = home or octotui_home()
    # The run folder first, so that the local lock names a run that exists (`octotui attach` finds it).
    # This lock is only the fast local guard (same home, same answers file); the lease the runner takes on
    # the nodes is what keeps every other console, home and copy of the answers off the cluster.
    if resume is not None:
        run_dir = Path(resume)
        if locks.run_lock_held(run_dir):
            raise ClusterBusy(f"run {run_dir.name} is already being executed; follow it with "
                              f"`octotui attach {run_dir.name}`")
    else:
        run_dir = runstore.create_run_dir(home)
    try:
        lock = locks.lock_cluster(home, answers_path, run_dir.name)
    except locks.LockBusy as exc:
        if resume is None:
            runstore.discard_unused_run_dir(run_dir)
        raise ClusterBusy(str(exc)) from None
    try:
        if resume is not None:
            clear_cancel_request(run_dir)
        write_private_text(run_dir / ANSWERS_POINTER, str(answers_path) + "\n")
        set_key_gate(run_dir, confirm_master_key)
        if master_key_store is not None:  # the encrypted file's passphrase goes with the secrets
            from octotui.secrets.master_key import record_master_key_store

            record_master_key_store(run_dir, master_key_store)
        argv = [sys.executable, "-m", "octotui", "_runner", "--run", str(run_dir), "--answers", str(answers_path)]
        if take_over:
            argv.append("--take-over")
        detach.start_detached(argv, runner_secrets(secrets), run_dir, env=dict(os.environ), handover=[lock])
    except OSError as exc:
        raise OctotuiError(f"could not start the run: {exc}", "check OCTOTUI_HOME is writable") from None
    finally:
        lock.close_handle()
    return run_dir


def run_answers(run_dir: Path) -> Path | None:
    """The answers file a run was started from (None for a run that does not record it)."""
    try:
        text = (Path(run_dir) / ANSWERS_POINTER).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None
