"""TDS packet framing: the 8-byte header, reassembly up to end-of-message, and splitting replies.

Every TDS message travels as one or more packets; only the last carries the EOM status bit. Clients
(FreeTDS among them) split long batches at the negotiated packet size, so the front must reassemble
before it parses anything, and must split its own replies the same way or the client stalls.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

HEADER = struct.Struct(">BBHHBB")

SQL_BATCH = 0x01
RPC = 0x03
TABULAR_RESULT = 0x04
ATTENTION = 0x06
TRANSACTION_MANAGER = 0x0E
LOGIN7 = 0x10
SSPI = 0x11
PRELOGIN = 0x12

STATUS_EOM = 0x01

DEFAULT_PACKET_SIZE = 4096
MIN_PACKET_SIZE = 512
MAX_PACKET_SIZE = 32767
#: A whole message larger than this is refused: nothing the checks send comes close.
MAX_MESSAGE = 16 * 1024 * 1024


class ConnectionClosed(Exception):
    """The client went away (or sent something no TDS client sends); the connection is over."""


@dataclass(frozen=True)
class Message:
    type: int
    payload: bytes


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        try:
            chunk = sock.recv(remaining)
        except OSError as exc:
            raise ConnectionClosed(str(exc)) from exc
        if not chunk:
            raise ConnectionClosed("peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> Message:
    """Read packets until one carries EOM; an attention packet ends a message on its own."""
    parts: list[bytes] = []
    total = 0
    msg_type = -1
    while True:
        header = _recv_exact(sock, HEADER.size)
        ptype, status, length, _spid, _packet_id, _window = HEADER.unpack(header)
        if length < HEADER.size:
            raise ConnectionClosed(f"packet length {length} is shorter than its header")
        body = _recv_exact(sock, length - HEADER.size)
        if msg_type == -1:
            msg_type = ptype
        total += len(body)
        if total > MAX_MESSAGE:
            raise ConnectionClosed("message too large")
        parts.append(body)
        if status & STATUS_EOM or ptype == ATTENTION:
            return Message(msg_type, b"".join(parts))


def write_message(sock: socket.socket, msg_type: int, payload: bytes, *, packet_size: int, spid: int) -> None:
    """Send ``payload`` as packets of at most ``packet_size`` bytes, numbering them from 1."""
    room = max(packet_size, MIN_PACKET_SIZE) - HEADER.size
    out = bytearray()
    offset, packet_id = 0, 1
    while True:
        chunk = payload[offset:offset + room]
        offset += len(chunk)
        last = offset >= len(payload)
        out += HEADER.pack(msg_type, STATUS_EOM if last else 0, len(chunk) + HEADER.size, spid & 0xFFFF,
                           packet_id & 0xFF, 0)
        out += chunk
        packet_id += 1
        if last:
            break
    try:
        sock.sendall(bytes(out))
    except OSError as exc:
        raise ConnectionClosed(str(exc)) from exc
