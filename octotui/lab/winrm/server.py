"""The WinRM listener of one simulated node: what happens to each HTTP request, in Windows' order.

Count it, wait the injected latency, let the fault plan drop it, fail it or reboot the node, then
authenticate (per request for Basic and certificates, per connection for NTLM and CredSSP), unseal,
size-check, run the WS-Man action and seal the reply (faults included: pywinrm unseals a 500 body before
parsing it). The HTTP plumbing is in ``httpconn``; WinRS semantics in ``winrs``.

Certificate authentication: an HTTPS listener given ``client_ca`` asks every client for a certificate
(CERT_OPTIONAL, so Basic, NTLM and CredSSP clients without one are still served) and lets TLS verify any
certificate offered against that CA; a certificate from another CA fails the handshake. A verified
certificate authenticates a request carrying the WS-Man mutual-profile header when ``cert_mappings`` maps
it to an account (``auth.CertMapping``).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Sequence

from octotui.lab.kerberos import enable_keytab
from octotui.lab.ntlm_names import Names
from octotui.lab.ntlm_users import ensure_user_file
from octotui.lab.runtime import NodeRuntime
from octotui.lab.winrm import crypto, identify, soap
from octotui.lab.winrm.auth import AuthPolicy, CertificatePolicy, CertMapping, ConnectionAuth
from octotui.lab.winrm.httpconn import HttpServer, Request
from octotui.lab.winrm.winrs import Caller, WinRS

#: The server's ``MaxEnvelopeSizekb`` (500 on Windows 2012 and later): a larger request gets HTTP 413.
MAX_ENVELOPE_BYTES = 500 * 1024
#: Bodies above this are not even read: the connection is answered 413 and closed.
READ_CAP_BYTES = 16 * 1024 * 1024

_SOAP_TYPE = "application/soap+xml;charset=UTF-8"


class WinRMEndpoint:
    """A node's WS-Management endpoint on loopback; see the package docstring for what it accepts.

    Beyond the lab's common options: ``latency_fn`` (seconds to wait before each request; by default the
    fault plan's ``latency`` for this node), ``on_reboot`` (run in its own thread when a ``reboot`` fault
    fires; expected to ``stop()`` then ``restart_listener()``), ``idle_timeout`` (close keep-alive
    connections idle that long, as Windows does after about two minutes; default never),
    ``max_shells_per_user`` (Windows' MaxShellsPerUser, 30), and for certificate authentication on HTTPS
    ``client_ca`` (PEM file of the CAs client certificates must chain to) and ``cert_mappings``.
    """

    def __init__(self, runtime: NodeRuntime, *, host: str = "127.0.0.1", port: int = 0,
                 auth: str = "ntlm", https: tuple[str, str] | None = None, allow_basic_http: bool = False,
                 ntlm_user_file: str | None = None, latency_fn: Callable[[], float] | None = None,
                 on_reboot: Callable[[], None] | None = None, idle_timeout: float | None = None,
                 max_shells_per_user: int = 30, client_ca: str | None = None,
                 cert_mappings: Sequence[CertMapping] = ()) -> None:
        if auth not in ("ntlm", "basic"):
            raise ValueError(f"auth must be 'ntlm' or 'basic', not {auth!r}")
        self.runtime = runtime
        self.host = host
        self.port = port
        self.auth = auth
        self.https = https
        self.allow_unencrypted = allow_basic_http
        self.latency_fn = latency_fn
        self.on_reboot = on_reboot
        #: Seconds an idle keep-alive connection is kept (Windows: about 2 minutes); None = forever.
        self.idle_timeout = idle_timeout
        certificates = CertificatePolicy(client_ca, cert_mappings) if https is not None and client_ca else None
        keytab = runtime.settings.kerberos_keytab
        if keytab is not None:
            enable_keytab(keytab)  # Kerberos (lab up --dc): the nodes' HTTP/<fqdn> keys, as their computer accounts
        self.policy = AuthPolicy(directory=runtime.world.directory, negotiate=auth == "ntlm",
                                 basic=https is not None or allow_basic_http, certificates=certificates,
                                 kerberos=keytab is not None,
                                 names=Names(runtime.node.name, runtime.world.directory.domain,
                                             runtime.world.directory.dns_name),
                                 node=runtime.node)
        self.winrs = WinRS(runtime, max_shells_per_user=max_shells_per_user)
        self.tls_context: ssl.SSLContext | None = None
        if https is not None:
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(https[0], https[1])
            if certificates is not None and client_ca:
                self.tls_context.load_verify_locations(client_ca)
                self.tls_context.verify_mode = ssl.CERT_OPTIONAL
        self._ntlm_user_file = ntlm_user_file
        self._server: HttpServer | None = None
        self._lifecycle = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}/wsman"

    def start(self) -> None:
        ensure_user_file(self.runtime.world, self._ntlm_user_file)
        self._listen()

    def _listen(self) -> None:
        with self._lifecycle:
            if self._server is not None:
                return
            server = HttpServer((self.host, self.port), self._serve, tls=self.tls_context,
                                idle_timeout=self.idle_timeout)
            self._server = server
            self.port = server.server_address[1]
        with self.runtime.world.lock:
            self.runtime.node.winrm_port = self.port
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         name=f"winrm-{self.runtime.node.name}", daemon=True).start()

    @property
    def open_connections(self) -> int:
        """How many client connections are open now: what a test waits on to see an idle keep-alive
        connection closed by the server (``idle_timeout``) instead of guessing how long that takes."""
        server = self._server
        if server is None:
            return 0
        with server.connections_lock:
            return len(server.connections)

    def stop(self) -> None:
        """Close the listener and every open connection, and end every shell (what a shutdown does)."""
        with self._lifecycle:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
        self.winrs.reset()

    def restart_listener(self) -> None:
        """Listen again on the same port, as the node's WinRM service does when the node is back up."""
        self._listen()

    # --- one request -----------------------------------------------------------------------------
    def _latency(self) -> float:
        if self.latency_fn is not None:
            return self.latency_fn()
        faults = self.runtime.settings.faults
        return faults.latency_seconds(self.runtime.node.name) if faults is not None else 0.0

    def _serve(self, req: Request) -> None:
        runtime = self.runtime
        with runtime.world.lock:
            runtime.node.http_requests += 1
        if req.conn.state is None:
            req.conn.state = ConnectionAuth(self.policy)
        conn: ConnectionAuth = req.conn.state
        if req.method != "POST" or req.path.split("?")[0].lower() != "/wsman":
            req.close_after = True
            req.reply(405 if req.path.split("?")[0].lower() == "/wsman" else 404)
            return
        if req.header("transfer-encoding"):
            req.close_after = True
            req.reply(411)
            return
        try:
            length = int(req.header("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > READ_CAP_BYTES:
            req.close_after = True
            req.reply(413 if length > 0 else 400)
            return
        body = req.read_body(length)
        delay = self._latency()
        if delay > 0:
            time.sleep(delay)
        faults = runtime.settings.faults
        fired = faults.on_request(runtime.node.name) if faults is not None else None
        if fired in ("drop", "reboot"):
            if fired == "reboot" and self.on_reboot is not None:
                threading.Thread(target=self.on_reboot, name="winrm-reboot", daemon=True).start()
            req.drop()
            return
        content_type = req.header("content-type")
        encrypted = crypto.is_encrypted(content_type)
        if fired == "wsman500":
            self._injected_500(req, conn, body, content_type, encrypted)
            return
        if not req.header("authorization") and identify.wants_unauthenticated(req.header("wsmanidentify")) \
                and identify.is_identify(body):
            with runtime.world.lock:
                counts = runtime.node.auth_requests
                counts["none"] = counts.get("none", 0) + 1
            req.reply(200, identify.response(None, None), _SOAP_TYPE)  # Test-WSMan's anonymous Identify
            return
        step = conn.authorize(req.header("authorization") or None, _peer_certificate(req))
        with runtime.world.lock:
            counts = runtime.node.auth_requests
            counts[conn.method] = counts.get(conn.method, 0) + 1
        if not step.ok:
            req.reply(401, headers=step.headers)
            return
        if encrypted:
            if conn.sealer is None:
                req.reply(400)
                return
            try:
                plain = crypto.unwrap(conn.sealer, content_type, body)
            except crypto.CryptoError:
                req.reply(400)
                return
        else:
            plain = body
            if plain and self.https is None and not self.allow_unencrypted:
                # AllowUnencrypted=false: clear-text SOAP over HTTP is refused, whatever the auth.
                req.reply(401, headers=[("WWW-Authenticate", c) for c in self.policy.challenges()])
                return
        if not plain:
            req.reply(200, headers=step.headers)  # the empty POST pywinrm sends to set up sealing
            return
        if len(plain) > MAX_ENVELOPE_BYTES:
            req.reply(413, headers=step.headers)
            return
        assert conn.identity is not None
        if identify.is_identify(plain):
            reply = identify.response(runtime.node.os_version, conn.method)
            self._send_soap(req, 200, reply, conn.sealer if encrypted else None, step.headers)
            return
        caller = Caller(identity=conn.identity, delegated_password=conn.delegated_password,
                        client_ip=req.client_ip, endpoint_url=self.endpoint_url)
        status, reply = self._dispatch(plain, caller, self._machine(req))
        self._send_soap(req, status, reply, conn.sealer if encrypted else None, step.headers)

    def _dispatch(self, plain: bytes, caller: Caller, machine: str) -> tuple[int, bytes]:
        message_id = None
        try:
            wsreq = soap.parse_request(plain)
            message_id = wsreq.message_id
            if wsreq.resource_uri and wsreq.resource_uri.lower() != soap.RESOURCE_CMD:
                raise soap.resource_not_found()
            return 200, self.winrs.handle(wsreq, caller)
        except soap.WsmanFault as fault:
            return fault.status, soap.fault_envelope(fault, message_id, machine)

    def _injected_500(self, req: Request, conn: ConnectionAuth, body: bytes, content_type: str,
                      encrypted: bool) -> None:
        """Fault kind ``wsman500``: the request is read (keeping the sealing sequence in step) but not run."""
        sealer = conn.sealer if encrypted else None
        plain: bytes | None = body
        if sealer is not None:
            try:
                plain = crypto.unwrap(sealer, content_type, body)
            except crypto.CryptoError:
                plain, sealer = None, None
        message_id = soap.peek_message_id(plain) if plain else None
        self._send_soap(req, 500, soap.fault_envelope(soap.internal_error(), message_id, self._machine(req)),
                        sealer, [])

    @staticmethod
    def _send_soap(req: Request, status: int, reply: bytes, sealer: crypto.Sealer | None,
                   headers: list[tuple[str, str]]) -> None:
        if sealer is not None:
            content_type, payload = crypto.wrap(sealer, reply)
            req.reply(status, payload, content_type, headers)
        else:
            req.reply(status, reply, _SOAP_TYPE, headers)

    def _machine(self, req: Request) -> str:
        """Windows names the host in a fault the way the client addressed it."""
        host = req.header("host") or self.runtime.node.name
        if host.startswith("["):
            return host.split("]")[0] + "]"
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _peer_certificate(req: Request) -> bytes | None:
    """The client certificate TLS verified on this connection (DER), or None (plain HTTP, or none offered)."""
    sock = req.conn.sock
    if isinstance(sock, ssl.SSLSocket):
        try:
            return sock.getpeercert(binary_form=True)
        except (ValueError, OSError):
            return None
    return None
