r"""Windows command lines built from argv, safe through ``cmd.exe /c``; PowerShell string literals.

Windows hands a program one string, not an argv. Almost every program splits it with the Microsoft C
runtime's startup code (Visual C++ 2008 and later) or ``CommandLineToArgvW``; WinRS runs every command through
``cmd.exe /c``, which first rewrites the line by rules of its own. A value that is quoted for one of these
layers and not for the other is how an installer ends up running half a password as a command, so every rule
below is chosen to hold for all of them at once, and the engine's tests check it against the lab's independent
cmd.exe and argv parser, in-process and over real WinRM.

The layers, in the order a line meets them on a node (sources: ``cmd /?``; the "How does the Windows Command
Interpreter (CMD.EXE) parse scripts" answers by jeb and dbenham; Raymond Chen, "What's up with the strange
treatment of quotation marks and backslashes by CommandLineToArgvW"; /work/shared/reference/winrm-protocol.md
section 3.8, "pywinrm joins arguments with spaces and does not quote them"):

1. WinRS carries the line inside an XML (SOAP) message. XML 1.0 cannot hold most control characters and
   rewrites CR, so such values are refused before anything is sent.
2. ``cmd /c``'s quote rule: unless the line has exactly two quotes around an existing executable's path with
   nothing special between them, a line that *starts* with ``"`` loses its first and its last quote. We never
   rely on the exception: a line that starts with ``"`` is wrapped in one more pair of quotes, which cmd strips.
3. cmd's percent phase: ``%NAME%`` is replaced by the variable's value everywhere, inside double quotes too; on
   the command line (as opposed to a batch file) an undefined reference is left exactly as written and ``%%``
   is no escape. Quoting cannot protect a ``%``; only making sure that no defined name can follow it does.
4. cmd's special characters: outside double quotes ``& | < > ( ) ^`` act (separators, pipes, redirections,
   blocks, escapes); ``^`` makes the next character literal and disappears; a ``"`` toggles cmd's quote state
   unless it is escaped with ``^``. ``!`` is literal: ``cmd /c`` runs without delayed expansion (a node whose
   registry turns delayed expansion on for every cmd.exe would need ``!`` handled as well).
5. The program's own argv parser (the C runtime; ``CommandLineToArgvW`` agrees on everything we emit): spaces
   and tabs outside quotes separate arguments; ``2n`` backslashes before a ``"`` give ``n`` backslashes and the
   quote toggles quoting, ``2n+1`` give ``n`` backslashes and a literal ``"``; other backslashes are literal.
   argv[0] is parsed differently (quotes toggle, backslashes are always literal), so a program path can hold
   no ``"``. The two parsers differ only on ``""`` inside quotes and on quotes inside argv[0], which we never
   emit.
"""

from __future__ import annotations

import ntpath
from collections.abc import Collection, Sequence

from octotui.crt import crt_escape

#: cmd.exe refuses a longer command line ("The command line is too long."), counted in UTF-16 code units.
CMD_MAX_LINE = 8191
#: CreateProcess takes at most 32767 UTF-16 code units including the terminating NUL.
CREATEPROCESS_MAX_LINE = 32766

_BLANKS = " \t"
#: Characters cmd.exe acts on outside double quotes in a command's arguments; each gets a ``^`` there.
_CMD_SPECIALS = frozenset("&|<>()^")
#: Program paths that need no quotes for any layer; anything else is quoted (quotes are harmless there).
_PLAIN_PROGRAM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:\\")
#: The quote characters PowerShell's tokenizer accepts in a single-quoted string: ' and U+2018..U+201B.
_PS_SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
_SHOWN_CHARS = 40


class UnsafeArgumentError(ValueError):
    """A value that no quoting can carry to the node intact; the message names the argument and says why.

    ``index`` is the argument's position in argv (None for a whole-line problem such as the length).
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


# --- what cannot be carried at all ------------------------------------------------------------------------

def _refusal(c: str) -> str | None:
    """Why ``c`` cannot be passed safely, or None when it can.

    NUL ends a Windows command line (it is a C string). CR and LF end a cmd.exe command, so whatever follows
    would be lost or run as a command of its own, and XML rewrites CR anyway; cmd reads Ctrl-Z as LF when it
    reads a line (jeb, "phase 0"). Other C0 controls, lone
    surrogates and U+FFFE/U+FFFF are not characters XML 1.0 can hold, so WinRM cannot deliver them.
    """
    o = ord(c)
    if o == 0:
        return ("a NUL character (U+0000): a Windows command line is a NUL-terminated string, so everything "
                "after it would be cut off")
    if c in "\r\n":
        name = "carriage return (U+000D)" if c == "\r" else "line feed (U+000A)"
        return (f"a line break, {name}: cmd.exe ends the command at a line break, so the rest would be lost or "
                "run as a command of its own")
    if o == 0x1A:
        return ("Ctrl-Z (U+001A), which cmd.exe reads as the end of a line, and which XML (so WinRM) cannot "
                "hold")
    if o < 0x20 and c != "\t":
        return (f"the control character U+{o:04X}: WinRM sends command lines inside XML, which cannot hold "
                "control characters")
    if 0xD800 <= o <= 0xDFFF:
        return f"a lone surrogate (U+{o:04X}), which is not a character and cannot be encoded for Windows"
    if o in (0xFFFE, 0xFFFF):
        return f"U+{o:04X}, which is not a character XML (and so WinRM) can carry"
    return None


def _shown(value: str, secret: bool) -> str:
    """How a refused value appears in a message: never at all when secret, else shortened and escaped."""
    if secret:
        return "secret, not shown"
    if len(value) > _SHOWN_CHARS:
        return repr(value[:_SHOWN_CHARS]) + "..."
    return repr(value)


def _program_label(argv: Sequence[str], secret: Collection[int]) -> str:
    if not argv or 0 in secret:
        return "the program"
    return ntpath.basename(argv[0]) or argv[0]


def _argument_label(argv: Sequence[str], i: int, secret: Collection[int]) -> str:
    """``argument 3 of X.exe (after --masterKey, secret, not shown)``: enough to find it in the caller's code."""
    if i == 0:
        return f"the program path ({_shown(argv[0], 0 in secret)})"
    notes = []
    prev = argv[i - 1]
    if i > 1 and prev[:1] in ("-", "/") and i - 1 not in secret:
        notes.append(f"after {_shown(prev, False)}")
    notes.append(_shown(argv[i], i in secret))
    return f"argument {i} of {_program_label(argv, secret)} ({', '.join(notes)})"


def _check_value(argv: Sequence[str], i: int, secret: Collection[int]) -> None:
    for c in argv[i]:
        reason = _refusal(c)
        if reason is not None:
            raise UnsafeArgumentError(
                f"{_argument_label(argv, i, secret)} contains {reason}. Pass such a value through stdin or a "
                "file instead of the command line.", index=i)


def _check_argv(argv: Sequence[str], secret: Collection[int], *, through_cmd: bool) -> None:
    if isinstance(argv, str):
        raise TypeError("argv must be a sequence of arguments, not one string")
    if not argv:
        raise UnsafeArgumentError("the command has no program: argv is empty.")
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            raise TypeError(f"argument {i} must be a string, not {type(arg).__name__}")
    program = argv[0]
    if not program.strip(_BLANKS):
        raise UnsafeArgumentError("the program path is empty.", index=0)
    if program[0] in _BLANKS or program[-1] in _BLANKS:
        raise UnsafeArgumentError(
            f"{_argument_label(argv, 0, secret)} starts or ends with a blank, which Windows drops when it "
            "looks for the program. Remove the blanks.", index=0)
    if '"' in program:
        raise UnsafeArgumentError(
            f"{_argument_label(argv, 0, secret)} contains a double quote: Windows splits the program path "
            "without backslash escapes, so it can never carry one (and no Windows file name has one).", index=0)
    if through_cmd and "%" in program:
        raise UnsafeArgumentError(
            f"{_argument_label(argv, 0, secret)} contains %: cmd.exe would expand it as a variable reference "
            "even inside quotes. Pass the path with variables already expanded.", index=0)
    for i in range(len(argv)):
        _check_value(argv, i, secret)


def _utf16_length(line: str) -> int:
    """Windows counts command-line limits in UTF-16 code units: a character outside the BMP counts twice."""
    return len(line.encode("utf-16-le")) // 2


def _check_length(line: str, limit: int, what: str, argv: Sequence[str], secret: Collection[int]) -> None:
    length = _utf16_length(line)
    if length > limit:
        raise UnsafeArgumentError(
            f"the command line for {_program_label(argv, secret)} would be {length} characters long (UTF-16 "
            f"units); {what} refuses lines over {limit}. Send large values through stdin (a PowerShell script "
            "with JSON parameters) instead.")


# --- the C runtime's rules (no cmd.exe in the way) --------------------------------------------------------

def _quote_program(program: str, *, through_cmd: bool) -> str:
    """argv[0]: quotes only group (no backslash escapes), so wrapping the whole path is all there is.

    Through cmd.exe we also quote a path holding any character cmd might act on (``&``, ``(``, ``,``, ``=``,
    ...): inside quotes cmd leaves them alone, and the runtime removes the quotes again.
    """
    needs = any(c not in _PLAIN_PROGRAM if through_cmd else c in _BLANKS for c in program)
    return f'"{program}"' if needs else program


def _crt_argument(arg: str) -> str:
    """One argument for the C runtime, quoted only when it has to be.

    A value without blanks needs no quotes: its ``"`` become ``\\"`` with the backslashes before them
    doubled. A value with blanks, or an empty one, is wrapped in quotes; backslashes are doubled only where a
    ``"`` follows them (a literal one, or the closing quote), because elsewhere they are literal.
    """
    wrap = arg == "" or any(c in _BLANKS for c in arg)
    body = crt_escape(arg, closing_quote=wrap)
    return f'"{body}"' if wrap else body


def argv_to_command_line(argv: Sequence[str], *, secret: Collection[int] = ()) -> str:
    """The command line that a C-runtime program (or ``CommandLineToArgvW``) splits back into exactly ``argv``.

    For running a program directly (WinRS with ``skip_cmd_shell``, CreateProcess); a line that goes through
    cmd.exe needs :func:`cmd_line`. ``secret`` lists argv positions whose values must never appear in an error
    message. Raises :class:`UnsafeArgumentError` for a value no quoting can carry (see the module docstring).
    """
    _check_argv(argv, secret, through_cmd=False)
    line = " ".join([_quote_program(argv[0], through_cmd=False), *(_crt_argument(a) for a in argv[1:])])
    _check_length(line, CREATEPROCESS_MAX_LINE, "CreateProcess", argv, secret)
    return line


# --- through cmd.exe /c ------------------------------------------------------------------------------------

class _CmdArgument:
    """Writes one argument so that cmd.exe and the C runtime agree, character by character, on what it is.

    The argument is written as runs that are either quoted for *both* parsers or unquoted for both: cmd's
    quote state and the runtime's never drift apart, because every ``"`` we emit either toggles both (a run's
    opening or closing quote) or neither (a literal quote, ``\\^"``: the caret keeps cmd from toggling, the odd
    backslashes keep the runtime from toggling). Then:

    * blanks and cmd's specials inside a quoted run are safe for both; outside one, each special gets ``^``;
    * a ``%`` is always written outside quotes and, unless no other ``%`` follows it on the line, immediately
      followed by a ``"`` (a quoted run opens there). Every variable reference cmd could try therefore starts
      with ``"``, and no variable name does, so nothing expands; the runtime just drops the quote. (A ``^``
      after the ``%`` works only before a plain character: before a quote it would escape that quote and put
      cmd's quote state out of step with the runtime's, exposing the rest of the line to cmd.)
    * blanks open a quoted run at the start of the argument (when one comes before any ``"`` or ``%``), or
      right after a ``"`` or ``%`` that closed the previous run.
    """

    def __init__(self, arg: str, percent_follows: bool) -> None:
        self.arg = arg
        self.percent_follows = percent_follows
        self.out: list[str] = []
        self.in_quotes = False
        self.backslashes = 0

    def _flush(self, before_quote: bool) -> None:
        """Write pending backslashes: doubled when a ``"`` follows them, since the runtime halves those."""
        self.out.append("\\" * (self.backslashes * (2 if before_quote else 1)))
        self.backslashes = 0

    def _open(self) -> None:
        self._flush(before_quote=True)
        self.out.append('"')
        self.in_quotes = True

    def _close(self) -> None:
        self._flush(before_quote=True)
        self.out.append('"')
        self.in_quotes = False

    def write(self) -> str:
        arg = self.arg
        if arg == "":
            return '""'
        first_blank = min((i for i in (arg.find(" "), arg.find("\t")) if i >= 0), default=len(arg))
        last_blank = max(arg.rfind(" "), arg.rfind("\t"))
        last_percent = arg.rfind("%")
        if all(first_blank < i for i in (arg.find('"'), arg.find("%")) if i >= 0) and first_blank < len(arg):
            self._open()
        for i, c in enumerate(arg):
            blank_follows = last_blank > i
            if c == "\\":
                self.backslashes += 1
            elif c == '"':
                if self.in_quotes:
                    self._close()
                self.out.append("\\" * (2 * self.backslashes + 1) + '^"')
                self.backslashes = 0
                if blank_follows:
                    self._open()
            elif c == "%":
                if self.in_quotes:
                    self._close()
                else:
                    self._flush(before_quote=False)
                self.out.append("%")
                if last_percent > i or self.percent_follows or blank_follows:
                    self._open()
            elif c in _BLANKS and not self.in_quotes:
                self._open()
                self.out.append(c)
            else:
                self._flush(before_quote=False)
                if c in _CMD_SPECIALS and not self.in_quotes:
                    self.out.append("^")
                self.out.append(c)
        if self.in_quotes:
            self._close()
        else:
            self._flush(before_quote=False)
        return "".join(self.out)


def cmd_line(argv: Sequence[str], *, secret: Collection[int] = (), outer_quotes: bool = True) -> str:
    """A line for ``cmd.exe /c`` (every WinRS command) that runs ``argv[0]`` with exactly ``argv`` as its argv.

    No part of any value can act on cmd.exe: ``& | < > ( ) ^`` are quoted or escaped, ``%NAME%`` never expands
    (even for variables the node has, such as ``%PATH%`` or ``%USERNAME%``), and cmd's ``/c`` quote rule is
    undone by wrapping a line that starts with ``"`` in one more pair of quotes. See :class:`_CmdArgument` for
    how each argument is written and the module docstring for the rules behind it.

    ``secret`` lists argv positions whose values must never appear in an error message. Raises
    :class:`UnsafeArgumentError` for a value no quoting can carry, a program path with ``"`` or ``%``, or a line
    longer than cmd.exe's 8191 characters.

    ``outer_quotes=False`` is for a caller that runs the line as ``cmd /s /c "LINE"`` itself (the
    ``invoke-as-user`` task does): ``/s`` always strips exactly the quotes that caller adds, so the extra pair
    would be one too many.
    """
    _check_argv(argv, secret, through_cmd=True)
    parts = [_quote_program(argv[0], through_cmd=True)]
    percents_after = sum(a.count("%") for a in argv[1:])
    for arg in argv[1:]:
        percents_after -= arg.count("%")
        parts.append(_CmdArgument(arg, percent_follows=percents_after > 0).write())
    line = " ".join(parts)
    if line.startswith('"') and outer_quotes:
        line = f'"{line}"'
    _check_length(line, CMD_MAX_LINE, "cmd.exe", argv, secret)
    return line


# --- PowerShell ----------------------------------------------------------------------------------------------

def ps_literal(value: str, *, name: str = "value", secret: bool = False) -> str:
    """``value`` as a PowerShell single-quoted string literal, which expands nothing (no ``$``, no backtick).

    The only character special inside it is the single quote, written twice to stand for itself. PowerShell's
    tokenizer counts the typographic quotes U+2018, U+2019, U+201A and U+201B as single quotes too (text pasted
    from documents is full of them), so each of those is doubled as well. Line breaks are fine inside such a
    literal. NUL and lone surrogates are refused: a script cannot be encoded with them, and NULs separate the
    script from its parameters on the engine's stdin protocol. ``name`` labels the value in that error, and
    ``secret`` keeps the value out of it.
    """
    for c in value:
        o = ord(c)
        if o == 0 or 0xD800 <= o <= 0xDFFF:
            what = "a NUL character (U+0000)" if o == 0 else f"a lone surrogate (U+{o:04X})"
            raise UnsafeArgumentError(
                f"{name} ({_shown(value, secret)}) contains {what}, which a PowerShell script cannot carry.")
    return "'" + "".join(c * 2 if c in _PS_SINGLE_QUOTES else c for c in value) + "'"
