"""One run at a time on a cluster, whatever console, ``OCTOTUI_HOME`` or copy of the answers file it comes from.

``octotui apply`` is driven as users drive it, against a lab process; the lab is the witness of what the
nodes ran (their process-creation logs) and of the lease file on each node (read with the ``node-lease``
script over WinRM, as any console would). Another console's run is played by ``octotui.run.lease.ClusterLease``
with that console's identity, which is what its runner would do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from octotui.remote.session import NodeSession
from octotui.run.lease import ClusterLease, Holder, LeaseRemote, Owner, this_console
from octotui.run.locks import (
    cluster_lock_holder,
    cluster_lock_path,
    end_cluster_lock,
    inherited_cluster_lock,
    lock_cluster,
    lock_held,
)
from octotui.run.store import create_run_dir, process_start_token
from tests.fixtures.cli import journal, octotui, octotui_env, wait_for, write_answers
from tests.fixtures.lab import LabProcess, running_lab

NODES = ["OCTO1", "OCTO2", "OCTO3"]
#: How soon a refused apply must end (it asks one node, once); generous for a loaded 2-core machine.
REFUSAL_BUDGET_S = 20.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("lease") / "state", "--nodes", "3") as lab:
        yield lab


def connect_to(lab: LabProcess) -> Callable[[str], LeaseRemote]:
    def connect(name: str) -> LeaseRemote:
        session = NodeSession(lab.node(name)["endpoint"], lab.ready["admin"]["username"],
                              lab.ready["admin"]["password"], transport=lab.ready["auth"], node=name)
        session.open()
        return session

    return connect


def other_console(run_id: str, **changes: Any) -> Owner:
    fields: dict[str, Any] = {"run_id": run_id, "console": "ops-laptop", "console_id": "0123456789abcdef",
                              "user": "bob", "pid": 4242, "pid_start": "77", "home": "/home/bob/.local/state/octotui"}
    fields.update(changes)
    return Owner(**fields)


def lease_of(lab: LabProcess, owner: Owner, **kwargs: Any) -> ClusterLease:
    return ClusterLease(owner, NODES, connect_to(lab), answers="create.toml", **kwargs)


def holders(lab: LabProcess) -> dict[str, Holder | None]:
    reader = lease_of(lab, other_console("reader"))
    try:
        return {node: reader.read(node) for node in NODES}
    finally:
        reader.release()


def log_lengths(lab: LabProcess) -> dict[str, int]:
    return {n["name"]: len(n["process_log"]) for n in lab.inspect()["nodes"]}


def new_processes(lab: LabProcess, since: dict[str, int]) -> dict[str, list[str]]:
    return {n["name"]: [p["command_line"] for p in n["process_log"][since[n["name"]]:]]
            for n in lab.inspect()["nodes"]}


def is_script_launch(line: str) -> bool:
    """The bootstrap every assets/ps script travels behind (the lease script is one)."""
    return bool(re.search(r"powershell\.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ",
                          line))


def runner_pid(run_dir: Path) -> int:
    return int(json.loads((run_dir / "runner.pid").read_text())["pid"])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def run_dirs(env: dict[str, str]) -> list[Path]:
    root = Path(env["OCTOTUI_HOME"]) / "runs"
    return sorted(root.iterdir()) if root.is_dir() else []


def read_or_empty(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def notes(events: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("text")) for e in events if e["type"] == "note"]


# --- the race: two consoles, two homes, two copies of the answers file -----------------------------------


def test_two_consoles_at_once_exactly_one_runs_the_other_is_refused_naming_it(lab: LabProcess,
                                                                             tmp_path: Path) -> None:
    envs, answers = [], []
    for name in ("alice", "bob"):
        home = tmp_path / name
        home.mkdir()
        envs.append(octotui_env(lab, home))
        answers.append(write_answers(lab, home / "create.toml", NODES))
    assert answers[0].read_text() == answers[1].read_text() and answers[0] != answers[1]

    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "octotui", "apply", str(a), "--yes"], env=e, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for e, a in zip(envs, answers, strict=True)]
    ended: dict[int, float] = {}
    outputs: dict[int, tuple[str, str]] = {}
    while len(ended) < 2:
        for i, p in enumerate(procs):
            if i not in ended and p.poll() is not None:
                ended[i] = time.monotonic() - started
                outputs[i] = p.communicate()
        assert time.monotonic() - started < 300, "the applies did not end"
        time.sleep(0.05)
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 4], (codes, outputs)
    winner, loser = codes.index(0), codes.index(4)
    won_run = run_dirs(envs[winner])[-1].name
    out, err = outputs[loser]
    print(f"\nrefused after {ended[loser]:.2f} s (the winner took {ended[winner]:.2f} s)")
    assert ended[loser] < REFUSAL_BUDGET_S, out + err
    assert ended[loser] < ended[winner]
    for needed in (f"run {won_run}", f"console {socket.gethostname()}", "user ", "since ", "UTC",
                   f"octotui attach {won_run}", "--take-over", "changed nothing", "exit 4"):
        assert needed in out, (needed, out)
    assert "pending" not in out + err

    lost = journal(envs[loser])
    assert not [e for e in lost if e["type"] in ("step_started", "step_done", "step_failed")]
    assert lost[-1]["type"] == "run_finished" and lost[-1]["status"] == "busy" and lost[-1]["exit_code"] == 4
    assert [e["status"] for e in journal(envs[winner]) if e["type"] == "run_finished"] == ["done"]
    # Installed once on each node: nothing of the refused run reached any node's programs.
    world = lab.inspect()
    for node in world["nodes"]:
        installs = [p for p in node["process_log"] if re.search(r"msiexec(\.exe)?\"?\s+/i", p["command_line"], re.I)
                    and "cmd.exe" not in p["command_line"].lower()]
        assert len(installs) == 1, (node["name"], [p["command_line"] for p in node["process_log"]])
    assert holders(lab) == dict.fromkeys(NODES)  # released at the end


def test_a_refused_run_changes_nothing_on_any_node(lab: LabProcess, tmp_path: Path) -> None:
    """Another console holds the cluster: apply asks the first node, is refused, and runs nothing else."""
    env = octotui_env(lab, tmp_path)
    answers = write_answers(lab, tmp_path / "copy-of-create.toml", NODES)
    theirs = lease_of(lab, other_console("20250601-100000-1234a"))
    theirs.take()
    try:
        before = log_lengths(lab)
        started = time.monotonic()
        refused = octotui(env, "apply", str(answers), "--yes")
        took = time.monotonic() - started
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert took < REFUSAL_BUDGET_S
        out = refused.stdout
        for needed in ("OCTO1 is leased to run 20250601-100000-1234a", "console ops-laptop", "user bob",
                       "process 4242", "expires in", "on ops-laptop", "OCTOTUI_HOME=/home/bob/.local/state/octotui",
                       f"octotui apply {answers} --take-over"):
            assert needed in out, (needed, out)
        ran = new_processes(lab, before)
        assert ran["OCTO2"] == [] and ran["OCTO3"] == [], ran
        assert ran["OCTO1"] and all(is_script_launch(line) for line in ran["OCTO1"]), ran
        assert len([line for line in ran["OCTO1"] if line.lower().startswith("powershell")]) == 1, ran
        assert {n: h.lease_id if h else None for n, h in holders(lab).items()} == dict.fromkeys(NODES, theirs.lease_id)
        assert "runs" in {p.name for p in Path(env["OCTOTUI_HOME"]).iterdir()}
        assert [r for r in journal(env) if r["type"] == "run_finished"][-1]["status"] == "busy"
        listed = octotui(env, "runs")
        assert listed.returncode == 0 and "busy" in listed.stdout
    finally:
        theirs.release()
    assert holders(lab) == dict.fromkeys(NODES)


def test_take_over_replaces_a_holder_known_to_be_gone(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path)
    answers = write_answers(lab, tmp_path / "create.toml", NODES)
    theirs = lease_of(lab, other_console("20250601-100000-9999b"))
    theirs.take()
    taken = octotui(env, "apply", str(answers), "--yes", "--take-over")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    said = notes(journal(env))
    for node in NODES:
        assert any("took over the cluster lease of run 20250601-100000-9999b" in t and f"on {node}" in t
                   and "--take-over" in t for t in said), said
    assert holders(lab) == dict.fromkeys(NODES)
    lost: list[str] = []
    assert theirs.renew("OCTO1", lost.append) is False
    assert lost == ["the cluster lease on OCTO1 is gone (its file was removed)"]


def test_a_run_that_is_taken_over_learns_it_and_stops(lab: LabProcess) -> None:
    first = lease_of(lab, other_console("RUN-FIRST"))
    first.take()
    second = lease_of(lab, other_console("RUN-SECOND", console="night-console", user="carol"), take_over=True)
    second.take()
    try:
        lost: list[str] = []
        assert first.renew("OCTO2", lost.append) is False
        assert lost == ["the cluster lease on OCTO2 was taken over by run RUN-SECOND (console night-console, "
                        "user carol, process 4242)"]
        assert "OCTO2" not in first.held
    finally:
        first.release()  # gives back nothing of second's
        assert {n: h.run_id if h else None for n, h in holders(lab).items()} == dict.fromkeys(NODES, "RUN-SECOND")
        second.release()


def test_an_expired_lease_is_taken_automatically(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path)
    answers = write_answers(lab, tmp_path / "create.toml", NODES)
    gone = lease_of(lab, other_console("20250601-100000-0000c"), ttl_s=1.0)
    gone.take()
    wait_for(lambda: all(h is not None and h.expires_in_s is not None and h.expires_in_s < 0
                         for h in holders(lab).values()), timeout=30, interval=0.1)
    out = octotui(env, "apply", str(answers), "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    assert any("took over the cluster lease of run 20250601-100000-0000c" in t and "had expired" in t
               for t in notes(journal(env)))
    assert holders(lab) == dict.fromkeys(NODES)


def test_the_keeper_renews_past_the_first_expiry_and_release_frees_every_node(lab: LabProcess) -> None:
    ours = lease_of(lab, other_console("RUN-LONG"), ttl_s=2.0, renew_every_s=0.3)
    ours.take()
    first_expiry = time.monotonic() + 2.0
    lost: list[str] = []
    ours.keep(lost.append)
    try:
        wait_for(lambda: time.monotonic() > first_expiry + 1.0, timeout=10, interval=0.05)
        late = lease_of(lab, other_console("RUN-LATE", console="late-console", console_id="fedcba9876543210"))
        with pytest.raises(Exception, match="OCTO1 is leased to run RUN-LONG") as refused:
            late.take()
        assert type(refused.value).__name__ == "ClusterBusy" and late.held == []
        assert all(h is not None and h.run_id == "RUN-LONG" and (h.expires_in_s or 0) > 0
                   for h in holders(lab).values())
        assert lost == []
    finally:
        ours.release()
    assert holders(lab) == dict.fromkeys(NODES)


# --- a killed runner: its own exit code, and its lease taken back from this console --------------------


def test_a_killed_run_exits_5_and_apply_takes_its_lease_back(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path)
    answers = write_answers(lab, tmp_path / "create.toml", NODES)
    started = octotui(env, "apply", str(answers), "--yes", "--detach")
    assert started.returncode == 0, started.stderr
    (run_dir,) = run_dirs(env)
    pid = runner_pid(run_dir)
    wait_for(lambda: '"type":"step_started"' in read_or_empty(run_dir / "journal.jsonl") or not alive(pid),
             timeout=60, interval=0.005)
    assert alive(pid), "the run ended before it could be killed"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=10)

    attached = octotui(env, "attach", run_dir.name)
    assert attached.returncode == 5, attached.stdout + attached.stderr
    assert "process is gone" in attached.stdout and "exit 5" in attached.stdout
    listed = octotui(env, "runs")
    assert re.search(rf"{run_dir.name}\s+crashed", listed.stdout), listed.stdout
    left = holders(lab)
    assert all(h is not None and h.run_id == run_dir.name for h in left.values()), left

    again = octotui(env, "apply", str(answers), "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    said = notes(journal(env))
    assert any(f"took over the cluster lease of run {run_dir.name}" in t and "its process on this console is gone"
               in t for t in said), said
    assert holders(lab) == dict.fromkeys(NODES)


def test_a_lease_of_a_live_run_on_this_console_is_not_taken(lab: LabProcess, tmp_path: Path) -> None:
    """Same console, process alive (another home, say): busy, naming this console."""
    env = octotui_env(lab, tmp_path)
    answers = write_answers(lab, tmp_path / "create.toml", NODES)
    live = lease_of(lab, this_console("20250601-100000-5555d", tmp_path / "other-home"))
    live.take()
    try:
        out = octotui(env, "apply", str(answers), "--yes")
        assert out.returncode == 4, out.stdout + out.stderr
        assert "follow that run on this console" in out.stdout and f"OCTOTUI_HOME={tmp_path / 'other-home'}" \
            in out.stdout
    finally:
        live.release()


# --- the local guard: one home, one answers file --------------------------------------------------------


def test_a_second_apply_of_the_same_answers_names_a_real_run(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path)
    answers = write_answers(lab, tmp_path / "create.toml", NODES)
    lab.add_fault("slow:match=list-instances,seconds=3")  # keep the first run busy for a moment
    first = octotui(env, "apply", str(answers), "--yes", "--detach")
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(env)
    second = octotui(env, "apply", str(answers), "--yes")
    assert second.returncode == 4, second.stdout + second.stderr
    assert f"run {run_dir.name}" in second.stderr and f"octotui attach {run_dir.name}" in second.stderr
    assert "pending" not in second.stderr
    assert run_dirs(env) == [run_dir]  # the refused apply left no run folder behind
    home = Path(env["OCTOTUI_HOME"])
    lock = cluster_lock_path(home, answers)
    holder = cluster_lock_holder(home, answers)
    assert holder is not None and holder.run_id == run_dir.name
    followed = octotui(env, "attach", run_dir.name)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert not lock_held(lock) and lock.read_text() == ""  # ended: no run named any more


def test_the_runner_adopts_and_clears_the_lock_it_inherits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    answers = tmp_path / "answers.toml"
    run = create_run_dir(home)
    held = lock_cluster(home, answers, "pending")  # what an older starter wrote
    child = ("import sys, pathlib\n"
             "from octotui.run.locks import inherited_cluster_lock, end_cluster_lock\n"
             "lock = inherited_cluster_lock(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3])\n"
             "print('adopted' if lock else 'none', flush=True)\n"
             "sys.stdin.readline()\n"
             "end_cluster_lock(lock)\n"
             "print('ended', flush=True)\n"
             "sys.stdin.readline()\n")
    proc = subprocess.Popen([sys.executable, "-c", child, str(home), str(answers), run.name], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(held.fileno(),))
    held.close_handle()
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "adopted"
        holder = cluster_lock_holder(home, answers)
        assert holder is not None and holder.run_id == run.name and holder.pid == proc.pid
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ended"
        assert cluster_lock_holder(home, answers) is None  # freed while the process still lives
        assert cluster_lock_path(home, answers).read_text() == ""
        lock_cluster(home, answers, "next").release()
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert inherited_cluster_lock(home, answers, "x") is None  # this process holds no such descriptor
    end_cluster_lock(None)


def test_holder_of_a_dead_process_on_this_console_is_known_gone(tmp_path: Path) -> None:
    # A live process to stand for the holder (it waits for nothing; the test kills it).
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token = process_start_token(sleeper.pid)
    me = this_console("RUN-NOW", tmp_path)
    view = {"lease_id": "x", "run_id": "RUN-OLD", "console": me.console, "console_id": me.console_id,
            "user": me.user, "pid": sleeper.pid, "pid_start": token, "home": str(tmp_path),
            "taken_at": "2025-06-01T10:00:00.0000000Z", "held_s": 90, "renewed_s_ago": 30, "expires_in_s": 570}
    holder = Holder.from_view("OCTO1", view)
    assert holder.on_console_of(me) and not holder.gone(me)
    sleeper.kill()
    sleeper.wait()
    assert holder.gone(me)
    elsewhere = Holder.from_view("OCTO1", {**view, "console_id": "another-machine"})
    assert not elsewhere.gone(me)  # nothing can be known of another console's processes


def test_copies_of_the_answers_are_different_local_locks(tmp_path: Path) -> None:
    """Why the lease must live on the nodes: the local lock cannot see a copy of the file."""
    home = tmp_path / "home"
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("mode = 'create'\n")
    shutil.copy(a, b)
    with lock_cluster(home, a, "RUN-A"):
        lock_cluster(home, b, "RUN-B").release()
