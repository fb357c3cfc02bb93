"""A node's logs over WinRM: the tail first, the rest on demand, followed, mirrored under the run.

Without this, reading a node's ``OctopusServer.txt`` means an RDP session to each node. Two scripts do it:
``list-files`` finds ``<Home>\\Logs\\OctopusServer*.txt`` (the current log and its rolled ones) and the MSI
logs octotui's install step writes, with their sizes, first bytes (a byte-order mark) and the node's UTC
offset; ``read-file`` returns any slice of a file while Octopus keeps writing it.

A ``NodeLogMirror`` keeps a local file that is the end of the remote one, from ``start`` to ``end`` (remote
offsets), cut at line boundaries: it fetches the last ``TAIL`` bytes first, so the latest lines show at
once; earlier parts when asked (``fetch_earlier``); and what was appended when polled (``poll``). A remote
file that got shorter was rolled (NLog renames ``OctopusServer.txt`` to ``OctopusServer.0.txt`` and starts
a new one): the mirror then starts again on the new file, replacing the local file, which a viewer
following it sees as a roll. Only whole lines are copied (a line still being written waits for its
newline), and every line passes the redactor before it is written here, as everything octotui writes does.

The local file is an ordinary log file: the viewer indexes, searches and follows it like any other.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import ntpath
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from octotui.logs.encoding import UTF8, Encoding, detect
from octotui.logs.index import last_newline
from octotui.logs.logfile import LogError
from octotui.logs.sources import META_SUFFIX, path_component

#: Bytes of a log's end fetched first.
TAIL = 1 << 18
#: The most ``read-file`` returns per call (its own limit is 8 MiB).
SLICE = 1 << 22
#: At most this much new text is copied per ``poll``.
POLL_LIMIT = 1 << 25
#: Where octotui's install step has msiexec write its log (``octotui.windows.octopus``).
MSI_LOG_GLOB = "C:\\Windows\\Temp\\octotui-msi-*.log"
LIST_DEADLINE_S = 60
READ_DEADLINE_S = 120


class ScriptRunner(Protocol):
    """What fetching needs of a node session (``octotui.remote.session.NodeSession``)."""

    node: str

    def run_script(self, name: str, params: Mapping[str, Any], *, deadline_s: float = ...,
                   idempotent: bool = ...) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RemoteFile:
    node: str
    name: str
    path: str
    size: int
    modified_utc: str | None
    encoding: Encoding


@dataclass(frozen=True)
class NodeListing:
    files: list[RemoteFile]
    #: How far the node's clock is ahead of UTC, in seconds (its log's timestamps are in local time).
    utc_offset_s: float
    missing: list[str]


def log_globs(home: str, *, msi: bool = True) -> list[str]:
    """Where a node's logs are: the Octopus server log and its rolled files, and octotui's MSI logs."""
    globs = [ntpath.join(home, "Logs", "OctopusServer*.txt")]
    if msi:
        globs.append(MSI_LOG_GLOB)
    return globs


def _script(session: ScriptRunner, name: str, params: Mapping[str, Any], deadline_s: float) -> dict[str, Any]:
    from octotui.remote.errors import RemoteError, ScriptError

    try:
        return session.run_script(name, params, deadline_s=deadline_s, idempotent=True)
    except ScriptError as exc:
        raise LogError(f"{session.node}: {name} failed: {exc.error}", "see the node's event log, or retry") from exc
    except RemoteError as exc:
        raise LogError(str(exc.node) + ": " + exc.message, exc.hint) from exc


def list_node_logs(session: ScriptRunner, home: str, *, msi: bool = True) -> NodeListing:
    """The node's log files (newest name first within a folder: ``OctopusServer.txt`` before ``.0``)."""
    result = _script(session, "list-files", {"globs": log_globs(home, msi=msi), "head_bytes": 4}, LIST_DEADLINE_S)
    if not result.get("ok"):
        raise LogError(f"{session.node}: cannot list its logs: {result.get('error', 'unknown error')}")
    files: list[RemoteFile] = []
    for item in result.get("files") or []:
        if not isinstance(item, dict):
            continue
        try:
            head = base64.b64decode(str(item.get("head_b64") or ""))
        except (binascii.Error, ValueError):
            head = b""
        enc = detect(head) if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:3] == b"\xef\xbb\xbf" else UTF8
        files.append(RemoteFile(session.node, str(item.get("name", "")), str(item.get("path", "")),
                                int(item.get("size") or 0), item.get("modified_utc"), enc))
    files.sort(key=_log_order)
    missing = [str(m.get("error", "")) for m in result.get("missing") or [] if isinstance(m, dict)]
    return NodeListing(files, float(result.get("utc_offset_minutes") or 0) * 60.0, missing)


def _log_order(f: RemoteFile) -> tuple[str, int, str]:
    """``OctopusServer.txt``, then ``OctopusServer.0.txt`` (the newest archive), ``.1``..., then the rest."""
    folder, name = ntpath.dirname(f.path).lower(), f.name.lower()
    if name == "octopusserver.txt":
        return folder, -1, name
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "octopusserver" and parts[1].isdigit():
        return folder, int(parts[1]), name
    return folder + "~", 0, name


class NodeLogMirror:
    """A local copy of the end of one file on a node (see the module docstring)."""

    def __init__(self, session: ScriptRunner, remote: RemoteFile, folder: Path, *, utc_offset_s: float = 0.0,
                 redact: bool = True) -> None:
        self.session = session
        self.remote = remote
        self.folder = Path(folder)
        self.path = self.folder / path_component(remote.name)
        self.utc_offset_s = utc_offset_s
        self.encoding = remote.encoding
        self.start = 0  # remote offset of the first byte we have
        self.end = 0  # remote offset after the last whole line we have
        self.remote_size = remote.size
        self.rolls = 0
        self._redactor = _redactor() if redact else None

    # --- reading the node --------------------------------------------------------------------------------
    def _read(self, offset: int, max_bytes: int) -> tuple[bytes, int, int]:
        """``(data, offset used, file size)`` of a slice of the remote file."""
        result = _script(self.session, "read-file", {"path": self.remote.path, "offset": offset,
                                                     "max_bytes": max(0, min(SLICE, max_bytes)),
                                                     "encoding": "base64"}, READ_DEADLINE_S)
        if not result.get("ok"):
            raise LogError(f"{self.session.node}: cannot read {self.remote.path}: "
                           f"{result.get('error', 'unknown error')}", "list the node's logs again")
        data = base64.b64decode(str(result.get("data") or ""))
        return data, int(result.get("offset") or 0), int(result.get("size") or 0)

    def _whole_lines(self, data: bytes, offset: int, *, cut_front: bool) -> tuple[bytes, int, int]:
        """``data`` (read at remote ``offset``) without a partial first line (when ``cut_front``) and without
        a partial last line: ``(lines, their start, their end)``."""
        enc = self.encoding
        start = offset
        if cut_front and offset > enc.bom:
            first = data.find(enc.newline)
            while first >= 0 and (offset + first) % enc.unit:
                first = data.find(enc.newline, first + 1)
            if first < 0:
                return b"", offset + len(data), offset + len(data)
            data = data[first + len(enc.newline):]
            start = offset + first + len(enc.newline)
        last = last_newline(data, enc, start)
        if last < 0:
            return b"", start, start
        end = last + len(enc.newline)
        return data[: end - start], start, end

    # --- the local copy ----------------------------------------------------------------------------------
    def _clean(self, data: bytes) -> bytes:
        if self._redactor is None or not data:
            return data
        enc = self.encoding
        if enc.wide:
            text = data.decode(enc.name, errors="surrogatepass")
            return self._redactor.redact(text).encode(enc.name, errors="surrogatepass")
        text = data.decode("utf-8", errors="surrogateescape")
        return self._redactor.redact(text).encode("utf-8", errors="surrogateescape")

    def _prefix(self) -> bytes:
        """The byte-order mark a local copy that does not start at the remote start needs."""
        if self.start > 0 and self.encoding.bom:
            return {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(self.encoding.name, b"\xef\xbb\xbf")
        return b""

    def _replace(self, body: bytes) -> None:
        """Write the local copy anew (atomically: a viewer sees a new file, as after a roll)."""
        from octotui.home import open_private, private_dir, write_all

        private_dir(self.folder)
        tmp = self.path.with_name(f".{self.path.name}.part")
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, self._prefix() + body)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._write_meta()

    def _append(self, body: bytes) -> None:
        from octotui.home import open_private, write_all

        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            write_all(fd, body)
        finally:
            os.close(fd)
        self._write_meta()

    def _write_meta(self) -> None:
        meta = {"node": self.remote.node, "remote_path": self.remote.path, "remote_size": self.remote_size,
                "start": self.start, "end": self.end, "encoding": self.encoding.name, "bom": self.encoding.bom,
                "utc_offset_s": self.utc_offset_s, "rolls": self.rolls}
        from octotui.home import write_private_text

        write_private_text(Path(str(self.path) + META_SUFFIX), json.dumps(meta) + "\n")

    # --- what a viewer asks for --------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """The local copy starts where the remote file starts."""
        return self.start == 0 or self.start <= self.encoding.bom

    def fetch_tail(self, tail: int = TAIL) -> Path:
        """Fetch the last ``tail`` bytes (whole lines) into a new local copy; returns its path."""
        want = max(0, self.remote.size - tail)
        want -= want % self.encoding.unit  # a UTF-16 slice starts on a character
        data, offset, size = self._read(want, SLICE)
        self.remote_size = size
        lines, start, end = self._whole_lines(data, offset, cut_front=True)
        if offset <= self.encoding.bom:
            start = 0  # the whole file from its start, byte-order mark included
        self.start, self.end = start, end
        self._replace(self._clean(lines))
        return self.path

    def fetch_earlier(self, max_bytes: int) -> int:
        """Fetch up to ``max_bytes`` more of the file before what we have (whole lines); returns the number
        of lines added before the old first line (a viewer keeps its place by that much)."""
        if self.complete:
            return 0
        lo = max(0, self.start - max_bytes)
        if self.encoding.unit == 2:
            lo -= lo % 2
        parts: list[bytes] = []
        pos = lo
        while pos < self.start:
            data, used, _size = self._read(pos, min(SLICE, self.start - pos))
            if not data:
                break
            parts.append(data)
            pos = used + len(data)
        earlier = b"".join(parts)[: self.start - lo]
        if lo > self.encoding.bom:
            first = earlier.find(self.encoding.newline)
            while first >= 0 and (lo + first) % self.encoding.unit:
                first = earlier.find(self.encoding.newline, first + 1)
            if first < 0:
                return 0
            earlier = earlier[first + len(self.encoding.newline):]
            new_start = lo + first + len(self.encoding.newline)
        else:
            new_start = 0
        added = _count_lines(earlier, self.encoding)
        current = self.path.read_bytes()[len(self._prefix()):]
        self.start = new_start
        self._replace(self._clean(earlier) + current)
        return added

    def poll(self, limit: int = POLL_LIMIT) -> str:
        """Copy what the remote file gained: ``"same"``, ``"grew"`` or ``"rolled"`` (the file was replaced
        by a new one, which is now mirrored from its end)."""
        copied = 0
        state = "same"
        while copied < limit:
            data, offset, size = self._read(self.end, SLICE)
            if size < self.end:
                self.rolls += 1
                self.remote = dataclasses.replace(self.remote, size=size)
                self.fetch_tail()
                return "rolled"
            self.remote_size = size
            lines, _start, end = self._whole_lines(data, offset, cut_front=False)
            if not lines:
                break
            self._append(self._clean(lines))
            self.end = end
            copied += len(lines)
            state = "grew"
            if end >= size:
                break
        return state


def _count_lines(data: bytes, encoding: Encoding) -> int:
    from octotui.logs.index import count_newlines

    return count_newlines(data, encoding, 0)


class _Redact(Protocol):
    def redact(self, text: str) -> str: ...


def _redactor() -> _Redact:
    from octotui.secrets.redact import default_redactor

    return default_redactor()


def mirrors_for(session: ScriptRunner, listing: NodeListing, folder: Path,
                names: Sequence[str] | None = None) -> list[NodeLogMirror]:
    """A mirror for each listed file (or those named)."""
    wanted = {n.lower() for n in names} if names else None
    return [NodeLogMirror(session, f, folder, utc_offset_s=listing.utc_offset_s) for f in listing.files
            if wanted is None or f.name.lower() in wanted]
