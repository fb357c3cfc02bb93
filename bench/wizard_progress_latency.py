"""Key-to-screen latency on the wizard's progress screen while 8 nodes stream output (aim: p95 under 100 ms).

What runs:

- a **writer process** (``--writer``, started by this script) plays a run: ``run_started`` with a plan of
  ``--nodes`` nodes x ``--steps`` steps, then every node in a running step that streams output, a step ending
  and the next starting every ``--step-seconds``. It writes through the engine's own
  ``octotui.run.journal.JournalWriter`` (journal events, step logs, redaction, an fsync per event), as the
  detached runner does, in its own process as the runner is. ``--rate`` lines per second in all (default
  2,000), in ticks of 20 ms: each tick each node writes one chunk of ``rate / nodes / 50`` lines (5 by
  default: 400 events a second), as a WinRM receive hands over what a command printed since the last one.
  ``--chunk-lines 1`` writes every line as its own event (2,000 events a second).
- the **wizard** (``WizardApp``, attached to that run as ``octotui attach`` or the welcome screen's "Attach"
  do) runs headless in this process through ``App.run_test`` at ``--size``, following the journal.
- a **key thread** plays the terminal: every ``--interval`` seconds (jittered +-30 %) it takes a timestamp
  and hands one key to the app's driver (``driver.send_message``, the path the Linux driver's input thread
  uses), then waits for the screen to show the key's effect. Keys: ``down``/``up`` move the step table's
  selection (to the bottom, back to the top); every 10th press is ``l`` (the running step's log opens in a
  screen of its own, read from disk) answered by ``escape`` (back to the progress screen).

How "the screen shows it" is timed: the app's ``_display`` (where Textual hands each compositor update to
the terminal; headless, it would write nothing, so this bench renders the update to terminal bytes there,
as a real terminal session pays for) takes a timestamp and checks the key's effect (the table's cursor row,
another screen on top, the progress screen back on top). The first update after the key that shows it ends
the sample: latency = that moment minus the key's timestamp. A key whose effect is not shown within 2 s
counts as 2 s (a miss).

Also reported: the lines the writer really wrote per second, and the follow lag (how old the newest event
is when its batch is folded into the screen).

    python bench/wizard_progress_latency.py [--seconds 30] [--rate 2000] [--nodes 8] [--chunk-lines 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

AIM_P95_MS = 100.0
TICK_S = 0.02
MISS_S = 2.0


# --- the writer process --------------------------------------------------------------------------------

def writer_main(run_dir: Path, nodes: int, steps: int, rate: float, chunk_lines: int, step_seconds: float,
                max_seconds: float) -> None:
    from octotui.run.journal import JournalWriter, plan_summary
    from octotui.secrets.redact import Redactor

    names = [f"OCTO{i}" for i in range(1, nodes + 1)]
    step_ids = [f"step-{j:02d}" for j in range(1, steps + 1)]
    redactor = Redactor()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lines_per_tick = rate * TICK_S / nodes  # per node
    written = 0
    with JournalWriter(run_dir, redactor, stream_redactor=redactor.stream) as journal:
        journal.run_started(mode="create", plan=plan_summary({n: [(s, f"{s} on {n}") for s in step_ids]
                                                              for n in names}))
        current = dict.fromkeys(names, 0)
        for n in names:
            journal.step_started(n, step_ids[0], f"{step_ids[0]} on {n}")
        started = time.monotonic()
        # Nodes change step at staggered moments, as parallel joins do.
        next_step = {n: started + step_seconds * (1 + i / nodes) for i, n in enumerate(names)}
        owed = dict.fromkeys(names, 0.0)
        counter = 0
        tick = started
        print(json.dumps({"ready": True}), flush=True)
        while not stop.is_set() and time.monotonic() - started < max_seconds:
            now = time.monotonic()
            for n in names:
                step = step_ids[current[n] % steps]
                owed[n] += lines_per_tick
                take = int(owed[n])
                while take >= 1:
                    k = min(take, chunk_lines)
                    text = "".join(f"{time.strftime('%H:%M:%S')} [{n}] {step}: copying component {counter + i:07d} "
                                   f"to C:\\Program Files\\Octopus Deploy\\Octopus ... ok\n" for i in range(k))
                    counter += k
                    journal.step_output(n, step, "stdout", text)
                    written += k
                    take -= k
                    owed[n] -= k
                if now >= next_step[n]:
                    journal.step_done(n, step, changed=True, duration_ms=int(step_seconds * 1000))
                    current[n] += 1
                    nxt = step_ids[current[n] % steps]
                    journal.step_started(n, nxt, f"{nxt} on {n}")
                    next_step[n] = now + step_seconds
            tick += TICK_S
            delay = tick - time.monotonic()
            if delay > 0:
                stop.wait(delay)
        elapsed = time.monotonic() - started
    print(json.dumps({"lines": written, "seconds": round(elapsed, 3)}), flush=True)


# --- the measuring side --------------------------------------------------------------------------------

class Sample:
    def __init__(self, key: str, shown: Callable[[], bool]) -> None:
        self.key = key
        self.shown = shown
        self.t0 = 0.0
        self.t1: float | None = None
        self.done = threading.Event()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def make_app(home: Path, run_dir: Path) -> Any:
    from octotui.screens.app import WizardApp
    from octotui.screens.progress import ProgressScreen

    class Measured(WizardApp):
        """The wizard with a clock at the point where a screen update goes to the terminal."""

        pending: Sample | None = None
        lags: ClassVar[list[float]] = []

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is not None and self.is_headless:
                with contextlib.suppress(Exception):  # what a terminal session pays for: the bytes
                    renderable.render_segments(self.console)
            sample = self.pending
            if sample is not None and sample.t1 is None and sample.shown():
                sample.t1 = time.perf_counter()
                self.pending = None
                sample.done.set()

    app = Measured(home=home, attach=run_dir, offline=True)

    # The follow lag: how old the newest event is when its batch is folded into the screen.
    original = ProgressScreen.on_run_events

    def on_run_events(self: Any, message: Any) -> None:
        original(self, message)
        stamps = [e.get("ts") for e in message.events if isinstance(e.get("ts"), int | float)]
        if stamps:
            Measured.lags.append(time.time() - max(stamps))

    ProgressScreen.on_run_events = on_run_events  # type: ignore[method-assign]
    return app


async def measure(app: Any, args: argparse.Namespace) -> dict[str, Any]:
    from octotui.screens.progress import ProgressScreen
    from octotui.screens.widgets.step_table import StepTable
    from textual import events

    samples: list[Sample] = []
    async with app.run_test(size=args.size) as pilot:
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, ProgressScreen) and app.screen.view.rows
                   and app.screen.query_one("#steps", StepTable).row_count >= args.nodes * args.steps):
            if time.monotonic() > deadline:
                raise SystemExit(f"the progress screen did not show the run (screen {type(app.screen).__name__})")
            await pilot.pause(0.05)
        progress = app.screen
        table = progress.query_one("#steps", StepTable)
        table.focus()
        await pilot.pause(args.warmup)
        rows = table.row_count
        finished = threading.Event()
        driver = app._driver

        def keys() -> None:
            row, step = 0, 1
            end = time.monotonic() + args.seconds
            n = 0
            while time.monotonic() < end:
                time.sleep(args.interval * random.uniform(0.7, 1.3))
                n += 1
                if n % 10 == 0:
                    plan = [("l", lambda: app.screen is not progress),
                            ("escape", lambda: app.screen is progress)]
                else:
                    if not 0 <= row + step < rows:
                        step = -step
                    row += step
                    target = row
                    plan = [("down" if step > 0 else "up", lambda t=target: table.cursor_row == t)]
                for key, shown in plan:
                    sample = Sample(key, shown)
                    app.pending = sample
                    event = events.Key(key, None)
                    event.set_sender(app)  # as the driver's input thread does
                    sample.t0 = time.perf_counter()
                    driver.send_message(event)
                    if not sample.done.wait(MISS_S):
                        sample.t1 = sample.t0 + MISS_S
                        app.pending = None
                    samples.append(sample)
                    if key == "l":
                        time.sleep(args.interval * random.uniform(0.7, 1.3))
            finished.set()

        thread = threading.Thread(target=keys, daemon=True)
        thread.start()
        while not finished.is_set():
            await pilot.pause(0.1)
        output_lines = progress.query_one("#output").line_count
        assert app.unhandled == [], app.unhandled
    ms = {k: [(s.t1 - s.t0) * 1000 for s in samples if s.key in k and s.t1 is not None]
          for k in (("down", "up"), ("l",), ("escape",))}
    every = [(s.t1 - s.t0) * 1000 for s in samples if s.t1 is not None]
    return {"all": every, "move": ms[("down", "up")], "open_log": ms[("l",)], "close_log": ms[("escape",)],
            "misses": sum(1 for s in samples if s.t1 is not None and s.t1 - s.t0 >= MISS_S),
            "lags": [x * 1000 for x in type(app).lags], "output_lines": output_lines}


def fmt(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<22} (no samples)"
    return (f"  {name:<22} n={len(values):<4} p50 {statistics.median(values):6.1f} ms  "
            f"p95 {percentile(values, 95):6.1f} ms  max {max(values):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long keys are pressed (default 30)")
    parser.add_argument("--warmup", type=float, default=3.0, help="streaming before the first key (default 3)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between keys (default 0.2)")
    parser.add_argument("--rate", type=float, default=2000.0, help="output lines per second in all")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8, help="steps per node")
    parser.add_argument("--chunk-lines", type=int, default=5, help="lines per output event at most")
    parser.add_argument("--step-seconds", type=float, default=4.0, help="how long each step streams")
    parser.add_argument("--size", default="120x40", help="terminal size, COLSxROWS")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer is not None:
        writer_main(args.writer, args.nodes, args.steps, args.rate, args.chunk_lines, args.step_seconds,
                    args.max_seconds)
        return
    cols, rows = (int(x) for x in args.size.lower().split("x"))
    args.size = (cols, rows)
    with tempfile.TemporaryDirectory(prefix="octotui-latency-") as tmp:
        home = Path(tmp) / "home"
        os.environ["OCTOTUI_HOME"] = str(home)
        os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        run_dir = home / "runs" / time.strftime("%Y%m%d-%H%M%S-0001")
        writer = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(run_dir), "--nodes", str(args.nodes), "--steps",
             str(args.steps), "--rate", str(args.rate), "--chunk-lines", str(args.chunk_lines), "--step-seconds",
             str(args.step_seconds), "--max-seconds", str(args.seconds + args.warmup + 120)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        if not writer.stdout.readline():
            raise SystemExit(f"the writer did not start (exit {writer.wait()})")
        try:
            result = asyncio.run(measure(make_app(home, run_dir), args))
        finally:
            writer.send_signal(signal.SIGTERM)
            tail = writer.communicate(timeout=60)[0]
        wrote = json.loads(tail.strip().splitlines()[-1])
        journal_mb = (run_dir / "journal.jsonl").stat().st_size / 1e6
    p95 = percentile(result["all"], 95)
    print(f"progress screen, {args.nodes} nodes, {args.rate:.0f} lines/s asked, {args.chunk_lines} lines/event, "
          f"{cols}x{rows}, keys every {args.interval:.2f} s for {args.seconds:.0f} s")
    print(f"  writer wrote {wrote['lines'] / wrote['seconds']:.0f} lines/s ({wrote['lines']} lines, journal "
          f"{journal_mb:.1f} MB); output pane holds {result['output_lines']} lines")
    print(fmt("all keys", result["all"]))
    print(fmt("move selection", result["move"]))
    print(fmt("open step log (l)", result["open_log"]))
    print(fmt("back (escape)", result["close_log"]))
    print(fmt("follow lag", result["lags"]))
    print(f"  misses (> {MISS_S:.0f} s): {result['misses']}")
    moves = percentile(result["move"], 95)
    for what, value in (("keys on the progress screen (selection)", moves), ("all keys", p95)):
        verdict = "meets" if value < AIM_P95_MS else "misses"
        print(f"{what}: p95 {value:.1f} ms, {verdict} the aim (< {AIM_P95_MS:.0f} ms)")


if __name__ == "__main__":
    main()
