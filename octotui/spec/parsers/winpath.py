"""Absolute Windows paths (``C:\\Octopus``) and UNC paths (``\\\\server\\share\\dir``) by the Win32 rules.

Why not ``pathlib.PureWindowsPath``: it accepts what Windows would silently change or refuse (``C:foo``
relative to a drive's current folder, ``\\\\?\\`` verbatim paths, ``CON`` and ``NUL`` device names, names
ending in a dot or a space, ``<>:"|?*``). The paths here are typed on a Linux console and used on a
Windows node much later, so every such case is refused now with the reason and the fix. The rules follow
Microsoft's "Naming Files, Paths, and Namespaces" page: reserved characters and device names, components of
at most 255 characters, and MAX_PATH (260 with the terminating NUL; 248 for a folder, as CreateDirectory
leaves room for an 8.3 file name).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.hostnames import parse_host
from octotui.textsafe import shown

PathKind = Literal["drive", "unc"]

MAX_PATH_FILE = 259  # MAX_PATH (260) less the terminating NUL
MAX_PATH_DIR = 248  # CreateDirectory: MAX_PATH less room for an 8.3 name
MAX_COMPONENT = 255
MAX_SHARE = 80

_ILLEGAL = frozenset('<>:"|?*')
_SHARE_ILLEGAL = frozenset('"/\\[]:|<>+=;,?*')
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"]]
)


@dataclass(frozen=True)
class WinPath:
    """A parsed absolute path. ``str()`` is its canonical form: backslashes, no repeated or trailing
    separators (except a drive root ``C:\\``), the drive letter upper-cased."""

    kind: PathKind
    parts: tuple[str, ...]
    drive: str | None = None  # "C"
    server: str | None = None  # UNC only
    share: str | None = None  # UNC only

    @property
    def is_unc(self) -> bool:
        return self.kind == "unc"

    @property
    def is_drive_root(self) -> bool:
        return self.kind == "drive" and not self.parts

    @property
    def root(self) -> str:
        return f"{self.drive}:\\" if self.kind == "drive" else f"\\\\{self.server}\\{self.share}"

    @property
    def key(self) -> str:
        """Windows compares paths case-insensitively; use this to find duplicates and nesting."""
        return str(self).lower()

    def joinpath(self, *names: str) -> WinPath:
        """A child path, each name checked by the same rules."""
        for name in names:
            _check_component(name, name)
        return WinPath(self.kind, self.parts + tuple(names), self.drive, self.server, self.share)

    def is_within(self, other: WinPath) -> bool:
        """True when this path is ``other`` or lies beneath it."""
        mine, theirs = self.key, other.key
        return mine == theirs or mine.startswith(theirs.rstrip("\\") + "\\")

    def __str__(self) -> str:
        if self.kind == "drive":
            return self.root + "\\".join(self.parts)
        return "\\".join([self.root, *self.parts])


def _check_component(name: str, whole: str) -> None:
    if name in (".", ".."):
        raise ParseError(f"'{shown(whole)}' contains a '{shown(name)}' segment",
                         "write the full path without '.' or '..' segments")
    bad = sorted({c for c in name if c in _ILLEGAL or ord(c) < 32})
    if bad:
        chars = shown(" ".join(repr(c) if ord(c) >= 32 else f"U+{ord(c):04X}" for c in bad))
        raise ParseError(f"'{shown(whole)}': the name '{shown(name)}' contains {chars}, which Windows does not allow "
                         "in a file or folder name", 'remove the characters < > : " | ? * and control characters')
    if name.endswith((" ", ".")):
        raise ParseError(f"'{shown(whole)}': the name '{shown(name)}' ends with a space or a dot, which Windows "
                         "silently removes",
                         "remove the trailing space or dot")
    if name.startswith(" "):
        raise ParseError(f"'{shown(whole)}': the name '{shown(name)}' starts with a space", "remove the leading space")
    base = name.split(".")[0].rstrip(" ").upper()
    if base in _RESERVED:
        raise ParseError(f"'{shown(whole)}': '{shown(name)}' is a reserved device name on Windows ({shown(base)})",
                         "choose another name for that folder or file")
    if len(name) > MAX_COMPONENT:
        raise ParseError(f"'{shown(whole)}': a name is {len(name)} characters long; Windows allows "
                         f"{MAX_COMPONENT}",
                         "shorten it")


def _split(rest: str, whole: str) -> tuple[str, ...]:
    parts = tuple(p for p in rest.split("\\") if p != "")
    for p in parts:
        _check_component(p, whole)
    return parts


def _parse_unc(text: str, whole: str) -> WinPath:
    body = text[2:]
    pieces = body.split("\\", 2)
    server = pieces[0]
    share = pieces[1] if len(pieces) > 1 else ""
    if not server:
        raise ParseError(f"'{shown(whole)}' has no server name after \\\\", "write it as \\\\server\\share\\folder")
    if not share:
        raise ParseError(f"'{shown(whole)}' names a server but no share", "write it as \\\\server\\share\\folder")
    try:
        host = parse_host(server)
    except ParseError as exc:
        raise ParseError(f"'{shown(whole)}': the server '{shown(server)}' is not a valid host: {exc.message}",
                         exc.fix) from None
    if host.kind == "ipv6":
        raise ParseError(f"'{shown(whole)}': an IPv6 address cannot stand in a UNC path as it is",
                         "use the server's name (or the ipv6-literal.net form)")
    bad = sorted({c for c in share if c in _SHARE_ILLEGAL or ord(c) < 32})
    if bad:
        raise ParseError(f"'{shown(whole)}': the share name '{shown(share)}' contains "
                         f"{shown(' '.join(repr(c) for c in bad))}",
                         "share names cannot contain \" / \\ [ ] : | < > + = ; , ? * or control characters")
    if len(share) > MAX_SHARE:
        raise ParseError(f"'{shown(whole)}': the share name has {len(share)} characters; Windows allows "
                         f"{MAX_SHARE}",
                         "use a shorter share name")
    if share.endswith((" ", ".")) or share.startswith(" "):
        raise ParseError(f"'{shown(whole)}': the share name '{shown(share)}' starts or ends with a space or dot",
                         "remove it")
    rest = pieces[2] if len(pieces) > 2 else ""
    return WinPath("unc", _split(rest, whole), server=host.value, share=share)


def parse_windows_path(text: str, *, allow_unc: bool = True, allow_drive: bool = True,
                       max_length: int = MAX_PATH_FILE) -> WinPath:
    """Parse an absolute drive-letter or UNC path; forward slashes are accepted as separators (Windows
    does) and normalised to backslashes. Relative, drive-relative, rooted-without-drive, device
    (``\\\\.\\``) and verbatim (``\\\\?\\``) forms are refused."""
    if not isinstance(text, str) or text == "":
        raise ParseError("the path is empty", "give an absolute path such as C:\\Octopus")
    if text != text.strip():
        raise ParseError(f"'{shown(text)}' has leading or trailing spaces", "remove the spaces")
    for c in text:
        if ord(c) < 32 or c == "\x7f":
            raise ParseError(f"the path contains a control character (U+{ord(c):04X})", "remove it")
    norm = text.replace("/", "\\")
    if norm.startswith(("\\\\?\\", "\\\\.\\", "\\??\\")):
        raise ParseError(f"'{shown(text)}' is a device or verbatim (\\\\?\\ or \\\\.\\) path",
                         "write a plain path such as C:\\Octopus or \\\\server\\share")
    if norm.startswith("\\\\"):
        if not allow_unc:
            raise ParseError(f"'{shown(text)}' is a network (UNC) path; this must be a local path on the node",
                             "use a folder on one of the node's own disks, e.g. C:\\Octopus")
        result = _parse_unc(norm, text)
    elif len(norm) >= 2 and norm[1] == ":" and norm[0] in string.ascii_letters:
        if len(norm) == 2 or norm[2] != "\\":
            raise ParseError(f"'{shown(text)}' is relative to the current folder of drive {norm[0].upper()}:",
                             f"write it from the drive root, e.g. {norm[0].upper()}:\\{shown(norm[2:])}")
        if not allow_drive:
            raise ParseError(f"'{shown(text)}' is a local drive path; a network (UNC) path is needed here",
                             "write it as \\\\server\\share\\folder")
        result = WinPath("drive", _split(norm[3:], text), drive=norm[0].upper())
    elif norm.startswith("\\"):
        raise ParseError(f"'{shown(text)}' has no drive letter, so Windows would take it on the current drive",
                         "write the drive too, e.g. C:" + norm if allow_drive else "write it as \\\\server\\share")
    elif len(norm) >= 2 and norm[1] == ":":
        raise ParseError(f"'{shown(text)}': '{shown(norm[0])}' is not a drive letter",
                         "use a letter A-Z, e.g. C:\\Octopus")
    else:
        raise ParseError(f"'{shown(text)}' is a relative path; Windows would resolve it against a current folder",
                         "give an absolute path such as C:\\Octopus" + (" or \\\\server\\share" if allow_unc else ""))
    length = len(str(result))
    if length > max_length:
        raise ParseError(f"'{shown(text)}' is {length} characters long; Windows' MAX_PATH allows {max_length} "
                         "here",
                         "use a shorter path")
    return result


def looks_like_windows_path(text: str) -> bool:
    """Does the text try to be a Windows absolute path (drive letter or UNC)? Used to tell a path on the
    node from a file on the console, before parsing it strictly."""
    norm = text.replace("/", "\\")
    return norm.startswith("\\\\") or (len(norm) >= 2 and norm[1] == ":" and norm[0] in string.ascii_letters)
