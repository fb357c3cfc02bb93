"""Twin of ``invoke-as-user``: a one-shot scheduled task that runs a command line as another account.

The Task Scheduler checks the password when the task is registered, so a wrong one fails there with
the logon error and its HRESULT, before anything runs. With a good one, the task's action (a
powershell.exe wrapper, recorded in the node's process log under the target account) runs
``cmd.exe /d /s /c "<command line>"`` with a full logon of that account: unlike the WinRM session that
asked for it, that logon holds credentials, so SQL Server and shares see the account itself.

Output comes back only when the command ends (the wrapper writes it to files then), so a command that
outlives the deadline returns no output. If the WinRS command itself is terminated, the task goes on
running, as it does on Windows.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from octotui.lab.identity import Identity
from octotui.lab.process import Cancelled, OutputBuffer, ProcessContext
from octotui.lab.ps_twins.common import ParamError, Params, emit, run_with_params, to_json

POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
TASKS_DIR = "C:\\ProgramData\\octotui\\tasks"
IDENTITY_NOT_MAPPED = "Some or all identity references could not be translated."
DIRECTORY_INVALID = "The directory name is invalid"

#: HRESULTs the Task Scheduler reports for each logon refusal (HRESULT_FROM_WIN32 of the Win32 error).
LOGON_HRESULTS = {
    "The user name or password is incorrect.": 0x8007052E,  # ERROR_LOGON_FAILURE
    "The referenced account is currently disabled and may not be logged on to.": 0x80070533,
    "The referenced account is currently locked out and may not be logged on to.": 0x80070775,
    "The user's password has expired.": 0x80070532,
    "The user's password must be changed before signing in.": 0x80070773,
}


def _drain(output: OutputBuffer) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    while True:
        o, e, done, _code = output.drain(1 << 30, 0)
        out += o
        err += e
        if done or not (o or e):
            return bytes(out), bytes(err)


class _TaskRun:
    """The task's action running on its own thread, as the Task Scheduler runs it apart from the caller."""

    def __init__(self, ctx: ProcessContext, account: str, command_line: str, env: dict[str, str], cwd: str,
                 action_line: str, stdin_text: str = "") -> None:
        runtime = ctx.runtime
        self.runtime = runtime
        self.child, self.output = runtime.new_context(Identity(account, "interactive"), env_extra=env,
                                                      codepage=65001, cwd=cwd)
        # The wrapper writes the job's stdin.txt (if any) to the command's stdin, then closes it.
        self.child.stdin.feed(stdin_text.encode("utf-8"), True)
        self.command_line = command_line
        self.action = runtime.log_process(action_line, account)
        self.exit_code: int | None = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"{runtime.node.name}-task", daemon=True)

    def _run(self) -> None:
        code = 1
        try:
            # The wrapper's "/d /s /c" strips the outer quotes it adds, whatever the line holds; cmd.exe's
            # plain "/c" does the same for a line quoted once more like this.
            code = self.runtime.run_cmd_shell(self.child, '"' + self.command_line + '"')
        except Cancelled:
            code = 1  # Stop() ends the task's process
        except Exception as exc:  # a lab bug must not hang the caller
            self.child.eprintln(f"lab: unhandled error in simulated task: {exc!r}")
            code = 100
        finally:
            self.exit_code = code
            self.action.exit_code, self.action.ended = code, time.time()
            self.finished.set()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.child.cancel.set()
        self.finished.wait(10)


def _wait(ctx: ProcessContext, task: _TaskRun, timeout_s: float) -> bool:
    """Poll as the script does; True when the task ended before the deadline."""
    deadline = time.monotonic() + timeout_s
    while not task.finished.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
        ctx.check_cancel()
        if time.monotonic() >= deadline:
            return False
    return True


def _fail(ctx: ProcessContext, result: dict[str, Any], stage: str, error: str,
          hresult: int | None = None) -> int:
    result.update(stage=stage, error=error, hresult=None if hresult is None else f"0x{hresult:08X}")
    emit(ctx, result)
    return 1


def twin(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        username = params.string("username")
        password = params.string("password")
        command_line = params.string("command_line")
        timeout_s = params.integer("timeout_s", 1800)
        env = params.mapping("env")
        cwd = params.string("cwd")
        stdin_text = params.string("stdin")
        if not username:
            raise ParamError("missing parameter 'username'")
        if not command_line:
            raise ParamError("missing parameter 'command_line'")
        if timeout_s <= 0:
            raise ParamError("'timeout_s' must be positive")

        task_name = "octotui-" + uuid.uuid4().hex
        work = f"{TASKS_DIR}\\{task_name}"
        result: dict[str, Any] = {
            "ok": False, "task_name": task_name, "account": username, "exit_code": None, "stdout": "",
            "stderr": "", "timed_out": False, "stage": "prepare", "error": None, "hresult": None,
        }
        runtime = ctx.runtime
        world, fs = runtime.world, runtime.node.fs
        with world.lock:
            account = world.directory.find(username)
            if account is None:  # the folder's ACL cannot name an unknown account
                return _fail(ctx, result, "prepare", IDENTITY_NOT_MAPPED)
            qualified = world.directory.qualified(account.sam)
            cwd = cwd or work
            fs.makedirs(work)
            fs.write(f"{work}\\job.json", to_json({"command_line": command_line, "cwd": cwd, "env": env})
                     .encode("utf-8"))
            refusal = world.directory.logon_error(username, password)
        if refusal is not None:
            with world.lock:
                fs.rmtree(work)
            hresult = LOGON_HRESULTS.get(refusal, 0x8007052E)
            message = f"{refusal} (Exception from HRESULT: 0x{hresult:08X})"
            return _fail(ctx, result, "register", message, hresult)

        with world.lock:
            cwd_ok = fs.is_dir(cwd)
        action = f'{POWERSHELL} -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{work}\\run.ps1"'
        if not cwd_ok:
            runtime.log_process(action, qualified).exit_code = 1
            with world.lock:
                fs.rmtree(work)
            return _fail(ctx, result, "collect", f"the task could not start the command: {DIRECTORY_INVALID}")

        task = _TaskRun(ctx, qualified, command_line, env, cwd, action, stdin_text)
        task.start()
        finished = _wait(ctx, task, timeout_s)  # Cancelled propagates: the task runs on, as on Windows
        if not finished:
            task.stop()
            with world.lock:
                fs.rmtree(work)
            result["timed_out"] = True
            return _fail(ctx, result, "collect",
                         f"the command did not finish within {timeout_s} seconds; the task was stopped")
        out, err = _drain(task.output)
        with world.lock:
            fs.rmtree(work)
        result.update(ok=True, stage="done", exit_code=task.exit_code,
                      stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"))
        emit(ctx, result)
        return 0

    return run_with_params(ctx, params_json, body)
