"""``octotui plan | apply | attach | runs | export``: the run commands at a terminal.

``apply`` does what needs a person at the terminal (the secrets it cannot find, the plan to review, where
to keep the master key, the confirmation), then starts the run as the wizard does
(``octotui.run.start.start_run``) and follows its journal. The engine functions it calls return values or
raise ``OctotuiError``; this module prints, asks and picks the exit code, and an error that ends a command
is said by ``octotui.cli.main``'s one handler.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from octotui.cli.output import err, note
from octotui.cli.prompts import ask_passphrase, ask_secret, confirm, master_key_store_question
from octotui.errors import BadInput, ExitCode, OctotuiError
from octotui.plan.build import format_plan
from octotui.run.prepare import Preparation, load_spec, prepare

if TYPE_CHECKING:
    from octotui.run.journal_read import RunSummary
    from octotui.secrets.master_key import MasterKeyDecision


def _redacted(text: str) -> str:
    from octotui.secrets.redact import default_redactor

    return default_redactor().redact(text)


def plan_command(answers: str) -> int:
    prepared = prepare(answers, need_secrets=False, prompt=ask_secret)
    if prepared.error is not None:
        raise prepared.error
    assert prepared.plan is not None
    sys.stdout.write(_redacted(format_plan(prepared.plan)))
    return int(ExitCode.OK)


def export_command(answers: str, output: Path | None) -> int:
    from octotui.plan.export import check_no_secret, export_powershell
    from octotui.secrets.store import ENV_VARS
    from octotui.windows.quoting import UnsafeArgumentError

    spec = load_spec(answers)
    try:
        # Code, not output: never through the redactor (it would mask `... = Read-Secret ...` and break the
        # script); instead, refuse a script that holds the value of a secret this process knows.
        script = export_powershell(spec)
        check_no_secret(script, {var: os.environ.get(var, "") for var in ENV_VARS.values()})
    except UnsafeArgumentError as exc:
        raise BadInput(str(exc)) from None
    if output is None:
        sys.stdout.write(script)
    else:
        output.write_text(script, encoding="utf-8-sig")  # PowerShell 5.1 reads BOM-less files as ANSI
        note(f"wrote {output}: run it on each node with -Node NAME, {spec.nodes[0].name} first")
    return int(ExitCode.OK)


def apply_command(answers: str, *, yes: bool, resume: str | None, detach_only: bool = False,
                  home: Path | None = None, take_over: bool = False, master_key_store: str | None = None) -> int:
    from octotui.cli.progress import LiveProgress
    from octotui.home import ensure_home_writable
    from octotui.run import store as runstore
    from octotui.run.start import start_run

    home = ensure_home_writable(home)  # a folder it cannot write is bad input, refused before anything starts
    prepared = prepare(answers, prompt=ask_secret)
    if prepared.error is not None:
        raise prepared.error
    assert prepared.plan is not None
    if prepared.plan.credential_identity is None:
        for w in prepared.plan.warnings:
            err(w)
        return int(ExitCode.BAD_INPUT)
    if yes:  # no review, but the warnings (e.g. certificates not validated) still come before anything is sent
        for w in prepared.plan.warnings:
            err(f"WARNING: {w}")
    else:
        sys.stdout.write(_redacted(format_plan(prepared.plan)))
    keep_key = _decide_master_key_store(prepared, master_key_store, interactive=not yes and sys.stdin.isatty())
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput("not starting without confirmation: add --yes to run it non-interactively")
        if not confirm("Start this run?"):
            raise OctotuiError("not started", exit_code=ExitCode.CANCELLED)
    resumed, after_seq = None, 0
    if resume:
        try:
            resumed = runstore.resolve_run(home, resume)
        except runstore.RunNotFound as exc:
            raise BadInput(str(exc)) from None
        after_seq = _last_seq(resumed)  # follow only what this run adds to a journal that already ended once
    run_dir = start_run(answers, prepared.secrets, home=home, resume=resumed, take_over=take_over,
                        master_key_store=keep_key.store if keep_key is not None else None)
    note(f"run {run_dir.name} started (log: {run_dir}); `octotui attach {run_dir.name}` follows it")
    if detach_only:
        return int(ExitCode.OK)
    return LiveProgress(run_dir, after_seq=after_seq).run()


def _last_seq(run_dir: Path) -> int:
    from octotui.run.journal_read import read_events

    return max((int(e.get("seq", 0)) for e in read_events(run_dir)), default=0)


def _decide_master_key_store(prepared: Preparation, choice: str | None, *,
                             interactive: bool) -> MasterKeyDecision | None:
    """Before a create run starts (the runner is detached and can ask nobody): where will the master key
    node 1 creates be kept? None when the run reads no master key (join mode). Says the outcome on stderr;
    the encrypted file's passphrase joins the runner's secrets. Raises when the run must not start."""
    from octotui.secrets import master_key as mk

    assert prepared.plan is not None and prepared.spec is not None
    if not any(st.step == "master-key" for st in prepared.plan.first):
        return None
    first = prepared.spec.nodes[0].name
    if choice is not None and choice not in mk.MASTER_KEY_STORES:
        raise BadInput(f"--master-key-store must be one of {', '.join(mk.MASTER_KEY_STORES)}, not {choice!r}")
    decision = mk.decide_master_key_store(choice,
                                           ask=master_key_store_question(first) if interactive else None,
                                           ask_passphrase=ask_passphrase if interactive else None)
    if decision.passphrase:
        prepared.secrets[mk.PASSPHRASE_SECRET] = decision.passphrase
    if decision.store == "none":
        err(f"WARNING: the master key {first} creates will NOT be stored (--master-key-store none); the run "
            "shows how to read it from there so that you can record it")
    else:
        err(f"the master key {first} creates will be kept in {decision.where}")
    return decision


def attach_command(run: str | None, home: Path | None = None) -> int:
    from octotui.cli.progress import LiveProgress
    from octotui.home import ensure_home_readable
    from octotui.run import store as runstore

    try:
        run_dir = runstore.resolve_run(ensure_home_readable(home), run)
    except runstore.RunNotFound as exc:
        raise BadInput(str(exc)) from None
    return LiveProgress(run_dir).run()


def runs_command(home: Path | None = None) -> int:
    from octotui.home import ensure_home_readable
    from octotui.run.journal_read import list_runs

    runs = list_runs(ensure_home_readable(home))
    if not runs:
        print("no runs yet")
        return int(ExitCode.OK)
    print(f"{'RUN':<22} {'STATUS':<10} {'MODE':<7} {'START':<16} {'DURATION':<13} NODES")
    for r in runs:
        start = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started is not None else "-"
        print(f"{r.id:<22} {r.status:<10} {r.mode or '-':<7} {start:<16} {_run_duration(r):<13} {','.join(r.nodes)}")
    return int(ExitCode.OK)


def _run_duration(run: RunSummary) -> str:
    """How long a run took: to its end; so far (``running 0m42s``); or, for a run whose process is gone
    without an end, to its last event."""
    from octotui.run.journal_read import read_events
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
