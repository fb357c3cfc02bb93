"""The detached runner: ``python -m octotui _runner``, the process that executes a run.

``octotui apply`` and the wizard start it (``octotui.run.start``) and follow its journal. It receives the
secrets through a pipe, writes every event to the journal through the one redactor, takes the cluster's
lease on every node before anything changes, and finishes the run even if the terminal that started it goes
away. Its own stderr is ``runner.log`` in the run folder (``octotui.run.detach``): what it has to say
outside the journal goes there, through ``_log``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octotui.errors import BadInput, ExitCode
from octotui.plan.build import Plan, build_plan
from octotui.spec.model import ClusterSpec

if TYPE_CHECKING:
    from octotui.secrets.master_key import MasterKeyKept


def _log(text: str) -> None:
    """A line for runner.log (the runner's stderr, redacted by ``protect_std_streams``)."""
    print(text, file=sys.stderr)


def _load_spec(answers: str) -> ClusterSpec | None:
    """The answers, or None after saying in runner.log why they are not valid."""
    from octotui.run.prepare import load_spec
    from octotui.spec.answers import AnswersError, format_problems
    from octotui.textsafe import safe_message

    try:
        return load_spec(answers)
    except AnswersError as exc:
        _log(format_problems(exc))
    except BadInput as exc:
        _log(f"octotui: {safe_message(str(exc))}")
    return None


# --- the runner (detached process) ------------------------------------------------------------------------


def runner_main(run_dir: Path, answers: str, *, take_over: bool = False) -> int:
    """The body of the detached run: journal, plan, take the cluster lease on every node, execute, store the
    master key, release the lease, finish. ``take_over``: take the lease even from a live holder."""
    from octotui.errors import ClusterBusy
    from octotui.remote.connect import session_factory
    from octotui.run import locks
    from octotui.run.cancel import CancelToken
    from octotui.run.detach import protect_std_streams, read_handed_secrets
    from octotui.run.executor import Executor
    from octotui.run.journal import JournalWriter, plan_summary
    from octotui.run.lease import LeaseUnavailable
    from octotui.secrets.redact import default_redactor

    redactor = default_redactor()
    handed = read_handed_secrets()
    redactor.add_many(list(handed.values()))
    protect_std_streams(redactor)
    try:
        lock = locks.lock_run(run_dir)
    except locks.LockBusy as exc:
        _log(str(exc))
        return int(ExitCode.FAILED)
    from octotui.run.journal_read import read_events

    resumed = any(True for _ in read_events(run_dir))
    home = run_dir.parent.parent  # <home>/runs/<id>
    local_lock = locks.inherited_cluster_lock(home, Path(answers), run_dir.name)
    with JournalWriter(run_dir, redactor, stream_redactor=redactor.stream) as journal:
        spec = _load_spec(answers)
        if spec is None:
            locks.end_cluster_lock(local_lock)
            journal.run_finished("failed", exit_code=int(ExitCode.BAD_INPUT), message="the answers file is not valid")
            return int(ExitCode.BAD_INPUT)
        plan = build_plan(spec, have_winrm_password="winrm" in handed, have_service_password="service" in handed)
        summary = plan_summary({n: [(s.step, s.title) for s in steps] for n, steps in _chains(plan).items()})
        journal.run_started(mode=spec.mode, plan=summary, resumed=resumed,
                            version=str(spec.octopus_version))
        for w in plan.warnings:
            journal.note(w, level="warning")
        cancel = CancelToken(run_dir)
        restore = cancel.install_signal_handlers()
        from octotui.run.key_gate import key_gate_requested, key_gate_waiter

        gate = key_gate_waiter(run_dir, cancel, journal) if key_gate_requested(run_dir) else None
        lease = _cluster_lease(spec, handed, run_dir, answers, journal, take_over=take_over)
        try:
            lease.take()  # before anything changes; raises holding nothing
        except (ClusterBusy, LeaseUnavailable) as exc:
            restore()
            locks.end_cluster_lock(local_lock)
            code = _lease_refused(journal, exc)
        else:
            lease.keep(on_lost=_on_lease_lost(journal, cancel))
            try:
                outcome = Executor(plan, session_factory(spec, handed), journal, cancel,
                                   passwords=handed, master_key=handed.get("master_key"),
                                   on_master_key=_master_key_keeper(spec, redactor, run_dir, handed),
                                   before_joins=gate).run()
            except Exception as exc:  # never leave a run without its end in the journal
                lease.release()
                locks.end_cluster_lock(local_lock)
                journal.step_failed("cluster", "run", error=f"the run stopped unexpectedly: {exc}",
                                    hint="see runner.log in the run folder")
                journal.run_finished("failed", exit_code=int(ExitCode.FAILED))
                raise
            finally:
                restore()
            # Free the cluster before saying the run ended: whoever follows may start the next run at once.
            lease.release()
            locks.end_cluster_lock(local_lock)
            message = {"done": f"done: {outcome.changed_steps} step(s) changed something",
                       "failed": f"{len(outcome.failures)} step(s) failed",
                       "cancelled": "cancelled at a safe point; run apply again to continue"}[outcome.status]
            if lease.lost and outcome.status == "cancelled":
                message = f"stopped at a safe point because {lease.lost[0]}; run apply again to continue"
            journal.run_finished(outcome.status, exit_code=outcome.exit_code, message=message)
            code = outcome.exit_code
    lock.release()
    return code


def _cluster_lease(spec: ClusterSpec, handed: dict[str, str], run_dir: Path, answers: str, journal: Any, *,
                   take_over: bool) -> Any:
    """The run's lease on every node, over sessions of its own (a renewal runs beside the steps)."""
    from octotui.remote.session import NodeSession
    from octotui.run.lease import ClusterLease, this_console

    nodes = {n.name: n for n in spec.nodes}

    def connect(name: str) -> Any:
        session = NodeSession.from_spec(nodes[name], spec.winrm, handed.get("winrm"))
        try:
            session.open()
        except BaseException:
            session.close()
            raise
        return session

    def note(node: str, text: str) -> None:
        journal.note(text, node=node, level="warning")

    return ClusterLease(this_console(run_dir.name, run_dir.parent.parent), list(nodes), connect, answers=answers,
                        take_over=take_over, note=note)


def _lease_refused(journal: Any, exc: Any) -> int:
    """End a run that could not take the cluster lease: busy (held by another run) or a node that could not
    be asked. Nothing was changed on any node either way."""
    from octotui.errors import ClusterBusy

    if isinstance(exc, ClusterBusy):
        journal.run_finished("busy", exit_code=int(ExitCode.BUSY), message=exc.message, hint=exc.hint)
        return int(ExitCode.BUSY)
    journal.step_failed(exc.node, "lease", error=exc.message, hint=exc.hint or "check the node, then apply again")
    journal.run_finished("failed", exit_code=int(ExitCode.FAILED),
                         message=f"could not take the cluster lease on {exc.node}; nothing was changed")
    return int(ExitCode.FAILED)


def _on_lease_lost(journal: Any, cancel: Any) -> Callable[[str], None]:
    def lost(reason: str) -> None:
        journal.note(f"{reason}: stopping at the next safe point", level="warning")
        cancel.request(reason)

    return lost


def _chains(plan: Plan) -> dict[str, list[Any]]:
    chains: dict[str, list[Any]] = {}
    for st in plan.all_steps():
        chains.setdefault(st.node, []).append(st)
    return chains


def _master_key_keeper(spec: ClusterSpec, redactor: Any, run_dir: Path,
                       handed: dict[str, str]) -> Callable[[str], MasterKeyKept]:
    """Keep the master key read from node 1 where ``apply`` decided (the run folder says; the encrypted
    file's passphrase came with the secrets), and say where it went: the executor journals
    ``master_key_stored`` only for a place that really holds it, else ``master_key_not_stored`` with
    the hint built here (the command that reads the key again on node 1)."""
    from octotui.secrets import master_key as mk
    def keep(key: str) -> MasterKeyKept:
        redactor.add(key)  # before anything can print it
        try:
            kept = mk.keep_master_key(spec.connection_string, key, mk.recorded_master_key_store(run_dir),
                                       passphrase=handed.get(mk.PASSPHRASE_SECRET))
        except Exception as exc:  # the run goes on: the key is still in node 1's configuration
            kept = mk.MasterKeyKept(None, f"storing it failed unexpectedly: {exc}")
        if kept.where:
            return kept
        return mk.MasterKeyKept(None, kept.reason, _read_master_key_hint(spec))

    return keep


def _read_master_key_hint(spec: ClusterSpec) -> str:
    """How to read the master key again on node 1, to record it (or to give it to a join run)."""
    from octotui.windows import octopus as oc
    from octotui.windows.quoting import UnsafeArgumentError, cmd_line

    argv = [oc.exe_path(), "show-master-key", "--console", "--instance", spec.instance]
    try:
        command = cmd_line(argv, outer_quotes=False)
    except UnsafeArgumentError:
        command = oc.preview(argv)
    return (f"on {spec.nodes[0].name}, in an elevated prompt, run {command} and keep the key in your password "
            "safe; a join run takes it from OCTOTUI_MASTER_KEY or the keyring")
