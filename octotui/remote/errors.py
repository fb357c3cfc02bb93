"""What can go wrong with a remote call, said for a user: ``RemoteError`` (which node, what kind of failure, a
message and a hint), ``ScriptError`` (a script that ran and failed), and ``map_error``, which turns whatever
pywinrm, requests or an auth library raised into one of them.

Why a module of its own: the session is not the only one that branches on these errors. The executor retries
on ``transient``, the checks turn them into results, the lease and the cluster view report them; they all
need the vocabulary without the transport.

``RemoteError.transient`` marks a transport fault (the connection dropped, refused or stalled, an HTTP 5xx,
a WS-Man fault Windows raises while a service restarts): nothing about the request itself was wrong, but
whether it ran is unknown. ``reconnect`` (used by the session) says the connection or shell cannot be
trusted any more.
"""

from __future__ import annotations

import errno
import socket
import ssl
import xml.etree.ElementTree as ET
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)

ErrorKind = Literal["config", "unreachable", "refused", "tls", "auth", "wsman", "dropped", "timeout", "http",
                    "protocol"]

#: WS-Man fault codes worth naming (MS-WSMV; winrm-protocol.md §1.5).
FAULT_TIMED_OUT = 2150858793
FAULT_INVALID_SELECTORS = 2150858843  # the shell or command is gone (idle timeout, reboot, WinRM restart)
FAULT_QUOTA = 2150859174  # 0x803381A6: a per-shell/per-user quota (Ansible reconnects on it)
FAULT_BUSY = 170  # ERROR_BUSY on Send
#: WS-Man faults that say the node's WinRM service is in a passing state, not that the request is wrong
#: (HRESULT and plain Win32 forms): ERROR_KEY_DELETED (the service's profile was unloaded under it),
#: ERROR_SHUTDOWN_IN_PROGRESS, RPC_S_SERVER_UNAVAILABLE (a service restarting), ERROR_NO_SYSTEM_RESOURCES.
TRANSIENT_FAULTS = frozenset({0x800703FA, 1018, 0x8007045B, 1115, 0x800706BA, 1722, 0x800705AA, 1450})


class RemoteError(Exception):
    """A remote call that failed, said for a user: which node, what kind of failure, what to do.

    ``retryable`` tells the caller that trying again later may work (a dropped connection, a timeout).
    ``reconnect`` (internal) means the session's connection or shell cannot be trusted any more.
    ``transient`` means a transport fault, not a verdict on the request: the call may or may not have run,
    and a new connection may well succeed (a reboot, a dropped or stalled connection, a passing WS-Man 500).
    A command that outlived its deadline, bad credentials, TLS and configuration errors are never transient."""

    def __init__(self, node: str, kind: ErrorKind, message: str, hint: str = "", retryable: bool = False,
                 *, reconnect: bool = False, http_status: int | None = None, fault_code: int | None = None,
                 transient: bool = False) -> None:
        super().__init__(f"{node}: {message}")
        self.node = node
        self.kind = kind
        self.message = message
        self.hint = hint
        self.retryable = retryable
        self.reconnect = reconnect
        self.http_status = http_status
        self.fault_code = fault_code
        self.transient = transient

    def __str__(self) -> str:
        return f"{self.node}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ScriptError(Exception):
    """A PowerShell script from assets/ps that ran but failed: its own ``stage`` and ``error``."""

    def __init__(self, node: str, script: str, stage: str, error: str, exit_code: int,
                 result: dict[str, Any] | None = None, stderr: str = "") -> None:
        super().__init__(f"{node}: {script} failed at stage {stage!r}: {error}")
        self.node = node
        self.script = script
        self.stage = stage
        self.error = error
        self.exit_code = exit_code
        self.result = result or {}
        self.stderr = stderr


def transport_hint(transport: str) -> str:
    """What to check when the WinRM client cannot even be set up for ``transport``."""
    if transport == "kerberos":
        return ("Kerberos needs python-gssapi (apt-get install libkrb5-dev krb5-user; pip install gssapi krb5), "
                "the node's DNS name as host and a KDC for the realm ([ad] domain_controller); or use "
                "transport = \"ntlm\"")
    if transport == "credssp":
        return "CredSSP needs requests-credssp and the node's Auth\\CredSSP enabled (Enable-WSManCredSSP -Role Server)"
    return "check [winrm] transport, username and the certificate files"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo += [cur.__cause__, cur.__context__]
        todo += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


def map_error(exc: BaseException, node: str, *, encrypted: bool = False, transport: str = "ntlm",
              endpoint: str = "", read_timeout: float = 30) -> RemoteError | None:
    """pywinrm / requests / auth-library exceptions -> RemoteError; None for anything else (a bug to raise)."""
    where = urlsplit(endpoint)
    target = f"{where.hostname}:{where.port or (5986 if where.scheme == 'https' else 5985)}" if endpoint else node
    chain = _chain(exc)

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    from octotui.remote.kerberos import KerberosFailure

    kerberos = next((e for e in chain if isinstance(e, KerberosFailure)), None)
    if kerberos is not None:
        return RemoteError(node, "config" if kerberos.config else "auth", kerberos.message, kerberos.hint,
                           http_status=401 if "HTTP 401" in kerberos.message else None)
    if isinstance(exc, InvalidCredentialsError):
        return RemoteError(node, "auth", "the node rejected the credentials (HTTP 401)",
                           "check the user name ('DOMAIN\\user') and password (OCTOTUI_WINRM_PASSWORD), and that the "
                           f"node accepts the {transport!r} transport (winrm get winrm/config/service/auth)",
                           http_status=401)
    if type(exc).__name__ in ("AuthenticationException", "NTStatusException", "SpnegoError", "InvalidTokenError",
                              "BadMechanismError", "OperationNotAvailableError") or \
            type(exc).__module__.startswith(("spnego", "requests_credssp")):
        status = getattr(exc, "status", None) if type(exc).__name__ == "NTStatusException" else None
        known = {0x8009030C: "the logon was denied, SEC_E_LOGON_DENIED"}
        detail = known.get(status, _short(exc)) if isinstance(status, int) else _short(exc)
        return RemoteError(node, "auth", f"the node rejected the credentials ({transport}: {detail})",
                           "check the user name ('DOMAIN\\user') and password (OCTOTUI_WINRM_PASSWORD), and that the "
                           f"node accepts {transport!r} (CredSSP: Enable-WSManCredSSP -Role Server)")
    if isinstance(exc, WSManFaultError):
        code = exc.wsman_fault_code
        reason = (exc.reason or "").strip()
        if code == FAULT_INVALID_SELECTORS:
            return RemoteError(node, "wsman", f"the node no longer knows this shell or command ({reason})",
                               "the node restarted, its WinRM service restarted, or the shell idled out",
                               retryable=True, reconnect=True, http_status=exc.code, fault_code=code, transient=True)
        if code == FAULT_QUOTA or exc.wmierror_code == FAULT_QUOTA:
            return RemoteError(node, "wsman", f"a WinRM quota was exceeded ({reason})",
                               "too many shells or commands for this user: raise MaxShellsPerUser on the node if "
                               "it keeps happening", retryable=True, reconnect=True,
                               http_status=exc.code, fault_code=code, transient=True)
        label = f"fault {code} (0x{code:08X})" if code is not None else f"fault {exc.fault_subcode or exc.fault_code}"
        return RemoteError(node, "wsman", f"WS-Management {label}: {reason}",
                           "the node's WinRM service reported an error; see the node's event log "
                           "(Microsoft-Windows-WinRM/Operational) if it persists", retryable=True,
                           http_status=exc.code, fault_code=code, transient=code in TRANSIENT_FAULTS)
    if isinstance(exc, WinRMTransportError):
        status = exc.code
        if status == 400 and encrypted:
            return RemoteError(node, "dropped", "the node refused an encrypted message on a new connection "
                               "(HTTP 400): the previous connection was closed", "the node or a network device "
                               "closed an idle connection; check that the node stays reachable if it keeps "
                               "happening", retryable=True, reconnect=True, http_status=400, transient=True)
        if status == 413:
            return RemoteError(node, "http", "the request was larger than the node's MaxEnvelopeSizekb (HTTP 413)",
                               "raise MaxEnvelopeSizekb on the node "
                               "(winrm set winrm/config @{MaxEnvelopeSizekb=\"500\"})",
                               http_status=413)
        return RemoteError(node, "http", f"the node answered HTTP {status}",
                           "check that the endpoint is a WinRM listener (…/wsman)", retryable=status >= 500,
                           http_status=status, transient=status >= 500)
    if has(requests.exceptions.SSLError, ssl.SSLError) and transport == "certificate" and not any(
            "certificate_verify_failed" in str(e).lower() or "certificate verify failed" in str(e).lower()
            for e in _chain(exc)):
        # We validated the node; the handshake still failed, so the node turned our certificate down (with
        # TLS 1.3 the client only sees the connection close).
        return RemoteError(node, "tls", f"{target} refused our client certificate during the TLS handshake",
                           "use a client certificate issued by a CA the node trusts, mapped to an account on the "
                           "node (winrm create winrm/config/service/certmapping)")
    if has(requests.exceptions.SSLError, ssl.SSLError):
        return RemoteError(node, "tls", f"TLS with {target} failed: the node's certificate could not be validated",
                           "set [winrm] ca_cert to the PEM file of the CA that signed the node's certificate (or "
                           "server_cert_validation = \"ignore\" for a test lab only)")
    if has(requests.exceptions.ConnectTimeout):
        return RemoteError(node, "unreachable", f"no answer from {target} (connect timed out)",
                           "check the host name, the network path and the firewall (WinRM: 5985 http, 5986 https)",
                           retryable=True, transient=True)
    if has(requests.exceptions.ReadTimeout, socket.timeout, TimeoutError):
        return RemoteError(node, "timeout", f"{target} did not answer within {read_timeout:g} s",
                           "the node may be overloaded or restarting, or the connection stalled",
                           retryable=True, reconnect=True, transient=True)
    if has(socket.gaierror):
        return RemoteError(node, "unreachable", f"the host name in {target} does not resolve",
                           "check the node's host name (DNS) or give its address")
    if has(ConnectionRefusedError) or any(getattr(e, "errno", None) == errno.ECONNREFUSED for e in chain):
        return RemoteError(node, "refused", f"{target} refused the connection: nothing listens there",
                           "enable the WinRM listener on the node (winrm quickconfig -transport:https) and check "
                           "the port", retryable=True, transient=True)
    if has(requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError, ConnectionError):
        established = not any(type(e).__name__ == "NewConnectionError" for e in chain)
        if not established:
            return RemoteError(node, "unreachable", f"cannot connect to {target}: {_short(exc)}",
                               "check the host name, the network path and the firewall", retryable=True,
                               transient=True)
        return RemoteError(node, "dropped", "the connection to the node was closed during a call",
                           "the node restarted, or the network or a proxy closed the connection; check that the "
                           "node is up and stays reachable", retryable=True, reconnect=True, transient=True)
    if isinstance(exc, WinRMError):
        kind: ErrorKind = "config" if "not installed" in str(exc) else "protocol"
        return RemoteError(node, kind, f"WinRM client error: {exc}", transport_hint(transport))
    if isinstance(exc, ET.ParseError | StopIteration):
        return RemoteError(node, "protocol", "the node sent a WS-Management reply that could not be read",
                           "check that the endpoint is a Windows WinRM listener", retryable=True, reconnect=True)
    return None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"
