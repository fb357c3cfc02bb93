"""``octotui plan | apply | attach | runs``, and the detached runner that ``apply`` starts.

``apply`` does what needs a person at the terminal (load and validate the answers, find the secrets,
show the plan, confirm), then hands the run to a detached process and follows its journal. The runner is
``python -m octotui _runner``: it receives the secrets through a pipe, writes every event to the journal
through the one redactor, and finishes the run even if the terminal that started it goes away.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octotui.answers import AnswersError, format_problems, load_answers
from octotui.plan import Plan, build_plan, format_plan
from octotui.spec import ClusterSpec, NodeSpec

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 3
#: How long a run waits for a node that refuses connections (it may be rebooting) before it fails.
CONNECT_PATIENCE_S = 90.0


@dataclass
class Prepared:
    spec: ClusterSpec
    plan: Plan
    secrets: dict[str, str]  # "winrm", "service", "master_key"


def _err(message: str) -> None:
    print(f"octotui: {message}", file=sys.stderr)


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
    from octotui import secrets as sec

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
    from octotui.redact import default_redactor

    return default_redactor().redact(text)


def export_command(answers: str, output: Path | None) -> int:
    from octotui.export import export_powershell
    from octotui.windows import UnsafeArgumentError

    spec = load_spec(answers)
    if spec is None:
        return EXIT_BAD_INPUT
    try:
        script = _redacted(export_powershell(spec))
    except UnsafeArgumentError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    if output is None:
        sys.stdout.write(script)
    else:
        output.write_text(script, encoding="utf-8-sig")  # PowerShell 5.1 reads BOM-less files as ANSI
        print(f"wrote {output}: run it on each node with -Node NAME, {spec.nodes[0].name} first", file=sys.stderr)
    return EXIT_OK


# --- apply ------------------------------------------------------------------------------------------------


def apply_command(answers: str, *, yes: bool, resume: str | None, detach_only: bool = False,
                  home: Path | None = None) -> int:
    from octotui import detach, runstore
    from octotui.home import octotui_home
    from octotui.progress import LiveProgress

    prepared = prepare(answers)
    if isinstance(prepared, int):
        return prepared
    if prepared.plan.credential_identity is None:
        for w in prepared.plan.warnings:
            _err(w)
        return EXIT_BAD_INPUT
    if not yes:
        sys.stdout.write(_redacted(format_plan(prepared.plan)))
        if not sys.stdin.isatty():
            _err("not starting without confirmation: add --yes to run it non-interactively")
            return EXIT_BAD_INPUT
        answer = input("Start this run? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            _err("not started")
            return EXIT_CANCELLED
    home = home or octotui_home()
    answers_path = str(Path(answers).resolve())
    try:
        cluster_lock = runstore.lock_cluster(home, Path(answers_path), "pending")
    except runstore.LockBusy as exc:
        _err(str(exc))
        return EXIT_FAILED
    try:
        if resume:
            try:
                run_dir = runstore.resolve_run(home, resume)
            except runstore.RunNotFound as exc:
                _err(str(exc))
                return EXIT_BAD_INPUT
            from octotui.cancel import clear_cancel_request
            from octotui.journal import read_events

            clear_cancel_request(run_dir)
            after_seq = max((int(e.get("seq", 0)) for e in read_events(run_dir)), default=0)
        else:
            run_dir = runstore.create_run_dir(home)
            after_seq = 0
        argv = [sys.executable, "-m", "octotui", "_runner", "--run", str(run_dir), "--answers", answers_path]
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
    from octotui import runstore
    from octotui.home import octotui_home
    from octotui.progress import LiveProgress

    try:
        run_dir = runstore.resolve_run(home or octotui_home(), run)
    except runstore.RunNotFound as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    return LiveProgress(run_dir).run()


def runs_command(home: Path | None = None) -> int:
    from octotui.home import octotui_home
    from octotui.journal import list_runs

    runs = list_runs(home or octotui_home())
    if not runs:
        print("no runs yet")
        return EXIT_OK
    print(f"{'RUN':<22} {'STATUS':<10} {'MODE':<7} NODES")
    for r in runs:
        print(f"{r.id:<22} {r.status:<10} {r.mode or '-':<7} {','.join(r.nodes)}")
    return EXIT_OK


# --- the runner (detached process) ------------------------------------------------------------------------


def runner_main(run_dir: Path, answers: str) -> int:
    """The body of the detached run: journal, plan, execute, store the master key, finish."""
    from octotui import runstore
    from octotui.cancel import CancelToken
    from octotui.detach import protect_std_streams, read_handed_secrets
    from octotui.executor import Executor
    from octotui.journal import JournalWriter, plan_summary
    from octotui.redact import default_redactor

    redactor = default_redactor()
    handed = read_handed_secrets()
    redactor.add_many(list(handed.values()))
    protect_std_streams(redactor)
    try:
        lock = runstore.lock_run(run_dir)
    except runstore.LockBusy as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    from octotui.journal import read_events

    resumed = any(True for _ in read_events(run_dir))
    with JournalWriter(run_dir, redactor, stream_redactor=redactor.stream) as journal:
        spec = load_spec(answers)
        if spec is None:
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
        try:
            outcome = Executor(plan, _remote_factory(spec, handed), journal, cancel,
                               passwords=handed, master_key=handed.get("master_key"),
                               on_master_key=_master_key_keeper(spec, redactor, journal)).run()
        except Exception as exc:  # never leave a run without its end in the journal
            journal.step_failed("cluster", "run", error=f"the run stopped unexpectedly: {exc}",
                                hint="see runner.log in the run folder")
            journal.run_finished("failed", exit_code=EXIT_FAILED)
            raise
        finally:
            restore()
        message = {"done": f"done: {outcome.changed_steps} step(s) changed something",
                   "failed": f"{len(outcome.failures)} step(s) failed",
                   "cancelled": "cancelled at a safe point; run apply again to continue"}[outcome.status]
        journal.run_finished(outcome.status, exit_code=outcome.exit_code, message=message)
    lock.release()
    return outcome.exit_code


def _chains(plan: Plan) -> dict[str, list[Any]]:
    chains: dict[str, list[Any]] = {}
    for st in plan.all_steps():
        chains.setdefault(st.node, []).append(st)
    return chains


def _remote_factory(spec: ClusterSpec, handed: dict[str, str]) -> Callable[[NodeSpec], Any]:
    from octotui.remote import NodeSession

    env = {"OCTOPUS_SERVICE_PASSWORD": handed["service"]} if "service" in handed else {}

    def make(node: NodeSpec) -> Any:
        """Connect, waiting out a node that is restarting (refused or unreachable for a while) for up to
        ``CONNECT_PATIENCE_S``; credentials and TLS problems fail at once, since waiting cannot fix them."""
        import time

        from octotui.remote import RemoteError

        deadline = time.monotonic() + CONNECT_PATIENCE_S
        delay = 0.5
        while True:
            session = NodeSession.from_spec(node, spec.winrm, handed.get("winrm"), env=env)
            try:
                session.open()
                return session
            except RemoteError as exc:
                session.close()
                if exc.kind not in ("refused", "unreachable", "dropped", "timeout") or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    return make


def _master_key_keeper(spec: ClusterSpec, redactor: Any, journal: Any) -> Callable[[str], None]:
    def keep(key: str) -> None:
        from octotui import secrets as sec

        redactor.add(key)
        try:
            sec.store_master_key(spec.connection_string, key)
            journal.note("the master key is in the keyring; back it up somewhere safe as well", level="warning")
        except Exception as exc:  # the run goes on: the key is still in node 1's config
            journal.note(f"could not store the master key in the keyring: {exc}; read it again later with "
                         "`Octopus.Server.exe show-master-key` on the first node", level="warning")

    return keep
