"""A minimal HTTP/1.1 keep-alive server: one thread per TCP connection, requests read and answered in turn.

Not ``http.server``: its header parsing goes through the ``email`` package and costs more than the whole
WS-Man request handling, and pywinrm needs three HTTP round trips per command. WinRM clients only POST
with a Content-Length, so this reads exactly that. Each connection keeps a ``state`` slot for whoever
serves it (the WinRM layer keeps the connection's authentication there, because NTLM and CredSSP
authenticate connections rather than requests). Replies go out in one ``sendall`` with Nagle off.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import Any

_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Request Entity Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}
_MAX_LINE = 65536
_MAX_HEADERS = 100


class Request:
    """One HTTP request on a connection, and the means to answer it."""

    def __init__(self, conn: Connection, method: str, path: str, headers: dict[str, str]) -> None:
        self.conn = conn
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.close_after = False

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def client_ip(self) -> str:
        return self.conn.client_address[0]

    def read_body(self, length: int) -> bytes:
        return self.conn.rfile.read(length) if length > 0 else b""

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None,
              headers: list[tuple[str, str]] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Server: Microsoft-HTTPAPI/2.0"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.extend(f"{k}: {v}" for k, v in headers or [])
        if self.close_after:
            lines.append("Connection: close")
        lines.append(f"Content-Length: {len(body)}")
        self.conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def drop(self) -> None:
        """Close the connection without a word, as a crashed or rebooting host does."""
        self.close_after = True
        self.conn.shut()


class Connection:
    """One accepted TCP (or TLS) connection."""

    def __init__(self, sock: socket.socket, client_address: tuple[str, int]) -> None:
        self.sock = sock
        self.client_address = client_address
        self.rfile = sock.makefile("rb")
        self.state: Any = None

    def shut(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def read_request(self) -> Request | None:
        """The next request's head, or None when the peer has closed (or sent garbage)."""
        line = self.rfile.readline(_MAX_LINE)
        while line in (b"\r\n", b"\n"):
            line = self.rfile.readline(_MAX_LINE)
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return None
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            raw = self.rfile.readline(_MAX_LINE)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                return None
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        else:
            return None
        req = Request(self, parts[0].decode("latin-1"), parts[1].decode("latin-1"), headers)
        connection = headers.get("connection", "").lower()
        old_http = parts[2] == b"HTTP/1.0"
        req.close_after = "close" in connection or (old_http and "keep-alive" not in connection)
        if headers.get("expect", "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return req


class HttpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Accepts connections and hands each request to ``handler(request)`` until the connection ends."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: Callable[[Request], None], *,
                 tls: ssl.SSLContext | None = None, idle_timeout: float | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.idle_timeout = idle_timeout
        self.connections: set[Connection] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, socketserver.BaseRequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        if self.idle_timeout is not None:
            sock.settimeout(self.idle_timeout)
        conn = Connection(sock, client_address)
        with self.connections_lock:
            self.connections.add(conn)
        try:
            while True:
                req = conn.read_request()
                if req is None:
                    break
                self.handler(req)
                if req.close_after:
                    break
        except (OSError, ValueError):  # reset, timeout (idle), TLS errors, a closed file
            pass
        finally:
            with self.connections_lock:
                self.connections.discard(conn)
            with contextlib.suppress(OSError):
                conn.rfile.close()
            if sock is not request:
                with contextlib.suppress(OSError):
                    sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanishes mid-request is normal here (drops, reboots, timeouts): stay quiet."""

    def close_all(self) -> None:
        """Close the listener and shut every open connection."""
        self.server_close()
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            conn.shut()
