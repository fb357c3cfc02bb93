"""LOGIN7: who the client says it is, which database it wants, and the NTLM token for a Windows login.

SQL logins carry the password in the packet, merely obfuscated (each byte XOR 0xA5 with its nibbles
swapped), which is why SQL Server wants TLS for them; the lab does not offer TLS, so the obfuscation is
all there is. Windows logins set fIntSecurity and carry an SSPI blob (for FreeTDS with ``DOMAIN\\user``, a
raw NTLM NEGOTIATE message) instead of a user name and password.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

FIXED_LENGTH = 94
OPTION2_INTEGRATED_SECURITY = 0x80


class Login7Error(ValueError):
    """The LOGIN7 payload is malformed."""


@dataclass(frozen=True)
class Login7:
    tds_version: int
    packet_size: int
    client_pid: int
    integrated: bool
    host_name: str
    user_name: str
    password: str
    app_name: str
    server_name: str
    library: str
    language: str
    database: str
    sspi: bytes

    @property
    def version_text(self) -> str:
        return f"{self.tds_version >> 28 & 0xF}.{self.tds_version >> 24 & 0xF}"


def unscramble(raw: bytes) -> str:
    """Undo the password obfuscation: XOR 0xA5, then swap the nibbles, then decode UTF-16LE."""
    plain = bytes(((b ^ 0xA5) >> 4 | ((b ^ 0xA5) & 0x0F) << 4) & 0xFF for b in raw)
    return plain.decode("utf-16-le", errors="replace")


def _field(payload: bytes, at: int) -> tuple[int, int]:
    offset, count = struct.unpack_from("<HH", payload, at)
    return offset, count


def _text(payload: bytes, at: int) -> str:
    offset, chars = _field(payload, at)
    if chars == 0:
        return ""
    end = offset + 2 * chars
    if end > len(payload):
        raise Login7Error(f"field at {at} points past the packet")
    return payload[offset:end].decode("utf-16-le", errors="replace")


def parse(payload: bytes) -> Login7:
    if len(payload) < FIXED_LENGTH:
        raise Login7Error(f"LOGIN7 is {len(payload)} bytes, shorter than its fixed part")
    tds_version, packet_size, _prog_ver, client_pid = struct.unpack_from("<IIII", payload, 4)
    # TDSVersion in LOGIN7 is little-endian on the wire: 0x74000004 arrives as 04 00 00 74.
    option2 = payload[25]
    pw_offset, pw_chars = _field(payload, 44)
    if pw_offset + 2 * pw_chars > len(payload):
        raise Login7Error("password field points past the packet")
    sspi_offset, sspi_len = _field(payload, 78)
    if sspi_len == 0xFFFF:
        (sspi_len,) = struct.unpack_from("<I", payload, 90)
    if sspi_offset + sspi_len > len(payload):
        raise Login7Error("SSPI field points past the packet")
    return Login7(
        tds_version=tds_version,
        packet_size=packet_size,
        client_pid=client_pid,
        integrated=bool(option2 & OPTION2_INTEGRATED_SECURITY),
        host_name=_text(payload, 36),
        user_name=_text(payload, 40),
        password=unscramble(payload[pw_offset:pw_offset + 2 * pw_chars]),
        app_name=_text(payload, 48),
        server_name=_text(payload, 52),
        library=_text(payload, 60),
        language=_text(payload, 64),
        database=_text(payload, 68),
        sspi=payload[sspi_offset:sspi_offset + sspi_len],
    )
