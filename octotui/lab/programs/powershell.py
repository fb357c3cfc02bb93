"""``powershell.exe`` (Windows PowerShell 5.1) as a lab node runs it.

The lab does not interpret PowerShell: it parses powershell.exe's own command line as the console host
does, finds the script (``-EncodedCommand``, ``-Command``, ``-Command -`` / ``-File -`` from stdin, or
``-File x.ps1``), recognises it by its ``# octotui-ps: <name> v<N>`` header and runs its Python twin
(``octotui.lab.ps_twins``). The bootstrap loader is handled here, because what it does is the stdin
protocol itself: read stdin to the end, split it at ``NUL NUL NUL NUL`` into the real script and its
JSON parameters, run that script.

A script the lab does not know fails as a script error does on Windows: the formatted error record on
stderr, as CLIXML when the command came encoded (see ``ps_twins.clixml``), and exit code 1.

Command-line rules, after the console host's parser (CommandLineParameterParser): a switch starts with
``-``, ``/`` or a typographic dash, may be doubled (``--``), is matched case-insensitively by prefix
down to a shortest unambiguous form (``-nop``, ``-noni``, ``-e``/``-ec``, ``-ex``/``-ep``, ``-c``,
``-f``, ``-i``/``-if``, ``-o``/``-of``); the first argument that is not a switch, or not a known one,
starts the command, which takes every argument after it. Command-line errors print one line to stderr
and exit with 0xFFFD0000 (-196608).
"""

from __future__ import annotations

import base64
import binascii
import ntpath
import re
from dataclasses import dataclass, field

from octotui.lab import timing
from octotui.lab.process import ProcessContext, Program
from octotui.lab.ps_twins import BOOTSTRAP, TWINS, first_line, read_header
from octotui.lab.ps_twins.clixml import error_record_lines, error_stream
from octotui.lab.winfs import FsError

#: ConsoleHost.ExitCodeBadCommandLineParameter (0xFFFD0000) as a signed process exit code.
EXIT_BAD_COMMAND_LINE = -196608
#: What the bootstrap exits with when stdin does not hold a script and its parameters.
EXIT_BAD_STDIN = 2

STDIN_SEPARATOR = "\0\0\0\0"

_DASHES = "-\u2013\u2014\u2015"
_FORMATS = {"text": "text", "xml": "xml", "none": "none", "0": "text", "1": "xml", "2": "none"}
_WINDOW_STYLES = ("normal", "hidden", "minimized", "maximized", "0", "1", "2", "3")

MSG_MISSING_COMMAND = ("Cannot process the command because of a missing parameter. "
                       "A command must follow -Command.")
MSG_COMMAND_TWICE = ("Cannot process command because a command is already specified with "
                     "-Command or -EncodedCommand.")
MSG_BAD_ENCODED = ("Cannot process the command because the value specified with -EncodedCommand "
                   "is not properly encoded. The value must be Base64 encoded.")
MSG_DASH_EXTRA = ("'-' was specified with the -Command parameter; "
                  "no other arguments to -Command are permitted.")
MSG_MISSING_POLICY = ("Cannot process the execution policy because of a missing policy name. "
                      "A policy name must follow -ExecutionPolicy.")
MSG_MISSING_FILE = ("The command cannot be run because the File parameter requires a file path. "
                    "Supply a path for the File parameter and then try the command again.")
MSG_FILE_MISSING = ("The argument '{0}' is not recognized as the name of a script file. Check the "
                    "spelling of the name, or if a path was included, verify that the path is correct "
                    "and try again.")
MSG_FILE_EXTENSION = ("Processing -File '{0}' failed because the file does not have a '.ps1' "
                      "extension. Specify a valid PowerShell script file name, and then try again.")
MSG_MISSING_WINDOW_STYLE = ("Cannot process the command because -WindowStyle requires an argument "
                            "that is normal, hidden, minimized or maximized. Specify one of these "
                            "argument values and try again.")
MSG_BAD_WINDOW_STYLE = ("Processing -WindowStyle '{0}' failed: Cannot convert value \"{0}\" to type "
                        "\"System.Diagnostics.ProcessWindowStyle\". Error: \"Unable to match the "
                        "identifier name {0} to a valid enumerator name. Specify one of the following "
                        "enumerator names and try again: Normal, Hidden, Minimized, Maximized\".")
MSG_MISSING_CONFIGURATION = ("Cannot process the command because -ConfigurationName requires an "
                             "argument that is a remote endpoint configuration name.")
MSG_FORMATS = "Valid formats are:\nText\nXML\nNone"
MSG_BAD_STDIN = "octotui bootstrap: stdin does not hold <script> NUL NUL NUL NUL <params>"

BANNER = "Windows PowerShell\nCopyright (C) Microsoft Corporation. All rights reserved.\n\n"
HELP = """
PowerShell[.exe] [-PSConsoleFile <file> | -Version <version>]
    [-NoLogo] [-NoExit] [-Sta] [-Mta] [-NoProfile] [-NonInteractive]
    [-InputFormat {Text | XML}] [-OutputFormat {Text | XML}]
    [-WindowStyle <style>] [-EncodedCommand <Base64EncodedCommand>]
    [-ConfigurationName <string>]
    [-File <filePath> <args>] [-ExecutionPolicy <ExecutionPolicy>]
    [-Command { - | <script-block> [-args <arg-array>]
                  | <string> [<CommandParameters>] } ]

PowerShell[.exe] -Help | -? | /?

"""


@dataclass
class Invocation:
    """What powershell.exe's command line asked for."""

    command: str | None = None
    encoded: bool = False
    command_from_stdin: bool = False
    file: str | None = None
    file_args: list[str] = field(default_factory=list)
    input_format: str = "text"
    output_format: str = "text"
    execution_policy: str | None = None
    no_profile: bool = False
    non_interactive: bool = False
    no_exit: bool = False
    show_help: bool = False
    server_mode: bool = False
    error: str | None = None
    error_shows_help: bool = False
    error_shows_banner: bool = False


def _match(key: str, word: str, shortest: str) -> bool:
    """MatchSwitch: ``key`` is a prefix of ``word`` at least as long as its shortest unambiguous form."""
    return word.startswith(key) and len(key) >= len(shortest)


class _Parser:
    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.inv = Invocation()

    def fail(self, message: str, *, show_help: bool = True, show_banner: bool = False) -> Invocation:
        self.inv.error = message
        self.inv.error_shows_help = show_help
        self.inv.error_shows_banner = show_banner
        return self.inv

    def value(self, i: int) -> str | None:
        return self.args[i] if i < len(self.args) else None

    def take_command(self, i: int, encoded: bool) -> Invocation | None:
        """ParseCommand: ``i`` indexes the first word of the command. Returns an Invocation on error."""
        inv = self.inv
        if inv.command is not None or inv.command_from_stdin:
            return self.fail(MSG_COMMAND_TWICE)
        if i >= len(self.args):
            return self.fail(MSG_MISSING_COMMAND)
        if encoded:
            decoded = decode_encoded_command(self.args[i])
            if decoded is None:
                return self.fail(MSG_BAD_ENCODED)
            inv.command, inv.encoded = decoded, True
            return None
        if self.args[i] == "-":
            if i + 1 != len(self.args):
                return self.fail(MSG_DASH_EXTRA)
            inv.command_from_stdin = True
            return None
        inv.command = " ".join(self.args[i:])
        return None

    def parse(self) -> Invocation:
        args, inv = self.args, self.inv
        i = 0
        while i < len(args):
            raw = args[i].strip()
            if not raw:
                i += 1
                continue
            key = raw.lower()
            if key[0] not in _DASHES and key[0] != "/":
                return self.take_command(i, False) or inv
            key = key[1:]
            if key and key[0] in _DASHES:
                key = key[1:]
            if _match(key, "version", "v") or _match(key, "psconsolefile", "psc"):
                i += 1  # handled by the native launcher; the value is not checked here
            elif _match(key, "help", "h") or _match(key, "?", "?"):
                inv.show_help = True
            elif _match(key, "noexit", "noe"):
                inv.no_exit = True
            elif _match(key, "importsystemmodules", "imp") or _match(key, "nologo", "nol"):
                pass
            elif _match(key, "noprofile", "nop"):
                inv.no_profile = True
            elif _match(key, "noninteractive", "noni"):
                inv.non_interactive = True
            elif _match(key, "servermode", "s"):
                inv.server_mode = True
            elif _match(key, "configurationname", "config"):
                i += 1
                if i >= len(args):
                    return self.fail(MSG_MISSING_CONFIGURATION, show_help=False)
            elif _match(key, "command", "c"):
                return self.take_command(i + 1, False) or inv
            elif _match(key, "windowstyle", "w"):
                i += 1
                style = self.value(i)
                if style is None:
                    return self.fail(MSG_MISSING_WINDOW_STYLE, show_help=False)
                if style.strip().lower() not in _WINDOW_STYLES:
                    return self.fail(MSG_BAD_WINDOW_STYLE.format(style), show_help=False)
            elif _match(key, "file", "f"):
                return self.take_file(i + 1)
            elif _match(key, "outputformat", "o") or _match(key, "of", "o"):
                i += 1
                fmt = self.format_value(i, "-OutputFormat")
                if fmt is None:
                    return inv
                inv.output_format = fmt
            elif _match(key, "inputformat", "i") or _match(key, "if", "i"):
                i += 1
                fmt = self.format_value(i, "-InputFormat")
                if fmt is None:
                    return inv
                inv.input_format = fmt
            elif _match(key, "executionpolicy", "ex") or _match(key, "ep", "ep"):
                i += 1
                policy = self.value(i)
                if policy is None:
                    return self.fail(MSG_MISSING_POLICY)
                inv.execution_policy = policy
            elif _match(key, "encodedcommand", "e") or _match(key, "ec", "e"):
                failed = self.take_command(i + 1, True)
                if failed is not None:
                    return failed
                i += 1
            elif _match(key, "encodedarguments", "encodeda") or _match(key, "ea", "ea"):
                i += 1
                if i >= len(args):
                    return self.fail("Cannot process the command because -EncodedArguments requires a value. "
                                     "Specify a value for the -EncodedArguments parameter.")
            elif _match(key, "sta", "s") or _match(key, "mta", "mta"):
                pass
            else:
                # The first parameter the host does not recognise starts the command string.
                return self.take_command(i, False) or inv
            i += 1
        return inv

    def format_value(self, i: int, name: str) -> str | None:
        value = self.value(i)
        if value is None:
            self.fail(f"Cannot process the command because {name} requires an argument. {MSG_FORMATS}")
            return None
        fmt = _FORMATS.get(value.strip().lower())
        if fmt is None:
            self.fail(f"Cannot process the command because '{value}' is not a valid format. {MSG_FORMATS}")
        return fmt

    def take_file(self, i: int) -> Invocation:
        inv = self.inv
        path = self.value(i)
        if path is None:
            return self.fail(MSG_MISSING_FILE, show_banner=True)
        if path == "-":
            inv.command_from_stdin = True
            return inv
        if not path.lower().endswith(".ps1"):
            return self.fail(MSG_FILE_EXTENSION.format(path), show_help=False, show_banner=True)
        inv.file = path
        inv.file_args = self.args[i + 1:]
        return inv


def parse_command_line(args: list[str]) -> Invocation:
    """Parse powershell.exe's arguments (argv without argv[0])."""
    return _Parser(args).parse()


def decode_encoded_command(value: str) -> str | None:
    """``-EncodedCommand``: base64 of UTF-16LE, as Convert.FromBase64String accepts it; None if malformed."""
    compact = re.sub(r"[ \t\r\n]", "", value)
    if len(compact) % 4:
        return None
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-16-le", errors="replace")


def stdin_lines(text: str) -> list[str]:
    """How the host hands redirected stdin to ``$input``: one string per line, as ReadLine splits them."""
    if not text:
        return []
    lines = re.split(r"\r\n|\r|\n", text)
    if text.endswith(("\n", "\r")):
        lines.pop()
    return lines


# --- running ------------------------------------------------------------------------------------------

def _write_error(ctx: ProcessContext, inv: Invocation, lines: list[str], progress: bool = False) -> None:
    """An error record on stderr, as CLIXML when the host serializes its error stream."""
    if inv.encoded or inv.output_format == "xml":
        ctx.err(error_stream(lines, progress=progress))
    else:
        ctx.err("\n".join(lines) + "\n")


def _unknown_script(ctx: ProcessContext, inv: Invocation, script: str) -> int:
    line = first_line(script)
    header = read_header(script)
    known = sorted(f"{name} v{version}" for name, version in TWINS)
    if header is not None and any(name == header[0] for name, _v in TWINS):
        message = (f"The lab's powershell.exe has no twin for {header[0]} v{header[1]}; it knows "
                   f"{', '.join(k for k in known if k.startswith(header[0] + ' '))}.")
    else:
        message = ("The lab's powershell.exe runs only the octotui-ps scripts it knows (first line "
                   "'# octotui-ps: <name> v<N>'); this script is not one of them.")
    _write_error(ctx, inv, error_record_lines(message, line, "NotImplemented", "OctotuiLabUnknownScript"),
                 progress=True)
    return 1


def _run_bootstrap(ctx: ProcessContext, inv: Invocation) -> int:
    """The loader: stdin to the end, split into script and parameters, run the script with them."""
    if inv.input_format == "xml":
        _write_error(ctx, inv, error_record_lines(
            "The lab's powershell.exe does not simulate -InputFormat XML; send the script as text on stdin.",
            "$stdin = [string]::Join(\"`n\", @($input))", "NotImplemented", "OctotuiLabInputFormat"))
        return 1
    data = ctx.stdin.read_all(ctx.cancel)
    text = "\n".join(stdin_lines(data.decode(ctx.encoding, errors="replace")))
    parts = text.split(STDIN_SEPARATOR, 1)
    if len(parts) != 2:
        ctx.eprintln(MSG_BAD_STDIN)
        return EXIT_BAD_STDIN
    return _run_script(ctx, inv, parts[0], parts[1].strip())


def _run_script(ctx: ProcessContext, inv: Invocation, script: str, params_json: str) -> int:
    header = read_header(script)
    if header == BOOTSTRAP:
        return _run_bootstrap(ctx, inv)
    twin = TWINS.get(header) if header is not None else None
    if twin is None:
        return _unknown_script(ctx, inv, script)
    return twin(ctx, params_json)


def _read_script_file(ctx: ProcessContext, inv: Invocation) -> tuple[str, int] | str:
    """The text of ``-File``'s script, or the exit code after an error."""
    assert inv.file is not None
    path = inv.file.replace("/", "\\")
    full = path if ntpath.isabs(path) and path[1:2] == ":" else ntpath.normpath(ntpath.join(ctx.cwd, path))
    runtime = ctx.runtime
    try:
        with runtime.world.lock:
            raw = runtime.node.fs.read(full)
    except FsError:
        ctx.eprintln(MSG_FILE_MISSING.format(inv.file))
        return "", EXIT_BAD_COMMAND_LINE
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            return raw[len(bom):].decode(codec, errors="replace")
    return raw.decode("cp1252", errors="replace")  # no BOM: Windows PowerShell reads the ANSI code page


def _file_policy_error(inv: Invocation, full: str) -> list[str] | None:
    """The execution policy decides whether ``-File`` may run a script (-EncodedCommand is exempt)."""
    policy = (inv.execution_policy or "RemoteSigned").strip().lower()
    link = "about_Execution_Policies at https:/go.microsoft.com/fwlink/?LinkID=135170."
    if policy == "restricted":
        message = (f"File {full} cannot be loaded because running scripts is disabled on this system. "
                   f"For more information, see {link}")
    elif policy == "allsigned":
        message = (f"File {full} cannot be loaded. The file {full} is not digitally signed. You cannot "
                   f"run this script on the current system. For more information about running scripts "
                   f"and setting execution policy, see {link}")
    else:
        return None
    return [message,
            "    + CategoryInfo          : SecurityError: (:) [], ParentContainsErrorRecordException",
            "    + FullyQualifiedErrorId : UnauthorizedAccess"]


def _file_params(args: list[str]) -> str:
    """The ``$ParamsJson`` argument given after ``-File x.ps1``: named, or the first positional one."""
    i = 0
    while i < len(args):
        arg = args[i]
        name, colon, inline = arg.partition(":")
        if arg[:1] in _DASHES and "paramsjson".startswith(name[1:].lower()) and len(name) > 1:
            if colon:
                return inline
            return args[i + 1] if i + 1 < len(args) else ""
        if arg[:1] not in _DASHES:
            return arg
        i += 1
    return ""


def run(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """powershell.exe: parse the command line, find the script, run its twin."""
    inv = parse_command_line(argv[1:])
    if inv.error is not None:
        ctx.eprintln(inv.error)
        if inv.error_shows_help:
            ctx.out(HELP)
        elif inv.error_shows_banner:
            ctx.out(BANNER)
        return EXIT_BAD_COMMAND_LINE
    if inv.show_help:
        ctx.out(HELP)
        return 0
    if inv.server_mode:
        ctx.eprintln("The lab's powershell.exe does not simulate -ServerMode (remoting over stdin).")
        return 1
    if inv.file is not None:
        loaded = _read_script_file(ctx, inv)
        if isinstance(loaded, tuple):
            return loaded[1]
        path = inv.file.replace("/", "\\")
        full = path if path[1:2] == ":" else ntpath.normpath(ntpath.join(ctx.cwd, path))
        refused = _file_policy_error(inv, full)
        if refused is not None:
            _write_error(ctx, inv, refused)
            return 1
        return _run_script(ctx, inv, loaded, _file_params(inv.file_args))
    if inv.command is not None:
        return _run_script(ctx, inv, inv.command, "")
    # "-Command -", "-File -", or no command at all with stdin redirected: the commands come on stdin.
    data = ctx.stdin.read_all(ctx.cancel)
    return _run_script(ctx, inv, data.decode(ctx.encoding, errors="replace"), "")


PROGRAMS: dict[str, Program] = {"powershell": timing.timed(timing.START_POWERSHELL, run)}
