"""A live simulated node: its state plus the machinery that runs programs and services on it.

``NodeState`` is what persists; ``NodeRuntime`` is what acts. WinRS asks the runtime to spawn a command
line; cmd.exe (``cmdexe``) asks it to launch programs; programs ask it to start and stop services. Every
process creation lands in the node's process log, as Windows' audit log would record it.
"""

from __future__ import annotations

import ntpath
import threading
import time
from typing import Protocol

from octotui.lab import cmdexe
from octotui.lab.identity import Identity
from octotui.lab.process import (
    Cancelled,
    Env,
    OutputBuffer,
    ProcessContext,
    Program,
    StdinPipe,
)
from octotui.lab.settings import LabSettings
from octotui.lab.state import NodeState, ProcessRecord, Service, World
from octotui.lab.winargs import split_program_name, split_windows_args

#: First bytes of a file on a node's disk that stands for an executable the lab simulates.
PROGRAM_MARKER = b"#lab-program:"

SYSTEM32 = "C:\\Windows\\System32"


class ServiceHandler(Protocol):
    """What runs inside a service process when it starts and stops (e.g. the Octopus Server service)."""

    def start(self, runtime: NodeRuntime, service: Service) -> str | None:
        """Start the service; return None on success or the error text the service control manager reports."""

    def stop(self, runtime: NodeRuntime, service: Service) -> None: ...


class RunningProcess:
    """A command started through WinRS: a thread running it, with stdin fed and output drained by WinRS."""

    def __init__(self, runtime: NodeRuntime, command_line: str, ctx: ProcessContext,
                 output: OutputBuffer, skip_cmd_shell: bool) -> None:
        self.runtime = runtime
        self.command_line = command_line
        self.ctx = ctx
        self.output = output
        self.stdin = ctx.stdin
        self._skip_cmd_shell = skip_cmd_shell
        self._thread = threading.Thread(target=self._run, name=f"{runtime.node.name}-proc", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        code = 1
        try:
            if self._skip_cmd_shell:
                code = self.runtime.run_program_line(self.ctx, self.command_line)
            else:
                code = self.runtime.run_cmd_shell(self.ctx, self.command_line)
        except Cancelled:
            code = -1073741510  # STATUS_CONTROL_C_EXIT, as a terminated console process reports
        except Exception as exc:  # a lab bug must not hang the client: report it like a crash
            self.ctx.eprintln(f"lab: unhandled error in simulated process: {exc!r}")
            code = 100
        finally:
            self.output.finish(code)

    def terminate(self) -> None:
        self.ctx.cancel.set()
        self.stdin.close()


class NodeRuntime:
    """Runs programs and services on one simulated node."""

    def __init__(self, world: World, node: NodeState, settings: LabSettings,
                 programs: dict[str, Program], services: dict[str, ServiceHandler]) -> None:
        self.world = world
        self.node = node
        self.settings = settings
        self.programs = programs
        self.service_handlers = services

    # --- environment -----------------------------------------------------------------------------
    def base_env(self, identity: Identity) -> Env:
        user = identity.account.rsplit("\\", 1)[-1]
        domain = identity.account.split("\\", 1)[0] if "\\" in identity.account else self.node.name
        return Env({
            "ALLUSERSPROFILE": "C:\\ProgramData",
            "APPDATA": f"C:\\Users\\{user}\\AppData\\Roaming",
            "COMPUTERNAME": self.node.name,
            "ComSpec": f"{SYSTEM32}\\cmd.exe",
            "LOCALAPPDATA": f"C:\\Users\\{user}\\AppData\\Local",
            "NUMBER_OF_PROCESSORS": "4",
            "OS": "Windows_NT",
            "Path": f"{SYSTEM32};C:\\Windows;{SYSTEM32}\\WindowsPowerShell\\v1.0\\;"
                    "C:\\ProgramData\\chocolatey\\bin",
            "PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC;.PS1",
            "PROCESSOR_ARCHITECTURE": "AMD64",
            "ProgramData": "C:\\ProgramData",
            "ProgramFiles": "C:\\Program Files",
            "ProgramFiles(x86)": "C:\\Program Files (x86)",
            "PROMPT": "$P$G",
            "PUBLIC": "C:\\Users\\Public",
            "SystemDrive": "C:",
            "SystemRoot": "C:\\Windows",
            "TEMP": f"C:\\Users\\{user}\\AppData\\Local\\Temp",
            "TMP": f"C:\\Users\\{user}\\AppData\\Local\\Temp",
            "USERDNSDOMAIN": self.world.directory.dns_name.upper(),
            "USERDOMAIN": domain,
            "USERNAME": user,
            "USERPROFILE": f"C:\\Users\\{user}",
            "windir": "C:\\Windows",
        })

    def new_context(self, identity: Identity, *, env_extra: dict[str, str] | None = None,
                    codepage: int = 437, cwd: str | None = None,
                    delegated_password: str | None = None) -> tuple[ProcessContext, OutputBuffer]:
        env = self.base_env(identity)
        for k, v in (env_extra or {}).items():
            env[k] = v
        output = OutputBuffer()
        user = identity.account.rsplit("\\", 1)[-1]
        ctx = ProcessContext(
            runtime=self, identity=identity, env=env, cwd=cwd or f"C:\\Users\\{user}", codepage=codepage,
            stdin=StdinPipe(), stdout=output.stdout, stderr=output.stderr,
            delegated_password=delegated_password,
        )
        with self.world.lock:
            self.node.fs.makedirs(ctx.env["TEMP"])
        return ctx, output

    def spawn(self, command_line: str, identity: Identity, *, env_extra: dict[str, str] | None = None,
              codepage: int = 437, cwd: str | None = None, skip_cmd_shell: bool = False,
              delegated_password: str | None = None) -> RunningProcess:
        """Start a WinRS command; ``skip_cmd_shell`` runs the program directly instead of via cmd.exe."""
        ctx, output = self.new_context(identity, env_extra=env_extra, codepage=codepage, cwd=cwd,
                                       delegated_password=delegated_password)
        proc = RunningProcess(self, command_line, ctx, output, skip_cmd_shell)
        proc.start()
        return proc

    # --- processes -------------------------------------------------------------------------------
    def log_process(self, command_line: str, account: str) -> ProcessRecord:
        rec = ProcessRecord(command_line=command_line, account=account)
        with self.world.lock:
            self.node.process_log.append(rec)
        return rec

    def run_cmd_shell(self, ctx: ProcessContext, command_line: str) -> int:
        """``cmd.exe /c LINE``, as WinRS runs a command unless told to skip the shell."""
        rec = self.log_process(f"{SYSTEM32}\\cmd.exe /c {command_line}", ctx.identity.account)
        code = 1
        try:
            code = cmdexe.run_line(ctx, command_line)
            return code
        finally:
            rec.exit_code, rec.ended = code, time.time()

    def resolve_program(self, name: str, ctx: ProcessContext) -> tuple[str, Program] | None:
        """Find an executable the way CreateProcess plus cmd.exe's PATH/PATHEXT search would."""
        candidates: list[str] = []
        exts = [""] if ntpath.splitext(name)[1] else [".exe", ".com", ".bat", ".cmd", ""]
        if "\\" in name or "/" in name or ":" in name:
            base = name if ntpath.isabs(name) else ntpath.join(ctx.cwd, name)
            candidates = [base + e for e in exts]
        else:
            dirs = [ctx.cwd, *[d for d in ctx.env.get("Path", "").split(";") if d]]
            candidates = [ntpath.join(d, name + e) for d in dirs for e in exts]
        with self.world.lock:
            for path in candidates:
                if self.node.fs.is_file(path):
                    data = self.node.fs.read(path)
                    if data.startswith(PROGRAM_MARKER):
                        prog_name = data[len(PROGRAM_MARKER):].split(b"\n", 1)[0].decode().strip()
                        prog = self.programs.get(prog_name)
                        if prog is not None:
                            return self.node.fs.real_path(path), prog
        return None

    def run_program_line(self, ctx: ProcessContext, command_line: str, argv0_hint: str | None = None) -> int:
        """CreateProcess on a full command line: find argv[0], log the process, run it.

        Returns 9009 with cmd.exe's message when the program cannot be found, as WinRS users see it.
        """
        program_name, _rest = split_program_name(command_line)
        found = self.resolve_program(program_name, ctx)
        if found is None:
            ctx.eprintln(f"'{program_name}' is not recognized as an internal or external command,\n"
                         "operable program or batch file.")
            return 9009
        _path, program = found
        self.faults_before_program(ctx, command_line)
        rec = self.log_process(command_line, ctx.identity.account)
        code = 1
        try:
            code = program(ctx, split_windows_args(command_line), command_line)
            return code
        finally:
            rec.exit_code, rec.ended = code, time.time()

    def faults_before_program(self, ctx: ProcessContext, command_line: str) -> None:
        faults = self.settings.faults
        if faults is not None:
            delay = faults.slow_command_delay(self.node.name, command_line)
            if delay > 0:
                ctx.sleep(delay)

    # --- services --------------------------------------------------------------------------------
    def handler_for(self, service: Service) -> ServiceHandler | None:
        for marker, handler in self.service_handlers.items():
            if marker.lower() in service.binary_path.lower():
                return handler
        return None

    def start_service(self, name: str) -> str | None:
        """Start a service as the service control manager would; None, or the error text."""
        with self.world.lock:
            svc = self.node.service(name)
            if svc is None:
                return f"The specified service does not exist as an installed service. ({name})"
            if svc.state == "Running":
                return None
            handler = self.handler_for(svc)
            if handler is not None:
                error = handler.start(self, svc)
                if error is not None:
                    return error
            svc.state = "Running"
        return None

    def stop_service(self, name: str) -> None:
        with self.world.lock:
            svc = self.node.service(name)
            if svc is None or svc.state != "Running":
                return
            handler = self.handler_for(svc)
            if handler is not None:
                handler.stop(self, svc)
            svc.state = "Stopped"

    def boot(self) -> None:
        """Start every Automatic service, as Windows does when the node starts (or comes back from a reboot)."""
        for svc in list(self.node.services.values()):
            if svc.start_type == "Automatic" and svc.state != "Disabled":
                svc.state = "Stopped"
                self.start_service(svc.name)

    def shutdown(self) -> None:
        """Stop the service processes without changing what the node will start on its next boot."""
        with self.world.lock:
            for svc in self.node.services.values():
                if svc.state == "Running":
                    handler = self.handler_for(svc)
                    if handler is not None:
                        handler.stop(self, svc)
