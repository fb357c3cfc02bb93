"""The journal, run folders and locks, with real files, real processes and real kills."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from octotui.run.journal import JournalWriter, plan_summary
from octotui.run.journal_read import JOURNAL, follow_events, latest_run, list_runs, read_events, run_status
from octotui.run.locks import LockBusy, cluster_lock_holder, lock_cluster, lock_run, run_lock_held
from octotui.run.store import RunNotFound, create_run_dir, is_run_id, new_run_id, resolve_run
from tests.fixtures.waiting import wait_until

SECRET = "Hunter2-s3cr3t!"
MASK = "********"


class MaskRedactor:
    def __init__(self, *secrets: str) -> None:
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, MASK)
        return text


class HoldBackStream:
    """A minimal streaming redactor: keeps back a tail that could be the start of a secret."""

    def __init__(self, redactor: MaskRedactor) -> None:
        self.r = redactor
        self.buf = ""

    def feed(self, text: str) -> str:
        self.buf += text
        hold = max((k for s in self.r.secrets for k in range(1, min(len(s), len(self.buf)) + 1)
                    if s.startswith(self.buf[-k:])), default=0)
        cut = len(self.buf) - hold
        for s in self.r.secrets:
            i = self.buf.find(s)
            while i >= 0:
                if i < cut < i + len(s):
                    cut = i
                i = self.buf.find(s, i + 1)
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return self.r.redact(out)

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return self.r.redact(out)


def all_bytes(root: Path) -> Iterator[tuple[Path, bytes]]:
    for p in root.rglob("*"):
        if p.is_file():
            yield p, p.read_bytes()


def writer(run_dir: Path, **kw: object) -> JournalWriter:
    return JournalWriter(run_dir, MaskRedactor(SECRET), **kw)  # type: ignore[arg-type]


PLAN = plan_summary({"OCTO1": [("install", "Install Octopus"), ("instance", "Create the instance")],
                     "OCTO2": [("install", "Install Octopus")]})


def test_events_have_seq_ts_type_in_order(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    with writer(run) as j:
        j.run_started(mode="create", plan=PLAN)
        j.step_started("OCTO1", "install", "Install Octopus")
        j.step_output("OCTO1", "install", "stdout", "line one\nline two\n")
        j.step_done("OCTO1", "install", changed=True, duration_ms=1200)
        j.step_failed("OCTO2", "install", error="MSI 1603", hint="see the MSI log", duration_ms=5)
        j.note("hello", node="OCTO1")
        j.master_key_stored(node="OCTO1", where="keyring")
        j.cancel_requested("signal SIGTERM")
        j.run_finished("cancelled")
    events = read_events(run)
    assert [e["seq"] for e in events] == list(range(1, 10))
    assert [e["type"] for e in events] == ["run_started", "step_started", "step_output", "step_done", "step_failed",
                                           "note", "master_key_stored", "cancel_requested", "run_finished"]
    assert all(isinstance(e["ts"], float) for e in events)
    started = events[0]
    assert started["pid"] == os.getpid() and started["nodes"] == ["OCTO1", "OCTO2"]
    assert started["plan"]["OCTO1"][1] == {"step": "instance", "title": "Create the instance"}
    assert "argv" not in started and sys.argv[0] not in json.dumps(started)
    assert events[3]["changed"] is True and events[3]["duration_ms"] == 1200
    assert events[-1]["status"] == "cancelled" and events[-1]["exit_code"] == 3
    assert (run / "OCTO1" / "install.log").read_text() == "line one\nline two\n"
    assert run_status(run) == "cancelled"


def test_every_field_is_redacted_before_it_is_written(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    with writer(run, stream_redactor=lambda: HoldBackStream(MaskRedactor(SECRET))) as j:
        j.run_started(mode=f"create {SECRET}", plan=plan_summary({f"N{SECRET}": [(f"s{SECRET}", f"t {SECRET}")]}),
                      extra={SECRET: [SECRET, {"deep": SECRET}]})
        j.step_started("OCTO1", f"step{SECRET}", f"title {SECRET}")
        # A secret cut across chunks, in both streams.
        for stream in ("stdout", "stderr"):
            j.step_output("OCTO1", "db", stream, f"password is {SECRET[:5]}")
            j.step_output("OCTO1", "db", stream, f"{SECRET[5:]} done\n")
        j.step_failed("OCTO1", "db", error=f"Login failed: {SECRET}", hint=f"try {SECRET}")
        j.step_output(f"N{SECRET}", f"s{SECRET}", "stdout", f"{SECRET}\n")
        j.note(SECRET, node=SECRET, level=SECRET)
        j.master_key_stored(node="OCTO1", where=f"keyring {SECRET}")
        j.run_finished("failed", message=SECRET)
    files = list(all_bytes(run))
    assert len(files) >= 3
    for path, data in files:
        assert SECRET.encode() not in data, path
        assert SECRET not in str(path) and "Hunter" not in str(path)
    text = (run / JOURNAL).read_text()
    assert text.count(MASK) >= 15
    log = (run / "OCTO1" / "db.log").read_text()
    assert log.count(f"password is {MASK} done") == 2
    assert not any(SECRET in json.dumps(e) for e in read_events(run))


def test_per_chunk_redaction_without_a_stream_redactor(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    with writer(run) as j:
        j.step_output("N", "s", "stdout", f"a {SECRET} b\n")
    assert (run / "N" / "s.log").read_text() == f"a {MASK} b\n"


def test_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        home = tmp_path / "home"
        run = create_run_dir(home)
        with writer(run) as j:
            j.run_started(mode="create", plan=PLAN)
            j.step_output("OCTO1", "install", "stdout", "x\n")
            j.step_done("OCTO1", "install", changed=False, duration_ms=1)
        lock_run(run).release()
        lock_cluster(home, tmp_path / "answers.toml", run.name).release()
    finally:
        os.umask(old)
    for p in [home, home / "runs", run, run / "OCTO1", home / "locks"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for p in [run / JOURNAL, run / "OCTO1" / "install.log", run / "lock", *(home / "locks").iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_reader_tolerates_a_torn_last_line_and_the_writer_continues_after_it(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    with writer(run) as j:
        j.run_started(mode="create", plan=PLAN)
        j.step_started("OCTO1", "install", "Install")
    with open(run / JOURNAL, "ab") as fh:
        fh.write(b'{"seq":3,"ts":1.0,"type":"step_do')
    assert [e["seq"] for e in read_events(run)] == [1, 2]
    with writer(run) as j:
        assert j.seq == 2
        j.step_done("OCTO1", "install", changed=True, duration_ms=3)
    events = read_events(run)
    assert [(e["seq"], e["type"]) for e in events] == [(1, "run_started"), (2, "step_started"), (3, "step_done")]


WRITER_SCRIPT = textwrap.dedent("""
    import sys, pathlib
    from octotui.run.journal import JournalWriter, plan_summary
    from octotui.run.locks import lock_run
    run = pathlib.Path(sys.argv[1])
    class R:
        def redact(self, t): return t
    lock = lock_run(run)
    j = JournalWriter(run, R())
    j.run_started(mode="create", plan=plan_summary({"OCTO1": [("s", "t")]}), resumed=j.seq > 0)
    i = 0
    while True:
        i += 1
        j.step_output("OCTO1", "s", "stdout", ("x" * 3000) + f" {i}\\n")
        if i == 20:
            (run / "go").write_text("")
""")


def start_writer(run: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(run)])


def test_kill_9_mid_stream_loses_at_most_the_event_being_written(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    for round_ in range(3):
        (run / "go").unlink(missing_ok=True)
        proc = start_writer(run)
        wait_until((run / "go").exists, what="the writer to have written 20 output events (its 'go' file)")
        assert run_status(run) == "running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        events = read_events(run)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert sum(e["type"] == "run_started" for e in events) == round_ + 1
        assert run_status(run) == "crashed"
        assert not run_lock_held(run)
    # Every output event that made it to the journal is whole.
    outs = [e for e in read_events(run) if e["type"] == "step_output"]
    assert len(outs) >= 60 and all(len(e["text"]) > 3000 for e in outs)


def test_status_from_a_planted_dead_pid_is_crashed(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(run / JOURNAL, "w") as fh:
        fh.write(json.dumps({"seq": 1, "ts": 1.0, "type": "run_started", "pid": dead.pid, "mode": "create"}) + "\n")
    assert run_status(run) == "crashed"
    with open(run / JOURNAL, "a") as fh:
        fh.write(json.dumps({"seq": 2, "ts": 2.0, "type": "run_started", "pid": os.getpid(), "mode": "create"})
                 + "\n")
    assert run_status(run) == "running"  # our own pid: alive
    with writer(run) as j:
        j.run_finished("failed")
        assert run_status(run) == "failed"
        j.run_started(mode="create", plan=PLAN, resumed=True)
        assert run_status(run) == "running"
        j.run_finished("done")
    assert run_status(run) == "done"


def test_follow_yields_events_as_they_come_and_stops_at_run_finished(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)

    def produce() -> None:
        with writer(run) as j:
            j.run_started(mode="join", plan=PLAN)
            for i in range(5):
                time.sleep(0.02)  # a runner that writes over time: the follower must see each event come
                j.step_output("OCTO1", "install", "stdout", f"{i}\n")
            j.run_finished("done")
            j.note("after the end")

    t = threading.Thread(target=produce)
    t.start()
    seen = [e["type"] for e in follow_events(run, poll=0.01, timeout=30)]
    t.join()
    lock.release()
    assert seen == ["run_started"] + ["step_output"] * 5 + ["run_finished"]
    assert [e["seq"] for e in follow_events(run, after_seq=6, stop_when=lambda e: False, timeout=0.5)] == [7, 8]


def test_follow_ends_when_the_runner_is_gone(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    proc = start_writer(run)
    wait_until((run / "go").exists, what="the writer to have written 20 output events (its 'go' file)")
    got: list[str] = []

    def follow() -> None:
        for event in follow_events(run, poll=0.01, timeout=60, liveness_every=0.1):
            got.append(event["type"])

    t = threading.Thread(target=follow)
    t.start()
    # Kill the runner only once the follower is following (it has read an event), so the test is about
    # a follower that notices a runner vanish, not one that starts after it is gone.
    wait_until(lambda: got, what="the follower to read the runner's first event")
    proc.kill()
    proc.wait()
    t.join(timeout=30)
    assert not t.is_alive()
    assert got[0] == "run_started" and "run_finished" not in got
    assert run_status(run) == "crashed"


def test_run_lock_and_cluster_lock_refuse_a_second_apply(tmp_path: Path) -> None:
    home = tmp_path / "home"
    answers = tmp_path / "answers.toml"
    answers.write_text("mode = 'create'\n")
    run1, run2 = create_run_dir(home), create_run_dir(home)
    held = lock_cluster(home, answers, run1.name)
    with pytest.raises(LockBusy) as info:
        lock_cluster(home, Path(os.path.relpath(answers)), run2.name)
    message = str(info.value)
    assert run1.name in message and f"octotui attach {run1.name}" in message
    assert info.value.holder is not None and info.value.holder.pid == os.getpid()
    holder = cluster_lock_holder(home, answers)
    assert holder is not None and holder.run_id == run1.name
    # Another answers file is another cluster.
    other = tmp_path / "other.toml"
    lock_cluster(home, other, run2.name).release()
    held.release()
    assert cluster_lock_holder(home, answers) is None
    lock_cluster(home, answers, run2.name).release()

    r = lock_run(run1)
    with pytest.raises(LockBusy, match=f"octotui attach {run1.name}"):
        lock_run(run1, wait=0.1)
    r.release()
    lock_run(run1, wait=0).release()


def test_a_killed_holder_frees_the_cluster_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    answers = tmp_path / "a.toml"
    script = ("import sys, pathlib, time\nfrom octotui.run.locks import lock_cluster\n"
              "lock_cluster(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), 'RUNX')\n"
              "print('locked', flush=True)\ntime.sleep(600)\n")  # a holder that lives until killed
    proc = subprocess.Popen([sys.executable, "-c", script, str(home), str(answers)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    with pytest.raises(LockBusy, match="RUNX"):
        lock_cluster(home, answers, "mine")
    proc.kill()
    proc.wait()
    proc.stdout.close()
    lock_cluster(home, answers, "mine").release()


def test_ids_listing_latest_and_resolving(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert list_runs(home) == [] and latest_run(home) is None
    with pytest.raises(RunNotFound, match="octotui apply"):
        resolve_run(home, None)
    ids = [new_run_id(1_700_000_000 + i * 100) for i in range(3)]
    assert all(is_run_id(i) for i in ids) and ids == sorted(ids)
    runs = [create_run_dir(home, i) for i in ids]
    with pytest.raises(FileExistsError):
        create_run_dir(home, ids[0])
    with writer(runs[0]) as j:
        j.run_started(mode="create", plan=PLAN)
        j.run_finished("done")
    with writer(runs[1]) as j:
        j.run_started(mode="join", plan=PLAN)
        j.run_finished("failed")
    summaries = list_runs(home)
    assert [s.id for s in summaries] == ids
    assert [s.status for s in summaries[:2]] == ["done", "failed"]
    assert summaries[0].mode == "create" and summaries[0].nodes == ("OCTO1", "OCTO2")
    assert summaries[0].exit_code == 0 and summaries[1].exit_code == 1
    assert summaries[0].started is not None and summaries[0].finished is not None
    assert summaries[2].status == "crashed" and summaries[2].started is None
    assert latest_run(home) == runs[2] == resolve_run(home, "latest")
    assert resolve_run(home, ids[1]) == runs[1]
    assert resolve_run(home, str(runs[0])) == runs[0]
    with pytest.raises(RunNotFound, match="several runs"):
        resolve_run(home, ids[0][:8])
    with pytest.raises(RunNotFound, match="octotui runs"):
        resolve_run(home, "nope")


def test_generic_emit_behaves_like_the_typed_helpers(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    with writer(run, stream_redactor=lambda: HoldBackStream(MaskRedactor(SECRET))) as j:
        j.emit("step_output", node="N", step="s", stream="stdout", text=f"x {SECRET[:3]}")
        j.emit("step_output", node="N", step="s", stream="stdout", text=f"{SECRET[3:]} y")
        j.emit("step_done", node="N", step="s", changed=False, duration_ms=1)
    assert (run / "N" / "s.log").read_text() == f"x {MASK} y"
    texts = "".join(e.get("text", "") for e in read_events(run))
    assert texts == f"x {MASK} y" and SECRET not in (run / JOURNAL).read_text()


def test_run_ids_started_in_the_same_second_sort_in_start_order() -> None:
    from octotui.run.store import is_run_id, new_run_id

    for second in range(1_800_000_000, 1_800_000_000 + 500, 7):
        ids = [new_run_id(second + ms / 1000) for ms in (0, 1, 2, 250, 998, 999)]
        assert all(is_run_id(i) for i in ids)
        assert ids == sorted(ids), ids


def _plant(run: Path, *events: dict[str, object]) -> None:
    with open(run / JOURNAL, "a") as fh:
        for seq, event in enumerate(events, start=1):
            fh.write(json.dumps({"seq": seq, **event}) + "\n")


def test_runs_shows_when_each_run_started_and_how_long_it_took(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from octotui.cli.run import runs_command

    home = tmp_path / "home"
    t0 = 1_700_000_000.0  # long before now: the running run lists last
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = time.time()
    done, crashed, running = (create_run_dir(home, new_run_id(t)) for t in (t0, t0 + 3600, now - 42.3))
    _plant(done, {"ts": t0, "type": "run_started", "mode": "create", "nodes": ["OCTO1", "OCTO2"]},
           {"ts": t0 + 192.4, "type": "run_finished", "status": "done", "exit_code": 0})
    _plant(crashed, {"ts": t0 + 3600, "type": "run_started", "mode": "join", "nodes": ["OCTO3"], "pid": dead.pid},
           {"ts": t0 + 3600 + 3725, "type": "step_done", "node": "OCTO3", "step": "install"})
    _plant(running, {"ts": now - 42.3, "type": "run_started", "mode": "create", "nodes": ["OCTO1"],
                     "pid": os.getpid()})
    assert runs_command(home) == 0
    lines = capsys.readouterr().out.splitlines()

    def local(ts: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))

    assert lines[0].split() == ["RUN", "STATUS", "MODE", "START", "DURATION", "NODES"]
    assert lines[1].split() == [done.name, "done", "create", *local(t0).split(), "3m12s", "OCTO1,OCTO2"]
    assert lines[2].split() == [crashed.name, "crashed", "join", *local(t0 + 3600).split(), "1h02m", "OCTO3"]
    row = lines[3].split()
    assert row[:5] == [running.name, "running", "create", *local(now - 42.3).split()]
    assert row[5] == "running" and row[6] in ("0m42s", "0m43s") and row[7] == "OCTO1"
    # The columns line up under their headings.
    start = lines[0].index("START")
    assert [line[start:start + 16] for line in lines[1:]] == [local(t0), local(t0 + 3600), local(now - 42.3)]


def test_a_busy_run_and_a_lost_runner_have_their_own_status_and_exit_code(tmp_path: Path) -> None:
    home = tmp_path / "home"
    busy, lost = create_run_dir(home, new_run_id(1_700_000_000)), create_run_dir(home, new_run_id(1_700_000_100))
    with writer(busy) as j:
        j.run_started(mode="create", plan=PLAN)
        j.run_finished("busy", message="the cluster is busy: OCTO1 is leased to run x", hint="wait")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (lost / JOURNAL).write_text(json.dumps({"seq": 1, "ts": 1.0, "type": "run_started", "mode": "create",
                                            "nodes": ["OCTO1"], "pid": dead.pid}) + "\n")
    assert run_status(busy) == "busy" and run_status(lost) == "crashed"
    by_id = {s.id: s for s in list_runs(home)}
    assert by_id[busy.name].exit_code == 4 and by_id[lost.name].exit_code == 5
    with pytest.raises(ValueError, match="run status"), writer(create_run_dir(home)) as j:
        j.run_finished("lost")  # type: ignore[arg-type]
