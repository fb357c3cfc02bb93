"""The log viewer on a generated 1 GB Octopus-style log, in one run, against the aims of issue 10:

- time to the first screen of lines (aim: under 0.5 s): the engine alone (open, first batch, the last
  screenful read), and the viewer (a headless Textual app from its start until the file's last line is drawn);
- time to a complete line index against ``wc -l`` on the same file (aim: at most 1.5 times);
- a search (lines holding ``ERROR``) against ``grep -c ERROR`` (aim: at least half its speed), plus a
  case-insensitive one against ``grep -ci``;
- both as octotui runs them (a second core, a helper thread for the index and a child process for the count,
  only when the load average leaves one idle: ``octotui.logs.cpu``), and forced to one core and to two;
- peak memory of the viewer (aim: under 150 MB): a fresh process that opens the file in the viewer, waits for
  the complete index, counts a search, filters to ERROR and above and jumps to the last error.

The file is written under /tmp (``--dir``) and deleted afterwards; nothing is written in the repository. The
machine may be shared: each timing is the median of ``--rounds`` runs, the tools and octotui interleaved, on
the file as the page cache holds it after the first read; CPU seconds are printed beside wall times, and the
load average, since another process on the machine slows two threads more than one. Run:
``.venv/bin/python bench/logs_large.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEVELS = [b" INFO"] * 80 + [b"DEBUG"] * 8 + [b" WARN"] * 6 + [b"ERROR"] * 4 + [b"TRACE"] + [b"FATAL"]
MESSAGES = [b"Request took %dms: GET /api/octopusservernodes/ping", b"Task ServerTasks-%d started",
            b"Executing Health check for machine Machines-%d", b"Cleaning up old task logs in C:\\Octopus\\TaskLogs",
            b"Listening for HTTP requests on: http://+:80/", b"Node heartbeat recorded for OCTO1 (%d)"]
TRACE = (b"System.InvalidOperationException: Sequence contains no elements\r\n"
         b"   at System.Linq.Enumerable.First[TSource](IEnumerable`1 source)\r\n"
         b"   at Octopus.Server.Orchestration.ServerTasks.TaskQueue.Dequeue() in C:\\build\\TaskQueue.cs:line 120\r\n")
PREFIX = b"2025-06-01 08:00"


def minute_template(seed: int = 7) -> bytes:
    """One minute of a busy server's log, every line starting with ``PREFIX``: NLog's layout, mostly INFO,
    an ERROR or FATAL entry with its stack trace now and then."""
    rnd = random.Random(seed)
    out = []
    ms = 0
    while True:
        ms += rnd.randrange(1, 20)
        if ms >= 60_000:
            break
        level = rnd.choice(LEVELS)
        message = rnd.choice(MESSAGES)
        if b"%d" in message:
            message = message % rnd.randrange(100_000)
        stamp = b"%s:%02d.%04d" % (PREFIX, ms // 1000, (ms % 1000) * 10)
        out.append(b"%s  %5d  %5d %s  %s\r\n" % (stamp, 4520, rnd.randrange(1, 60), level, message))
        if level in (b"ERROR", b"FATAL"):
            out.append(TRACE)
    return b"".join(out)


def generate(path: Path, size: int) -> None:
    """About ``size`` bytes of log, minute after minute (the template with each minute's own time)."""
    template = minute_template()
    start = dt.datetime(2025, 6, 1, 8, 0)
    written = 0
    minute = 0
    with open(path, "wb") as fh:
        while written < size:
            when = (start + dt.timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M").encode()
            block = template.replace(PREFIX, when)
            fh.write(block)
            written += len(block)
            minute += 1


CPU: list[float] = []  # CPU seconds of the last timed() command, or of the last in-process measurement


def timed(argv: list[str]) -> float:
    """Wall time of a command whose output goes to a pipe (GNU grep stops at the first match when its
    output is /dev/null, which would not be a count)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return took


def first_screen_engine(path: Path, rows: int = 50) -> float:
    from octotui.logs.document import LogDocument

    started = time.perf_counter()
    doc = LogDocument(path)
    batch = next(iter(doc.initial_batches()))
    doc.apply(batch)
    lines = doc.lines(max(0, doc.line_count - rows), rows)
    took = time.perf_counter() - started
    assert lines and lines[-1].text
    doc.close()
    return took


def full_index(path: Path, cores: int | None = None) -> tuple[float, int]:
    from octotui.logs import cpu as cores_in_use
    from octotui.logs.document import LogDocument

    cores_in_use.FORCE = None if cores is None else cores == 2
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        with LogDocument(path) as doc:
            doc.build()
            took = time.perf_counter() - started
            CPU.append(time.process_time() - cpu)
            return took, doc.line_count
    finally:
        cores_in_use.FORCE = None


def search_count(path: Path, text: str, cores: int | None = None) -> tuple[float, int]:
    """The count's wall time; its CPU seconds (this process's and its child's) go to ``CPU``."""
    from octotui.logs import cpu as cores_in_use
    from octotui.logs.document import LogDocument
    from octotui.logs.search import Query, count

    cores_in_use.FORCE = None if cores is None else cores == 2
    try:
        with LogDocument(path) as doc:  # a count needs no index: it reads the file's raw bytes
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = time.process_time()
            started = time.perf_counter()
            n = count(doc, Query(text))
            took = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            CPU.append(time.process_time() - cpu + after.ru_utime + after.ru_stime - before.ru_utime
                       - before.ru_stime)
            return took, int(n or 0)
    finally:
        cores_in_use.FORCE = None


VIEWER = r'''
import asyncio, resource, sys, time
from pathlib import Path
from textual.app import App
from octotui.logs.formats import Level
from octotui.logs.sources import file_source
from octotui.screens.logs import LogLines, LogScreen

path = Path(sys.argv[1])
screen = LogScreen([file_source(path)])

class Viewer(App):
    def on_mount(self):
        self.push_screen(screen)

async def main():
    started = time.perf_counter()
    app = Viewer()
    async with app.run_test(size=(160, 50)) as pilot:
        view = screen.query_one(LogLines)
        first = None
        while True:
            if first is None:  # (drawing every row each 10 ms would hold the GIL the index needs)
                drawn = [view.render_line(y).text for y in range(view.size.height)] if view.size.height else []
                if any("TaskQueue.cs:line 120" in t or "  INFO  " in t for t in drawn):
                    first = time.perf_counter() - started
            if screen.review is not None and screen.review.doc.complete:
                break
            await pilot.pause(0.01)
        indexed = time.perf_counter() - started
        review = screen.review
        await pilot.press("slash", *"ERROR", "enter")
        await pilot.press("c")
        while "lines match" not in screen.message:
            await pilot.pause(0.05)
        await pilot.press("l")
        while review.min_level is not Level.ERROR:
            await pilot.pause(0.05)
        await pilot.press("G", "E")
        await pilot.pause(0.5)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{first:.3f} {indexed:.3f} {rss:.1f} {review.row_count()}")

asyncio.run(main())
'''


def viewer_run(path: Path) -> tuple[float, float, float, str]:
    out = subprocess.run([sys.executable, "-c", VIEWER, str(path)], capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, TEXTUAL_ANIMATIONS="none",
                                  PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"))
    if out.returncode != 0:
        raise SystemExit(f"the viewer run failed:\n{out.stderr[-3000:]}")
    first, indexed, rss, rows = out.stdout.split()
    return float(first), float(indexed), float(rss), f"{int(rows):,} rows"


def verdict(ok: bool) -> str:
    return "meets the aim" if ok else "MISSES the aim"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated log (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per timing (the median is reported)")
    parser.add_argument("--dir", default="/tmp", help="where the file is written (and deleted)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="octotui-logs-bench-", dir=args.dir))
    path = folder / "OctopusServer.txt"
    try:
        started = time.perf_counter()
        generate(path, args.size_mb << 20)
        size = path.stat().st_size
        print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - started:.1f} s: {path}")
        timed(["wc", "-l", str(path)])  # into the page cache
        full_index(path)  # and numpy imported: each round times the work, not the first import
        keys = ("wc", "index", "index1", "index2", "grep", "count", "count1", "count2", "grepi", "counti")
        wall: dict[str, list[float]] = {k: [] for k in keys}
        cpu: dict[str, list[float]] = {k: [] for k in keys}
        first: list[float] = []
        lines = matches = matches_i = 0
        load = os.getloadavg()[0]

        def record(key: str, took: float) -> None:
            wall[key].append(took)
            cpu[key].append(CPU[-1])

        for _ in range(args.rounds):
            record("wc", timed(["wc", "-l", str(path)]))
            for key, cores in (("index", None), ("index1", 1), ("index2", 2)):
                took, found = full_index(path, cores)
                record(key, took)
                assert lines in (0, found)
                lines = found
            record("grep", timed(["grep", "-c", "ERROR", str(path)]))
            for key, cores in (("count", None), ("count1", 1), ("count2", 2)):
                took, found = search_count(path, "ERROR", cores)
                record(key, took)
                assert matches in (0, found)
                matches = found
            record("grepi", timed(["grep", "-ci", "error", str(path)]))
            took, matches_i = search_count(path, "error")
            record("counti", took)
            first.append(first_screen_engine(path))
        expected = int(subprocess.run(["wc", "-l", str(path)], capture_output=True, text=True).stdout.split()[0])
        grep_n = int(subprocess.run(["grep", "-c", "ERROR", str(path)], capture_output=True, text=True).stdout)
        assert lines == expected and matches == grep_n, (lines, expected, matches, grep_n)
        m = statistics.median
        print(f"lines {lines:,}; lines with ERROR {matches:,} (grep -c agrees); case-insensitive {matches_i:,}")
        print(f"first screen, engine: {m(first) * 1000:.1f} ms (aim < 500 ms): {verdict(m(first) < 0.5)}")
        w = {k: m(v) for k, v in wall.items()}
        c = {k: m(v) for k, v in cpu.items()}
        print(f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} now ({os.cpu_count()} CPUs)")
        ratio = w["index"] / w["wc"]
        print(f"complete index: {w['index']:.2f} s (CPU {c['index']:.2f} s); wc -l: {w['wc']:.2f} s (CPU "
              f"{c['wc']:.2f} s); ratio {ratio:.2f} (aim <= 1.5): {verdict(ratio <= 1.5)}")
        for key, what in (("index1", "one thread"), ("index2", "two threads")):
            print(f"  forced to {what}: {w[key]:.2f} s (CPU {c[key]:.2f} s); ratio {w[key] / w['wc']:.2f}")
        speed = w["grep"] / w["count"]
        print(f"search ERROR: {w['count']:.2f} s (CPU {c['count']:.2f} s); grep -c: {w['grep']:.2f} s (CPU "
              f"{c['grep']:.2f} s); speed {speed:.2f} of grep's (aim >= 0.5): {verdict(speed >= 0.5)}")
        for key, what in (("count1", "one process"), ("count2", "two processes")):
            print(f"  forced to {what}: {w[key]:.2f} s (CPU {c[key]:.2f} s); speed {w['grep'] / w[key]:.2f}")
        print(f"search error (ignoring case): {w['counti']:.2f} s (CPU {c['counti']:.2f} s); grep -ci: "
              f"{w['grepi']:.2f} s (CPU {c['grepi']:.2f} s); speed {w['grepi'] / w['counti']:.2f} of grep's")
        first_view, indexed, rss, note = viewer_run(path)
        print(f"viewer: first screen {first_view * 1000:.0f} ms (aim < 500 ms): {verdict(first_view < 0.5)}; "
              f"index complete at {indexed:.2f} s (from the app's start); then a count, the ERROR+ filter "
              f"({note}) and a jump to the last error")
        print(f"viewer peak memory: {rss:.0f} MB (aim < 150 MB): {verdict(rss < 150)}")
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
