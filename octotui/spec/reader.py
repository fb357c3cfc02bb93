"""Reading an answers table value by value, collecting every problem instead of stopping at the first.

Each accessor checks one value's TOML type, refuses what no answer may hold (control characters, megabyte
texts), and returns None when the value is unusable, having recorded why as a ``Problem``; the section rules
in ``octotui.spec.answers`` are written on top of it. Files an answer names on this console (CA
certificates, the licence) are checked here too, as what will read them will read them.
"""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from octotui.spec.parsers.errors import ParseError, written
from octotui.spec.problems import KEY_LIMIT, Problem
from octotui.textsafe import has_controls, safe_message, shown

T = TypeVar("T")

#: The longest text an answer may be (URLs with signed queries stay well below it).
MAX_ANSWER_LENGTH = 4096
_CA_FIX = ("give the PEM file (-----BEGIN CERTIFICATE-----) of the CA that signed the certificates, "
           "relative to the answers file's folder or absolute")
_LICENCE_FIX = ("give the licence file Octopus Deploy sent you (an XML file whose root element is <License>), "
                "or remove the [license] table")
#: Octopus licences are a few kilobytes; a bigger file is something else (an installer, a log).
MAX_LICENCE_BYTES = 1024 * 1024


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return written(value)  # a date or time (TOML has them), never a Python type name


class Reader:
    """Collects problems while reading the parsed TOML; each accessor returns None when the value is unusable."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[Problem] = []

    def add(self, key: str, message: str, fix: str = "") -> None:
        # Keys (a quoted TOML key can hold anything) and values are untrusted: escaped and shortened here
        # as a safety net, even where the message already embeds them with ``shown``.
        self.problems.append(Problem(shown(key, KEY_LIMIT), safe_message(message), safe_message(fix)))

    def parse(self, key: str, func: Callable[[], T]) -> T | None:
        try:
            return func()
        except ParseError as exc:
            self.add(key, exc.message, exc.fix)
            return None

    def typed(self, table: dict[str, Any], name: str, key: str, kind: type, example: str,
              required: bool = False, required_fix: str = "") -> Any:
        if name not in table:
            if required:
                self.add(key, "is missing", required_fix or f"add {example}")
            return None
        value = table[name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            fix = f"write it as {example}"
            if kind is int and isinstance(value, str) and value.strip().isdigit():
                fix = f"write the number without quotes: {example}"
            if kind is bool and isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                fix = f"write true or false without quotes: {example}"
            self.add(key, f"must be {type_name(kind())}, not {type_name(value)}", fix)
            return None
        if kind is str and not value.strip():
            self.add(key, "is empty", f"write it as {example}")
            return None
        if kind is str and not self.plain(key, value):
            return None
        return value

    def plain(self, key: str, value: str) -> bool:
        """No answer needs a control character (ESC, BEL, CR, NUL ...), and one shown on a terminal could
        drive it; nor is any answer megabytes long, and one would be echoed in every message and plan line
        that names it. Refuse both, showing what and where."""
        if len(value) > MAX_ANSWER_LENGTH:
            self.add(key, f"'{shown(value)}' is {len(value)} characters long; no answer is longer than "
                     f"{MAX_ANSWER_LENGTH}", "give the intended value")
            return False
        if not has_controls(value):
            return True
        at = next(i for i, c in enumerate(value) if has_controls(c))
        self.add(key, f"'{shown(value)}' contains the control character {shown(value[at])} (character {at + 1})",
                 "remove it: an answer never needs a control character")
        return False

    def text(self, table: dict[str, Any], name: str, key: str, example: str, required: bool = False,
             required_fix: str = "") -> str | None:
        return cast("str | None", self.typed(table, name, key, str, example, required, required_fix))

    def table(self, data: dict[str, Any], name: str, required: bool = False, required_fix: str = ""
              ) -> dict[str, Any] | None:
        if name not in data:
            if required:
                self.add(name, f"the [{name}] table is missing", required_fix)
            return None
        value = data[name]
        if not isinstance(value, dict):
            self.add(name, f"must be a table, not {type_name(value)}", f"write it as a [{name}] section")
            return None
        return value

    def local_file(self, value: str, key: str, what: str) -> str | None:
        """A file on this console, relative to the answers file's folder; must exist."""
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.is_file():
            self.add(key, f"{what} '{shown(value)}' does not exist on this machine ({shown(path)})",
                     "give the path of an existing file (relative paths start at the answers file's folder)")
            return None
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            self.add(key, f"{what} '{shown(path)}' cannot be read: {exc.strerror}", "check the file's permissions")
            return None
        return str(path.resolve())

    def ca_file(self, value: str, key: str) -> str | None:
        """A CA certificate file that TLS can load: refused here, naming the key, rather than when a check or
        a run first opens a connection with it."""
        found = self.local_file(value, key, "the CA certificate file")
        if found is None:
            return None
        try:  # the loader pywinrm (through requests), the checks and ldap3 all use
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=found)
        except (ssl.SSLError, OSError, ValueError):
            self.add(key, f"the CA certificate file '{shown(found)}' holds no PEM certificate", _CA_FIX)
            return None
        return found

    def licence_file(self, value: str, key: str) -> str | None:
        """An Octopus licence: XML whose root element is ``<License>`` (as the ``license`` command requires)."""
        found = self.local_file(value, key, "the licence file")
        if found is None:
            return None
        not_licence = f"the licence file '{shown(found)}' is not an Octopus licence"
        try:
            size = Path(found).stat().st_size
            if size > MAX_LICENCE_BYTES:
                self.add(key, f"{not_licence}: it is {size / 2**20:.1f} MB, and licences are a few kilobytes",
                         _LICENCE_FIX)
                return None
            root = ElementTree.fromstring(Path(found).read_bytes())
        except ElementTree.ParseError as exc:
            self.add(key, f"{not_licence}: it is not XML ({shown(exc)})", _LICENCE_FIX)
            return None
        except OSError as exc:
            self.add(key, f"the licence file '{shown(found)}' cannot be read: {exc.strerror}",
                     "check the file's permissions")
            return None
        if root.tag != "License":
            self.add(key, f"{not_licence}: its root element is <{shown(root.tag)}>, not <License>", _LICENCE_FIX)
            return None
        return found
