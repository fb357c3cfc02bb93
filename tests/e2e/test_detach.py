"""Detached runners (own session, secrets over stdin) and cancelling them, with real processes."""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from octotui.run.cancel import (
    CANCEL_MARKER,
    Cancelled,
    CancelToken,
    cancel_requested,
    clear_cancel_request,
    request_cancel,
)
from octotui.run.detach import (
    RUNNER_LOG,
    HandoverError,
    RedactingStream,
    child_environment,
    read_handed_secrets,
    start_detached,
)
from octotui.run.locks import cluster_lock_holder, lock_cluster
from octotui.run.store import create_run_dir, process_alive, recorded_runner
from tests.fixtures.waiting import wait_until

SECRETS = {"winrm_password": "Pa55-w0rd:winrm", "service_password": "S3rvice\"quote'x"}

#: The runner stand-in: reads its secrets, reports what it got (as a digest, so the test output itself
#: never holds them), then waits for a "go" file and leaves a "finished" file.
CHILD = textwrap.dedent("""
    import hashlib, json, os, pathlib, signal, sys, time
    from octotui.run.detach import read_handed_secrets
    run = pathlib.Path(sys.argv[1])
    secrets = read_handed_secrets(timeout=30)
    digest = hashlib.sha256(json.dumps(secrets, sort_keys=True).encode()).hexdigest()
    (run / "got.tmp").write_text(json.dumps({"digest": digest, "sid": os.getsid(0), "pid": os.getpid(),
                                            "stdin_is_null": os.path.samefile("/proc/self/fd/0", os.devnull),
                                            "sighup_default": signal.getsignal(signal.SIGHUP) == signal.SIG_DFL}))
    os.replace(run / "got.tmp", run / "got")
    print("runner says hello", flush=True)
    deadline = time.time() + 60
    while not (run / "go").exists() and time.time() < deadline:
        time.sleep(0.02)
    (run / "finished").write_text("yes")
""")

#: The "terminal session": starts the runner detached, prints its pid, then waits to be hung up on.
PARENT = textwrap.dedent("""
    import json, pathlib, sys, time
    from octotui.run.detach import start_detached
    run = pathlib.Path(sys.argv[1])
    secrets = json.loads(sys.stdin.readline()) if sys.argv[2] == "stdin" else {}
    pid = start_detached([sys.executable, "-c", sys.argv[3], str(run)], secrets, run)
    print(f"PID {pid}", flush=True)
    time.sleep(120)  # a terminal session that stays open until the test hangs up on it
""")


def default_sighup() -> None:
    """Give SIGHUP its default action (terminate) in a process the test starts. The test cannot rely on
    what it inherited: under ``nohup`` SIGHUP is ignored, and an ignored signal stays ignored across fork
    and exec, so the "terminal session" would not die of a hang-up and the runner would survive one for
    the wrong reason."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def digest(secrets: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(secrets, sort_keys=True).encode()).hexdigest()


def got(run: Path) -> dict[str, object]:
    wait_until((run / "got").exists, what="the runner to report the secrets it got (its 'got' file)")
    doc: dict[str, object] = json.loads((run / "got").read_text())
    return doc


def finish(run: Path, pid: int, after: str = "") -> None:
    """Tell the runner to finish and wait for its answer: a runner that answers a "go" written now was
    alive now (``after`` names what it has outlived, for the failure message)."""
    (run / "go").write_text("")
    wait_until((run / "finished").exists,
               what=f"the runner to answer 'go' with its 'finished' file{after}")
    wait_until(lambda: not process_alive(pid), what="the runner to exit after finishing")


def test_secrets_arrive_over_stdin_and_nowhere_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = create_run_dir(tmp_path)
    monkeypatch.setenv("OCTOTUI_WINRM_PASSWORD", SECRETS["winrm_password"])
    monkeypatch.setenv("SOME_TOOL_URL", f"https://u:{SECRETS['service_password']}@h/")
    monkeypatch.setenv("HARMLESS_VAR", "kept")
    pid = start_detached([sys.executable, "-c", CHILD, str(run)], SECRETS, run)
    report = got(run)
    assert report["digest"] == digest(SECRETS)
    assert report["stdin_is_null"] is True
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    ps = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, check=True).stdout
    for value in SECRETS.values():
        for where in (cmdline, environ, ps):
            assert value.encode() not in where
    assert b"HARMLESS_VAR=kept" in environ and b"OCTOTUI_WINRM_PASSWORD" not in environ
    assert b"SOME_TOOL_URL" not in environ
    assert recorded_runner(run) is not None and recorded_runner(run)[0] == pid  # type: ignore[index]
    finish(run, pid)
    log = run / RUNNER_LOG
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "runner says hello" in log.read_text()


def test_runner_survives_its_terminal_closing(tmp_path: Path) -> None:
    """A real pseudo-terminal: the "shell" is its session leader; closing the terminal's master side is
    what closing a window or dropping SSH does, and the kernel hangs up on that session."""
    run = create_run_dir(tmp_path)
    shell_pid, master = pty.fork()
    if shell_pid == 0:  # pragma: no cover - the child execs at once
        try:
            default_sighup()
            os.execv(sys.executable, [sys.executable, "-c", PARENT, str(run), "stdin", CHILD])
        finally:
            os._exit(127)
    os.write(master, (json.dumps(SECRETS) + "\n").encode())
    buf = b""
    while b"PID " not in buf or not buf.split(b"PID ", 1)[1].split(b"\n")[0].strip().isdigit():
        buf += os.read(master, 1024)
    runner = int(buf.split(b"PID ", 1)[1].split()[0])
    report = got(run)
    assert report["digest"] == digest(SECRETS)
    assert report["sid"] == runner != os.getsid(shell_pid)
    assert report["sighup_default"] is True  # it survives by its own session, not by an inherited "ignore"
    os.close(master)
    _, status = os.waitpid(shell_pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP
    # The kernel hangs up on the session while its leader exits, before waitpid returns: the runner
    # answering a "go" written after this point proves it outlived the hang-up, however slow the machine.
    finish(run, runner, after=" (it did not outlive its terminal closing)")


def test_runner_survives_sighup_to_its_parents_process_group(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(run), "none", CHILD], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=default_sighup)
    assert parent.stdout is not None
    runner = int(parent.stdout.readline().split()[1])
    assert got(run)["sighup_default"] is True  # it survives by its own session, not by an inherited "ignore"
    os.killpg(parent.pid, signal.SIGHUP)
    assert parent.wait(timeout=30) == -signal.SIGHUP
    parent.stdout.close()
    # killpg delivers SIGHUP to the whole group before it returns: a runner that answers a "go" written
    # after this point outlived it (a sleep here would only prove it lived for that long).
    finish(run, runner, after=" (it did not outlive the SIGHUP to its parent's group)")


def test_a_secret_on_the_command_line_is_refused(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    with pytest.raises(ValueError, match="command line"):
        start_detached([sys.executable, "-c", "pass", SECRETS["winrm_password"]], SECRETS, run)


def test_child_environment_drops_secret_carriers() -> None:
    env = child_environment({"k": "abc123"}, {"A": "1", "B": "xabc123y", "OCTOTUI_MASTER_KEY": "zz"})
    assert env == {"A": "1"}


def test_read_handed_secrets_refuses_bad_input_and_silence() -> None:
    r, w = os.pipe()
    os.write(w, b"not json\n")
    with pytest.raises(HandoverError, match="JSON"):
        read_handed_secrets(stdin_fd=r)
    os.close(w)
    os.close(r)
    r, w = os.pipe()
    with pytest.raises(HandoverError, match="no secrets arrived"):
        read_handed_secrets(stdin_fd=r, timeout=0.2)
    os.close(w)
    os.close(r)
    r, w = os.pipe()
    os.write(w, b'{"a": 1}\n')
    with pytest.raises(HandoverError, match="strings"):
        read_handed_secrets(stdin_fd=r)
    os.close(w)
    os.close(r)


def test_a_handed_over_lock_is_held_by_the_runner_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    answers = tmp_path / "answers.toml"
    run = create_run_dir(home)
    lock = lock_cluster(home, answers, run.name)
    pid = start_detached([sys.executable, "-c", CHILD, str(run)], {}, run, handover=[lock])
    got(run)
    assert not lock.held
    holder = cluster_lock_holder(home, answers)
    assert holder is not None and holder.run_id == run.name
    finish(run, pid)
    assert cluster_lock_holder(home, answers) is None


def test_redacting_stream_masks_secrets_cut_across_writes() -> None:
    class R:
        def redact(self, text: str) -> str:
            return text.replace("topsecret", "***")

    inner = io.StringIO()
    stream = RedactingStream(inner, R())
    stream.write("Traceback: pass=top")
    stream.write("secret\nnext top")
    stream.write("secret")
    stream.flush()
    assert inner.getvalue() == "Traceback: pass=***\nnext ***"


RUNNER_WITH_TOKEN = textwrap.dedent("""
    import pathlib, sys
    from octotui.run.cancel import CancelToken
    run = pathlib.Path(sys.argv[1])
    token = CancelToken(run, poll=0.05)
    if sys.argv[2] == "signals":
        token.install_signal_handlers()
    (run / "ready").write_text("")
    for step in range(600):
        if token.wait(0.1):
            (run / "stopped").write_text(f"{step} {token.reason}")
            sys.exit(3)
    sys.exit(0)
""")


@pytest.mark.parametrize("mode", ["signals", "marker"])
def test_request_cancel_stops_the_runner_at_a_safe_point(tmp_path: Path, mode: str) -> None:
    run = create_run_dir(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", RUNNER_WITH_TOKEN, str(run), mode], start_new_session=True)
    wait_until((run / "ready").exists, what="the runner to write its 'ready' file")
    signalled = request_cancel(run, reason="Ctrl+C in apply")
    assert signalled is (mode == "signals")
    assert proc.wait(timeout=30) == 3
    reason = (run / "stopped").read_text()
    assert ("signal SIGTERM" in reason) if mode == "signals" else ("Ctrl+C in apply" in reason)
    assert stat.S_IMODE((run / CANCEL_MARKER).stat().st_mode) == 0o600


def test_cancel_token_in_process(tmp_path: Path) -> None:
    token = CancelToken(tmp_path, poll=0.01)
    assert not token.requested and token.wait(0.05) is False
    token.raise_if_requested()
    request_cancel(tmp_path)
    assert cancel_requested(tmp_path) and token.requested
    with pytest.raises(Cancelled):
        token.raise_if_requested()
    clear_cancel_request(tmp_path)
    assert not cancel_requested(tmp_path) and CancelToken(tmp_path).requested is False
    plain = CancelToken()
    plain.request("because")
    assert plain.wait(10) is True and plain.reason == "because"
