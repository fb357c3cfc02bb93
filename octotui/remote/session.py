"""The WinRM transport: one authenticated connection and ONE shell per node, reused for every command.

Why not ``winrm.Session.run_cmd``: it opens a shell, a TCP connection and an NTLM handshake per command
(8 HTTP round trips), waits forever on a slow command (pywinrm retries WS-Man TimedOut with no overall
deadline), cannot send stdin and encodes output in code page 437. Here, as Ansible's winrm plugin does
(reference/winrm-protocol.md §4.3), a ``NodeSession`` keeps one pywinrm ``Protocol`` and one shell opened
with code page 65001, and runs each command as Command, [Send...], Receive..., Signal: three round trips
for a quick command. Receive is looped here with our own deadline, so a hung command is terminated and
reported, output is handed to a callback as it arrives, and scripts travel on stdin (no 8191-character
command-line limit, no secret on a command line).

Threads: a session holds one requests connection and one NTLM/CredSSP sealing state, which break when
two threads share them (pywinrm #277). Use one ``NodeSession`` per node per worker thread; a session
refuses to be entered by a second thread while busy instead of corrupting its stream.

Errors: every pywinrm/requests failure becomes a ``RemoteError`` (``octotui.remote.errors``) naming the
node, a ``kind`` the caller can branch on, a message and a hint for the user. A dropped connection (or the
HTTP 400 Windows answers an encrypted message that arrives on a fresh connection) rebuilds the Protocol and
the shell; the command is sent again only when the caller said it is safe to repeat (``idempotent=True``).
A ``transient`` error (a transport fault: whether the call ran is unknown) the executor answers by
reconnecting and running the whole step again from its read. A shell left behind by such a fault is listed
in ``abandoned_shells``; ``reap`` deletes it over a new connection, which ends its processes (WinRS), so a
cut-off command does not run on beside its repeat.

Scripts from ``assets/ps`` travel by the protocol in ``octotui.windows.scripts`` (the bootstrap line, the
script and its parameters on stdin, a JSON result line); the session only carries it.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import requests.adapters
from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError
from winrm.protocol import Protocol

from octotui.remote.errors import FAULT_INVALID_SELECTORS, RemoteError, ScriptError, map_error, transport_hint
from octotui.windows.scripts import bootstrap_command_line, clixml_to_text, find_result_line, script_stdin

Transport = Literal["ntlm", "kerberos", "credssp", "basic", "certificate"]
OutputCallback = Callable[[str, bytes], None]

TRANSPORTS: tuple[str, ...] = ("ntlm", "kerberos", "credssp", "basic", "certificate")
#: Raw stdin bytes per WinRS Send: base64 makes it 4/3 larger, so each envelope stays under the 150 KB
#: MaxEnvelopeSizekb of older Windows (2012+ allows 500 KB).
STDIN_CHUNK = 110_000


@dataclass
class CommandResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    round_trips: int = 0

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return clixml_to_text(self.stderr.decode("utf-8", "replace"))


# --- counting round trips ----------------------------------------------------------------------------------


class _CountingAdapter(requests.adapters.HTTPAdapter):
    """Counts every HTTP request, including the 401 legs of an NTLM/CredSSP handshake (their auth
    handlers resend through ``response.connection``, i.e. this adapter), and gives each a connect
    timeout of its own (pywinrm passes a single number, which would also be the connect timeout)."""

    def __init__(self, on_send: Callable[[], None], connect_timeout: float) -> None:
        super().__init__()
        self._on_send = on_send
        self._connect_timeout = connect_timeout

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float, float] | tuple[float, None] | None = None,
             verify: bool | str = True, cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        self._on_send()
        if isinstance(timeout, int | float):
            timeout = (min(self._connect_timeout, float(timeout)), float(timeout))
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


# --- the session ---------------------------------------------------------------------------------------------


def kerberos_target(node: Any, winrm_settings: Any) -> dict[str, Any]:
    """The Kerberos keywords of ``NodeSession`` for a ``spec.NodeSpec``: the service principal's host is
    the node's host as the answers name it; the KDC and realm come from ``[ad]`` when given."""
    return {"spn_host": str(node.host.value), "kdc": getattr(winrm_settings, "kerberos_kdc", None),
            "dns_domain": getattr(winrm_settings, "kerberos_dns_domain", None)}



class NodeSession:
    """One node's WinRM connection and shell. Not thread-safe: one per node per worker thread.

    ``env`` is set in the shell's environment when it opens (e.g. ``{"OCTOPUS_SERVICE_PASSWORD": ...}``:
    it travels inside the encrypted WS-Man Create message, never on a command line). Nothing connects until
    the first command; configuration mistakes (Basic over plain HTTP, a missing CA file) raise
    ``RemoteError(kind="config")`` at once."""

    def __init__(self, endpoint: str, username: str | None, password: str | None, *, transport: str = "ntlm",
                 ca_cert: str | None = None, server_cert_validation: str = "validate",
                 cert_pem: str | None = None, cert_key_pem: str | None = None, operation_timeout: int = 20,
                 connect_timeout: float = 10.0, env: Mapping[str, str] | None = None, node: str | None = None,
                 codepage: int = 65001, spn_host: str | None = None, kdc: str | None = None,
                 dns_domain: str | None = None) -> None:
        parts = urlsplit(endpoint)
        #: Kerberos: the service principal is HTTP/<spn_host> (the node's name in the answers), whatever
        #: address the endpoint URL connects to; ``kdc``/``dns_domain`` from [ad] locate the realm's KDC.
        self.spn_host = spn_host or parts.hostname or ""
        self.kdc = kdc
        self.dns_domain = dns_domain
        self.node = node or parts.hostname or endpoint
        self.endpoint = endpoint
        self.username = username
        self._password = password
        self.transport = transport
        self.ca_cert = ca_cert
        self.server_cert_validation = server_cert_validation
        self.cert_pem = cert_pem
        self.cert_key_pem = cert_key_pem
        self.operation_timeout = max(1, int(operation_timeout))
        self.read_timeout = self.operation_timeout + 10
        self.connect_timeout = connect_timeout
        self.env = dict(env or {})
        self.codepage = codepage
        #: HTTP requests sent by this session so far (every leg of every handshake included).
        self.round_trips = 0
        self.reconnects = 0
        self._protocol: Any = None
        self._shell: str | None = None
        self._abandoned: list[str] = []
        self._busy = threading.Lock()
        self._validate(parts.scheme.lower())

    @classmethod
    def from_spec(cls, node: Any, winrm_settings: Any, password: str | None, *,
                  env: Mapping[str, str] | None = None, operation_timeout: int = 20) -> NodeSession:
        """From ``spec.NodeSpec`` and ``spec.WinRMSettings`` (the answers file) plus the WinRM password."""
        return cls(node.url(winrm_settings), winrm_settings.logon, password, transport=winrm_settings.transport,
                   ca_cert=winrm_settings.ca_cert, server_cert_validation=winrm_settings.server_cert_validation,
                   cert_pem=winrm_settings.cert_pem, cert_key_pem=winrm_settings.cert_key_pem, env=env,
                   operation_timeout=operation_timeout, node=node.name, **kerberos_target(node, winrm_settings))

    # --- configuration ----------------------------------------------------------------------------------
    def _config_error(self, message: str, hint: str) -> RemoteError:
        return RemoteError(self.node, "config", message, hint)

    def _validate(self, scheme: str) -> None:
        if scheme not in ("http", "https"):
            raise self._config_error(f"WinRM endpoint {self.endpoint!r} is not an http(s) URL",
                                     "use e.g. https://host:5986/wsman, or set [winrm] https and port")
        if self.transport not in TRANSPORTS:
            raise self._config_error(f"unknown WinRM transport {self.transport!r}",
                                     f"set [winrm] transport to one of {', '.join(TRANSPORTS)}")
        if self.transport == "basic" and scheme != "https":
            raise self._config_error(
                "Basic authentication over plain HTTP would send the password in clear text; refused",
                "use https = true (port 5986) with Basic, or transport = \"ntlm\", which encrypts over HTTP")
        if self.transport == "certificate":
            if scheme != "https":
                raise self._config_error("certificate authentication needs HTTPS", "set [winrm] https = true")
            for label, value in (("cert_pem", self.cert_pem), ("cert_key_pem", self.cert_key_pem)):
                if not value or not os.path.isfile(value):
                    raise self._config_error(f"certificate authentication needs {label}, and {value!r} is not a file",
                                             f"set [winrm] {label} to the client certificate's PEM file")
        elif not self.username:
            raise self._config_error("no WinRM user name", "set [winrm] username ('DOMAIN\\user')")
        if self.transport == "kerberos":
            self._validate_kerberos()
        if self.server_cert_validation not in ("validate", "ignore"):
            raise self._config_error(f"server_cert_validation {self.server_cert_validation!r} is not valid",
                                     "use \"validate\" (default) or \"ignore\"")
        if self.ca_cert is not None and not os.path.exists(self.ca_cert):
            raise self._config_error(f"the CA file {self.ca_cert!r} does not exist",
                                     "set [winrm] ca_cert to the PEM file of the CA that signed the node's certificate")

    def _validate_kerberos(self) -> None:
        from octotui.remote import kerberos

        if kerberos.is_ip(self.spn_host):
            raise self._config_error(
                f"Kerberos cannot authenticate to an IP address ({self.spn_host}): a service principal names a host",
                "give the node's DNS name as host (the endpoint may still use the address), or use "
                "transport = \"ntlm\"")
        if "." not in self.spn_host:
            raise self._config_error(
                f"Kerberos needs the node's fully qualified name, not {self.spn_host!r}",
                "give host as the node's DNS name, e.g. octo1.corp.example.com")
        try:
            kerberos.require_gssapi()
        except kerberos.KerberosFailure as exc:
            raise self._config_error(exc.message, exc.hint) from exc

    def _kerberos_auth(self) -> Any:
        from octotui.home import octotui_home
        from octotui.remote import kerberos

        realm = kerberos.realm_for(self.spn_host, self.dns_domain)
        if self.kdc:
            try:
                kerberos.use_kdc(realm, self.kdc, octotui_home() / "kerberos")
            except OSError as exc:
                raise self._config_error(f"cannot write the Kerberos configuration: {exc}",
                                         "check that OCTOTUI_HOME is writable") from exc
        return kerberos.KerberosAuth(self.username or "", self._password, self.spn_host, realm=realm, kdc=self.kdc)

    def _build_protocol(self) -> Any:
        # ca_trust_path=None (no CA from the environment) when no ca_cert: validation uses certifi's bundle.
        kwargs: dict[str, Any] = {
            "transport": self.transport, "ca_trust_path": self.ca_cert,
            "server_cert_validation": self.server_cert_validation,
        }
        if self.transport == "certificate":
            kwargs.update(cert_pem=self.cert_pem, cert_key_pem=self.cert_key_pem)
        try:
            protocol = Protocol(
                endpoint=self.endpoint, username=self.username, password=self._password,
                operation_timeout_sec=self.operation_timeout, read_timeout_sec=self.read_timeout,
                message_encryption="auto", proxy=None, **kwargs)
        except (WinRMError, InvalidCredentialsError, ValueError) as exc:
            raise self._config_error(f"cannot set up the WinRM client: {exc}", transport_hint(self.transport)) \
                from exc
        transport: Any = protocol.transport
        if self.transport == "kerberos":
            from octotui.remote import kerberos

            auth = self._kerberos_auth()
            build = transport.build_session
            transport.build_session = lambda: transport.session or kerberos.install(transport, build, auth)
        original = transport._send_message_request
        counter = self._count

        def send(session: requests.Session, prepared: requests.PreparedRequest) -> requests.Response:
            if not isinstance(session.get_adapter(self.endpoint), _CountingAdapter):
                adapter = _CountingAdapter(counter, self.connect_timeout)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
            response: requests.Response = original(session, prepared)
            return response

        transport._send_message_request = send
        return protocol

    def _count(self) -> None:
        self.round_trips += 1

    # --- life cycle -------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._shell is not None

    def open(self) -> None:
        """Connect and open the shell now (otherwise the first command does it). Safe to repeat."""
        with self._guard():
            self._ensure_shell()

    def _ensure_shell(self) -> None:
        if self._shell is not None:
            return
        for attempt in (1, 2):
            if self._protocol is None:
                self._protocol = self._build_protocol()
            try:
                self._shell = self._call(lambda: self._protocol.open_shell(codepage=self.codepage,
                                                                           env_vars=self.env or None))
                return
            except RemoteError as exc:
                self._drop()
                if exc.reconnect and attempt == 1:
                    continue  # opening a shell changes nothing on the node: always safe to repeat
                raise

    def _drop(self) -> None:
        """Forget the connection and the shell (the node ends an abandoned shell after its idle timeout, or
        ``reap`` deletes it sooner)."""
        protocol, shell, self._protocol, self._shell = self._protocol, self._shell, None, None
        if shell is not None and shell not in self._abandoned:
            self._abandoned.append(shell)
        if protocol is not None:
            with contextlib.suppress(Exception):
                protocol.transport.close_session()

    def close(self) -> None:
        """Delete the shell and close the connection; errors are ignored (the node may be gone)."""
        with self._guard():
            protocol, shell = self._protocol, self._shell
            if protocol is not None and shell is not None:
                protocol.transport.read_timeout_sec = min(self.read_timeout, 15)
                with contextlib.suppress(Exception):
                    protocol.close_shell(shell, close_session=True)
                self._shell = None
            self._drop()

    @property
    def abandoned_shells(self) -> list[str]:
        """Shells this session gave up on after a transport fault, which may still run a command."""
        return list(self._abandoned)

    def reap(self, shells: Sequence[str]) -> int:
        """Delete ``shells`` (left behind by another session to this node) over this session's connection:
        WinRS then ends their processes. Best effort: a shell the node no longer knows (it rebooted, or
        idled it out) is already gone. Returns how many the node deleted."""
        deleted = 0
        with self._guard():
            if not shells:
                return 0
            self._ensure_shell()
            protocol = self._protocol
            saved = protocol.transport.read_timeout_sec
            protocol.transport.read_timeout_sec = min(saved, 15)
            try:
                for shell in shells:
                    try:
                        self._call(partial(protocol.close_shell, shell, close_session=False))
                        deleted += 1
                    except RemoteError as exc:
                        if exc.reconnect and exc.fault_code != FAULT_INVALID_SELECTORS:
                            self._drop()  # this connection broke too: the next command reconnects
                            break
                    except AssertionError:
                        deleted += 1  # pywinrm checks RelatesTo on the reply; the Delete itself went through
            finally:
                if self._protocol is protocol:
                    protocol.transport.read_timeout_sec = saved
        return deleted

    def __enter__(self) -> NodeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    class _Guard:
        def __init__(self, lock: threading.Lock, node: str) -> None:
            self._lock = lock
            self._node = node

        def __enter__(self) -> None:
            if not self._lock.acquire(blocking=False):
                raise RuntimeError(f"NodeSession for {self._node} is already in use: use one session per thread")

        def __exit__(self, *exc: object) -> None:
            self._lock.release()

    def _guard(self) -> NodeSession._Guard:
        return NodeSession._Guard(self._busy, self.node)

    # --- running commands -------------------------------------------------------------------------------
    def run(self, command_line: str, *, stdin: bytes | None = None, deadline_s: float = 600,
            on_output: OutputCallback | None = None, idempotent: bool = False) -> CommandResult:
        """Run one cmd.exe command line in the node's shell and wait for it, at most ``deadline_s`` seconds
        (then it is terminated and ``RemoteError(kind="timeout")`` raised). ``on_output(stream, bytes)`` gets
        stdout/stderr as each Receive brings it. ``stdin`` is sent in pieces with End on the last.

        A non-zero exit code is not an error here: it is in the result. ``result.round_trips`` counts the
        HTTP requests of this call, including opening the shell or reconnecting when it had to."""
        if "\0" in command_line or "\n" in command_line or "\r" in command_line:
            raise ValueError("a command line cannot hold NUL or line breaks")
        with self._guard():
            before = self.round_trips
            attempts = 2 if idempotent else 1
            for attempt in range(1, attempts + 1):
                self._ensure_shell()
                try:
                    result = self._run_once(command_line, stdin, time.monotonic() + deadline_s, deadline_s, on_output)
                    result.round_trips = self.round_trips - before
                    return result
                except RemoteError as exc:
                    if exc.reconnect:
                        self._drop()
                        if attempt < attempts:
                            self.reconnects += 1
                            continue
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    def run_argv(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        """``run`` for an argv list, quoted by ``octotui.windows.quoting.cmd_line`` (CRT and cmd.exe rules)."""
        from octotui.windows.octopus import masked_argv
        from octotui.windows.quoting import cmd_line

        secret = [i for i, (a, m) in enumerate(zip(argv, masked_argv(argv), strict=True)) if a != m]
        return self.run(cmd_line(list(argv), secret=secret), **kwargs)

    def _run_once(self, command_line: str, stdin: bytes | None, deadline: float, deadline_s: float,
                  on_output: OutputCallback | None) -> CommandResult:
        protocol, shell = self._protocol, self._shell
        assert protocol is not None and shell is not None
        before = self.round_trips
        out: list[bytes] = []
        err: list[bytes] = []
        command_id: str | None = None
        healthy = True
        try:
            command_id = self._call(lambda: protocol.run_command(shell, command_line, console_mode_stdin=stdin is None))
            if stdin is not None:
                self._send_stdin(protocol, shell, command_id, stdin, deadline, deadline_s)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._deadline_error(deadline_s)
                protocol.operation_timeout_sec = max(1, min(self.operation_timeout, math.ceil(remaining)))
                try:
                    stdout, stderr, code, done = self._call(
                        lambda: protocol.get_command_output_raw(shell, command_id), pass_timeouts=True)
                except WinRMOperationTimeoutError:
                    continue  # no output yet: ask again (until our own deadline)
                finally:
                    protocol.operation_timeout_sec = self.operation_timeout
                for name, data, sink in (("stdout", stdout, out), ("stderr", stderr, err)):
                    if data:
                        sink.append(data)
                        if on_output is not None:
                            on_output(name, data)
                if done:
                    break
        except RemoteError as exc:
            healthy = not exc.reconnect
            raise
        finally:
            if command_id is not None and healthy:
                self._terminate(protocol, shell, command_id)
        return CommandResult(code, b"".join(out), b"".join(err), self.round_trips - before)

    def _send_stdin(self, protocol: Any, shell: str, command_id: str, data: bytes, deadline: float,
                    deadline_s: float) -> None:
        chunks = [data[i:i + STDIN_CHUNK] for i in range(0, len(data), STDIN_CHUNK)] or [b""]
        for index, chunk in enumerate(chunks):
            if time.monotonic() > deadline:
                raise self._deadline_error(deadline_s)
            last = index == len(chunks) - 1
            send: Callable[[], None] = partial(protocol.send_command_input, shell, command_id, chunk, end=last)
            # A TimedOut on Send is not a failure: Windows still takes the input (Ansible warns and goes on).
            with contextlib.suppress(WinRMOperationTimeoutError):
                self._call(send, pass_timeouts=True)

    def _terminate(self, protocol: Any, shell: str, command_id: str) -> None:
        """Signal terminate: ends the process if it still runs and frees the command on the node. A failure
        here does not spoil a finished command's result, but the connection is no longer trusted."""
        saved = protocol.transport.read_timeout_sec
        protocol.transport.read_timeout_sec = min(saved, 20)
        try:
            self._call(lambda: protocol.cleanup_command(shell, command_id))
        except RemoteError as exc:
            if exc.fault_code != FAULT_INVALID_SELECTORS:  # already gone is fine
                self._drop()
        except AssertionError:
            pass  # pywinrm asserts RelatesTo; a mismatch is not worth failing a command for
        finally:
            protocol.transport.read_timeout_sec = saved

    def _deadline_error(self, deadline_s: float) -> RemoteError:
        # Not transient: the node answered all along; the command itself took too long.
        return RemoteError(self.node, "timeout", f"the command did not finish within {deadline_s:g} s and was "
                           "terminated", "raise the step's deadline if the node is just slow, or look at what "
                           "the command waits for (its output so far is in the step log)", retryable=True)

    # --- scripts ----------------------------------------------------------------------------------------
    def run_script(self, name: str, params: Mapping[str, Any], *, deadline_s: float = 300,
                   on_output: OutputCallback | None = None, idempotent: bool = False) -> dict[str, Any]:
        """Run ``assets/ps/<name>.ps1`` through the bootstrap with ``params`` on stdin and return its result
        object. Exit 0 returns the result even when it says ``"ok": false`` (a check's negative finding);
        any other exit raises ``ScriptError`` with the script's stage and error. ``on_output`` sees the raw
        stdout, result line included, so a journal must redact it like any other output."""
        payload = script_stdin(name, params)
        res = self.run(bootstrap_command_line(), stdin=payload, deadline_s=deadline_s, on_output=on_output,
                       idempotent=idempotent)
        result = find_result_line(res.stdout_text)
        stderr = res.stderr_text.strip()
        if res.exit_code == 0 and result is not None:
            return result
        if result is not None:
            raise ScriptError(self.node, name, str(result.get("stage") or "unknown"),
                              str(result.get("error") or f"exit code {res.exit_code}"), res.exit_code, result, stderr)
        detail = stderr.splitlines()[-1] if stderr else f"no result line (exit code {res.exit_code})"
        raise ScriptError(self.node, name, "powershell", detail, res.exit_code, None, stderr)

    def become(self, username: str, password: str, command_line: str, *, deadline_s: float = 1800,
               env: Mapping[str, str] | None = None, cwd: str | None = None,
               on_output: OutputCallback | None = None, stdin: str | None = None) -> CommandResult:
        """Run ``command_line`` as another account (a one-shot scheduled task with its password, via the
        ``invoke-as-user`` script): how steps that need SQL Server or a share with Windows credentials run
        without CredSSP. The password goes on stdin only. Output comes back when the command ends; it is
        given to ``on_output`` then. A refused logon raises ``ScriptError`` (stage ``register``, with
        ``result["hresult"]``); a command that outlives ``deadline_s`` raises ``RemoteError(kind="timeout")``."""
        params: dict[str, Any] = {"username": username, "password": password, "command_line": command_line,
                                  "timeout_s": max(1, int(deadline_s)), "env": dict(env or {})}
        if cwd:
            params["cwd"] = cwd
        if stdin:
            params["stdin"] = stdin
        before = self.round_trips
        try:
            result = self.run_script("invoke-as-user", params, deadline_s=deadline_s + 60)
        except ScriptError as exc:
            if exc.result.get("timed_out"):
                raise RemoteError(self.node, "timeout", f"the command run as {username} did not finish within "
                                  f"{deadline_s:g} s; its task was stopped", "raise the step's deadline",
                                  retryable=True) from exc
            raise
        stdout = str(result.get("stdout") or "").encode("utf-8")
        stderr = str(result.get("stderr") or "").encode("utf-8")
        if on_output is not None:
            if stdout:
                on_output("stdout", stdout)
            if stderr:
                on_output("stderr", stderr)
        code = result.get("exit_code")
        return CommandResult(int(code) if isinstance(code, int) else -1, stdout, stderr, self.round_trips - before)

    def script_as(self, username: str, password: str, name: str, params: Mapping[str, Any], *,
                  deadline_s: float = 300) -> dict[str, Any]:
        """Run a script from assets/ps as another account: the bootstrap line through ``become``, with the
        script and its parameters as the task's stdin. For checks that must reach SQL Server or a share as
        an account that carries credentials (the double hop)."""
        res = self.become(username, password, bootstrap_command_line(), deadline_s=deadline_s,
                          stdin=script_stdin(name, params).decode("ascii"))
        result = find_result_line(res.stdout_text)
        if result is None:
            stderr = clixml_to_text(res.stderr_text).strip()
            raise ScriptError(self.node, name, "powershell", stderr.splitlines()[-1] if stderr else
                              f"no result line (exit code {res.exit_code})", res.exit_code, None, stderr)
        return result

    # --- error mapping ----------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], Any], *, pass_timeouts: bool = False) -> Any:
        try:
            return fn()
        except WinRMOperationTimeoutError:
            if pass_timeouts:
                raise
            raise RemoteError(self.node, "timeout", "the node did not answer within the WS-Man operation timeout",
                              "the node may be overloaded or restarting; check that it is up", retryable=True,
                              transient=True) from None
        except Exception as exc:
            mapped = map_error(exc, self.node, encrypted=self._encrypted(), transport=self.transport,
                               endpoint=self.endpoint, read_timeout=self.read_timeout)
            if mapped is None:
                raise
            raise mapped from exc

    def _encrypted(self) -> bool:
        protocol = self._protocol
        return bool(protocol is not None and getattr(protocol.transport, "encryption", None))
