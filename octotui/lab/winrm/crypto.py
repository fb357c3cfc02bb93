"""WinRM message encryption over HTTP (MS-WSMV 2.2.9.1): the ``multipart/encrypted`` body both sides seal.

NTLM (SPNEGO) and CredSSP differ only in what follows the 4-byte length: an NTLM signature then RC4-sealed
data of the plaintext's length, or TLS records (the length field being the TLS trailer length, which
Windows needs and pywinrm ignores). CredSSP splits bodies over 16 KiB into one part per chunk
(``multipart/x-multi-encrypted``). The parts are cut by the lengths they carry, not by searching for the
boundary, so sealed bytes that happen to contain the boundary text cannot break a message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

PROTOCOL_SPNEGO = "application/HTTP-SPNEGO-session-encrypted"
PROTOCOL_CREDSSP = "application/HTTP-CredSSP-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
CREDSSP_CHUNK = 16384


class CryptoError(Exception):
    """An encrypted body that does not parse or does not unseal: Windows answers such a request with 400."""


@dataclass
class Sealer:
    """The completed security context of one connection and the wire protocol it seals with."""

    kind: str  # "spnego" | "credssp"
    context: Any  # a completed spnego ContextProxy

    @property
    def protocol(self) -> str:
        return PROTOCOL_CREDSSP if self.kind == "credssp" else PROTOCOL_SPNEGO


def is_encrypted(content_type: str) -> bool:
    ct = content_type.lower()
    return ct.startswith("multipart/encrypted") or ct.startswith("multipart/x-multi-encrypted")


def _tls_records_length(blob: bytes, start: int) -> int:
    """Length of the run of TLS records starting at ``start`` (content types 20..24, 5-byte headers)."""
    pos = start
    while pos + 5 <= len(blob) and 20 <= blob[pos] <= 24 and blob[pos + 1] == 3:
        (rec_len,) = struct.unpack(">H", blob[pos + 3:pos + 5])
        pos += 5 + rec_len
    if pos == start or pos > len(blob):
        raise CryptoError("CredSSP part holds no complete TLS record")
    return pos - start


def unwrap(sealer: Sealer, content_type: str, body: bytes) -> bytes:
    """Unseal every part of an encrypted request and return the SOAP text."""
    if sealer.protocol.lower() not in content_type.lower():
        raise CryptoError(f"encrypted with another protocol than this connection's ({content_type})")
    out = bytearray()
    pos = 0
    while True:
        if body.startswith(BOUNDARY + b"--", pos):
            break
        if not body.startswith(BOUNDARY + b"\r\n", pos):
            raise CryptoError("missing MIME boundary")
        pos += len(BOUNDARY) + 2
        end = body.find(BOUNDARY, pos)
        if end < 0:
            raise CryptoError("truncated part header")
        header = body[pos:end]
        marker = header.find(b"Length=")
        if marker < 0:
            raise CryptoError("part header without OriginalContent Length")
        try:
            expected = int(header[marker + 7:].split(b"\r\n", 1)[0].split(b";", 1)[0])
        except ValueError:
            raise CryptoError("bad OriginalContent Length") from None
        pos = end + len(BOUNDARY) + 2
        if not body.startswith(_OCTET, pos):
            raise CryptoError("missing octet-stream part")
        pos += len(_OCTET)
        if pos + 4 > len(body):
            raise CryptoError("truncated sealed part")
        (head_len,) = struct.unpack("<I", body[pos:pos + 4])
        pos += 4
        try:
            if sealer.kind == "credssp":
                size = _tls_records_length(body, pos)
                plain = bytes(sealer.context.unwrap(body[pos:pos + size]).data)
            else:
                size = head_len + expected
                signature, sealed = body[pos:pos + head_len], body[pos + head_len:pos + size]
                plain = bytes(sealer.context.unwrap_winrm(signature, sealed))
        except CryptoError:
            raise
        except Exception as exc:  # spnego raises its own error family for bad signatures and states
            raise CryptoError(f"cannot unseal: {exc}") from exc
        if len(plain) != expected:
            raise CryptoError("unsealed length differs from OriginalContent Length")
        out += plain
        pos += size
    return bytes(out)


def wrap(sealer: Sealer, plain: bytes) -> tuple[str, bytes]:
    """Seal a reply; returns its Content-Type and body."""
    chunks = [plain]
    if sealer.kind == "credssp" and len(plain) > CREDSSP_CHUNK:
        chunks = [plain[i:i + CREDSSP_CHUNK] for i in range(0, len(plain), CREDSSP_CHUNK)]
    proto = sealer.protocol.encode("ascii")
    parts = []
    for chunk in chunks:
        sealed = sealer.context.wrap_winrm(chunk)
        parts.append(
            BOUNDARY + b"\r\n\tContent-Type: " + proto + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(chunk)).encode()
            + b"\r\n" + BOUNDARY + b"\r\n" + _OCTET
            + struct.pack("<I", len(sealed.header)) + sealed.header + sealed.data
        )
    parts.append(BOUNDARY + b"--\r\n")
    kind = "multipart/x-multi-encrypted" if len(chunks) > 1 else "multipart/encrypted"
    return f'{kind};protocol="{sealer.protocol}";boundary="Encrypted Boundary"', b"".join(parts)
