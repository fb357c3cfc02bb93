"""WinRS, the Windows Remote Shell behind the cmd resource URI: shells, the commands in them, and their pipes.

A shell is per user and outlives TCP connections (pywinrm reconnects and keeps using it); a command lives
until the client signals it, not merely until it exits, because pywinrm sends a terminate Signal after
reading ``Done`` and expects that to succeed. Receive is a long poll: it answers as soon as output or the
end of the command is there, and with a TimedOut fault when OperationTimeout passes with neither.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from octotui.lab.identity import Identity, same_account
from octotui.lab.runtime import NodeRuntime, RunningProcess
from octotui.lab.winrm import soap
from octotui.lab.winrm.soap import WsmanRequest, escape, local

#: Windows' default ``winrm/config/winrs/MaxShellsPerUser``.
MAX_SHELLS_PER_USER = 30
#: Windows' default ``IdleTimeout`` (7200000 ms), which the Create reply reports as ``PT7200.000S``.
DEFAULT_IDLE_TIMEOUT_S = 7200.0
#: After the first output of a command, wait this long for more (or for its end) before answering, so that
#: a short command comes back in one Receive with its exit code rather than in two.
COALESCE_S = 0.02
#: Room kept in a Receive reply for the envelope, the stream elements and the command state.
RECEIVE_RESERVE = 2048

SIGNAL_PREFIX = soap.NS_SHELL.lower() + "/signal/"


@dataclass
class Caller:
    """Who sent a request and from where, as the HTTP layer established it."""

    identity: Identity
    delegated_password: str | None
    client_ip: str
    endpoint_url: str


@dataclass
class Command:
    id: str
    process: RunningProcess


@dataclass
class Shell:
    id: str
    owner: Identity
    delegated_password: str | None
    env: dict[str, str]
    cwd: str | None
    codepage: int
    skip_cmd_shell: bool
    idle_timeout: float
    input_streams: str
    output_streams: str
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, Command] = field(default_factory=dict)

    def terminate_all(self) -> None:
        for cmd in self.commands.values():
            cmd.process.terminate()
        self.commands.clear()


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if local(c.tag) == name:
            return c
    return None


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if local(c.tag) == name]


def _duration_text(seconds: float) -> str:
    whole = int(seconds)
    return f"P{whole // 86400}DT{whole % 86400 // 3600}H{whole % 3600 // 60}M{whole % 60}S"


class WinRS:
    """The shells of one node; every public method answers one WS-Man action or raises WsmanFault."""

    def __init__(self, runtime: NodeRuntime, *, max_shells_per_user: int = MAX_SHELLS_PER_USER,
                 coalesce_s: float = COALESCE_S) -> None:
        self.runtime = runtime
        self.max_shells_per_user = max_shells_per_user
        self.coalesce_s = coalesce_s
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[WsmanRequest, Caller], str]] = {
            soap.ACTION_CREATE.lower(): self.create,
            soap.ACTION_DELETE.lower(): self.delete,
            soap.ACTION_COMMAND.lower(): self.command,
            soap.ACTION_SEND.lower(): self.send,
            soap.ACTION_RECEIVE.lower(): self.receive,
            soap.ACTION_SIGNAL.lower(): self.signal,
        }

    def handle(self, req: WsmanRequest, caller: Caller) -> bytes:
        handler = self._handlers.get(req.action.lower())
        if handler is None:
            raise soap.action_not_supported(req.action)
        body = handler(req, caller)
        return soap.envelope(req.action + "Response", req.message_id, body)

    def reset(self) -> None:
        """What a reboot does to WinRS: every process ends and every shell is forgotten."""
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            shell.terminate_all()

    @property
    def shell_count(self) -> int:
        with self._lock:
            return len(self._shells)

    # --- lookup ----------------------------------------------------------------------------------
    def _shell(self, req: WsmanRequest, caller: Caller) -> Shell:
        shell_id = req.selectors.get("shellid", "")
        now = time.monotonic()
        with self._lock:
            shell = self._shells.get(shell_id.upper())
            if shell is not None and now - shell.last_used > shell.idle_timeout:
                del self._shells[shell.id]
                shell.terminate_all()
                shell = None
        # Another user's shell is as invisible as one that does not exist.
        if shell is None or not same_account(shell.owner.account, caller.identity.account):
            raise soap.unknown_shell(shell_id)
        shell.last_used = now
        return shell

    @staticmethod
    def _command(shell: Shell, command_id: str | None) -> Command:
        if not command_id:
            raise soap.invalid_parameter()
        cmd = shell.commands.get(command_id.upper())
        if cmd is None:
            raise soap.unknown_command()
        return cmd

    def _purge_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [s for s in self._shells.values() if now - s.last_used > s.idle_timeout]
            for s in stale:
                del self._shells[s.id]
        for s in stale:
            s.terminate_all()

    # --- actions ---------------------------------------------------------------------------------
    def create(self, req: WsmanRequest, caller: Caller) -> str:
        body = req.body
        if body is None or local(body.tag) != "Shell":
            raise soap.schema_error()
        idle = DEFAULT_IDLE_TIMEOUT_S
        idle_el = _child(body, "IdleTimeOut")
        if idle_el is not None:
            parsed = soap.parse_duration(idle_el.text or "")
            if parsed is None:
                raise soap.schema_error()
            idle = parsed
        env: dict[str, str] = {}
        env_el = _child(body, "Environment")
        if env_el is not None:
            for var in _children(env_el, "Variable"):
                name = var.get("Name")
                if not name:
                    raise soap.invalid_parameter()
                env[name] = var.text or ""
        cwd_el = _child(body, "WorkingDirectory")
        cwd = ((cwd_el.text or "").strip() or None) if cwd_el is not None else None
        codepage_text = req.options.get("winrs_codepage", "437")
        try:
            codepage = int(codepage_text)
        except ValueError:
            raise soap.invalid_parameter() from None
        in_el, out_el = _child(body, "InputStreams"), _child(body, "OutputStreams")
        shell = Shell(
            id=soap.new_guid(), owner=caller.identity, delegated_password=caller.delegated_password,
            env=env, cwd=cwd, codepage=codepage,
            skip_cmd_shell=soap.option_true(req.options.get("winrs_skip_cmd_shell")),
            idle_timeout=idle,
            input_streams=(in_el.text or "").strip() if in_el is not None else "stdin",
            output_streams=(out_el.text or "").strip() if out_el is not None else "stdout stderr",
        )
        self._purge_idle()
        with self._lock:
            owned = sum(1 for s in self._shells.values()
                        if same_account(s.owner.account, caller.identity.account))
            if self.max_shells_per_user and owned >= self.max_shells_per_user:
                raise soap.max_shells(self.max_shells_per_user)
            self._shells[shell.id] = shell
        world = self.runtime.world
        with world.lock:
            self.runtime.node.shells_opened += 1
        return (
            f"<x:ResourceCreated><a:Address>{escape(caller.endpoint_url)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{soap.RESOURCE_CMD}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell.id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            f'</x:ResourceCreated><rsp:Shell xmlns:rsp="{soap.NS_SHELL}">'
            f"<rsp:ShellId>{shell.id}</rsp:ShellId>"
            f"<rsp:ResourceUri>{soap.RESOURCE_CMD}</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(caller.identity.account)}</rsp:Owner>"
            f"<rsp:ClientIP>{escape(caller.client_ip)}</rsp:ClientIP>"
            f"<rsp:IdleTimeOut>PT{idle:.3f}S</rsp:IdleTimeOut>"
            f"<rsp:InputStreams>{escape(shell.input_streams)}</rsp:InputStreams>"
            f"<rsp:OutputStreams>{escape(shell.output_streams)}</rsp:OutputStreams>"
            f"<rsp:ShellRunTime>{_duration_text(0)}</rsp:ShellRunTime>"
            f"<rsp:ShellInactivity>{_duration_text(0)}</rsp:ShellInactivity></rsp:Shell>"
        )

    def delete(self, req: WsmanRequest, caller: Caller) -> str:
        shell = self._shell(req, caller)
        with self._lock:
            self._shells.pop(shell.id, None)
        shell.terminate_all()
        return ""

    def command(self, req: WsmanRequest, caller: Caller) -> str:
        shell = self._shell(req, caller)
        body = req.body
        if body is None or local(body.tag) != "CommandLine":
            raise soap.invalid_parameter()
        cmd_el = _child(body, "Command")
        if cmd_el is None or not (cmd_el.text or "").strip():
            raise soap.invalid_parameter()
        # pywinrm sends all arguments in one element, pypsrp one element each: WinRS joins them with spaces.
        line = " ".join([cmd_el.text or ""] + [a.text or "" for a in _children(body, "Arguments")])
        skip = shell.skip_cmd_shell
        if "winrs_skip_cmd_shell" in req.options:
            skip = soap.option_true(req.options["winrs_skip_cmd_shell"])
        if shell.cwd is not None:
            with self.runtime.world.lock:
                exists = self.runtime.node.fs.is_dir(shell.cwd)
            if not exists:
                raise soap.directory_invalid()
        process = self.runtime.spawn(
            line, shell.owner, env_extra=shell.env, codepage=shell.codepage, cwd=shell.cwd,
            skip_cmd_shell=skip, delegated_password=shell.delegated_password,
        )
        cmd = Command(id=soap.new_guid(), process=process)
        shell.commands[cmd.id] = cmd
        return f"<rsp:CommandResponse><rsp:CommandId>{cmd.id}</rsp:CommandId></rsp:CommandResponse>"

    def send(self, req: WsmanRequest, caller: Caller) -> str:
        shell = self._shell(req, caller)
        body = req.body
        if body is None or local(body.tag) != "Send":
            raise soap.invalid_parameter()
        streams = _children(body, "Stream")
        if not streams:
            raise soap.invalid_parameter()
        for stream in streams:
            if (stream.get("Name") or "").lower() != "stdin":
                raise soap.invalid_parameter()
            cmd = self._command(shell, stream.get("CommandId"))
            try:
                data = base64.b64decode(stream.text or "", validate=True)
            except (binascii.Error, ValueError):
                raise soap.invalid_parameter() from None
            cmd.process.stdin.feed(data, (stream.get("End") or "").lower() == "true")
        return "<rsp:SendResponse/>"

    def receive(self, req: WsmanRequest, caller: Caller) -> str:
        shell = self._shell(req, caller)
        body = req.body
        desired = _child(body, "DesiredStream") if body is not None else None
        if desired is None:
            raise soap.invalid_parameter()
        cmd = self._command(shell, desired.get("CommandId"))
        budget = max(3, (req.max_envelope_size - RECEIVE_RESERVE) * 3 // 4 // 3 * 3)
        output = cmd.process.output
        out, err, done, code = output.drain(budget, req.operation_timeout)
        if not (out or err or done):
            raise soap.timed_out()
        outs, errs = [out], [err]
        used = len(out) + len(err)
        deadline = time.monotonic() + self.coalesce_s
        while not done and used < budget:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            out, err, done, code = output.drain(budget - used, remaining)
            outs.append(out)
            errs.append(err)
            used += len(out) + len(err)
        shell.last_used = time.monotonic()
        return self._receive_body(cmd.id, b"".join(outs), b"".join(errs), done, code)

    @staticmethod
    def _receive_body(cmd_id: str, out: bytes, err: bytes, done: bool, code: int | None) -> str:
        parts = ["<rsp:ReceiveResponse>"]
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                parts.append(f'<rsp:Stream Name="{name}" CommandId="{cmd_id}">'
                             f"{base64.b64encode(data).decode('ascii')}</rsp:Stream>")
        if done:
            parts.append(f'<rsp:Stream Name="stdout" CommandId="{cmd_id}" End="true"></rsp:Stream>'
                         f'<rsp:Stream Name="stderr" CommandId="{cmd_id}" End="true"></rsp:Stream>'
                         f'<rsp:CommandState CommandId="{cmd_id}" State="{soap.STATE_DONE}">'
                         f"<rsp:ExitCode>{code if code is not None else 0}</rsp:ExitCode></rsp:CommandState>")
        else:
            parts.append(f'<rsp:CommandState CommandId="{cmd_id}" State="{soap.STATE_RUNNING}">'
                         "</rsp:CommandState>")
        parts.append("</rsp:ReceiveResponse>")
        return "".join(parts)

    def signal(self, req: WsmanRequest, caller: Caller) -> str:
        shell = self._shell(req, caller)
        body = req.body
        if body is None or local(body.tag) != "Signal":
            raise soap.invalid_parameter()
        cmd = self._command(shell, body.get("CommandId"))
        code_el = _child(body, "Code")
        code = (code_el.text or "").strip().lower() if code_el is not None else ""
        if not code.startswith(SIGNAL_PREFIX):
            raise soap.invalid_parameter()
        kind = code[len(SIGNAL_PREFIX):]
        if kind == "terminate":
            cmd.process.terminate()
            shell.commands.pop(cmd.id, None)
        elif kind in ("ctrl_c", "ctrl_break"):
            # The process ends, but the command stays readable: a Receive still reports its Done state.
            cmd.process.terminate()
        else:
            raise soap.invalid_parameter()
        return "<rsp:SignalResponse/>"

