"""Reading what a client sends after login: SQL batches, RPC calls and their parameter values.

pyodbc sends a query with ``?`` markers through FreeTDS as an RPC to ``sp_prepexec`` (or
``sp_executesql``): the statement and the declaration as NTEXT or NVARCHAR, then the values. Only the
value types such a call carries are decoded; anything else is reported as unsupported rather than guessed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

#: Stored procedures the RPC packet may name by number instead of by name.
PROC_IDS = {1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
            5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch", 8: "sp_cursoroption",
            9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute", 13: "sp_prepexec",
            14: "sp_prepexecrpc", 15: "sp_unprepare"}


class RequestError(ValueError):
    """A request the front cannot read; the message says what was not understood."""


@dataclass
class Param:
    name: str
    output: bool
    value: object


@dataclass
class RpcCall:
    procedure: str  # lower case, without schema or brackets
    params: list[Param] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RequestError("request ends in the middle of a field")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("<H", self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value

    def b_varchar(self) -> str:
        return self.take(2 * self.u8()).decode("utf-16-le", errors="replace")

    def us_varchar(self) -> str:
        return self.take(2 * self.u16()).decode("utf-16-le", errors="replace")

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def skip_all_headers(payload: bytes, modern: bool) -> int:
    """Where the request proper starts: TDS 7.2+ prefixes batches and RPCs with ALL_HEADERS."""
    if not modern or len(payload) < 4:
        return 0
    (total,) = struct.unpack_from("<I", payload, 0)
    if total < 4 or total > len(payload):
        raise RequestError("ALL_HEADERS length is out of range")
    return int(total)


def batch_text(payload: bytes, modern: bool) -> str:
    start = skip_all_headers(payload, modern)
    return payload[start:].decode("utf-16-le", errors="replace")


_FIXED = {0x30: ("<B", 1), 0x34: ("<h", 2), 0x38: ("<i", 4), 0x7F: ("<q", 8), 0x32: ("<B", 1),
          0x3B: ("<f", 4), 0x3E: ("<d", 8)}
_TEXT_TYPES = {0xE7: "utf-16-le", 0xEF: "utf-16-le", 0xA7: "latin-1", 0xAF: "latin-1"}


def _plp(r: _Reader) -> bytes | None:
    total = r.u64()
    if total == 0xFFFFFFFFFFFFFFFF:
        return None
    parts: list[bytes] = []
    while True:
        size = r.u32()
        if size == 0:
            return b"".join(parts)
        parts.append(r.take(size))


def _value(r: _Reader, collations: bool = True) -> object:
    """Read TYPE_INFO then the value for one parameter; ints become int, text becomes str.

    Character types carry a 5-byte collation from TDS 7.1 on; a 7.0 client sends none.
    """
    kind = r.u8()
    if kind in _FIXED:
        fmt, size = _FIXED[kind]
        fixed: object = struct.unpack(fmt, r.take(size))[0]
        return bool(fixed) if kind == 0x32 else fixed
    if kind in (0x26, 0x68, 0x6D):  # INTN, BITN, FLTN
        r.u8()  # max length
        size = r.u8()
        if size == 0:
            return None
        raw = r.take(size)
        if kind == 0x68:
            return raw != b"\x00"
        if kind == 0x6D:
            return struct.unpack("<f" if size == 4 else "<d", raw)[0]
        return int.from_bytes(raw, "little", signed=True)
    if kind in _TEXT_TYPES:
        maxlen = r.u16()
        r.take(5 if collations else 0)  # collation
        if maxlen == 0xFFFF:
            long_value = _plp(r)
            return None if long_value is None else long_value.decode(_TEXT_TYPES[kind], errors="replace")
        size = r.u16()
        if size == 0xFFFF:
            return None
        return r.take(size).decode(_TEXT_TYPES[kind], errors="replace")
    if kind in (0x63, 0x23):  # NTEXT, TEXT
        r.u32()  # max length
        r.take(5 if collations else 0)  # collation
        size = r.u32()
        if size == 0xFFFFFFFF:
            return None
        return r.take(size).decode("utf-16-le" if kind == 0x63 else "latin-1", errors="replace")
    if kind in (0xA5, 0xAD):  # BIGVARBINARY, BIGBINARY
        maxlen = r.u16()
        if maxlen == 0xFFFF:
            return _plp(r)
        size = r.u16()
        return None if size == 0xFFFF else r.take(size)
    raise RequestError(f"parameter type 0x{kind:02X} is not supported by the lab's SQL Server")


def parse_rpc(payload: bytes, modern: bool, collations: bool = True) -> list[RpcCall]:
    """One RPC message may batch several calls, separated by 0x80 (7.2+) or 0xFF.

    ``collations`` is False for a TDS 7.0 client, whose character parameters carry no collation.
    """
    r = _Reader(payload, skip_all_headers(payload, modern))
    calls: list[RpcCall] = []
    while not r.done:
        name_len = r.u16()
        if name_len == 0xFFFF:
            proc_id = r.u16()
            name = PROC_IDS.get(proc_id, f"#{proc_id}")
        else:
            name = r.take(2 * name_len).decode("utf-16-le", errors="replace")
        r.u16()  # option flags
        call = RpcCall(procedure=normalise_proc_name(name))
        while not r.done and r.data[r.pos] not in (0x80, 0xFF, 0xFE):
            pname = r.b_varchar()
            status = r.u8()
            call.params.append(Param(pname, bool(status & 0x01), _value(r, collations)))
        calls.append(call)
        if not r.done:
            r.u8()  # batch separator
    return calls


def normalise_proc_name(name: str) -> str:
    """``[sys].[sp_executesql]`` and ``master.dbo.sp_executesql`` both become ``sp_executesql``."""
    last = name.strip().split(".")[-1]
    return last.strip().strip("[]").lower()
