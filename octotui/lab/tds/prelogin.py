"""PRELOGIN: the first exchange, where client and server agree on encryption and MARS.

The front never encrypts (no certificate, and the checks do not depend on TLS): it answers
ENCRYPT_NOT_SUP, which FreeTDS's default (``request``) and ``Encryption=off`` accept, while a client that
insists (``Encryption=require``, Microsoft ODBC 18's default ``Encrypt=yes``) gives up, as it would against
a SQL Server without a certificate. The MARS option must be present in the reply, or FreeTDS falls back
to TDS 7.1 (reference sql-odbc-tds.md §3.4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 0x00
ENCRYPTION = 0x01
INSTOPT = 0x02
THREADID = 0x03
MARS = 0x04
TERMINATOR = 0xFF

ENCRYPT_OFF = 0x00
ENCRYPT_ON = 0x01
ENCRYPT_NOT_SUP = 0x02
ENCRYPT_REQ = 0x03


class PreloginError(ValueError):
    """The PRELOGIN payload is not one a TDS client sends."""


@dataclass(frozen=True)
class ClientPrelogin:
    options: dict[int, bytes]

    @property
    def encryption(self) -> int:
        value = self.options.get(ENCRYPTION, b"\x00")
        return value[0] if value else ENCRYPT_OFF

    @property
    def instance(self) -> str:
        raw = self.options.get(INSTOPT, b"")
        return raw.split(b"\x00", 1)[0].decode("latin-1")


def parse(payload: bytes) -> ClientPrelogin:
    options: dict[int, bytes] = {}
    pos = 0
    while True:
        if pos >= len(payload):
            raise PreloginError("option list has no terminator")
        token = payload[pos]
        if token == TERMINATOR:
            return ClientPrelogin(options)
        if pos + 5 > len(payload):
            raise PreloginError("truncated option header")
        offset, length = struct.unpack_from(">HH", payload, pos + 1)
        if offset + length > len(payload):
            raise PreloginError(f"option {token} points past the payload")
        options[token] = payload[offset:offset + length]
        pos += 5


def version_bytes(version: str) -> bytes:
    """``15.0.4375.4`` as PRELOGIN's VERSION: major, minor, build (big-endian), sub-build."""
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")] + [0, 0, 0, 0]
    return struct.pack(">BBHH", parts[0] & 0xFF, parts[1] & 0xFF, parts[2] & 0xFFFF, parts[3] & 0xFFFF)


def reply(server_version: str) -> bytes:
    """The server's PRELOGIN answer: version, no encryption, instance OK, no thread id, MARS off."""
    options = [
        (VERSION, version_bytes(server_version)),
        (ENCRYPTION, bytes([ENCRYPT_NOT_SUP])),
        (INSTOPT, b"\x00"),
        (THREADID, b""),
        (MARS, b"\x00"),
    ]
    header_len = 5 * len(options) + 1
    head, data = bytearray(), bytearray()
    for token, value in options:
        head += struct.pack(">BHH", token, header_len + len(data), len(value))
        data += value
    head.append(TERMINATOR)
    return bytes(head + data)
