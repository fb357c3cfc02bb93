"""``cmd.exe /c LINE``: what WinRS runs for every command unless the client skips the shell.

An installer's command lines pass through cmd.exe before any program sees them, so cmd's quirks are
part of what the engine must get right: the ``/c`` quote-stripping rule, ``%VAR%`` expansion (once,
for the whole line, before anything runs), ``^`` escapes, ``&``/``&&``/``||``/``|`` and redirections.
This module reproduces those rules far enough that a wrong command line fails here as it would on
Windows. Sources: ``cmd /?`` (the ``/c`` quote rules), ss64.com (redirection), the "How does the
Windows Command Interpreter parse scripts" answers by jeb and dbenham (phases, command-line percent
expansion), zzz.buzz "File not found errors in cmd.exe" (exit codes 3, 9009, 123; a failed
redirection leaves ERRORLEVEL alone), Stack Overflow 41324747 and Wine's cmd tests checked against
Windows (``||`` after a failed redirection sets ERRORLEVEL 1), and Microsoft's "Command prompt line
string limitation" (8191 characters, which are UTF-16 code units).

The built-ins and redirections reach a UNC path through the lab's file server (``shares``), judged
for the process's outbound account as Windows judges it: a WinRM network logon arrives as ANONYMOUS
LOGON and is refused (the double hop).

Started without ``/c`` (``cmd`` alone, or ``cmd /k LINE``) it is the interactive interpreter fed from a
pipe, as WinRS feeds it: it prints its banner, then for each line read from stdin the prompt, the line
itself (stdin is not a console, so cmd echoes what it reads) and the line's output, and a blank line
before the next prompt; ``exit [N]`` or the end of stdin ends it. At the end of stdin the lab exits
with the last ERRORLEVEL, as ReactOS's cmd does (Wine's cmd returns 0 there; Windows' own behaviour is
not documented).

What is deliberately left out: ``(...)`` blocks, delayed expansion, programs started from a UNC path, and
the interactive prompt of ``del`` on a directory (the lab deletes as if ``/q`` were given). Windows
commands the lab knows exist but does not simulate -- the built-ins in ``UNSIMULATED_BUILTINS`` (``copy``,
``if``, ``for``, ``call``, ``start``, ...), ``set /a`` and ``set /p``, and the System32 tools in
``UNSIMULATED_TOOLS`` (``findstr``, ``sort``, ``more``, ``ping``, ``sc``, ``net``, ``reg``, ...) -- fail
with a message that starts ``lab limit:`` and exit code ``LAB_LIMIT_EXIT`` (9990), never with Windows'
"is not recognized" (9009), which on Windows means the command does not exist. ``timeout`` is simulated
as it behaves under WinRS: its stdin is a pipe, so it refuses at once ("ERROR: Input redirection is not
supported, exiting the process immediately.", exit 1).
"""

from __future__ import annotations

import fnmatch
import ntpath
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from octotui.lab import shares, timing
from octotui.lab.process import Cancelled, NullSink, ProcessContext, Sink, StdinPipe
from octotui.lab.winargs import split_program_name, split_windows_args
from octotui.lab.winfs import FsError, WinFS

#: cmd.exe's own line limit; longer lines fail before anything runs ("The command line is too long.").
MAX_LINE = 8191
#: ERRORLEVEL after a parse-time syntax error ("& was unexpected at this time.").
SYNTAX_ERRORLEVEL = 255
#: The simulated Windows build's update revision (UBR), added when the node's version has only three
#: parts: 10.0.20348.2340 is a Windows Server 2022 build from a 2024 cumulative update. ``ver`` and the
#: banner of an interactive cmd.exe both show ``windows_version``, so they always agree.
WINDOWS_UBR = 2340
DEFAULT_UBR = WINDOWS_UBR
#: Exit code of a command the lab knows Windows has but does not simulate (a built-in such as ``copy`` or
#: a System32 tool such as ``findstr``). Windows never sets it for these commands, so a script that meets
#: it knows it hit the lab's limit, not a Windows error; the message says so too (``LAB_LIMIT_PREFIX``).
LAB_LIMIT_EXIT = 9990
LAB_LIMIT_PREFIX = "lab limit:"

_BLANKS = " \t"
_TOKEN_DELIMS = " \t,;="
_C_SPECIALS = set("&<>()@^|")
_ECHO_DELIMS = set(".:/\\(+[]")
_OTHER_DELIMS = set("./\\")
_STATUS_PATH_NOT_FOUND = 3
_STATUS_BAD_NAME = 123
#: Win32 errors whose own words cmd prints as they are (access denied, bad network path or share name).
_VERBATIM_ERRORS = (5, shares.ERROR_BAD_NETPATH, shares.ERROR_BAD_NET_NAME)
#: Free space ``dir`` reports for a share: the lab does not model the file server's disk.
SHARE_FREE_BYTES = 512 * 1024**3

MSG_PATH_NOT_FOUND = "The system cannot find the path specified."
MSG_FILE_NOT_FOUND = "The system cannot find the file specified."
MSG_SYNTAX = "The syntax of the command is incorrect."
MSG_NO_UNC_CD = "CMD does not support UNC paths as current directories."


class CmdSyntaxError(Exception):
    """A line cmd.exe refuses while parsing, before running any of it."""


class _ExitShell(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Redirect:
    """One redirection: ``handle`` is 0, 1 or 2; ``op`` is ``>``, ``>>``, ``<``, ``>&`` or ``<&``."""

    handle: int
    op: str
    target: str


@dataclass
class Command:
    """A simple command: its text (carets removed, quotes kept) and its redirections, in order."""

    text: str
    redirects: list[Redirect]


@dataclass
class Pipeline:
    """Commands joined by ``|``; ``op`` is how it joins the previous pipeline ("", &, && or ||)."""

    op: str
    commands: list[Command]


# --- the /c quote rule -------------------------------------------------------------------------------

def strip_c_quotes(line: str, is_executable: Callable[[str], bool]) -> str:
    """Apply the rule ``cmd /?`` documents for the text after ``/c``.

    Quotes are kept when the line has exactly two, nothing of ``&<>()@^|`` between them, some
    whitespace between them, and the text between them names an executable file. Otherwise, if the
    first character is a quote, that quote and the last quote on the line are removed and the text
    after the last quote is kept. This is why ``"C:\\Program Files\\x.exe" "arg"`` fails through WinRS.
    """
    s = line.lstrip(_BLANKS)
    if not s.startswith('"'):
        return s
    if s.count('"') == 2:
        inner = s[1:s.index('"', 1)]
        if (not any(c in _C_SPECIALS for c in inner) and any(c in _BLANKS for c in inner)
                and is_executable(inner)):
            return s
    last = s.rfind('"')
    if last == 0:
        return s[1:]
    return s[1:last] + s[last + 1:]


# --- phase 1: percent expansion -----------------------------------------------------------------------

def expand_percent(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand ``%NAME%`` as cmd does for a command line (not a batch file).

    An undefined variable is left as written, and ``%%`` is not an escape: the opening ``%`` is kept
    and scanning resumes at the next character, so ``%%PATH%%`` becomes ``%`` + PATH + ``%``. The
    ``%NAME:~start,len%`` and ``%NAME:old=new%`` forms work on defined variables.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        close = text.find("%", i + 1)
        if close < 0:
            out.append(text[i:])
            break
        value = _expand_one(text[i + 1:close], lookup)
        if value is None:
            out.append("%")
            i += 1
            continue
        out.append(value)
        i = close + 1
    return "".join(out)


def _expand_one(name: str, lookup: Callable[[str], str | None]) -> str | None:
    if not name:
        return None
    base, colon, spec = name.partition(":")
    value = lookup(base)
    if value is None or not colon:
        return value
    if spec.startswith("~"):
        return _substring(value, spec[1:])
    old, eq, new = spec.partition("=")
    if not eq or not old or old == "*":
        return None
    if old.startswith("*"):
        pos = value.lower().find(old[1:].lower())
        return value if pos < 0 else new + value[pos + len(old) - 1:]
    return re.sub(re.escape(old), lambda _m: new, value, flags=re.IGNORECASE)


def _substring(value: str, spec: str) -> str | None:
    start_text, comma, length_text = spec.partition(",")
    try:
        start = int(start_text or "0")
        length = int(length_text) if comma else None
    except ValueError:
        return None
    n = len(value)
    start = max(0, n + start) if start < 0 else min(start, n)
    if length is None:
        end = n
    elif length < 0:
        end = max(start, n + length)
    else:
        end = min(n, start + length)
    return value[start:end]


# --- phase 2: special characters, operators and redirections ------------------------------------------

def parse_line(text: str) -> list[Pipeline]:
    """Split an expanded line into pipelines of commands with their redirections.

    ``^`` escapes the next character outside quotes (and disappears); a quote toggles quoting, and
    inside quotes nothing is special. Redirections are removed from the command text wherever they
    appear, leaving the blanks around them (so ``echo hi > f`` writes ``hi `` and a space).
    """
    pipelines: list[Pipeline] = []
    commands: list[Command] = []
    buf: list[str] = []
    redirects: list[Redirect] = []
    join_op = ""
    in_quotes = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            in_quotes = not in_quotes
            buf.append(c)
            i += 1
        elif in_quotes:
            buf.append(c)
            i += 1
        elif c == "^":
            if i + 1 < n:
                buf.append(text[i + 1])
            i += 2
        elif c in "&|":
            op = text[i:i + 2] if text[i:i + 2] in ("&&", "||") else c
            i += len(op)
            cmd = Command("".join(buf), redirects)
            if _is_empty(cmd):
                raise CmdSyntaxError(f"{op} was unexpected at this time.")
            commands.append(cmd)
            buf, redirects = [], []
            if op != "|":
                pipelines.append(Pipeline(join_op, commands))
                commands, join_op = [], op
        elif c in "<>":
            i = _parse_redirect(text, i, buf, redirects)
        else:
            buf.append(c)
            i += 1
    cmd = Command("".join(buf), redirects)
    if not _is_empty(cmd):
        commands.append(cmd)
        pipelines.append(Pipeline(join_op, commands))
    elif commands or join_op in ("&&", "||"):
        raise CmdSyntaxError(MSG_SYNTAX)
    return pipelines


def _is_empty(cmd: Command) -> bool:
    return not cmd.text.strip(_TOKEN_DELIMS + "@") and not cmd.redirects


def _parse_redirect(text: str, i: int, buf: list[str], redirects: list[Redirect]) -> int:
    """Parse the redirection at ``text[i]``; return the index after it.

    A single digit directly before the operator names the handle when it starts a token
    (``dir x 2>nul``); glued to a word (``echo a2>f``) it stays part of the text.
    """
    c = text[i]
    handle = 1 if c == ">" else 0
    if buf and buf[-1].isdigit() and (len(buf) == 1 or buf[-2] in _TOKEN_DELIMS):
        handle = int(buf.pop())
    op = c
    i += 1
    if c == ">" and i < len(text) and text[i] == ">":
        op, i = ">>", i + 1
    if i + 1 < len(text) and text[i] == "&" and text[i + 1].isdigit():
        redirects.append(Redirect(handle, op[0] + "&", text[i + 1]))
        return i + 2
    while i < len(text) and text[i] in _BLANKS:
        i += 1
    target: list[str] = []
    in_quotes = False
    while i < len(text):
        ch = text[i]
        if ch == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            target.append(ch)
        elif ch in _BLANKS or ch in "&|<>":
            break
        elif ch == "^":
            if i + 1 < len(text):
                target.append(text[i + 1])
            i += 1
        else:
            target.append(ch)
        i += 1
    if not target:
        raise CmdSyntaxError(MSG_SYNTAX)
    redirects.append(Redirect(handle, op, "".join(target)))
    return i


def cmd_words(text: str) -> list[str]:
    """Arguments as cmd's built-ins see them: split on blanks, ``,``, ``;``, ``=``; quotes removed."""
    words: list[str] = []
    cur: list[str] = []
    quoted = in_quotes = False
    for c in text:
        if c == '"':
            in_quotes, quoted = not in_quotes, True
        elif c in _TOKEN_DELIMS and not in_quotes:
            if cur or quoted:
                words.append("".join(cur))
            cur, quoted = [], False
        else:
            cur.append(c)
    if cur or quoted:
        words.append("".join(cur))
    return words


def utf16_length(text: str) -> int:
    """The length Windows measures: UTF-16 code units, so a character beyond U+FFFF counts twice."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _fs_message(exc: FsError, default: str) -> str:
    """What cmd prints for a failed file operation: the system's words for a refusal, else ``default``."""
    return exc.message if exc.winerror in _VERBATIM_ERRORS else default


# --- sinks ---------------------------------------------------------------------------------------------

class _FileSink:
    """A redirection target (on the node's disk or a share): each write lands in the file at once."""

    def __init__(self, ctx: ProcessContext, fs: WinFS, path: str) -> None:
        self._ctx, self._fs, self._path = ctx, fs, path

    def write(self, data: bytes) -> None:
        if data:
            with self._ctx.runtime.world.lock:
                self._fs.write(self._path, data, append=True)


class _PipeSink:
    def __init__(self, pipe: StdinPipe) -> None:
        self._pipe = pipe

    def write(self, data: bytes) -> None:
        if data:
            self._pipe.feed(data, False)


def _closed_pipe(data: bytes) -> StdinPipe:
    pipe = StdinPipe()
    pipe.feed(data, True)
    return pipe


def _is_nul(target: str) -> bool:
    base = ntpath.basename(target.replace("/", "\\")).lower().rstrip(":")
    return base == "nul" or base.startswith("nul.")


# --- the interpreter ---------------------------------------------------------------------------------

Builtin = Callable[["_Shell", ProcessContext, str, str], "int | None"]


class _Shell:
    """One cmd.exe process: its environment, current directory, ERRORLEVEL and echo state."""

    def __init__(self, ctx: ProcessContext, cmdcmdline: str, errorlevel: int = 0) -> None:
        self.ctx = ctx
        self.cmdcmdline = cmdcmdline
        self.errorlevel = errorlevel
        self.echo_on = True
        #: Whether the last command run was skipped because a redirection failed (for ``||``).
        self.redirect_failed = False

    # --- helpers ---------------------------------------------------------------------------------
    @property
    def fs_lock(self) -> threading.RLock:
        return self.ctx.runtime.world.lock

    def abspath(self, path: str) -> str:
        """Resolve a path typed at the prompt against the current directory, as Windows does."""
        p = path.replace("/", "\\")
        cwd = self.ctx.cwd
        if p.startswith("\\\\"):
            return ntpath.normpath(p)
        if len(p) >= 2 and p[1] == ":":
            if p[2:3] == "\\":
                return ntpath.normpath(p)
            base = cwd if cwd[:2].lower() == p[:2].lower() else p[:2] + "\\"
            return ntpath.normpath(ntpath.join(base, p[2:]))
        if p.startswith("\\"):
            return ntpath.normpath(cwd[:2] + p)
        return ntpath.normpath(ntpath.join(cwd, p))

    def locate(self, path: str, want: shares.Want) -> tuple[WinFS, str]:
        """The disk an absolute path lives on and the path to use there; call with the world lock held.

        A UNC path goes to the file server, which judges this process's outbound account and refuses
        with Windows' words (FsError 5, 53 or 67); anything else is the node's own disk.
        """
        if path.startswith("\\\\"):
            runtime = self.ctx.runtime
            target = shares.open_target(runtime.world, self.ctx.identity, path, want,
                                        machine=runtime.node.name)
            return target.share.fs, target.path
        return self.ctx.runtime.node.fs, path

    def lookup(self, name: str) -> str | None:
        """A variable for %-expansion: the environment first, then cmd's dynamic variables."""
        value = self.ctx.env.get(name)
        if value is not None:
            return value
        now = time.localtime()
        dynamic: dict[str, Callable[[], str]] = {
            "ERRORLEVEL": lambda: str(self.errorlevel),
            "CD": lambda: self.ctx.cwd,
            "DATE": lambda: time.strftime("%a %m/%d/%Y", now),
            "TIME": lambda: f"{now.tm_hour:2d}:{now.tm_min:02d}:{now.tm_sec:02d}."
                            f"{int(time.time() * 100) % 100:02d}",
            "RANDOM": lambda: str(random.randint(0, 32767)),
            "CMDCMDLINE": lambda: self.cmdcmdline,
            "CMDEXTVERSION": lambda: "2",
            "HIGHESTNUMANODENUMBER": lambda: "0",
        }
        make = dynamic.get(name.upper())
        return make() if make is not None else None

    def is_executable(self, name: str) -> bool:
        """Whether ``name`` is an executable file, searched as cmd searches (for the /c quote rule)."""
        exts = [""] + [e for e in self.ctx.env.get("PATHEXT", ".COM;.EXE;.BAT;.CMD").split(";") if e]
        if any(sep in name for sep in "\\/:"):
            bases = [self.abspath(name)]
        else:
            dirs = [self.ctx.cwd, *[d for d in self.ctx.env.get("Path", "").split(";") if d]]
            bases = [ntpath.join(d, name) for d in dirs]
        with self.fs_lock:
            return any(self.ctx.runtime.node.fs.is_file(b + e) for b in bases for e in exts)

    # --- running a line ----------------------------------------------------------------------------
    def run(self, line: str) -> int:
        """``cmd /c LINE``: apply the /c quote rule, run the first line, and return the exit code."""
        text = strip_c_quotes(line, self.is_executable).split("\n", 1)[0]
        try:
            self.run_text(text)
        except _ExitShell as exc:
            return exc.code
        return self.errorlevel

    def run_text(self, text: str) -> None:
        """Run one line through cmd's phases (length check, %-expansion, parsing, execution).

        A line cmd refuses sets ERRORLEVEL (1 for a long line, 255 for a syntax error); ``exit`` raises
        ``_ExitShell`` for the caller, which ends the process.
        """
        if utf16_length(text) > MAX_LINE:
            self.ctx.println("The command line is too long.")
            self.errorlevel = 1
            return
        text = expand_percent(text, self.lookup).replace("\r", "")
        if utf16_length(text) > MAX_LINE:
            self.ctx.println("The command line is too long.")
            self.errorlevel = 1
            return
        try:
            pipelines = parse_line(text)
        except CmdSyntaxError as exc:
            self.ctx.eprintln(str(exc))
            self.errorlevel = SYNTAX_ERRORLEVEL
            return
        self.run_pipelines(pipelines)

    def prompt(self) -> str:
        """The prompt as ``PROMPT`` (default ``$P$G``) describes it, for the codes an installer may meet."""
        codes: dict[str, Callable[[], str]] = {
            "p": lambda: self.ctx.cwd, "g": lambda: ">", "l": lambda: "<", "b": lambda: "|",
            "q": lambda: "=", "s": lambda: " ", "$": lambda: "$", "_": lambda: "\n",
            "n": lambda: self.ctx.cwd[:1], "e": lambda: "\x1b",
            "v": lambda: f"Microsoft Windows [Version {windows_version(self.ctx.runtime.node.os_version)}]",
        }
        spec = self.ctx.env.get("PROMPT") or "$P$G"
        out: list[str] = []
        i = 0
        while i < len(spec):
            if spec[i] == "$" and i + 1 < len(spec):
                make = codes.get(spec[i + 1].lower())
                if make is not None:
                    out.append(make())
                i += 2
            else:
                out.append(spec[i])
                i += 1
        return "".join(out)

    def interact(self, banner: bool) -> int:
        """The interactive interpreter reading its commands from stdin (a pipe under WinRS).

        As cmd does when stdin is not a console, it shows each line it reads after the prompt (unless
        echo is off or the line starts with ``@``), and a blank line before the prompt after a command.
        ``exit`` ends it with its code; the end of stdin with the last ERRORLEVEL.
        """
        ctx = self.ctx
        if banner:
            ctx.println(f"Microsoft Windows [Version {windows_version(ctx.runtime.node.os_version)}]")
            ctx.println("(c) Microsoft Corporation. All rights reserved.")
        blank_first = True
        while True:
            if self.echo_on:
                if blank_first:
                    ctx.println()
                ctx.out(self.prompt())
            raw = ctx.stdin.read_line(ctx.cancel)
            if raw is None:
                return self.errorlevel
            text = raw.decode(ctx.encoding, errors="replace").rstrip("\r\n")
            if self.echo_on and not text.lstrip(_BLANKS).startswith("@"):
                ctx.println(text)
            blank_first = bool(text.strip(_BLANKS))
            try:
                self.run_text(text)
            except _ExitShell as exc:
                return exc.code

    def run_pipelines(self, pipelines: list[Pipeline]) -> None:
        ok = True
        for pipeline in pipelines:
            if (pipeline.op == "&&" and not ok) or (pipeline.op == "||" and ok):
                continue
            if pipeline.op == "||" and self.redirect_failed:
                self.errorlevel = 1  # Windows' quirk: only || turns a failed redirection into ERRORLEVEL 1
            ok = self.run_pipeline(pipeline.commands)

    def child(self, stdin: StdinPipe, stdout: Sink) -> _Shell:
        """A side of a pipe runs in a child cmd.exe: its variable changes do not come back."""
        ctx = replace(self.ctx, env=self.ctx.env.copy(), stdin=stdin, stdout=stdout)
        shell = _Shell(ctx, self.cmdcmdline, self.errorlevel)
        shell.echo_on = self.echo_on
        return shell

    def run_pipeline(self, commands: list[Command]) -> bool:
        if len(commands) == 1:
            return self.run_command(commands[0])
        threads: list[threading.Thread] = []
        failures: list[BaseException] = []
        stdin = self.ctx.stdin
        for cmd in commands[:-1]:
            pipe = StdinPipe()
            side = self.child(stdin, _PipeSink(pipe))
            thread = threading.Thread(target=_run_pipe_side, args=(side, cmd, pipe, failures),
                                      name="cmd-pipe", daemon=True)
            thread.start()
            threads.append(thread)
            stdin = pipe
        last = self.child(stdin, self.ctx.stdout)
        try:
            ok = last.run_command(commands[-1])
        except _ExitShell as exc:
            last.errorlevel, ok = exc.code, exc.code == 0
        for thread in threads:
            thread.join()
        if any(isinstance(f, Cancelled) for f in failures):
            raise Cancelled()
        if failures:  # a lab bug on a pipe side must not vanish with its thread
            raise failures[0]
        self.errorlevel = last.errorlevel
        self.redirect_failed = last.redirect_failed
        return ok

    def open_redirects(self, redirects: list[Redirect]) -> ProcessContext | None:
        """Apply redirections left to right; on failure report it (ERRORLEVEL untouched) and return None."""
        stdin, stdout, stderr = self.ctx.stdin, self.ctx.stdout, self.ctx.stderr
        for r in redirects:
            if r.op in (">&", "<&"):
                outputs: dict[str, Sink] = {"1": stdout, "2": stderr}
                if r.target in outputs and r.handle == 1:
                    stdout = outputs[r.target]
                elif r.target in outputs and r.handle == 2:
                    stderr = outputs[r.target]
                continue
            if r.op == "<":
                if r.handle != 0:
                    continue
                if _is_nul(r.target):
                    stdin = _closed_pipe(b"")
                    continue
                try:
                    with self.fs_lock:
                        fs, path = self.locate(self.abspath(r.target), "read")
                        data = fs.read(path)
                except FsError as exc:
                    replace(self.ctx, stderr=stderr).eprintln(_fs_message(exc, MSG_FILE_NOT_FOUND))
                    return None
                stdin = _closed_pipe(data)
                continue
            sink: Sink
            if _is_nul(r.target):
                sink = NullSink()
            else:
                try:
                    with self.fs_lock:
                        fs, path = self.locate(self.abspath(r.target), "write")
                        if not (r.op == ">>" and fs.is_file(path)):
                            fs.write(path, b"")
                except FsError as exc:
                    replace(self.ctx, stderr=stderr).eprintln(_fs_message(exc, MSG_PATH_NOT_FOUND))
                    return None
                sink = _FileSink(self.ctx, fs, path)
            if r.handle == 1:
                stdout = sink
            elif r.handle == 2:
                stderr = sink
        return replace(self.ctx, stdin=stdin, stdout=stdout, stderr=stderr)

    def run_command(self, cmd: Command) -> bool:
        """Run one simple command; return whether it succeeded (what ``&&`` and ``||`` test).

        A failed redirection skips the command and fails it for ``&&``/``||`` but leaves ERRORLEVEL
        as it was (zzz.buzz; Wine's cmd tests, run against Windows, show the same).
        """
        cctx = self.open_redirects(cmd.redirects)
        self.redirect_failed = cctx is None
        if cctx is None:
            return False
        text = cmd.text.lstrip(_TOKEN_DELIMS + "@")
        if not text.strip(_TOKEN_DELIMS):
            return True
        first = re.split(r"[\s,;=/(]", text, maxsplit=1)[0].lower()
        if text.startswith("(") or first in UNSIMULATED_BUILTINS:
            what = "( ... ) blocks" if text.startswith("(") else f"the built-in command '{first}'"
            self.errorlevel = lab_limit(cctx, f"the lab's cmd.exe does not simulate {what}.")
            return False
        word = _builtin_word(text)
        if word is not None:
            name, rest, delim = word
            code = _BUILTINS[name](self, cctx, rest, delim)
            if code is None:
                return True
        else:
            code = self.run_external(cctx, text.rstrip(_BLANKS))
        self.errorlevel = code
        return code == 0

    def run_external(self, cctx: ProcessContext, command_line: str) -> int:
        """Hand a command to CreateProcess the way cmd does, with cmd's own errors first.

        A program path whose folder does not exist fails in cmd itself with "The system cannot find
        the path specified." and ERRORLEVEL 3; an existing folder without the program, or a bare name
        not on PATH, gets the "is not recognized" text and 9009 (from the runtime); a quoted name
        starting with a blank is a bad file name (123). These are the codes cmd sets (zzz.buzz).
        """
        name, _rest = split_program_name(command_line)
        if name[:1] in _BLANKS and name.strip():
            cctx.eprintln("The filename, directory name, or volume label syntax is incorrect.")
            return _STATUS_BAD_NAME
        if any(sep in name for sep in "\\/:"):
            parent = ntpath.dirname(self.abspath(name))
            with self.fs_lock:
                parent_exists = self.ctx.runtime.node.fs.is_dir(parent)
            if not parent_exists:
                cctx.eprintln(MSG_PATH_NOT_FOUND)
                return _STATUS_PATH_NOT_FOUND
        child = replace(cctx, env=self.ctx.env.copy(), cwd=self.ctx.cwd)
        tool = _windows_tool(name)
        if tool is not None and self.ctx.runtime.resolve_program(name, child) is None:
            return _run_tool(child, tool, command_line)
        return self.ctx.runtime.run_program_line(child, command_line)


def _run_pipe_side(side: _Shell, cmd: Command, pipe: StdinPipe, failures: list[BaseException]) -> None:
    try:
        side.run_command(cmd)
    except _ExitShell:
        pass
    except BaseException as exc:  # carried back to the shell's thread, which re-raises a cancel
        failures.append(exc)
    finally:
        pipe.close()


def _builtin_word(text: str) -> tuple[str, str, str] | None:
    """Recognise a built-in command: its name, the text after it, and the delimiter that ended it.

    cmd ends a built-in's name at a blank or at punctuation (``echo.``, ``cd..``, ``dir/b``); only
    ``echo`` swallows that delimiter. A quoted first word is never a built-in.
    """
    if text.startswith('"'):
        return None
    end = 0
    while end < len(text) and text[end] not in _TOKEN_DELIMS:
        end += 1
    token = text[:end].lower()
    if token in _BUILTINS:
        delim = text[end:end + 1]
        return token, text[end + 1:] if token == "echo" else text[end:], delim
    for name in sorted(_BUILTINS, key=len, reverse=True):
        if token.startswith(name) and len(token) > len(name):
            delim = token[len(name)]
            if name == "echo" and delim in _ECHO_DELIMS:
                return name, text[len(name) + 1:], delim
            if name != "echo" and delim in _OTHER_DELIMS:
                return name, text[len(name):], delim
    return None


# --- built-in commands -------------------------------------------------------------------------------
# Each returns the new ERRORLEVEL, or None for success that leaves ERRORLEVEL alone (as echo, type, cd,
# del and set do in cmd).

def _echo(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    if delim in ("", " ", "\t") and not rest.strip(_BLANKS):
        ctx.println(f"ECHO is {'on' if shell.echo_on else 'off'}.")
    elif delim in ("", " ", "\t") and rest.strip(_BLANKS).lower() in ("on", "off"):
        shell.echo_on = rest.strip(_BLANKS).lower() == "on"
    else:
        ctx.println(rest)
    return None


def _rem(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    return None


def _type(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    names = cmd_words(rest)
    if not names:
        ctx.eprintln(MSG_SYNTAX)
        return 1
    failed = False
    for name in names:
        try:
            with shell.fs_lock:
                fs, path = shell.locate(shell.abspath(name), "read")
                data = fs.read(path)
        except FsError as exc:
            ctx.eprintln(_fs_message(exc, MSG_FILE_NOT_FOUND))
            if len(names) > 1:
                ctx.eprintln(f"Error occurred while processing: {name}.")
            failed = True
            continue
        if len(names) > 1:
            ctx.eprintln(f"\n{name}\n\n")
        ctx.stdout.write(data)
    return 1 if failed else None


def _wildcard_match(name: str, pattern: str) -> bool:
    """Match as FindFirstFile does for the common forms: case-insensitive, and ``*.*`` is ``*``."""
    pattern = "*" if pattern == "*.*" else pattern
    return fnmatch.fnmatch(name.lower(), pattern.lower())


@dataclass
class _Listing:
    """What ``dir`` found for one target: the folder as shown, the matching entries and the free space."""

    shown: str
    entries: list[tuple[str, bool, int]]
    free: int


def _list_target(shell: _Shell, target: str) -> _Listing | None:
    """Read one ``dir`` target under the world lock; None when its folder does not exist.

    A folder other than a drive root holds ``.`` and ``..``, so listing an empty folder is not an
    error in the full format; ``/b`` leaves them out (and then finds nothing).
    """
    typed = shell.abspath(target)
    unc = typed.startswith("\\\\")
    fs, path = shell.locate(typed, "read")
    pattern = "*"
    if not fs.is_dir(path):
        pattern, path, typed = ntpath.basename(path), ntpath.dirname(path), ntpath.dirname(typed)
        if not fs.is_dir(path):
            return None
    drive_root = len(path) <= 3 and not unc
    entries = [(dots, True, 0) for dots in (".", "..") if not drive_root and _wildcard_match(dots, pattern)]
    for child in fs.listdir(path):
        if _wildcard_match(child, pattern):
            full = ntpath.join(path, child)
            is_dir = fs.is_dir(full)
            entries.append((child, is_dir, 0 if is_dir else len(fs.read(full))))
    shown = typed.rstrip("\\") if unc else fs.real_path(path)
    free = SHARE_FREE_BYTES if unc else shell.ctx.runtime.node.drive_free_bytes.get(shown[:2].upper(), 0)
    return _Listing(shown, entries, free)


def _dir(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    words = cmd_words(rest)
    bare = any(w.lower() == "/b" for w in words)
    targets = [w for w in words if not w.startswith("/")] or ["."]
    failed = False
    for target in targets:
        try:
            with shell.fs_lock:
                listing = _list_target(shell, target)
        except FsError as exc:
            ctx.eprintln(exc.message)
            failed = True
            continue
        if listing is None:
            ctx.eprintln(MSG_PATH_NOT_FOUND)
            failed = True
            continue
        entries = listing.entries
        if bare:
            entries = [e for e in entries if e[0] not in (".", "..")]
        else:
            drive = listing.shown[:1].upper()
            if listing.shown.startswith("\\\\"):  # a share is named by its \\host\share root
                drive = "\\\\" + "\\".join(listing.shown[2:].split("\\")[:2])
            ctx.println(f" Volume in drive {drive} has no label.")
            ctx.println(" Volume Serial Number is 6C2E-91A4")
            ctx.println()
            ctx.println(f" Directory of {listing.shown}")
            ctx.println()
        if not entries:
            ctx.eprintln("File Not Found")
            failed = True
            continue
        if bare:
            for name, _is_dir, _size in entries:
                ctx.println(name)
            continue
        stamp = time.strftime("%m/%d/%Y  %I:%M %p")
        for name, is_dir, size in entries:
            ctx.println(f"{stamp}    <DIR>          {name}" if is_dir else f"{stamp} {size:>17,} {name}")
        files = [e for e in entries if not e[1]]
        dirs = len(entries) - len(files)
        ctx.println(f"{len(files):>16} File(s) {sum(e[2] for e in files):>14,} bytes")
        ctx.println(f"{dirs:>16} Dir(s) {listing.free:>15,} bytes free")
    return 1 if failed else 0


def _mkdir(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    names = cmd_words(rest)
    if not names:
        ctx.eprintln(MSG_SYNTAX)
        return 1
    failed = False
    for name in names:
        try:
            with shell.fs_lock:
                fs, path = shell.locate(shell.abspath(name), "write")
                if fs.exists(path):
                    ctx.eprintln(f"A subdirectory or file {name} already exists.")
                    failed = True
                    continue
                fs.makedirs(path)
        except FsError as exc:
            ctx.eprintln(exc.message)
            failed = True
    return 1 if failed else 0


def _del(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    names = [w for w in cmd_words(rest) if not w.startswith("/")]
    if not names:
        ctx.eprintln(MSG_SYNTAX)
        return 1
    refused = False
    for name in names:
        typed = shell.abspath(name)
        try:
            with shell.fs_lock:
                fs, path = shell.locate(typed, "write")
                victims = _del_victims(fs, path)
                for victim in victims:
                    fs.delete(victim)
        except FsError as exc:
            ctx.eprintln(exc.message)
            refused = True
            continue
        if not victims:
            ctx.eprintln(f"Could Not Find {typed}")
    return 1 if refused else None


def _del_victims(fs: WinFS, path: str) -> list[str]:
    """The files ``del`` removes for one argument: a folder's files, a wildcard's matches, or the file."""
    if fs.is_dir(path):
        return [ntpath.join(path, c) for c in fs.listdir(path) if fs.is_file(ntpath.join(path, c))]
    folder, pattern = ntpath.dirname(path), ntpath.basename(path)
    if any(ch in pattern for ch in "*?") and fs.is_dir(folder):
        return [ntpath.join(folder, c) for c in fs.listdir(folder)
                if _wildcard_match(c, pattern) and fs.is_file(ntpath.join(folder, c))]
    return [path] if fs.is_file(path) else []


def _exit(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    words = cmd_words(rest)
    if words and words[0].lower() == "/b":
        words = words[1:]
    code = shell.errorlevel
    if words:
        m = re.match(r"[+-]?\d+", words[0])
        code = int(m.group(0)) if m else 0
    raise _ExitShell(code)


def _set(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    arg = rest.lstrip(_BLANKS)
    env = shell.ctx.env
    if arg[:2].lower() in ("/a", "/p"):
        return lab_limit(ctx, "the lab's cmd.exe does not simulate SET /A and SET /P.")
    if not arg.strip(_BLANKS):
        for name in sorted(env, key=str.upper):
            ctx.println(f"{name}={env[name]}")
        return None
    if arg.startswith('"'):
        last = arg.rfind('"')
        arg = arg[1:last] if last > 0 else arg[1:]
    name, eq, value = arg.partition("=")
    if not eq:
        prefix = arg.rstrip(_BLANKS)
        matches = sorted((k for k in env if k.lower().startswith(prefix.lower())), key=str.upper)
        if not matches:
            ctx.eprintln(f"Environment variable {prefix} not defined")
            return 1
        for k in matches:
            ctx.println(f"{k}={env[k]}")
        return None
    if not name:
        ctx.eprintln(MSG_SYNTAX)
        return 1
    if value:
        env[name] = value
    else:
        env.pop(name, None)
    return None


def _cd(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    arg = rest.strip(_BLANKS)
    if arg[:2].lower() == "/d" and (len(arg) == 2 or arg[2] in _BLANKS):
        arg = arg[2:].strip(_BLANKS)
    arg = arg.replace('"', "").rstrip(_BLANKS)
    if not arg:
        ctx.println(shell.ctx.cwd)
        return None
    path = shell.abspath(arg)
    if path.startswith("\\\\"):
        ctx.eprintln(MSG_NO_UNC_CD)
        return 1
    with shell.fs_lock:
        fs = shell.ctx.runtime.node.fs
        if not fs.is_dir(path):
            ctx.eprintln(MSG_PATH_NOT_FOUND)
            return 1
        shell.ctx.cwd = fs.real_path(path)
    return None


def _ver(shell: _Shell, ctx: ProcessContext, rest: str, delim: str) -> int | None:
    ctx.println()
    ctx.println(f"Microsoft Windows [Version {windows_version(shell.ctx.runtime.node.os_version)}]")
    return None


_BUILTINS: dict[str, Builtin] = {
    "echo": _echo, "rem": _rem, "type": _type, "dir": _dir, "mkdir": _mkdir, "md": _mkdir,
    "del": _del, "erase": _del, "exit": _exit, "set": _set, "cd": _cd, "chdir": _cd, "ver": _ver,
}


def run_line(ctx: ProcessContext, line: str) -> int:
    """Run ``cmd.exe /c LINE`` in ``ctx``; return cmd's exit code (its final ERRORLEVEL)."""
    timing.spend(ctx, timing.START_CMD)
    comspec = ctx.env.get("ComSpec", "C:\\Windows\\System32\\cmd.exe")
    return _Shell(ctx, f"{comspec} /c {line}").run(line)


def run_program(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """``cmd.exe`` started as a program (by WinRS's own cmd, a scheduled task or another shell).

    Its switches come first: ``/q`` turns echo off; ``/c LINE`` runs the line and ends; ``/k LINE`` runs
    the line and then reads commands from stdin; with neither, it prints its banner and reads commands
    from stdin. ``/d``, ``/s``, ``/a``, ``/u``, ``/e:``, ``/f:``, ``/v:`` and ``/t:`` change nothing the
    lab models and are skipped.
    """
    timing.spend(ctx, timing.START_CMD)
    _name, rest = split_program_name(command_line)
    echo_on = True
    while True:
        rest = rest.lstrip(_BLANKS)
        m = re.match(r"/(\S)(\S*)", rest)
        if m is None:
            break
        switch = m.group(1).lower()
        if switch in ("c", "k"):
            line = rest[2:]
            shell = _Shell(ctx, command_line)
            shell.echo_on = echo_on
            if switch == "c":
                return shell.run(line)
            try:
                shell.run_text(strip_c_quotes(line, shell.is_executable).split("\n", 1)[0])
            except _ExitShell as exc:
                return exc.code
            return shell.interact(banner=False)
        if switch == "q":
            echo_on = False
        rest = rest[m.end():]
    shell = _Shell(ctx, command_line)
    shell.echo_on = echo_on
    return shell.interact(banner=True)


def windows_version(os_version: str) -> str:
    """The full build number the node shows (``ver``, the banner): its version plus ``WINDOWS_UBR``."""
    return f"{os_version}.{WINDOWS_UBR}" if os_version.count(".") == 2 else os_version


def lab_limit(ctx: ProcessContext, what: str) -> int:
    """Refuse something the lab does not simulate, in words no Windows error uses; return its exit code."""
    ctx.eprintln(f"{LAB_LIMIT_PREFIX} {what} (octotui lab; exit code {LAB_LIMIT_EXIT})")
    return LAB_LIMIT_EXIT


#: cmd.exe built-ins the lab does not simulate: Windows runs them, so "is not recognized" would be wrong.
UNSIMULATED_BUILTINS = frozenset({
    "assoc", "break", "call", "cls", "color", "copy", "date", "dpath", "endlocal", "for", "ftype", "goto",
    "if", "keys", "mklink", "move", "path", "pause", "popd", "prompt", "pushd", "rd", "ren", "rename",
    "rmdir", "setlocal", "shift", "start", "time", "title", "verify", "vol",
})
#: Programs every Windows Server has (System32) that the lab does not simulate, unless a test or a
#: world puts a program of that name on the node. ``timeout`` and ``ping`` are simulated in part.
UNSIMULATED_TOOLS = frozenset({
    "attrib", "bcdedit", "certutil", "choice", "clip", "cscript", "curl", "dism", "expand", "fc", "find",
    "findstr", "fsutil", "gpupdate", "icacls", "ipconfig", "more", "net", "net1", "netsh", "netstat",
    "nslookup", "ping", "query", "reg", "robocopy", "runas", "sc", "schtasks", "setx", "sfc", "shutdown",
    "sort", "systeminfo", "takeown", "tar", "taskkill", "tasklist", "timeout", "tree", "w32tm", "wevtutil",
    "where", "wmic", "wscript", "xcopy",
})
_SYSTEM_DIRS = ("c:\\windows\\system32", "c:\\windows")


def _windows_tool(name: str) -> str | None:
    """The System32 tool a program name means (``findstr``, ``C:\\Windows\\System32\\sort.exe``), if any."""
    path = name.replace("/", "\\").strip('"')
    folder, base = ntpath.split(path)
    if folder and folder.rstrip("\\").lower() not in _SYSTEM_DIRS:
        return None
    stem, ext = ntpath.splitext(base.lower())
    if ext not in ("", ".exe", ".com"):
        return None
    return stem if stem in UNSIMULATED_TOOLS else None


def _run_tool(ctx: ProcessContext, tool: str, command_line: str) -> int:
    """Start a System32 tool: logged as the process it is, then simulated or refused as the lab's limit."""
    rec = ctx.runtime.log_process(command_line, ctx.identity.account)
    code = LAB_LIMIT_EXIT
    try:
        args = split_windows_args(command_line)[1:]
        if tool == "timeout":
            code = _timeout(ctx, args)
        elif tool == "ping" and _ping_loopback(args) is not None:
            code = _ping(ctx, args)
        else:
            code = lab_limit(ctx, f"the lab does not simulate {tool}.exe.")
        return code
    finally:
        rec.exit_code, rec.ended = code, time.time()


def _timeout(ctx: ProcessContext, args: list[str]) -> int:
    """``timeout`` under WinRS: its stdin is a pipe, so it refuses before waiting (with or without /nobreak)."""
    if any(a == "/?" for a in args):
        ctx.println("TIMEOUT [/T] timeout [/NOBREAK]")
        return 0
    ctx.eprintln("ERROR: Input redirection is not supported, exiting the process immediately.")
    return 1


def _ping_loopback(args: list[str]) -> int | None:
    """The echo count of ``ping [-n N] 127.0.0.1``, the form scripts use to wait; None for any other form."""
    count, host, i = 4, None, 0
    while i < len(args):
        a = args[i].lower()
        if a in ("-n", "/n") and i + 1 < len(args) and args[i + 1].isdigit():
            count, i = int(args[i + 1]), i + 2
        elif host is None and not a.startswith(("-", "/")):
            host, i = a, i + 1
        else:
            return None
    return count if host == "127.0.0.1" and 1 <= count <= 3600 else None


def _ping(ctx: ProcessContext, args: list[str]) -> int:
    """Ping the loopback address: one reply a second, then Windows' statistics block."""
    count = _ping_loopback(args) or 4
    ctx.println()
    ctx.println("Pinging 127.0.0.1 with 32 bytes of data:")
    for n in range(count):
        if n:
            ctx.sleep(1.0)
        ctx.println("Reply from 127.0.0.1: bytes=32 time<1ms TTL=128")
    ctx.println()
    ctx.println("Ping statistics for 127.0.0.1:")
    ctx.println(f"    Packets: Sent = {count}, Received = {count}, Lost = 0 (0% loss),")
    ctx.println("Approximate round trip times in milli-seconds:")
    ctx.println("    Minimum = 0ms, Maximum = 0ms, Average = 0ms")
    return 0
