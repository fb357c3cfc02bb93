"""Checks that run against (or on) each node: ``winrm.reach``, ``node.home``, ``share.reach``, ``sql.reach``,
and ``cluster.version``.

Why each step of ``winrm.reach`` is its own probe (name, port, TLS, logon): pywinrm reports all four as
one connection error, and each has a different fix (DNS, firewall or listener, CA file, password).

Why ``share.reach`` and ``sql.reach`` run the probe scripts *as the service account* (a scheduled task with
its password, ``NodeSession.script_as``): the running Octopus service reaches the share and SQL Server as
that account, and a plain WinRM session cannot show it, since it holds no credentials to pass on (the double
hop: the share sees an anonymous logon, SQL Server ``NT AUTHORITY\\ANONYMOUS LOGON``). Run as the session
(``run_as=None``), the checks recognise that and say so, instead of blaming the share or the login.

Every function returns one ``CheckResult`` by its deadline (and soon after ``cancel`` is set), never raises.
"""

from __future__ import annotations

import contextlib
import math
import ntpath
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from octotui.checks.deadline import DEFAULT_DEADLINE_S, Deadline, run_within
from octotui.checks.result import CheckFailure, CheckResult, Status
from octotui.remote.errors import RemoteError, ScriptError
from octotui.remote.session import NodeSession, kerberos_target
from octotui.spec.model import NodeSpec, WinRMSettings
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString, as_connection_string
from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.versions import OctopusVersion
from octotui.spec.parsers.winpath import WinPath, parse_windows_path
from octotui.windows import octopus as oc
from octotui.windows.gates import compare_versions
from octotui.windows.octopus_output import KEY_HOME, OctopusOutputError, parse_list_instances
from octotui.windows.quoting import cmd_line

LOW_SPACE_BYTES = 10 * 1024**3
#: Windows Server 2012 R2 is 6.3; Octopus Server supports 2012 R2 and newer.
MIN_WINDOWS = (6, 3)
ANONYMOUS = "ANONYMOUS LOGON"
Mode = Literal["create", "join"]
RunAs = tuple[Account | str, str] | None  # (DOMAIN\user, password), or None for the WinRM session itself


def _gb(value: int) -> str:
    return f"{value / 1024**3:.1f} GB"


def _short(text: object, limit: int = 300) -> str:
    s = str(text).strip()
    return s if len(s) <= limit else s[: limit - 3] + "..."


class _Result:
    """Builds results for one check id and target, timing them from the start."""

    def __init__(self, check_id: str, target: str) -> None:
        self.check_id, self.target, self.started = check_id, target, time.monotonic()

    def __call__(self, status: Status, summary: str, detail: str = "", hint: str = "") -> CheckResult:
        return CheckResult(self.check_id, status, self.target, summary, detail, hint,
                           int((time.monotonic() - self.started) * 1000))

    def failure(self, failure: CheckFailure) -> CheckResult:
        return self(failure.status, failure.summary, failure.detail, failure.hint)


def _guarded(make: _Result, deadline_s: float, cancel: threading.Event | None,
             body: Callable[[Deadline], CheckResult], what: str) -> CheckResult:
    """Run ``body`` within the deadline; failures become results, never exceptions."""
    def guarded(deadline: Deadline) -> CheckResult:
        try:
            return body(deadline)
        except CheckFailure as failure:
            return make.failure(failure)
        except Exception as exc:  # a library surprise must read as a result, never as a traceback
            return make("fail", f"The {what} check failed unexpectedly", f"{type(exc).__name__}: {_short(exc)}",
                        "Run the check again; if it persists, report it with this detail.")

    return run_within(guarded, deadline_s, cancel,
                      on_timeout=lambda: make("fail", f"No answer within {deadline_s:g} s",
                                              f"checking {make.target}",
                                              "Check that the node is up and answers WinRM, then check again."),
                      on_cancel=lambda: make("skip", "Check cancelled"))


def _session(node: NodeSpec, winrm: WinRMSettings, password: str | None, deadline: Deadline) -> NodeSession:
    """A session whose every wait fits in what is left of the deadline."""
    left = deadline.left()
    try:
        session = NodeSession(node.url(winrm), winrm.logon or None, password, transport=winrm.transport,
                              ca_cert=winrm.ca_cert, server_cert_validation=winrm.server_cert_validation,
                              cert_pem=winrm.cert_pem, cert_key_pem=winrm.cert_key_pem,
                              operation_timeout=max(1, math.floor(left)), connect_timeout=max(0.2, left),
                              node=node.name, **kerberos_target(node, winrm))
    except RemoteError as exc:
        raise CheckFailure(f"{node.name}: {exc.message}", "", exc.hint) from exc
    # An abandoned session's thread ends by itself soon after the deadline: no wait is longer than this.
    session.read_timeout = session.operation_timeout + 2
    return session


def _remote_failure(node: str, exc: RemoteError, doing: str) -> CheckFailure:
    return CheckFailure(f"Could not {doing} on {node}: {exc.message}", f"WinRM error ({exc.kind})",
                        exc.hint or f"See winrm.reach:{node}.")


def _script(session: NodeSession, name: str, params: Mapping[str, Any], deadline: Deadline,
            run_as: RunAs) -> dict[str, Any]:
    """Run a probe script in the session, or as ``run_as`` through a one-shot scheduled task."""
    left = max(1.0, deadline.left())
    try:
        if run_as is None:
            return session.run_script(name, params, deadline_s=left)
        return session.script_as(str(run_as[0]), run_as[1], name, params, deadline_s=left)
    except ScriptError as exc:
        if run_as is not None and exc.script == "invoke-as-user" and exc.stage in ("prepare", "register"):
            hresult = exc.result.get("hresult")
            raise CheckFailure(f"{session.node} could not log on as {run_as[0]}: {exc.error}",
                               f"scheduled task registration{f' (HRESULT {hresult})' if hresult else ''}",
                               "Check the service account's name and password, and that it is enabled, not "
                               "locked and its password not expired (see ad.account).") from exc
        raise CheckFailure(f"{name} failed on {session.node} at stage {exc.stage!r}: {_short(exc.error)}",
                           _short(exc.stderr) if exc.stderr else "",
                           "Run the check again; if it persists, look at the node's event log.") from exc
    except RemoteError as exc:
        raise _remote_failure(session.node, exc, f"run {name}") from exc


# --------------------------------------------------------------------------------------------------------------
# winrm.reach


def _tls_failure(host: str, port: int, exc: ssl.SSLError, winrm: WinRMSettings) -> CheckFailure:
    where = f"{host}:{port}"
    ca_hint = ("Set [winrm] ca_cert to the PEM file of the CA that signed the node's certificate (or "
               "server_cert_validation = \"ignore\" for a test lab only).")
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or _short(exc)
        if exc.verify_code == 62 or "hostname mismatch" in reason.lower() or "ip address mismatch" in reason.lower():
            return CheckFailure(f"The certificate of {where} does not name {host}", reason,
                                "Connect with a name the certificate holds (Subject Alternative Name), or issue the "
                                "listener a certificate for this name.")
        if exc.verify_code == 10 or "expired" in reason.lower():
            return CheckFailure(f"The certificate of {where} has expired", reason,
                                "Renew the WinRM listener's certificate on the node.")
        given = f"the CA file {winrm.ca_cert}" if winrm.ca_cert else "this machine's CA bundle"
        return CheckFailure(f"The certificate of {where} is not trusted ({reason})", f"verified against {given}",
                            ca_hint)
    text = _short(exc)
    if "wrong version number" in text.lower() or "record layer failure" in text.lower():
        return CheckFailure(f"{where} does not speak TLS (is it the HTTP listener?)", text,
                            "Use https = false with port 5985, or the node's HTTPS listener (port 5986).")
    return CheckFailure(f"TLS with {where} failed", text, ca_hint)


def _connect(host: str, port: int, infos: list[Any], deadline: Deadline) -> tuple[socket.socket, Any]:
    """A TCP connection to the first address of ``host`` that answers (as the HTTP client will try them)."""
    where = f"{host}:{port}"
    last: OSError | None = None
    timed_out = False
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        deadline.on_abort(sock.close)
        sock.settimeout(deadline.left())
        try:
            sock.connect(address)
            return sock, address
        except TimeoutError as exc:
            sock.close()
            last, timed_out = exc, True
            break  # the deadline is spent
        except OSError as exc:
            sock.close()
            last = exc
    addresses = ", ".join(sorted({str(i[4][0]) for i in infos}))
    seen = f"{host} resolves to {addresses}"
    if timed_out:
        raise CheckFailure(f"No answer from {where} within {deadline.seconds:g} s", f"{seen}; TCP connect timed out",
                           "Check that the node is up and that a firewall lets WinRM through (5985 http, 5986 https).")
    if isinstance(last, ConnectionRefusedError):
        raise CheckFailure(f"{where} refused the connection: no WinRM listener there", seen,
                           "Enable the listener on the node (winrm quickconfig -transport:https, or Enable-PSRemoting) "
                           "and check the port.")
    reason = (last.strerror if last is not None else None) or _short(last)
    raise CheckFailure(f"Cannot reach {where}: {reason}", seen,
                       "Check the network path (routing, VPN, firewall) to the node.")


def _probe_transport(url: str, winrm: WinRMSettings, deadline: Deadline) -> tuple[str, bool]:
    """Name, port and TLS, each with its own message; returns a note for the result's detail, and whether the
    node's identity was verified (False only for HTTPS with server_cert_validation = "ignore")."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (5986 if https else 5985)
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CheckFailure(f"The name {host} does not resolve", _short(exc),
                           "Check the node's host name and this machine's DNS, or give its address.") from exc
    sock, address = _connect(host, port, infos, deadline)
    try:
        if not https:
            return (f"{host} resolves to {address[0]}; port {port} open (HTTP, messages encrypted by "
                    f"{winrm.transport})"), True
        validate = winrm.server_cert_validation == "validate"
        if validate:
            import certifi  # requests' own bundle: what pywinrm's session verifies with when no CA file is given

            context = ssl.create_default_context(cafile=winrm.ca_cert or certifi.where())
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                version = tls.version() or "TLS"
        except ssl.SSLError as exc:
            raise _tls_failure(host, port, exc, winrm) from exc
        except OSError as exc:
            raise CheckFailure(f"TLS with {where} failed: {exc.strerror or _short(exc)}", "",
                               "Check that the port is the node's HTTPS listener.") from exc
        checked = "certificate valid" if validate else "certificate NOT validated (server_cert_validation = ignore)"
        return f"{host} resolves to {address[0]}; port {port} open; {version}, {checked}", validate
    finally:
        sock.close()


def _windows_version(text: str) -> tuple[int, int] | None:
    bits = text.split(".")
    if len(bits) >= 2 and bits[0].isdigit() and bits[1].isdigit():
        return int(bits[0]), int(bits[1])
    return None


def check_winrm_reach(node: NodeSpec, winrm: WinRMSettings, password: str | None, *,
                      deadline_s: float = DEFAULT_DEADLINE_S, cancel: threading.Event | None = None,
                      on_authenticated: Callable[[], None] | None = None,
                      on_state: Callable[[dict[str, Any]], None] | None = None) -> CheckResult:
    """``winrm.reach:<node>``: the name resolves, the port answers, TLS is valid, the logon works; reports the OS.

    ``on_authenticated`` is called as soon as the logon worked (the runner opens a gate there, so checks that
    log on too wait for a proven password, not for the whole check); ``on_state`` gets get-node-state's result."""
    url = node.url(winrm)
    make = _Result(f"winrm.reach:{node.name}", url)

    def body(deadline: Deadline) -> CheckResult:
        note, verified = _probe_transport(url, winrm, deadline)
        session = _session(node, winrm, password, deadline)
        try:
            try:
                session.open()
            except RemoteError as exc:
                if exc.kind == "auth":
                    who = winrm.logon or "the client certificate"
                    raise CheckFailure(f"{node.name} refused the WinRM logon of {who}", f"{note}; {exc.message}",
                                       exc.hint) from exc
                raise _remote_failure(node.name, exc, "open a WinRM shell") from exc
            if on_authenticated is not None:
                on_authenticated()
            state = _script(session, "get-node-state", {"paths": []}, deadline, None)
        finally:
            with contextlib.suppress(Exception):
                session.close()
        if on_state is not None:
            on_state(state)
        return _reach_verdict(node, state, note, verified, make)

    return _guarded(make, deadline_s, cancel, body, "WinRM")


def _reach_verdict(node: NodeSpec, state: dict[str, Any], note: str, verified: bool, make: _Result) -> CheckResult:
    if not state.get("ok"):
        return make("fail", f"{node.name} could not describe itself (get-node-state: {state.get('error')})", note,
                    "The node's CIM/WMI service may be broken; run Get-CimInstance Win32_OperatingSystem there.")
    os_text = f"{state.get('os_caption') or 'Windows'} ({state.get('os_version') or '?'})"
    who = state.get("identity") or "?"
    detail = f"{note}; logged on as {who}"
    warnings = []
    version = _windows_version(str(state.get("os_version") or ""))
    if version is not None and version < MIN_WINDOWS:
        warnings.append(f"{os_text} is older than Windows Server 2012 R2, which Octopus Server needs")
    hostname = str(state.get("hostname") or "")
    if hostname and hostname.lower() != node.name.lower():
        warnings.append(f"the node at {node.host} says it is {hostname}, not {node.name}")
    if state.get("part_of_domain") is False:
        warnings.append(f"{hostname or node.name} is not joined to a domain; the service account and Active "
                        "Directory sign-in need it to be")
    if warnings:
        return make("warn", f"{node.name} answers, but " + "; ".join(warnings), detail,
                    "Check the node and its entry in the answers file.")
    if not verified:
        return make("warn", f"{who} logs on to {node.name}, but its TLS certificate was not validated", detail,
                    "Set [winrm] ca_cert to the CA's PEM file and server_cert_validation = \"validate\": without it "
                    "anyone on the path can pose as the node and receive the passwords octotui sends it.")
    return make("pass", f"{who} logs on to {node.name}: {os_text}", detail)


# --------------------------------------------------------------------------------------------------------------
# node.home


def home_problem(home: str) -> CheckFailure | None:
    """What is wrong with ``home`` before asking the node: it must be a local absolute folder."""
    text = (home or "").strip()
    if text.startswith(("\\\\", "//")):
        return CheckFailure(f"The home folder {text} is a network (UNC) path",
                            "the home holds the node's own configuration and logs, which must not be shared",
                            "Use a folder on the node's own disk, e.g. C:\\Octopus; shared files go in [storage].")
    try:
        path = parse_windows_path(text, allow_unc=False)
    except ParseError as exc:
        return CheckFailure(f"The home folder '{text}' is not an absolute local path: {exc.message}", "",
                            exc.fix or "Use a folder such as C:\\Octopus.")
    if path.is_drive_root:
        return CheckFailure(f"The home folder {text} is a drive root", "", "Use a folder, e.g. C:\\Octopus.")
    return None


def _norm(path: str) -> str:
    return ntpath.normpath(path.strip()).rstrip("\\").lower()


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + "\\")


def _config_home(session: NodeSession, config_path: str, deadline: Deadline) -> str:
    """The Octopus.Home an instance's config file sets (else the config file's folder, DSC's convention)."""
    fallback = ntpath.dirname(config_path)
    try:
        res = session.run_script("read-file", {"path": config_path, "offset": 0, "max_bytes": 262144,
                                               "encoding": "text"}, deadline_s=max(1.0, deadline.left()))
    except (ScriptError, RemoteError):
        return fallback
    if not res.get("ok"):
        return fallback
    try:
        root = ET.fromstring(str(res.get("data") or "").lstrip("\ufeff"))
    except ET.ParseError:
        return fallback
    for el in root.iter("set"):
        if (el.get("key") or "").lower() == KEY_HOME.lower() and (el.text or "").strip():
            return (el.text or "").strip()
    return fallback


def _other_instances(session: NodeSession, install_location: str | None, instance: str,
                     deadline: Deadline) -> tuple[list[tuple[str, str]], str]:
    """(name, home) of every instance on the node but ``instance``, and a note on how they were found."""
    try:
        res = session.run(cmd_line([oc.exe_path(install_location), *oc.list_instances()]),
                          deadline_s=max(1.0, deadline.left()))
    except RemoteError as exc:
        raise _remote_failure(session.node, exc, "list the Octopus instances") from exc
    if res.exit_code != 0:
        return [], f"list-instances failed (exit code {res.exit_code}); other instances not checked"
    try:
        found = parse_list_instances(res.stdout_text)
    except OctopusOutputError as exc:
        return [], f"list-instances output not understood ({exc}); other instances not checked"
    others = [(i["InstanceName"], i["ConfigurationFilePath"]) for i in found
              if i["InstanceName"].lower() != instance.lower()]
    homes = [(name, _config_home(session, config, deadline)) for name, config in others if config]
    names = ", ".join(i["InstanceName"] for i in found) or "none"
    return homes, f"instances on the node: {names}"


def check_node_home(node: NodeSpec, winrm: WinRMSettings, password: str | None, *, instance: str,
                    home: str | None = None, deadline_s: float = DEFAULT_DEADLINE_S,
                    cancel: threading.Event | None = None) -> CheckResult:
    """``node.home:<node>``: a local absolute folder on a local fixed disk with room to spare, that no other
    Octopus instance on the node uses. ``home`` overrides ``node.home`` (the wizard's field as typed, which
    the answers reader has not seen yet; ``node.home`` it has)."""
    wanted = home.strip() if home is not None else str(node.home)
    make = _Result(f"node.home:{node.name}", f"{node.name}:{wanted}")
    problem = home_problem(wanted) if home is not None else None
    if problem is not None:
        return make.failure(problem)

    def body(deadline: Deadline) -> CheckResult:
        session = _session(node, winrm, password, deadline)
        try:
            state = _script(session, "get-node-state", {"paths": [wanted]}, deadline, None)
            if not state.get("ok"):
                raise CheckFailure(f"{node.name} could not describe itself (get-node-state: {state.get('error')})")
            octo = state.get("octopus") or {}
            others: list[tuple[str, str]] = []
            note = "Octopus Server is not installed, so no other instance can use it"
            if octo.get("installed"):
                others, note = _other_instances(session, octo.get("install_location"), instance, deadline)
        finally:
            with contextlib.suppress(Exception):
                session.close()
        return _home_verdict(node, wanted, instance, state, others, note, make)

    return _guarded(make, deadline_s, cancel, body, "home folder")


def _home_verdict(node: NodeSpec, home: str, instance: str, state: dict[str, Any], others: list[tuple[str, str]],
                  note: str, make: _Result) -> CheckResult:
    drive = home[:2].upper()
    drives = {str(d.get("name", "")).upper(): int(d.get("free_bytes") or 0) for d in state.get("drives") or []}
    if drive not in drives:
        local = ", ".join(sorted(drives)) or "none"
        return make("fail", f"{drive} is not a local disk on {node.name} (a mapped network drive, a removable disk, "
                            "or no such drive)", f"local fixed disks: {local}",
                    "Use a folder on a local fixed disk, e.g. C:\\Octopus: a mapped drive exists only in one user's "
                    "logon session (the service never sees it), and the home must not be shared.")
    entry: dict[str, Any] = next((p for p in state.get("paths") or []
                                  if _norm(str(p.get("path", ""))) == _norm(home)), {})
    if entry.get("error"):
        return make("fail", f"{home} on {node.name} cannot be read: {entry['error']}", note,
                    "Check the folder's permissions for the WinRM user.")
    if entry.get("exists") and entry.get("kind") == "file":
        return make("fail", f"{home} on {node.name} is a file, not a folder", note,
                    "Remove the file or choose another home folder.")
    mine = _norm(home)
    for name, other in others:
        theirs = _norm(other)
        if theirs == mine:
            return make("fail", f"{home} is already the home of the Octopus instance '{name}' on {node.name}", note,
                        f"Choose another home folder (e.g. {home.rstrip(chr(92))}-{instance}), or remove that "
                        f"instance (Octopus.Server.exe delete-instance --instance \"{name}\") if it is not used.")
        if _within(mine, theirs) or _within(theirs, mine):
            return make("warn", f"{home} overlaps the home of the Octopus instance '{name}' on {node.name} "
                                f"({other})", note, "Give each instance a folder of its own, not nested.")
    free = drives[drive]
    where = "exists" if entry.get("exists") else "will be created"
    detail = f"{drive} has {_gb(free)} free; {note}"
    if free < LOW_SPACE_BYTES:
        return make("warn", f"{home} on {node.name}: only {_gb(free)} free on {drive}", detail,
                    f"Octopus keeps logs and caches in its home; free space on {drive} (at least "
                    f"{_gb(LOW_SPACE_BYTES)} is advisable) or use another disk.")
    return make("pass", f"{home} on {node.name} is local ({drive}, {_gb(free)} free) and {where}", detail)


# --------------------------------------------------------------------------------------------------------------
# share.reach


def _identity_words(run_as: RunAs, winrm: WinRMSettings) -> str:
    return str(run_as[0]) if run_as else f"the WinRM session of {winrm.logon}"


def _double_hop_possible(run_as: RunAs, winrm: WinRMSettings) -> bool:
    return run_as is None and winrm.transport != "credssp"


DOUBLE_HOP_HINT = ("Run the check as the service account (octotui does: give its password), or use transport = "
                   "\"credssp\": a plain WinRM logon holds no credentials to pass on to a second machine (the "
                   "double hop).")


def check_share_reach(node: NodeSpec, winrm: WinRMSettings, password: str | None, paths: Sequence[WinPath | str], *,
                      run_as: RunAs, deadline_s: float = DEFAULT_DEADLINE_S,
                      cancel: threading.Event | None = None) -> CheckResult:
    """``share.reach:<node>``: from the node, as ``run_as`` (the service account), create, read back and delete
    a probe file in each shared path."""
    make = _Result(f"share.reach:{node.name}", f"{node.name} -> {', '.join(map(str, paths))}")
    if not paths:
        return make("skip", "No shared storage in the answers file",
                    hint="Set [storage] cluster_shared (\\\\server\\share) to check it from the nodes.")

    def body(deadline: Deadline) -> CheckResult:
        session = _session(node, winrm, password, deadline)
        try:
            res = _script(session, "test-share", {"paths": [str(p) for p in paths]}, deadline, run_as)
        finally:
            with contextlib.suppress(Exception):
                session.close()
        return _share_verdict(node, winrm, run_as, res, make)

    return _guarded(make, deadline_s, cancel, body, "share")


def _share_verdict(node: NodeSpec, winrm: WinRMSettings, run_as: RunAs, res: dict[str, Any],
                   make: _Result) -> CheckResult:
    who = str(res.get("identity") or _identity_words(run_as, winrm))
    results = [r for r in res.get("results") or [] if isinstance(r, dict)]
    failed = [r for r in results if not r.get("ok")]
    detail = "; ".join(f"{r.get('path')}: " + ("ok" if r.get("ok") else f"{r.get('stage')}: {r.get('error')}")
                       for r in results) + f" (as {who})"
    if not results:
        return make("fail", f"test-share on {node.name} returned no result", detail)
    if not failed:
        where = results[0]["path"] if len(results) == 1 else f"{len(results)} shared folders"
        return make("pass", f"{node.name} can create, read and delete files in {where} as {who}", detail)
    first = failed[0]
    path, error = str(first.get("path")), str(first.get("error") or "")
    low = error.lower()
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    if "network path was not found" in low:
        return make("fail", f"{node.name} cannot reach the file server of {path}{more}", detail,
                    "Check the server name from the node (DNS), and that SMB (TCP 445) is open from the node.")
    if "network name cannot be found" in low:
        return make("fail", f"The share of {path} does not exist, seen from {node.name}{more}", detail,
                    "Check the share name (Get-SmbShare on the file server), or create the share.")
    if "could not find a part of the path" in low:
        return make("fail", f"Folder {path} not found, seen from {node.name}{more}", detail,
                    "Create the folder, or correct the path.")
    if "denied" in low:
        if _double_hop_possible(run_as, winrm):
            return make("fail", f"The file server refused {path} to {node.name}'s WinRM session: the double hop"
                                f"{more}", detail + "; a WinRM logon without delegated credentials reaches the "
                                "file server as an anonymous logon", DOUBLE_HOP_HINT)
        stage = str(first.get("stage") or "write")
        verb = "delete in" if stage == "delete" else "write to"
        return make("fail", f"{who} may not {verb} {path} from {node.name}{more}", detail,
                    "Grant the service account Modify on the folder (NTFS) and Change or Full Control on the share.")
    return make("fail", f"{node.name} could not use {path} as {who}: {_short(error, 200)}{more}", detail,
                "Check the path, the file server and the account's rights on it.")


# --------------------------------------------------------------------------------------------------------------
# sql.reach and cluster.version


def server_of(connection_string: ConnectionString | str) -> str:
    try:
        server = as_connection_string(connection_string).server
    except ParseError:
        return "SQL Server"
    return str(server) if server is not None else "SQL Server"


def check_sql_reach(node: NodeSpec, winrm: WinRMSettings, password: str | None,
                    connection_string: ConnectionString | str, *,
                    mode: Mode, run_as: RunAs, deadline_s: float = DEFAULT_DEADLINE_S,
                    cancel: threading.Event | None = None,
                    on_facts: Callable[[dict[str, Any]], None] | None = None) -> CheckResult:
    """``sql.reach:<node>``: from the node, as ``run_as`` (the service account), SQL Server answers a login.

    In create mode the service account needs no login yet (the database step grants it), so a login refused
    *for that account* still proves the node reaches SQL Server; in join mode it must open the database.
    ``on_facts`` gets test-sql's result (``cluster.version`` reads the cluster's version from it)."""
    server = server_of(connection_string)
    make = _Result(f"sql.reach:{node.name}", f"{node.name} -> {server}")

    def body(deadline: Deadline) -> CheckResult:
        session = _session(node, winrm, password, deadline)
        try:
            res = _script(session, "test-sql", {"connection_string": str(connection_string)}, deadline, run_as)
        finally:
            with contextlib.suppress(Exception):
                session.close()
        if on_facts is not None:
            on_facts(res)
        return _sql_verdict(node, winrm, run_as, server, mode, res, make)

    return _guarded(make, deadline_s, cancel, body, "SQL Server reach")


def _sql_verdict(node: NodeSpec, winrm: WinRMSettings, run_as: RunAs, server: str, mode: Mode,
                 res: dict[str, Any], make: _Result) -> CheckResult:
    who = str(run_as[0]) if run_as else winrm.logon
    if not res.get("ok"):
        stage, number, message = res.get("stage"), res.get("number"), str(res.get("message") or "")
        detail = f"test-sql as {_identity_words(run_as, winrm)}: stage {stage}, error {number}: {message}"
        if stage == "connection_string":
            return make("fail", f"SqlClient on {node.name} does not accept the connection string: {message}", detail,
                        "Fix [sql] connection_string (the nodes use .NET's SqlClient rules).")
        if number == 18456 and ANONYMOUS.lower() in message.lower():
            return make("fail", f"{node.name} reached {server} as NT AUTHORITY\\ANONYMOUS LOGON: the double hop",
                        detail, DOUBLE_HOP_HINT)
        if number in (18456, 18470, 18486, 18487, 18488):
            if mode == "create":
                return make("pass", f"{node.name} reaches {server}; {who} has no login there yet (the database "
                                    "step grants it)", detail)
            return make("fail", f"{server} refused the login of {who} from {node.name}", detail,
                        f"Give {who} a login and db_owner on the cluster's database (CREATE LOGIN [{who}] FROM "
                        "WINDOWS; then in the database CREATE USER and ALTER ROLE db_owner ADD MEMBER).")
        return make("fail", f"{node.name} cannot reach {server}: {_short(message, 200)}", detail,
                    "Check the server name and port from the node (DNS, firewall on TCP 1433 or the instance's "
                    "port, SQL Browser on UDP 1434 for a named instance).")
    login = str(res.get("login") or who)
    db = str(res.get("database") or "")
    detail = (f"logged in as {login}; SQL Server {res.get('server_version')}; database {db or '(none)'}: "
              + ("absent" if not res.get("database_exists") else
                 "accessible" if res.get("database_accessible") else "not accessible"))
    if mode == "join" and db:
        if not res.get("database_exists"):
            return make("fail", f"Database {db} does not exist, seen from {node.name}", detail,
                        "Check Initial Catalog (see sql.database).")
        if not res.get("database_accessible") or not res.get("is_db_owner"):
            error = (res.get("database_error") or {}).get("message", "")
            return make("fail", f"{login} cannot use database {db} from {node.name} (needs db_owner)",
                        f"{detail}; {error}".rstrip("; "),
                        f"Make {login} db_owner of {db}: USE [{db}]; CREATE USER [{login}] FOR LOGIN [{login}]; "
                        f"ALTER ROLE db_owner ADD MEMBER [{login}].")
    return make("pass", f"{node.name} reaches {server} as {login}", detail)


def cluster_version_result(mode: Mode, wanted: OctopusVersion | str, facts: Mapping[str, Any] | None, *,
                           source: str = "", target: str = "") -> CheckResult:
    """``cluster.version`` from test-sql's result: the version to install must equal the cluster's."""
    make = _Result("cluster.version", target or "cluster")
    if mode == "create":
        return make("skip", "Not applicable: a new cluster gets the version being installed")
    if not facts or not facts.get("ok"):
        return make("skip", "Not checked: the cluster's database could not be read" + (f" (see {source})"
                                                                                       if source else ""))
    if not facts.get("database_exists") or not facts.get("octopus_schema"):
        return make("skip", "Not checked: the database holds no Octopus cluster (see sql.database)")
    found = facts.get("octopus_version")
    if not found:
        return make("warn", "The cluster's Octopus version could not be read from its database",
                    "dbo.OctopusServerInstallationHistory gave no version",
                    f"Make sure the cluster runs {wanted} (Octopus Manager or /api shows it): every node of a "
                    "cluster must run the same version.")
    if compare_versions(str(found), wanted) == 0:
        via = f" via {source}" if source else ""
        return make("pass", f"The cluster runs {found}, the version to install", f"read from the database{via}")
    newer = compare_versions(str(found), wanted) > 0
    return make("fail", f"The cluster runs Octopus {found} but the answers install {wanted}",
                "every node of an HA cluster must run the same version",
                f"Set octopus_version = \"{found}\" (and the matching installer)" if newer else
                f"Install {found} on the joining nodes, or upgrade the whole cluster to {wanted} first "
                "(upgrade every node together: one database, one version).")


def check_cluster_version(node: NodeSpec, winrm: WinRMSettings, password: str | None,
                          connection_string: ConnectionString | str, *, wanted: OctopusVersion | str,
                          run_as: RunAs, deadline_s: float = DEFAULT_DEADLINE_S,
                          cancel: threading.Event | None = None) -> CheckResult:
    """``cluster.version`` on its own (join mode): read the cluster's version through ``node``."""
    facts: dict[str, Any] = {}
    reach = check_sql_reach(node, winrm, password, connection_string, mode="join", run_as=run_as,
                            deadline_s=deadline_s, cancel=cancel, on_facts=facts.update)
    result = cluster_version_result("join", wanted, facts or None, source=reach.id, target=f"{node.name} -> "
                                    f"{server_of(connection_string)}")
    return CheckResult(result.id, result.status, result.target, result.summary, result.detail, result.hint,
                       reach.duration_ms)
