"""Command-line options the way Octopus.Server.exe reads them, and the failures that decide its exit code.

Octopus parses options with an OptionSet: ``--name=value`` or ``--name value`` (the next argument is
taken as the value even when it starts with ``--``), names matched without regard to case (DSC sends
``--connectionstring``, Docker ``--masterkey``), a repeated option's last value wins, and anything left
over fails the command with "Unrecognized command line arguments: ...". The reference records only the
``--`` prefix in Octopus's own usage, so ``-name`` and ``/name:value`` are left over too.

Exit codes follow Octopus's shared start-up code: 1 for a ControlledFailureException (a clean message),
100 for anything else (printed as an unhandled exception), 2 for an unknown command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from octotui.lab.octopus.config import at_least


class ControlledFailure(Exception):
    """Octopus's ControlledFailureException: exit 1, the message printed as is."""


class Unhandled(Exception):
    """Any other exception: exit 100, printed as .NET type name and message (and its inner exceptions)."""

    def __init__(self, type_name: str, message: str, inner: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.inner = inner


@dataclass(frozen=True)
class Opt:
    """One option of a command: canonical spelling, aliases, whether it takes a value, when it exists."""

    name: str
    value: bool = True
    aliases: tuple[str, ...] = ()
    sensitive: bool = False
    since: str | None = None  # first Octopus version that has it
    until: str | None = None  # first version that no longer has it
    help: str = ""

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def available(self, version: str) -> bool:
        if self.since is not None and not at_least(version, self.since):
            return False
        return not (self.until is not None and at_least(version, self.until))


def flag(name: str, help: str = "", since: str | None = None) -> Opt:
    return Opt(name, value=False, since=since, help=help)


#: Options every command accepts; Octopus consumes them before the command sees its arguments.
COMMON = (
    flag("help", "Show detailed help for this command"),
    flag("nologo", "DEPRECATED: Don't print title or version information"),
    flag("noconsolelogging", "DEPRECATED: Don't log informational messages to the console (stdout)"),
    flag("console", "Don't attempt to run as a service, even if the user is non-interactive"),
    flag("noninteractive"),
    Opt("monitorMutex"),
)


@dataclass
class Parsed:
    """Parsed options, keyed by the lower-cased canonical name."""

    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    given: list[str] = field(default_factory=list)  # canonical names in command-line order
    unrecognized: list[str] = field(default_factory=list)
    sensitive_values: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.values.get(name.lower())

    def has(self, name: str) -> bool:
        n = name.lower()
        return n in self.values or n in self.flags


def parse(args: Iterable[str], options: Iterable[Opt], version: str) -> Parsed:
    """Match ``args`` against ``options`` (those present in ``version``); keep what does not match."""
    table: dict[str, Opt] = {}
    for candidate in [*options, *COMMON]:
        if candidate.available(version):
            for n in candidate.names():
                table[n.lower()] = candidate
    parsed = Parsed()
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if not arg.startswith("--") or len(arg) <= 2:
            parsed.unrecognized.append(arg)
            continue
        name, sep, inline = arg[2:].partition("=")
        found = table.get(name.lower())
        if found is None or (not found.value and sep):
            parsed.unrecognized.append(arg)
            continue
        opt = found
        key = opt.name.lower()
        if not opt.value:
            parsed.flags.add(key)
        else:
            if sep:
                value = inline
            elif i < len(items):
                value = items[i]
                i += 1
            else:
                raise Unhandled("Mono.Options.OptionException", f"Missing required value for option "
                                                                f"'--{name}'.")
            parsed.values[key] = value
            if opt.sensitive:
                parsed.sensitive_values.append(value)
        parsed.given.append(opt.name)
    return parsed


def reject_unrecognized(parsed: Parsed) -> None:
    if parsed.unrecognized:
        raise ControlledFailure("Unrecognized command line arguments: " + " ".join(parsed.unrecognized))


def parse_bool(value: str) -> bool:
    """.NET ``bool.Parse``: True/False in any case, surrounding blanks allowed; anything else throws."""
    v = value.strip().lower()
    if v == "true":
        return True
    if v == "false":
        return False
    raise Unhandled("System.FormatException", f"String '{value}' was not recognized as a valid Boolean.")


def parse_int(value: str) -> int:
    v = value.strip()
    if v.lstrip("+-").isdigit():
        return int(v)
    raise Unhandled("System.FormatException", "Input string was not in a correct format.")


def parse_enum(value: str, allowed: tuple[str, ...]) -> str:
    """.NET ``Enum.Parse(ignoreCase: true)``: the member's own spelling, or an ArgumentException."""
    for member in allowed:
        if member.lower() == value.strip().lower():
            return member
    raise Unhandled("System.ArgumentException", f"Requested value '{value}' was not found.")
