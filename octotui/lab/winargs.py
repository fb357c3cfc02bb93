"""How a Windows program turns its one command-line string into argv.

Windows hands a process a single string; each program splits it itself, and almost every program does
so with the Microsoft C runtime's startup code (``CommandLineToArgvW`` agrees for everything after
argv[0]). The lab needs its own copy of those rules, written independently of the engine's quoting,
so that a quoting mistake in the engine shows up as a wrong argv here instead of being mirrored.

The rules (Microsoft C runtime, Visual C++ 2008 and later, as the UCRT implements them):

argv[0], the program name, is special because a path such as ``C:\\Program Files\\x.exe`` must not
need escaping: a ``"`` toggles quoting and is removed, backslashes are always literal, and the name
ends at the first space or tab outside quotes. (``CommandLineToArgvW`` instead ends a quoted argv[0]
at its closing quote; the two only differ for lines like ``"a"b c``, which nobody writes.)

Every later argument:

* spaces and tabs outside quotes separate arguments; runs of them count once;
* ``2n`` backslashes followed by ``"`` give ``n`` backslashes, and the quote toggles quoting;
* ``2n+1`` backslashes followed by ``"`` give ``n`` backslashes and a literal ``"``;
* backslashes not followed by ``"`` are literal, however many there are;
* inside quotes, ``""`` gives a literal ``"`` and quoting continues (the post-2008 rule; older
  runtimes ended the quoted region instead);
* ``""`` outside quotes opens and closes a quoted region, so it yields an empty argument.
"""

from __future__ import annotations

_BLANKS = " \t"


def _split_argv0(command_line: str) -> tuple[str, int]:
    """Return argv[0] and the index just after it."""
    chars: list[str] = []
    in_quotes = False
    i = 0
    n = len(command_line)
    while i < n:
        c = command_line[i]
        if c == '"':
            in_quotes = not in_quotes
        elif c in _BLANKS and not in_quotes:
            break
        else:
            chars.append(c)
        i += 1
    return "".join(chars), i


def _skip_blanks(command_line: str, i: int) -> int:
    while i < len(command_line) and command_line[i] in _BLANKS:
        i += 1
    return i


def split_windows_args(command_line: str) -> list[str]:
    """Split a command line into argv exactly as a C-runtime program would (see the module docstring).

    An empty line gives ``[""]``: the runtime always produces an argv[0].
    """
    argv0, i = _split_argv0(command_line)
    argv = [argv0]
    n = len(command_line)
    while True:
        i = _skip_blanks(command_line, i)
        if i >= n:
            return argv
        arg: list[str] = []
        in_quotes = False
        while i < n:
            backslashes = 0
            while i < n and command_line[i] == "\\":
                backslashes += 1
                i += 1
            if i < n and command_line[i] == '"':
                arg.append("\\" * (backslashes // 2))
                if backslashes % 2 == 1:
                    arg.append('"')
                elif in_quotes and i + 1 < n and command_line[i + 1] == '"':
                    arg.append('"')
                    i += 1
                else:
                    in_quotes = not in_quotes
                i += 1
                continue
            arg.append("\\" * backslashes)
            if i >= n or (command_line[i] in _BLANKS and not in_quotes):
                break
            arg.append(command_line[i])
            i += 1
        argv.append("".join(arg))


def split_program_name(command_line: str) -> tuple[str, str]:
    """Return the program name (argv[0], unquoted) and the rest of the line after it.

    Leading blanks before the name are skipped, as ``CreateProcess`` does when it looks for the
    module to run; the rest of the line loses its leading blanks but is otherwise untouched, because
    each program parses its own arguments (msiexec does not follow the C runtime rules).
    """
    start = _skip_blanks(command_line, 0)
    name, end = _split_argv0(command_line[start:])
    return name, command_line[_skip_blanks(command_line, start + end):]
