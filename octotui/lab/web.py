"""A node's Octopus web endpoint: what a load balancer and the installer's health check see.

It listens only while the node's Octopus service runs (the service opens and closes it through the
runtime's web hook), so a stopped node refuses connections, as a real one does, and the same port comes
back when the service starts again. It answers from the shared state: ``/api/octopusservernodes/ping``
returns the node's row as JSON with 200, or 418 when the node is draining (the documented
load-balancer contract); ``/api`` returns the application name and the installed version.

The ping body's fields are the reference's [I] reading of ``OctopusServerNodeResource``; the node Id
``OctopusServerNodes-<name>`` is the lab's choice.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from octotui.lab import adonet
from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.service import load_config
from octotui.lab.state import OctopusNodeRow, Service

if TYPE_CHECKING:
    from octotui.lab.runtime import NodeRuntime

PING_PATH = "/api/octopusservernodes/ping"
API_PATH = "/api"


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to the node's web port but not listening: it holds the port while the service is
    stopped (a connection is refused, as on a node whose service is down), so no other socket of this
    machine (a client's ephemeral port, another lab) can take it between the lab's start and the service's."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        raise
    return s


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class NodeWebServer:
    """The HTTP endpoint of one node; ``open``/``close`` follow its Octopus service."""

    def __init__(self, runtime: NodeRuntime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = runtime
        self.host = host
        self._reserved: socket.socket | None = _reserve(host, port)
        self.port: int = self._reserved.getsockname()[1]
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._server is not None

    def open(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            sock, self._reserved = self._reserved or _reserve(self.host, self.port), None
            server = _Server((self.host, self.port), _handler_for(self), bind_and_activate=False)
            server.socket.close()
            server.socket = sock
            server.server_address = sock.getsockname()
            try:
                server.server_activate()
            except OSError:
                sock.close()
                raise
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"{self.runtime.node.name}-web", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if server is not None:
            with self._lock:
                # Taken in the instant between? Then open() binds anew and reports it as before.
                if self._server is None and self._reserved is None:
                    with contextlib.suppress(OSError):
                        self._reserved = _reserve(self.host, self.port)

    def set_open(self, is_open: bool) -> None:
        """The runtime's web hook: the service calls it with True when it starts, False when it stops."""
        if is_open:
            self.open()
        else:
            self.close()

    # --- answers (read from the shared state) ----------------------------------------------------
    def _running_service(self) -> Service | None:
        for svc in self.runtime.node.services.values():
            if svc.state == "Running" and "octopus.server.exe" in svc.binary_path.lower():
                return svc
        return None

    def _octopus_service(self) -> Service | None:
        """The service that opened the endpoint: running, or being started right now."""
        running = self._running_service()
        if running is not None:
            return running
        for svc in self.runtime.node.services.values():
            if "octopus.server.exe" in svc.binary_path.lower():
                return svc
        return None

    def _node_row(self, svc: Service) -> OctopusNodeRow | None:
        node, world = self.runtime.node, self.runtime.world
        _exe, instance, config_path = cfgmod.parse_binary_path(svc.binary_path)
        cfg = load_config(node, instance, config_path)
        if cfg is None:
            return None
        try:
            catalog = adonet.parse(cfg.get(cfgmod.CONNECTION_STRING) or "").initial_catalog
        except adonet.ConnectionStringError:
            return None
        db = world.sql.database(catalog) if catalog else None
        if db is None or db.octopus is None:
            return None
        return db.octopus.nodes.get(cfg.get(cfgmod.NODE_NAME) or node.name)

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        route = path.split("?", 1)[0].rstrip("/").lower() or "/"
        with self.runtime.world.lock:
            svc = self._octopus_service()
            if route == PING_PATH:
                row = self._node_row(svc) if svc is not None else None
                if row is None:
                    return 503, {"ErrorMessage": "This Octopus Server node is not registered in the cluster."}
                body = {
                    "Id": f"OctopusServerNodes-{row.name}",
                    "Name": row.name,
                    "MaxConcurrentTasks": row.max_concurrent_tasks,
                    "IsInMaintenanceMode": row.is_in_maintenance_mode,
                    "IsOffline": False,
                    "LastSeen": _iso(row.last_seen),
                    "Links": {"Self": f"/api/octopusservernodes/OctopusServerNodes-{row.name}"},
                }
                return (418 if row.is_in_maintenance_mode else 200), body
            if route == API_PATH:
                exe = cfgmod.parse_binary_path(svc.binary_path)[0] if svc else cfgmod.DEFAULT_EXE
                version = cfgmod.exe_version(self.runtime.node, exe)
                return 200, {"Application": "Octopus Deploy", "Version": version, "ApiVersion": "3.0.0",
                             "Links": {"Self": "/api"}}
        return 404, {"ErrorMessage": "The resource you requested was not found."}


def _handler_for(web: NodeWebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Microsoft-HTTPAPI/2.0"
        sys_version = ""

        def do_GET(self) -> None:
            status, body = web.answer(self.path)
            data = json.dumps(body, indent=2).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
