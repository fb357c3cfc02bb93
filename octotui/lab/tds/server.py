"""The lab's SQL Server on the wire: a TDS 7.x listener that real ODBC drivers (FreeTDS) log in to.

One thread per connection walks the TDS conversation: PRELOGIN, LOGIN7 (a SQL login, or NTLM in SSPI
packets for a Windows login), then SQL batches, RPC calls, transaction-manager requests and attentions,
until the client hangs up. Answers come from ``answers.Answerer`` over the shared world, so what the
simulated Octopus processes change is what a client sees, and the other way round.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Any

from octotui.lab.ntlm_users import ensure_user_file
from octotui.lab.sqlserver import SqlError
from octotui.lab.state import World
from octotui.lab.tds import login7, packets, prelogin, rpc, sqltext
from octotui.lab.tds.answers import (
    LAB_FAILURE,
    LAB_UNMODELLED,
    SERVER_NAME,
    Answerer,
    DatabaseChanged,
    Message,
    Outcome,
    ProcedureEnded,
    ResultSet,
)
from octotui.lab.tds.catalog import SessionInfo
from octotui.lab.tds.logon import LoginRefused, Opened, open_session, untrusted_domain
from octotui.lab.tds.ntlm import NtlmRefused, SspiAcceptor
from octotui.lab.tds.tokens import (
    CMD_SELECT,
    DONE_ATTN,
    DONE_COUNT,
    DONE_ERROR,
    DONE_MORE,
    ENV_BEGIN_TRAN,
    ENV_COLLATION,
    ENV_COMMIT_TRAN,
    ENV_DATABASE,
    ENV_LANGUAGE,
    ENV_PACKET_SIZE,
    ENV_ROLLBACK_TRAN,
    WIRE_COLLATION,
    TokenWriter,
    ack_version,
)
from octotui.lab.tds.transactions import TransactionChanged

TDS_74 = 0x74000004
_ERROR_CLASS = {18456: 14, 18452: 14, 4060: 11, 916: 14, 262: 14, 911: 16}


def _severity(number: int) -> int:
    return _ERROR_CLASS.get(number, 16)


class _Connection:
    """One client connection's conversation."""

    def __init__(self, front: TdsServer, sock: socket.socket, spid: int) -> None:
        self.front = front
        self.world = front.world
        self.sock = sock
        self.spid = spid
        self.packet_size = packets.DEFAULT_PACKET_SIZE
        self.tds_version = TDS_74
        self.answerer: Answerer | None = None
        self.prepared: dict[int, tuple[str, str]] = {}
        self._handles = itertools.count(1)
        self.client_host = ""
        self.client_program = ""
        self.auth_scheme = ""  # the Windows login's mechanism ("KERBEROS", "NTLM"), once its handshake is done

    # --- plumbing --------------------------------------------------------------------------------
    @property
    def modern(self) -> bool:
        return (self.tds_version >> 24) >= 0x72

    def writer(self) -> TokenWriter:
        return TokenWriter(self.tds_version)

    def send(self, payload: bytes) -> None:
        packets.write_message(self.sock, packets.TABULAR_RESULT, payload, packet_size=self.packet_size,
                              spid=self.spid)

    def error(self, w: TokenWriter, exc: SqlError) -> None:
        w.error(exc.number, exc.message, SERVER_NAME, severity=_severity(exc.number))

    # --- the conversation ------------------------------------------------------------------------
    def serve(self) -> None:
        try:
            msg = packets.read_message(self.sock)
            if msg.type == packets.PRELOGIN:
                prelogin.parse(msg.payload)
                self.send(prelogin.reply(self.world.sql.version))
                msg = packets.read_message(self.sock)
            if msg.type != packets.LOGIN7:
                return
            request = login7.parse(msg.payload)
            if not self.login(request):
                return
            self.client_host, self.client_program = request.host_name, request.app_name
            self.front._register(self, True)
            while True:
                msg = packets.read_message(self.sock)
                try:
                    self.dispatch(msg)
                except packets.ConnectionClosed:
                    raise
                except Exception as exc:  # a lab bug: tell the client rather than leave it waiting
                    w = self.writer()
                    self.error(w, SqlError(LAB_FAILURE, f"The lab's SQL Server failed on this request: "
                                                        f"{type(exc).__name__}: {exc}"))
                    w.done(DONE_ERROR)
                    self.send(w.payload())
        except (packets.ConnectionClosed, prelogin.PreloginError, login7.Login7Error):
            return
        finally:
            self.front._register(self, False)

    def session_info(self) -> SessionInfo | None:
        """What sp_who shows for this connection, once it has logged in."""
        answerer = self.answerer
        if answerer is None:
            return None
        return SessionInfo(self.spid, answerer.session.login.name, self.client_host, self.client_program,
                           answerer.database)

    def login(self, request: login7.Login7) -> bool:
        if request.tds_version >> 24 < 0x74:
            self.tds_version = request.tds_version
        if request.packet_size:
            self.packet_size = max(packets.MIN_PACKET_SIZE, min(request.packet_size, packets.MAX_PACKET_SIZE))
        try:
            if request.integrated:
                account = self.ntlm(request.sspi)
                opened = open_session(self.world, database=request.database, windows_account=account)
            else:
                opened = open_session(self.world, database=request.database, user=request.user_name,
                                      password=request.password)
        except LoginRefused as refused:
            w = self.writer()
            for exc in refused.errors:
                self.error(w, exc)
            w.done(DONE_ERROR)
            self.send(w.payload())
            return False
        scheme = self.auth_scheme.lower() if request.integrated else "sql"
        with self.world.lock:
            counts = self.world.sql.auth_logins
            counts[scheme] = counts.get(scheme, 0) + 1
        self.send(self.login_ack(opened))
        self.answerer = Answerer(self.world, opened.session, opened.database, self.spid)
        return True

    def ntlm(self, first: bytes) -> str:
        """The SSPI handshake of a Windows login (NTLM, SPNEGO or Kerberos; see ``tds.ntlm``): each server
        token in an SSPI token, each client token in an SSPI (0x11) or LOGIN7 (0x10) packet, as SQL Server
        takes both. The server's last token (Kerberos' AP-REP, SPNEGO's accept-completed) goes out with
        the LOGINACK."""
        acceptor = SspiAcceptor(self.world, self.front.kerberos_keytab)
        token = first
        try:
            for _ in range(8):
                out = acceptor.step(token)
                if acceptor.complete:
                    self.final_sspi = out
                    account = acceptor.account()
                    self.auth_scheme = acceptor.mechanism.upper()
                    return account
                if not out:
                    break
                w = self.writer()
                w.sspi(out)
                self.send(w.payload())
                msg = packets.read_message(self.sock)
                if msg.type not in (packets.SSPI, packets.LOGIN7):
                    break
                token = msg.payload
        except NtlmRefused:
            pass
        raise untrusted_domain()

    def login_ack(self, opened: Opened) -> bytes:
        w = self.writer()
        final = getattr(self, "final_sspi", None)
        if final:  # the handshake's last server token (Kerberos mutual authentication) before LOGINACK
            w.sspi(final)
        w.env_text(ENV_DATABASE, opened.database, "master")
        w.info(5701, f"Changed database context to '{opened.database}'.", SERVER_NAME, state=2)
        if w.collations:  # ENVCHANGE 7 came with TDS 7.1; a 7.0 client cannot read it
            w.env_bytes(ENV_COLLATION, WIRE_COLLATION)
        w.env_text(ENV_LANGUAGE, "us_english")
        w.info(5703, "Changed language setting to us_english.", SERVER_NAME)
        parts = [int(p) if p.isdigit() else 0 for p in self.world.sql.version.split(".")] + [0, 0, 0]
        w.loginack(ack_version(self.tds_version), "Microsoft SQL Server", (parts[0], parts[1], parts[2]))
        w.env_text(ENV_PACKET_SIZE, str(self.packet_size), str(self.packet_size))
        w.done()
        return w.payload()

    def dispatch(self, msg: packets.Message) -> None:
        if msg.type == packets.SQL_BATCH:
            self.send(self.on_batch(msg.payload))
        elif msg.type == packets.RPC:
            self.send(self.on_rpc(msg.payload))
        elif msg.type == packets.TRANSACTION_MANAGER:
            self.send(self.on_transaction(msg.payload))
        elif msg.type == packets.ATTENTION:
            w = self.writer()
            w.done(DONE_ATTN)
            self.send(w.payload())
        else:
            raise packets.ConnectionClosed(f"unexpected packet type 0x{msg.type:02X}")

    # --- requests --------------------------------------------------------------------------------
    def _outcomes(self, w: TokenWriter, text: str, params: dict[str, object], in_proc: bool) -> bool:
        """Write each statement's tokens; False when an error stopped the batch."""
        assert self.answerer is not None
        done = w.done_in_proc if in_proc else w.done
        try:
            for outcome in self.answerer.run(text, params):
                self._write_outcome(w, outcome, done)
        except SqlError as exc:
            self.error(w, exc)
            done(DONE_ERROR | DONE_MORE, 0, 0)
            return False
        return True

    def _write_outcome(self, w: TokenWriter, outcome: Outcome, done: Any) -> None:
        if isinstance(outcome, ResultSet):
            w.colmetadata(outcome.columns)
            for row in outcome.rows:
                w.row(outcome.columns, row)
            (w.done_in_proc if outcome.in_proc else done)(DONE_MORE | DONE_COUNT, CMD_SELECT, len(outcome.rows))
        elif isinstance(outcome, DatabaseChanged):
            w.env_text(ENV_DATABASE, outcome.new, outcome.old)
            w.info(5701, f"Changed database context to '{outcome.new}'.", SERVER_NAME)
            done(DONE_MORE, 0, 0)
        elif isinstance(outcome, Message):
            w.info(outcome.number, outcome.text, SERVER_NAME, severity=0)
            done(DONE_MORE, 0, 0)
        elif isinstance(outcome, TransactionChanged):
            self._write_transaction(w, outcome)
            done(DONE_MORE, 0, 0)
        elif isinstance(outcome, ProcedureEnded):
            w.return_status(outcome.status)
            w.done_proc(DONE_MORE)
        else:
            done(DONE_MORE, 0, 0)

    def _write_transaction(self, w: TokenWriter, change: TransactionChanged) -> None:
        """ENVCHANGE 8/9/10 exist from TDS 7.2 (MS-TDS 2.2.7.9); older clients track @@TRANCOUNT themselves."""
        if not w.modern:
            return
        if change.kind == "begin":
            w.env_bytes(ENV_BEGIN_TRAN, change.descriptor)
        else:
            w.env_bytes(ENV_COMMIT_TRAN if change.kind == "commit" else ENV_ROLLBACK_TRAN, b"", change.descriptor)

    def on_batch(self, payload: bytes) -> bytes:
        w = self.writer()
        try:
            text = rpc.batch_text(payload, self.modern)
        except rpc.RequestError as exc:
            self.error(w, SqlError(LAB_UNMODELLED, str(exc)))
            w.done(DONE_ERROR)
            return w.payload()
        self._outcomes(w, text, {}, in_proc=False)
        return _clear_last_more(w)

    def on_rpc(self, payload: bytes) -> bytes:
        w = self.writer()
        try:
            calls = rpc.parse_rpc(payload, self.modern, collations=self.writer().collations)
        except rpc.RequestError as exc:
            self.error(w, SqlError(LAB_UNMODELLED, str(exc)))
            w.done_proc(DONE_ERROR)
            return w.payload()
        for call in calls:
            self.on_call(w, call)
        return _clear_last_more(w)

    def on_call(self, w: TokenWriter, call: rpc.RpcCall) -> None:
        proc, params = call.procedure, call.params
        ok = True
        handle_param: rpc.Param | None = None
        if proc in ("sp_executesql", "sp_prepexec", "sp_prepare"):
            offset = 1 if proc != "sp_executesql" else 0
            if proc != "sp_executesql":
                handle_param = params[0] if params else rpc.Param("@handle", True, None)
            if proc == "sp_executesql":
                text = str(params[0].value or "") if params else ""
                declaration = str(params[1].value or "") if len(params) > 1 else ""
                values = params[2:]
            else:
                declaration = str(params[offset].value or "") if len(params) > offset else ""
                text = str(params[offset + 1].value or "") if len(params) > offset + 1 else ""
                values = params[offset + 2:] if proc == "sp_prepexec" else []
            if proc != "sp_executesql":
                handle = next(self._handles)
                self.prepared[handle] = (declaration, text)
            if proc != "sp_prepare":
                ok = self._outcomes(w, text, _bind(declaration, values), in_proc=True)
        elif proc == "sp_execute":
            handle = int(params[0].value) if params and isinstance(params[0].value, int) else -1
            if handle not in self.prepared:
                self.error(w, SqlError(8179, f"Could not find prepared statement with handle {handle}."))
                ok = False
            else:
                declaration, text = self.prepared[handle]
                ok = self._outcomes(w, text, _bind(declaration, params[1:]), in_proc=True)
        elif proc == "sp_unprepare":
            if params and isinstance(params[0].value, int):
                self.prepared.pop(params[0].value, None)
        else:
            assert self.answerer is not None
            try:
                for outcome in self.answerer.call_procedure(proc, [p.value for p in params],
                                                            [p.name.lower() for p in params]):
                    self._write_outcome(w, outcome, w.done_in_proc)
            except SqlError as exc:
                self.error(w, exc)
                ok = False
        w.return_status(0 if ok else 1)
        if handle_param is not None:
            w.return_int(0, handle_param.name, max(self.prepared) if self.prepared else 0)
        w.done_proc(DONE_MORE if ok else DONE_MORE | DONE_ERROR)

    def on_transaction(self, payload: bytes) -> bytes:
        """TM_BEGIN_XACT, and TM_COMMIT_XACT / TM_ROLLBACK_XACT with fBeginXact (begin the next one too).

        They move the same @@TRANCOUNT as BEGIN TRAN/COMMIT/ROLLBACK in SQL text (MS-TDS 2.2.6.9).
        """
        assert self.answerer is not None
        w = self.writer()
        start = rpc.skip_all_headers(payload, self.modern)
        request = struct.unpack_from("<H", payload, start)[0] if len(payload) >= start + 2 else -1
        name_len = payload[start + 2] if len(payload) > start + 2 else 0
        after_name = start + 3 + 2 * name_len
        begin_next = request in (7, 8) and len(payload) > after_name and payload[after_name] & 0x01
        try:
            if request == 5:  # TM_BEGIN_XACT: isolation level byte, then the name
                changes = self.answerer.begin()
            elif request in (7, 8):  # TM_COMMIT_XACT, TM_ROLLBACK_XACT: name, then fBeginXact
                changes = self.answerer.commit() if request == 7 else self.answerer.rollback()
                if begin_next:
                    changes += self.answerer.begin()
            else:
                raise SqlError(LAB_UNMODELLED, "The octotui lab does not model this statement: transaction "
                                               f"manager request {request}")
        except SqlError as exc:
            self.error(w, exc)
            w.done(DONE_ERROR)
            return w.payload()
        for change in changes:
            if isinstance(change, TransactionChanged):
                self._write_transaction(w, change)
        w.done()
        return w.payload()


def _bind(declaration: str, values: list[rpc.Param]) -> dict[str, object]:
    """Parameter values by name: the name sent with the value, else the declaration's order."""
    names = sqltext.declared_names(declaration)
    bound: dict[str, object] = {}
    for i, param in enumerate(values):
        name = param.name.lower() if param.name else (names[i] if i < len(names) else f"@p{i + 1}")
        bound[name] = param.value
        bound[f"?{i + 1}"] = param.value
    return bound


def _clear_last_more(w: TokenWriter) -> bytes:
    """The last DONE/DONEPROC of a reply must not announce more results."""
    data = bytearray(w.payload())
    size = 13 if w.modern else 9
    if len(data) >= size and data[-size] in (0xFD, 0xFE, 0xFF):
        status = struct.unpack_from("<H", data, len(data) - size + 1)[0]
        struct.pack_into("<H", data, len(data) - size + 1, status & ~DONE_MORE)
    return bytes(data)


class _Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    front: TdsServer


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _Listener = self.server  # type: ignore[assignment]
        front = server.front
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        front._track(sock, True)
        try:
            _Connection(front, sock, front._next_spid()).serve()
        finally:
            front._track(sock, False)


class TdsServer:
    """The lab's SQL Server listener: ``start()``, then clients connect to ``host,port``; ``stop()``.

    ``ntlm_user_file`` is the credential store pyspnego checks Windows logins against (the lab writes one
    for the WinRM endpoints too); without one, a store is derived from the world's directory.
    """

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0,
                 ntlm_user_file: str | None = None, kerberos_keytab: Path | None = None) -> None:
        self.world = world
        self.host = host
        self.port = port
        self.ntlm_user_file = ntlm_user_file
        #: The keytab holding MSSQLSvc/<sql fqdn>[:port] (lab up --dc): Kerberos logins are accepted only with it.
        self.kerberos_keytab = kerberos_keytab
        self._listener: _Listener | None = None
        self._sockets: set[socket.socket] = set()
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._spids = itertools.count(51)

    def _next_spid(self) -> int:
        with self._lock:
            return next(self._spids)

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def _register(self, connection: _Connection, add: bool) -> None:
        """Keep the logged-in connections, for sp_who; each answerer reads the list when asked."""
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
        if add and connection.answerer is not None:
            connection.answerer.sessions = self.sessions

    def sessions(self) -> list[SessionInfo]:
        with self._lock:
            connections = list(self._connections)
        return [info for c in connections if (info := c.session_info()) is not None]

    def start(self) -> None:
        ensure_user_file(self.world, self.ntlm_user_file)
        listener = _Listener((self.host, self.port), _Handler)
        listener.front = self
        self._listener = listener
        self.port = listener.server_address[1]
        threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.1}, name="lab-tds",
                         daemon=True).start()

    def stop(self) -> None:
        """Stop listening and drop every open connection, as a stopped SQL Server does."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.shutdown()
        listener.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> TdsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
