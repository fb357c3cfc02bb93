"""``Octopus.Server.exe``: find the command, run it, turn what went wrong into Octopus's output and exit code.

The start-up path follows Octopus's shared program code (reference §1.1, TENT ``OctopusProgram``): the
command is the first argument (case-insensitive, leading ``-``/``/`` ignored); an unknown one prints help
and exits 2 (with "Command 'x' is not supported" when it looks like a command name); ``<command> --help``
prints that command's options and exits 0. A ControlledFailure prints its message and exits 1; any other
exception prints a rule, the exception and its type, exits 100 and adds the "Terminating process" note
that points at the log folder. Every run logs ``==== <Name>Command ====`` and its command line (secrets
masked) to OctopusServer.txt.

Commands the lab does not simulate (certificates, watchdog, proxy, ...) are recognised and fail cleanly.
"""

from __future__ import annotations

from octotui.lab import adonet
from octotui.lab.octopus import cmd_database, cmd_instances, cmd_service, cmd_settings, cmd_show
from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.host import Command, Host
from octotui.lab.octopus.logfile import ServerLog, log_dir, new_pid
from octotui.lab.octopus.options import (
    COMMON,
    ControlledFailure,
    Opt,
    Parsed,
    Unhandled,
    parse,
    reject_unrecognized,
)
from octotui.lab.process import ProcessContext
from octotui.lab.sqlserver import SqlError
from octotui.lab.winfs import FsError

EXECUTABLE = "Octopus.Server"
RULE = "=" * 79

COMMANDS: dict[str, Command] = {
    c.name: c
    for module in (cmd_instances, cmd_database, cmd_settings, cmd_service, cmd_show)
    for c in module.COMMANDS
}

NOT_SIMULATED = {
    "builtin-worker": "Configure the built-in worker",
    "export-certificate": "Exports the certificate that Octopus Server uses",
    "external-worker": "Configure an external worker",
    "import-certificate": "Replace the certificate that Octopus Server uses",
    "lost-master-key": "Get your Octopus Server working again after losing your Master Key",
    "metrics": "Configure metrics logging",
    "new-certificate": "Creates a new certificate",
    "proxy": "Configure the HTTP proxy used by Octopus",
    "regenerate-certificate": "Regenerates the certificate that Octopus Server uses",
    "rotate-master-key": "Rotate the Master Key",
    "run": "Starts the Octopus Server in debug mode",
    "show-thumbprint": "Shows the squid and thumbprint of the server instance",
    "ssl-certificate": "Binds the SSL/TLS certificate used by the portal to the specified address/port",
    "watchdog": "Configure a scheduled task to monitor the Octopus Server service(s)",
}


def _class_name(command: str) -> str:
    return "".join(part.capitalize() for part in command.split("-")) + "Command"


def _describe(opt: Opt) -> str:
    name = f"--{opt.name}" + ("=VALUE" if opt.value else "")
    return f"      {name:<23}{opt.help}".rstrip()


def general_help(host: Host) -> None:
    lines = [f"Usage: {EXECUTABLE} <command> [<options>]", "", "Where <command> is one of: ", ""]
    everything = {**{n: c.description for n, c in COMMANDS.items()}, **NOT_SIMULATED,
                  "help": "Prints this help text"}
    for name in sorted(everything):
        lines += [f"  {name:<15}", f"   {everything[name]}"]
    lines += ["", "Or use <command> --help for more details."]
    host.payload("\n".join(lines) + "\n")


def command_help(host: Host, command: Command) -> None:
    lines = [f"Usage: {EXECUTABLE} {command.name} [<options>]", "", "Where [<options>] is any of: ", ""]
    lines += [_describe(o) for o in command.options if o.available(host.version)]
    lines += ["", "Or one of the common options: ", ""]
    lines += [_describe(o) for o in COMMON[:3]]
    host.payload("\n".join(lines) + "\n")


def _print_unhandled(host: Host, exc: Unhandled) -> None:
    lines = [exc.message, exc.type_name]
    for type_name, message in exc.inner:
        lines += ["--Inner Exception--", message, type_name]
    host.error(RULE)
    host.fatal("\n".join(lines))


def _terminating(host: Host, code: int) -> None:
    host.fatal("\n".join([
        "-" * 79,
        f"Terminating process with exit code {code}",
        "Full error details are available in the log files at:",
        log_dir(host.log.home),
        "If you need help, please send these log files to https://octopus.com/support",
        "-" * 79,
    ]))


def _mask_inputs(host: Host, parsed: Parsed) -> None:
    host.log.add_sensitive(*parsed.sensitive_values)
    for name in ("connectionString", "storageConnectionString"):
        cs = parsed.get(name)
        if cs:
            try:
                host.log.add_sensitive(adonet.parse(cs).password)
            except adonet.ConnectionStringError:
                host.log.add_sensitive(cs)


def dispatch(host: Host, args: list[str], command_line: str) -> int:
    first = args[0] if args else ""
    name = first.lower().lstrip("-/")
    if name == "help":
        target = COMMANDS.get(args[1].lower()) if len(args) > 1 else None
        if target is not None:
            command_help(host, target)
        else:
            general_help(host)
        return 0
    command = COMMANDS.get(name)
    if command is None and name not in NOT_SIMULATED:
        if first[:1].isalpha():
            host.error(f"Command '{first}' is not supported")
            host.payload(f"See '{EXECUTABLE} help'\n")
        else:
            general_help(host)
        return 2
    if command is not None and any(a.lower() == "--help" for a in args[1:]):
        command_help(host, command)
        return 0
    try:
        if command is None:
            raise ControlledFailure(f"The '{name}' command is not simulated by the lab.")
        parsed = parse(args[1:], command.options, host.version)
        _mask_inputs(host, parsed)
        host.console_logging = not parsed.has("noconsolelogging")
        host.file_only(f"==== {_class_name(command.name)} ====")
        host.file_only(f"CommandLine: {command_line}")
        reject_unrecognized(parsed)
        return command.run(host, parsed)
    except ControlledFailure as exc:
        host.fatal(str(exc))
        return 1
    except SqlError as exc:
        _print_unhandled(host, Unhandled("Microsoft.Data.SqlClient.SqlException",
                                         f"SQL Error {exc.number} - {exc.message}"))
        return 100
    except Unhandled as exc:
        _print_unhandled(host, exc)
        return 100
    except FsError as exc:
        _print_unhandled(host, Unhandled("System.IO.IOException", exc.message))
        return 100


def run(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """The program entry point the runtime calls for ``#lab-program:octopus-server``."""
    runtime = ctx.runtime
    found = runtime.resolve_program(argv[0], ctx) if argv else None
    exe = found[0] if found else cfgmod.DEFAULT_EXE
    host = Host(ctx=ctx, exe=exe, version=cfgmod.exe_version(runtime.node, exe),
                log=ServerLog(runtime.world, runtime.node, pid=new_pid(runtime.node)))
    try:
        code = dispatch(host, argv[1:], command_line)
        if code not in (0, 1, 2):
            _terminating(host, code)
        return code
    finally:
        host.log.flush(fallback=True)
