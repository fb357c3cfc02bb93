"""The ``octotui`` command: one entry point for the lab, the scripted engine and (later) the TUI.

Every subcommand takes ``--help`` and ``--version``. Exit codes follow one rule across the tool
(``octotui.errors.ExitCode``): 0 done, 1 something failed, 2 bad input, 3 cancelled, 4 the cluster is busy
with another run, 5 a run's process died.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from octotui import __version__
from octotui.cli.output import err, note, report_error
from octotui.errors import ExitCode, OctotuiError


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"octotui {__version__}")


def build_parser() -> argparse.ArgumentParser:
    from octotui.checks.deadline import DEFAULT_DEADLINE_S

    parser = argparse.ArgumentParser(
        prog="octotui",
        description="Install Octopus Deploy Server in High Availability on Active Directory Windows nodes.",
    )
    _add_version(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    lab = sub.add_parser("lab", help="the simulated world of Windows nodes used by the tests and the demo",
                         description="Run or inspect the lab: simulated Windows nodes behind real WinRM "
                                     "endpoints, a simulated SQL Server and a file share, on loopback.")
    _add_version(lab)
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")

    up = lab_sub.add_parser("up", help="start a lab and serve it until interrupted",
                            description="Start the lab on loopback. When ready it prints one line of JSON "
                                        "on stdout (endpoints, accounts, share, SQL); it serves until "
                                        "SIGINT or SIGTERM, then saves its world to --state and exits 0.")
    _add_version(up)
    up.add_argument("--nodes", type=int, default=3, help="number of Windows nodes (default 3)")
    up.add_argument("--state", type=Path, default=None,
                    help="state folder: the world is saved there on exit and resumed from it on the next start "
                         "(default: OCTOTUI_HOME/lab/default, the same folder every time, so a second start "
                         "resumes the first one's world; give another folder for a fresh world)")
    up.add_argument("--auth", choices=("ntlm", "basic"), default="ntlm",
                    help="WinRM authentication the nodes offer (default ntlm, with message encryption)")
    up.add_argument("--https", action="store_true", help="serve WinRM over HTTPS with the lab's own CA")
    up.add_argument("--allow-unencrypted", action="store_true",
                    help="accept Basic over plain HTTP (WinRM's AllowUnencrypted); refused otherwise")
    up.add_argument("--latency-ms", type=int, default=0, help="added latency per WinRM request")
    up.add_argument("--timing", default="instant", metavar="PROFILE",
                    help="how long simulated programs take: instant (default), or realistic (process starts, "
                         "installs, database creation and service starts as long as on Windows; "
                         "realistic:0.1 for a tenth of that)")
    up.add_argument("--fault", action="append", default=[], metavar="SPEC",
                    help="inject a fault, e.g. drop@OCTO2:after=10, msi:exit=1603, "
                         "slow:match=database,seconds=5, reboot@OCTO1:after=40,down=3, wsman500:after=5 "
                         "(repeatable)")
    up.add_argument("--share-access", action="append", default=[], metavar="ACCOUNT=LEVEL",
                    help="set an account's permission on the cluster's share: full, change, read or none, "
                         "e.g. WORK\\svcOctopus=read (repeatable; kept with the world)")
    up.add_argument("--dc", action="store_true",
                    help="also run a real Samba AD domain controller for the lab's domain on 127.0.0.2 (its "
                         "accounts, a gMSA, SPNs and a keytab) and serve the share over SMB from the folder the "
                         "nodes use; needs root and Samba (scripts/setup.sh installs it); provisioned once into "
                         "the state folder, reused on the next start")

    insp = lab_sub.add_parser("inspect", help="print a lab world as one JSON object",
                              description="Print the world of a lab (running or stopped) as JSON: per node "
                                          "products, instances, services, counters and process log; the "
                                          "database state. Master keys appear only as SHA-256.")
    _add_version(insp)
    insp.add_argument("--state", type=Path, required=True, help="the lab's state folder")

    plan = sub.add_parser("plan", help="print every remote step per node, secrets masked",
                          description="Validate the answers file and print the plan: every remote step per "
                                      "node in order, the identity each runs as, secrets masked. Changes nothing.")
    _add_version(plan)
    plan.add_argument("answers", help="the answers file (TOML)")

    apply = sub.add_parser("apply", help="run the plan on the nodes (in the background) and follow it",
                           description="Run the plan. The run happens in its own process, so a closed terminal "
                                       "does not stop it; this command follows its journal. Ctrl+C asks the "
                                       "run to stop at a safe point. Running apply again continues and "
                                       "converges. Exit codes: 0 done, 1 a step failed, 2 bad input, 3 cancelled, "
                                       "4 another run holds the cluster (nothing changed), 5 the run's process "
                                       "died (apply again to continue).")
    _add_version(apply)
    apply.add_argument("answers", help="the answers file (TOML)")
    apply.add_argument("--yes", "-y", action="store_true", help="start without asking for confirmation")
    apply.add_argument("--resume", metavar="RUN", help="continue RUN (its journal) instead of starting a new run")
    apply.add_argument("--detach", action="store_true", help="start the run and return at once")
    apply.add_argument("--master-key-store", choices=("keyring", "file", "none"), default=None,
                       help="create mode: where to keep the master key the first node creates. Default: the "
                            "keyring when one works, else ask (with --yes, or without a terminal: refuse). "
                            "file: an encrypted file protected by a passphrase (OCTOTUI_KEYRING_PASSPHRASE or "
                            "asked); none: not stored, you record it from the first node")
    apply.add_argument("--take-over", action="store_true",
                       help="take the cluster's lease even from a run that still holds it: only when that run is "
                            "known to be gone (its console was switched off); an expired lease is taken anyway")

    attach = sub.add_parser("attach", help="follow a run's progress (the latest by default)",
                            description="Follow a run's journal with the live per-node progress display.")
    _add_version(attach)
    attach.add_argument("run", nargs="?", help="run id (or a unique prefix); default: the latest run")

    runs = sub.add_parser("runs", help="list runs and their status", description="List earlier and running runs.")
    _add_version(runs)

    export = sub.add_parser("export", help="write the plan as a script to review and run by hand",
                            description="Write the plan as a PowerShell script an administrator can read, approve "
                                        "and run on each node. No secret is embedded: the script asks for them.")
    _add_version(export)
    export.add_argument("answers", help="the answers file (TOML)")
    export.add_argument("--format", choices=("powershell",), default="powershell", help="the script language")
    export.add_argument("--output", "-o", type=Path, help="write to this file instead of standard output")

    check = sub.add_parser("check", help="check the nodes, Active Directory, the share and SQL Server; change nothing",
                           description="Run every preflight check for the answers file at once (WinRM, home "
                                       "folders, the service account in AD, the share, SQL Server) and print a "
                                       "table. Changes nothing. Exit codes: 0 nothing failed, 1 a check failed, "
                                       "2 bad input.")
    _add_version(check)
    check.add_argument("answers", help="the answers file (TOML)")
    check.add_argument("--json", action="store_true", help="print one JSON array of results instead of a table")
    check.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, metavar="SECONDS",
                       help=f"time each check may take (default {DEFAULT_DEADLINE_S:g})")

    wizard = sub.add_parser("wizard", help="open the wizard (also: octotui with no arguments)",
                            description="Open the wizard, filled from ANSWERS when given.")
    _add_version(wizard)
    wizard.add_argument("answers", nargs="?", help="an answers file (TOML) to fill the wizard from")
    demo = sub.add_parser("demo", help="start a lab and open the wizard filled in for it",
                          description="Start a lab of simulated Windows nodes and open the wizard filled in "
                                      "for it (its passwords in memory only): the whole flow, end to end.")
    _add_version(demo)
    demo.add_argument("--nodes", type=int, default=3, help="number of simulated nodes (default 3)")
    logs = sub.add_parser("logs", help="review logs: a run's, a node's over WinRM, or any file",
                          description="Open the log viewer: the latest run's logs by default; a run (id or "
                                      "prefix); files (several can be merged by time); or --node NODE, that "
                                      "node's OctopusServer.txt fetched over WinRM (latest lines first).")
    _add_version(logs)
    logs.add_argument("target", nargs="*", metavar="PATH|RUN", help="log files, or a run id (default: the latest run)")
    logs.add_argument("--node", metavar="NODE", help="a node's OctopusServer.txt over WinRM, cached under the run")
    logs.add_argument("--answers", metavar="ANSWERS",
                      help="the answers file naming the nodes, for --node (default: the one the run recorded)")
    return parser


def _runner_parser() -> argparse.ArgumentParser:
    """``octotui _runner``: the detached process ``apply`` starts. Parsed apart from the public commands so
    that ``octotui --help`` does not list it (argparse prints a hidden subcommand as ``==SUPPRESS==``)."""
    runner = argparse.ArgumentParser(prog="octotui _runner", description="Internal: the process that executes "
                                     "a run started by `octotui apply`. Not for direct use.")
    runner.add_argument("--run", type=Path, required=True)
    runner.add_argument("--answers", required=True)
    runner.add_argument("--take-over", action="store_true")
    return runner


def _lab_up(args: argparse.Namespace) -> int:
    from octotui.home import ensure_home_writable, ensure_writable_folder
    from octotui.lab.faults import FaultSpecError
    from octotui.lab.server import Lab, LabError, LabOptions

    state = args.state
    if state is None:
        state = ensure_home_writable() / "lab" / "default"
    try:
        lab = Lab(LabOptions(nodes=args.nodes, state_dir=state, auth=args.auth, https=args.https,
                             allow_unencrypted=args.allow_unencrypted, latency_ms=args.latency_ms,
                             faults=args.fault, share_access=args.share_access, timing=args.timing,
                             dc=args.dc))
    except (LabError, FaultSpecError) as exc:
        err(str(exc))
        return int(ExitCode.BAD_INPUT)
    ensure_writable_folder(state, what="the lab's state folder", elsewhere="give --state a writable folder")
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ready = lab.start()
    except (OSError, LabError) as exc:
        err(f"lab up could not start: {exc}")
        lab.stop()
        return int(ExitCode.FAILED)
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    note(f"octotui lab: {len(ready['nodes'])} nodes ready; state in {ready['state_dir']}; Ctrl+C stops and saves")
    while not stop.wait(0.5):
        pass
    lab.stop()
    note("octotui lab: stopped; world saved")
    return int(ExitCode.OK)


def _lab_inspect(args: argparse.Namespace) -> int:
    from octotui.lab.inspect import inspect_world
    from octotui.lab.state import World

    state: Path = args.state
    lab_json = state / "lab.json"
    if lab_json.exists():
        info = json.loads(lab_json.read_text())
        req = urllib.request.Request(f"http://127.0.0.1:{info['control_port']}/inspect",
                                     headers={"X-Lab-Token": info["token"]})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                sys.stdout.write(resp.read().decode() + "\n")
                return int(ExitCode.OK)
        except OSError:
            pass  # the lab is gone without cleaning up: fall back to what it saved
    world_file = state / "world.json"
    if not world_file.exists():
        err(f"no lab world in {state} (expected world.json there)")
        return int(ExitCode.BAD_INPUT)
    print(json.dumps(inspect_world(World.load(world_file))))
    return int(ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; an ``OctotuiError`` that ends it becomes ``octotui: <message>`` (and its hint)
    with the error's exit code, never a traceback (an answers file's problems: each one, as a list)."""
    try:
        return _main(argv)
    except OctotuiError as exc:
        return report_error(exc)


def _main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["_runner"]:
        from octotui.run.runner import runner_main

        runner = _runner_parser().parse_args(words[1:])
        return runner_main(runner.run, runner.answers, take_over=runner.take_over)
    parser = build_parser()
    args = parser.parse_args(words)
    if args.command == "lab":
        if args.lab_command == "up":
            return _lab_up(args)
        if args.lab_command == "inspect":
            return _lab_inspect(args)
        parser.parse_args(["lab", "--help"])
    if args.command == "check":
        from octotui.cli.check import check_command

        return check_command(args.answers, args.json, deadline_s=args.deadline)
    if args.command in ("plan", "apply", "attach", "runs", "export"):
        from octotui.cli import run as flows
        if args.command == "export":
            return flows.export_command(args.answers, args.output)
        if args.command == "plan":
            return flows.plan_command(args.answers)
        if args.command == "apply":
            return flows.apply_command(args.answers, yes=args.yes, resume=args.resume, detach_only=args.detach,
                                       take_over=args.take_over, master_key_store=args.master_key_store)
        if args.command == "attach":
            return flows.attach_command(args.run)
        return flows.runs_command()
    if args.command == "demo":
        from octotui.cli.demo import demo_command

        return demo_command(args.nodes)
    if args.command == "logs":
        from octotui.cli.logs import logs_command

        return logs_command(args.target, node=args.node, answers=args.answers)
    if args.command in (None, "wizard"):
        import importlib

        wizard = importlib.import_module("octotui.screens.app")  # Textual loads only when the wizard is asked for
        return int(wizard.run_wizard(getattr(args, "answers", None)))
    parser.print_help()
    return int(ExitCode.BAD_INPUT)


if __name__ == "__main__":
    raise SystemExit(main())
