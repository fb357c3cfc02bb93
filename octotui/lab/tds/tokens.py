"""The token stream the server writes back: login acknowledgement, messages, result sets, DONE.

Only the types the lab's answers need exist here (smallint, int, bigint, bit, nvarchar), each in its
nullable wire form (INTN, BITN, NVARCHAR), since every column the checks read may be NULL. The layout
follows MS-TDS for TDS 7.2 and later (8-byte DONE row counts, 4-byte line numbers, 4-byte UserType); a 7.1
client gets the shorter forms, and a 7.0 client also gets NVARCHAR without the collation that TDS 7.1
added (FreeTDS at 7.0 reads those five bytes as data: "Datastream processing out of sync").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

ENVCHANGE = 0xE3
INFO = 0xAB
ERROR = 0xAA
LOGINACK = 0xAD
COLMETADATA = 0x81
ROW = 0xD1
DONE = 0xFD
DONEPROC = 0xFE
DONEINPROC = 0xFF
RETURNSTATUS = 0x79
RETURNVALUE = 0xAC
SSPI = 0xED

DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_COUNT = 0x10
DONE_ATTN = 0x20

CMD_SELECT = 0xC1
CMD_SET = 0xBE  # any non-SELECT statement number will do; clients only read the count flag
CMD_EXECUTE = 0xE0

ENV_DATABASE = 1
ENV_LANGUAGE = 2
ENV_PACKET_SIZE = 4
ENV_COLLATION = 7
ENV_BEGIN_TRAN = 8
ENV_COMMIT_TRAN = 9
ENV_ROLLBACK_TRAN = 10

INTN = 0x26
BITN = 0x68
NVARCHAR = 0xE7

#: SQL_Latin1_General_CP1_CI_AS on the wire (LCID 1033, sort id 52). Only nvarchar travels, so the
#: collation bytes never change how a client decodes text; every column carries this one.
WIRE_COLLATION = bytes.fromhex("0904d00034")

SqlType = Literal["smallint", "int", "bigint", "bit", "nvarchar"]


@dataclass(frozen=True)
class Column:
    """A result column: name, SQL type and, for nvarchar, its length in characters."""

    name: str
    type: SqlType
    length: int = 128


def b_varchar(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return bytes([len(raw) // 2]) + raw


def us_varchar(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<H", len(raw) // 2) + raw


class TokenWriter:
    """Collects tokens for one reply message."""

    def __init__(self, tds_version: int = 0x74000004) -> None:
        self.tds_version = tds_version
        self.buf = bytearray()

    @property
    def modern(self) -> bool:
        """TDS 7.2 or later: 8-byte DONE counts, 4-byte line numbers and user types."""
        return (self.tds_version >> 24) >= 0x72

    @property
    def collations(self) -> bool:
        """TDS 7.1 or later: character types carry a collation, and ENVCHANGE 7 exists."""
        return (self.tds_version >> 24) >= 0x71

    def payload(self) -> bytes:
        return bytes(self.buf)

    # --- environment and messages ----------------------------------------------------------------
    def _envchange(self, kind: int, body: bytes) -> None:
        data = bytes([kind]) + body
        self.buf += struct.pack("<BH", ENVCHANGE, len(data)) + data

    def env_text(self, kind: int, new: str, old: str = "") -> None:
        self._envchange(kind, b_varchar(new) + b_varchar(old))

    def env_bytes(self, kind: int, new: bytes, old: bytes = b"") -> None:
        self._envchange(kind, bytes([len(new)]) + new + bytes([len(old)]) + old)

    def _message(self, token: int, number: int, state: int, severity: int, text: str, server: str,
                 procedure: str = "", line: int = 1) -> None:
        body = struct.pack("<iBB", number, state, severity) + us_varchar(text) + b_varchar(server)
        body += b_varchar(procedure)
        body += struct.pack("<i", line) if self.modern else struct.pack("<H", line & 0xFFFF)
        self.buf += struct.pack("<BH", token, len(body)) + body

    def info(self, number: int, text: str, server: str, state: int = 1, severity: int = 0) -> None:
        self._message(INFO, number, state, severity, text, server)

    def error(self, number: int, text: str, server: str, state: int = 1, severity: int = 16) -> None:
        self._message(ERROR, number, state, severity, text, server)

    def loginack(self, tds_version: int, program: str, version: tuple[int, int, int]) -> None:
        major, minor, build = version
        body = bytes([1]) + struct.pack(">I", tds_version) + b_varchar(program)
        body += struct.pack(">BBH", major & 0xFF, minor & 0xFF, build & 0xFFFF)
        self.buf += struct.pack("<BH", LOGINACK, len(body)) + body

    def sspi(self, token: bytes) -> None:
        self.buf += struct.pack("<BH", SSPI, len(token)) + token

    # --- results ---------------------------------------------------------------------------------
    def _type_info(self, col: Column) -> bytes:
        if col.type == "int":
            return bytes([INTN, 4])
        if col.type == "smallint":
            return bytes([INTN, 2])
        if col.type == "bigint":
            return bytes([INTN, 8])
        if col.type == "bit":
            return bytes([BITN, 1])
        collation = WIRE_COLLATION if self.collations else b""
        return bytes([NVARCHAR]) + struct.pack("<H", min(col.length, 4000) * 2) + collation

    def colmetadata(self, columns: list[Column]) -> None:
        self.buf += struct.pack("<BH", COLMETADATA, len(columns))
        for col in columns:
            user_type = struct.pack("<I", 0) if self.modern else struct.pack("<H", 0)
            self.buf += user_type + struct.pack("<H", 0x0001) + self._type_info(col) + b_varchar(col.name)

    def value(self, col: Column, value: object) -> bytes:
        if value is None:
            return b"\xff\xff" if col.type == "nvarchar" else b"\x00"
        if col.type == "int":
            return b"\x04" + struct.pack("<i", int(value))  # type: ignore[call-overload]
        if col.type == "smallint":
            return b"\x02" + struct.pack("<h", int(value))  # type: ignore[call-overload]
        if col.type == "bigint":
            return b"\x08" + struct.pack("<q", int(value))  # type: ignore[call-overload]
        if col.type == "bit":
            return b"\x01" + (b"\x01" if value else b"\x00")
        raw = str(value)[: min(col.length, 4000)].encode("utf-16-le")
        return struct.pack("<H", len(raw)) + raw

    def row(self, columns: list[Column], values: list[object]) -> None:
        self.buf.append(ROW)
        for col, val in zip(columns, values, strict=True):
            self.buf += self.value(col, val)

    def _done(self, token: int, status: int, command: int, count: int) -> None:
        packed = struct.pack("<q", count) if self.modern else struct.pack("<i", count)
        self.buf += struct.pack("<BHH", token, status, command) + packed

    def done(self, status: int = DONE_FINAL, command: int = 0, count: int = 0) -> None:
        self._done(DONE, status, command, count)

    def done_proc(self, status: int = DONE_FINAL, command: int = CMD_EXECUTE, count: int = 0) -> None:
        self._done(DONEPROC, status, command, count)

    def done_in_proc(self, status: int = DONE_FINAL, command: int = CMD_SELECT, count: int = 0) -> None:
        self._done(DONEINPROC, status, command, count)

    def return_status(self, value: int) -> None:
        self.buf += struct.pack("<Bi", RETURNSTATUS, value)

    def return_int(self, ordinal: int, name: str, value: int) -> None:
        """An output parameter of type int (sp_prepexec's statement handle)."""
        self.buf += struct.pack("<BH", RETURNVALUE, ordinal) + b_varchar(name) + b"\x01"
        self.buf += (struct.pack("<I", 0) if self.modern else struct.pack("<H", 0)) + struct.pack("<H", 0)
        self.buf += bytes([INTN, 4, 4]) + struct.pack("<i", value)


def ack_version(requested: int) -> int:
    """The TDS version LOGINACK names for the version a client asked for in LOGIN7 (MS-TDS 2.2.7.14).

    A 7.0 client asks with 0x70000000 but SQL Server answers 0x07000000, and 7.1 becomes 0x71000001;
    from 7.2 on the values agree. A client newer than 7.4 is answered with 7.4, as SQL Server 2019 does.
    """
    major = requested >> 24
    if major == 0x70 or requested == 0x07000000:
        return 0x07000000
    if major == 0x71 or requested == 0x07010000:
        return 0x71000001
    return min(requested, 0x74000004)
