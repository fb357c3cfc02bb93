"""``octotui plan | apply | attach | runs``, and the detached runner that ``apply`` starts.

``apply`` does what needs a person at the terminal (load and validate the answers, find the secrets,
show the plan, confirm), then hands the run to a detached process and follows its journal. The runner is
``python -m octotui _runner``: it receives the secrets through a pipe, writes every event to the journal
through the one redactor, and finishes the run even if the terminal that started it goes away.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octotui.errors import ExitCode
from octotui.plan.build import Plan, build_plan, format_plan
from octotui.spec.answers import AnswersError, format_problems, load_answers
from octotui.spec.model import ClusterSpec, NodeSpec

if TYPE_CHECKING:
    from octotui.run.executor import RemoteFactory
    from octotui.run.journal import RunSummary
    from octotui.secrets.store import MasterKeyDecision, MasterKeyKept

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 3
#: How long a run waits for a node that refuses connections (it may be rebooting) before it fails.
CONNECT_PATIENCE_S = 90.0


@dataclass
class Prepared:
    spec: ClusterSpec
    plan: Plan
    secrets: dict[str, str]  # "winrm", "service", "master_key"


def _err(message: str) -> None:
    """The one printer of error messages. Messages embed untrusted values (answers, paths, node output):
    as a last safety net, control characters are escaped and long lines shortened here."""
    from octotui.textsafe import safe_message

    print(f"octotui: {safe_message(message)}", file=sys.stderr)


def load_spec(path: str) -> ClusterSpec | None:
    try:
        return load_answers(path)
    except AnswersError as exc:
        print(format_problems(exc), file=sys.stderr)
        return None
    except OSError as exc:
        _err(f"cannot read the answers file {path}: {exc.strerror}")
        return None


def gather_secrets(spec: ClusterSpec, *, need: bool = True) -> dict[str, str] | None:
    """Every secret the run needs, from the environment, the keyring or a prompt; None after saying what
    is missing (naming the environment variable to set)."""
    from octotui.secrets import store as sec
    store = sec.Secrets()
    found: dict[str, str] = {}
    names = {"winrm_password": "winrm", "service_password": "service", "master_key": "master_key"}
    for ref in sec.refs_for(spec):
        try:
            found[names[ref.name]] = store.get(ref)
        except sec.SecretMissing as exc:
            if need:
                _err(str(exc))
                return None
        except (sec.SecretInvalid, sec.KeyringUnavailable) as exc:
            _err(str(exc))
            return None
    return found


def prepare(answers: str, *, need_secrets: bool = True) -> Prepared | int:
    spec = load_spec(answers)
    if spec is None:
        return EXIT_BAD_INPUT
    found = gather_secrets(spec, need=need_secrets)
    if found is None:
        return EXIT_BAD_INPUT
    plan = build_plan(spec, have_winrm_password="winrm" in found, have_service_password="service" in found)
    return Prepared(spec, plan, found)


# --- plan -------------------------------------------------------------------------------------------------


def plan_command(answers: str) -> int:
    prepared = prepare(answers, need_secrets=False)
    if isinstance(prepared, int):
        return prepared
    sys.stdout.write(_redacted(format_plan(prepared.plan)))
    return EXIT_OK


def _redacted(text: str) -> str:
    from octotui.secrets.redact import default_redactor

    return default_redactor().redact(text)


def export_command(answers: str, output: Path | None) -> int:
    from octotui.errors import OctotuiError
    from octotui.plan.export import check_no_secret, export_powershell
    from octotui.secrets.store import ENV_VARS
    from octotui.windows.quoting import UnsafeArgumentError

    spec = load_spec(answers)
    if spec is None:
        return EXIT_BAD_INPUT
    try:
        # Code, not output: never through the redactor (it would mask `... = Read-Secret ...` and break the
        # script); instead, refuse a script that holds the value of a secret this process knows.
        script = export_powershell(spec)
        check_no_secret(script, {var: os.environ.get(var, "") for var in ENV_VARS.values()})
    except UnsafeArgumentError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except OctotuiError as exc:
        _err(str(exc))
        return int(exc.exit_code)
    if output is None:
        sys.stdout.write(script)
    else:
        output.write_text(script, encoding="utf-8-sig")  # PowerShell 5.1 reads BOM-less files as ANSI
        print(f"wrote {output}: run it on each node with -Node NAME, {spec.nodes[0].name} first", file=sys.stderr)
    return EXIT_OK


# --- apply ------------------------------------------------------------------------------------------------


def apply_command(answers: str, *, yes: bool, resume: str | None, detach_only: bool = False,
                  home: Path | None = None, take_over: bool = False, master_key_store: str | None = None) -> int:
    from octotui.home import ensure_home_writable, octotui_home
    from octotui.run import detach
    from octotui.run import store as runstore
    from octotui.run.progress import LiveProgress

    home = ensure_home_writable(home)  # a folder it cannot write is bad input, refused before anything starts
    prepared = prepare(answers)
    if isinstance(prepared, int):
        return prepared
    if prepared.plan.credential_identity is None:
        for w in prepared.plan.warnings:
            _err(w)
        return EXIT_BAD_INPUT
    if yes:  # no review, but the warnings (e.g. certificates not validated) still come before anything is sent
        for w in prepared.plan.warnings:
            _err(f"WARNING: {w}")
    else:
        sys.stdout.write(_redacted(format_plan(prepared.plan)))
    keep_key = _decide_master_key_store(prepared, master_key_store, interactive=not yes and sys.stdin.isatty())
    if isinstance(keep_key, int):
        return keep_key
    if not yes:
        if not sys.stdin.isatty():
            _err("not starting without confirmation: add --yes to run it non-interactively")
            return EXIT_BAD_INPUT
        answer = input("Start this run? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            _err("not started")
            return EXIT_CANCELLED
    home = home or octotui_home()
    answers_path = str(Path(answers).resolve())
    # The run folder first, so that the local lock names a run that exists (`octotui attach` finds it).
    # This lock is only the fast local guard (same home, same answers file); the lease the runner takes on
    # the nodes is what keeps every other console, home and copy of the answers off the cluster.
    if resume:
        try:
            run_dir = runstore.resolve_run(home, resume)
        except runstore.RunNotFound as exc:
            _err(str(exc))
            return EXIT_BAD_INPUT
        if runstore.run_lock_held(run_dir):
            _err(f"run {run_dir.name} is already being executed; follow it with `octotui attach {run_dir.name}`")
            return int(ExitCode.BUSY)
    else:
        run_dir = runstore.create_run_dir(home)
    try:
        cluster_lock = runstore.lock_cluster(home, Path(answers_path), run_dir.name)
    except runstore.LockBusy as exc:
        if not resume:
            runstore.discard_unused_run_dir(run_dir)
        _err(str(exc))
        return int(ExitCode.BUSY)
    try:
        if resume:
            from octotui.run.cancel import clear_cancel_request
            from octotui.run.journal import read_events

            clear_cancel_request(run_dir)
            after_seq = max((int(e.get("seq", 0)) for e in read_events(run_dir)), default=0)
        else:
            after_seq = 0
        if keep_key is not None:  # where the runner keeps the master key (the passphrase goes with the secrets)
            from octotui.secrets.store import record_master_key_store

            record_master_key_store(run_dir, keep_key.store)
        argv = [sys.executable, "-m", "octotui", "_runner", "--run", str(run_dir), "--answers", answers_path]
        if take_over:
            argv.append("--take-over")
        env = dict(os.environ)
        detach.start_detached(argv, prepared.secrets, run_dir, env=env, handover=[cluster_lock])
    finally:
        cluster_lock.close_handle()
    print(f"run {run_dir.name} started (log: {run_dir}); `octotui attach {run_dir.name}` follows it",
          file=sys.stderr)
    if detach_only:
        return EXIT_OK
    return LiveProgress(run_dir, after_seq=after_seq).run()


def attach_command(run: str | None, home: Path | None = None) -> int:
    from octotui.home import ensure_home_readable
    from octotui.run import store as runstore
    from octotui.run.progress import LiveProgress

    try:
        run_dir = runstore.resolve_run(ensure_home_readable(home), run)
    except runstore.RunNotFound as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    return LiveProgress(run_dir).run()


def runs_command(home: Path | None = None) -> int:
    from octotui.home import ensure_home_readable
    from octotui.run.journal import list_runs

    runs = list_runs(ensure_home_readable(home))
    if not runs:
        print("no runs yet")
        return EXIT_OK
    print(f"{'RUN':<22} {'STATUS':<10} {'MODE':<7} {'START':<16} {'DURATION':<13} NODES")
    for r in runs:
        start = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started is not None else "-"
        print(f"{r.id:<22} {r.status:<10} {r.mode or '-':<7} {start:<16} {_run_duration(r):<13} {','.join(r.nodes)}")
    return EXIT_OK


def _run_duration(run: RunSummary) -> str:
    """How long a run took: to its end; so far (``running 0m42s``); or, for a run whose process is gone
    without an end, to its last event."""
    from octotui.run.journal import read_events
    from octotui.run.progress import fmt_duration

    if run.started is None:
        return "-"
    if run.finished is not None:
        return fmt_duration(run.finished - run.started)
    if run.status == "running":
        return f"running {fmt_duration(time.time() - run.started)}"
    last = max((float(e["ts"]) for e in read_events(run.path) if isinstance(e.get("ts"), int | float)),
               default=run.started)
    return fmt_duration(last - run.started)


# --- the runner (detached process) ------------------------------------------------------------------------


def runner_main(run_dir: Path, answers: str, *, take_over: bool = False) -> int:
    """The body of the detached run: journal, plan, take the cluster lease on every node, execute, store the
    master key, release the lease, finish. ``take_over``: take the lease even from a live holder."""
    from octotui.errors import ClusterBusy
    from octotui.run import store as runstore
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
        lock = runstore.lock_run(run_dir)
    except runstore.LockBusy as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    from octotui.run.journal import read_events

    resumed = any(True for _ in read_events(run_dir))
    home = run_dir.parent.parent  # <home>/runs/<id>
    local_lock = runstore.inherited_cluster_lock(home, Path(answers), run_dir.name)
    with JournalWriter(run_dir, redactor, stream_redactor=redactor.stream) as journal:
        spec = load_spec(answers)
        if spec is None:
            runstore.end_cluster_lock(local_lock)
            journal.run_finished("failed", exit_code=EXIT_BAD_INPUT, message="the answers file is not valid")
            return EXIT_BAD_INPUT
        plan = build_plan(spec, have_winrm_password="winrm" in handed, have_service_password="service" in handed)
        summary = plan_summary({n: [(s.step, s.title) for s in steps] for n, steps in _chains(plan).items()})
        journal.run_started(mode=spec.mode, plan=summary, resumed=resumed,
                            version=spec.octopus_version)
        for w in plan.warnings:
            journal.note(w, level="warning")
        cancel = CancelToken(run_dir)
        restore = cancel.install_signal_handlers()
        from octotui.launch import key_gate_requested, key_gate_waiter

        gate = key_gate_waiter(run_dir, cancel, journal) if key_gate_requested(run_dir) else None
        lease = _cluster_lease(spec, handed, run_dir, answers, journal, take_over=take_over)
        try:
            lease.take()  # before anything changes; raises holding nothing
        except (ClusterBusy, LeaseUnavailable) as exc:
            restore()
            runstore.end_cluster_lock(local_lock)
            code = _lease_refused(journal, exc)
        else:
            lease.keep(on_lost=_on_lease_lost(journal, cancel))
            try:
                outcome = Executor(plan, _remote_factory(spec, handed), journal, cancel,
                                   passwords=handed, master_key=handed.get("master_key"),
                                   on_master_key=_master_key_keeper(spec, redactor, run_dir, handed),
                                   before_joins=gate).run()
            except Exception as exc:  # never leave a run without its end in the journal
                lease.release()
                runstore.end_cluster_lock(local_lock)
                journal.step_failed("cluster", "run", error=f"the run stopped unexpectedly: {exc}",
                                    hint="see runner.log in the run folder")
                journal.run_finished("failed", exit_code=EXIT_FAILED)
                raise
            finally:
                restore()
            # Free the cluster before saying the run ended: whoever follows may start the next run at once.
            lease.release()
            runstore.end_cluster_lock(local_lock)
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


def _remote_factory(spec: ClusterSpec, handed: dict[str, str]) -> RemoteFactory:
    from octotui.remote.session import NodeSession

    env = {"OCTOPUS_SERVICE_PASSWORD": handed["service"]} if "service" in handed else {}

    def make(node: NodeSpec, /, *, patience_s: float | None = None) -> Any:
        """Connect, waiting out a node that is restarting (refused, unreachable or dropping connections for a
        while: a transport fault) for up to ``patience_s`` (default ``CONNECT_PATIENCE_S``); credentials and
        TLS problems fail at once, since waiting cannot fix them."""
        import time

        from octotui.remote.session import RemoteError

        deadline = time.monotonic() + (CONNECT_PATIENCE_S if patience_s is None else patience_s)
        delay = 0.5
        while True:
            session = NodeSession.from_spec(node, spec.winrm, handed.get("winrm"), env=env)
            try:
                session.open()
                return session
            except RemoteError as exc:
                session.close()
                if not exc.transient or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    return make


def _decide_master_key_store(prepared: Prepared, choice: str | None, *,
                             interactive: bool) -> MasterKeyDecision | int | None:
    """Before a create run starts (the runner is detached and can ask nobody): where will the master key
    node 1 creates be kept? None when the run reads no master key (join mode); an exit code when it must
    not start. Says the outcome on stderr; the encrypted file's passphrase joins the runner's secrets."""
    from octotui.errors import OctotuiError
    from octotui.secrets import store as sec

    if not any(st.step == "master-key" for st in prepared.plan.first):
        return None
    first = prepared.spec.nodes[0].name

    def ask(status: sec.KeyringStatus, path: Path) -> sec.MasterKeyStore | None:
        print(f"No keyring works here ({status.summary}{': ' + status.detail if status.detail else ''}).\n"
              f"The master key {first} creates is the one secret whose loss cannot be undone. Keep it:\n"
              f"  [f] in an encrypted file, protected by a passphrase ({path})\n"
              f"  [n] nowhere: octotui shows how to read it from {first}, and you record it yourself\n"
              "  [q] do not start", file=sys.stderr)
        while True:
            try:
                answer = input("Where? [f/n/q] ").strip().lower()
            except EOFError:
                return None
            if answer in ("f", "file"):
                return "file"
            if answer in ("n", "none", "nowhere"):
                return "none"
            if answer in ("q", "quit", ""):
                return None

    def ask_passphrase(path: Path, new: bool) -> str:
        import getpass

        first_try = getpass.getpass(f"Passphrase for {'a new encrypted file' if new else 'the encrypted file'} "
                                    f"{path}: ")
        if new and first_try and getpass.getpass("The same passphrase again: ") != first_try:
            _err("the two passphrases differ")
            return ""
        return first_try

    if choice is not None and choice not in sec.MASTER_KEY_STORES:
        _err(f"--master-key-store must be one of {', '.join(sec.MASTER_KEY_STORES)}, not {choice!r}")
        return EXIT_BAD_INPUT
    try:
        decision = sec.decide_master_key_store(choice,
                                               ask=ask if interactive else None,
                                               ask_passphrase=ask_passphrase if interactive else None)
    except OctotuiError as exc:
        _err(str(exc))
        return int(exc.exit_code)
    if decision.passphrase:
        prepared.secrets[sec.PASSPHRASE_SECRET] = decision.passphrase
    if decision.store == "none":
        _err(f"WARNING: the master key {first} creates will NOT be stored (--master-key-store none); the run "
             "shows how to read it from there so that you can record it")
    else:
        _err(f"the master key {first} creates will be kept in {decision.where}")
    return decision


def _master_key_keeper(spec: ClusterSpec, redactor: Any, run_dir: Path,
                       handed: dict[str, str]) -> Callable[[str], MasterKeyKept]:
    """Keep the master key read from node 1 where ``apply`` decided (the run folder says; the encrypted
    file's passphrase came with the secrets), and say where it went: the executor journals
    ``master_key_stored`` only for a place that really holds it, else ``master_key_not_stored`` with
    the hint built here (the command that reads the key again on node 1)."""
    from octotui.secrets import store as sec
    def keep(key: str) -> MasterKeyKept:
        redactor.add(key)  # before anything can print it
        try:
            kept = sec.keep_master_key(spec.connection_string, key, sec.recorded_master_key_store(run_dir),
                                       passphrase=handed.get(sec.PASSPHRASE_SECRET))
        except Exception as exc:  # the run goes on: the key is still in node 1's configuration
            kept = sec.MasterKeyKept(None, f"storing it failed unexpectedly: {exc}")
        if kept.where:
            return kept
        return sec.MasterKeyKept(None, kept.reason, _read_master_key_hint(spec))

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
