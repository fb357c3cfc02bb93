"""Progress: every node's steps with their state and timing, the running steps' live output, an overall bar.

The screen follows the run's journal (the detached runner writes it; this process only reads), so it can
attach to a run started by ``octotui apply`` or by an earlier wizard, and quitting it leaves the run going.
A thread worker polls the journal and posts one message per batch of events; the screen folds them with
``octotui.run.view.RunView`` and writes output lines to the log in one call per batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from octotui.screens.base import BaseScreen
from octotui.screens.dialogs import ConfirmDialog
from octotui.screens.master_key import MasterKeyDialog
from octotui.screens.messages import RunEvents, TaskDone
from octotui.screens.widgets.glyphs import glyph
from octotui.screens.widgets.step_table import StepTable
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Label, Log, ProgressBar, Static
from textual.worker import get_current_worker

from octotui.run.progress import fmt_duration
from octotui.run.view import RunView, StepRow, step_log_tail

#: How often the journal is read.
POLL_S = 0.1
#: The step table's columns: label and width (the title as wide as the longest).
COLUMNS: tuple[tuple[str, int | None], ...] = (("Node", 10), ("Step", 16), ("State", 12), ("Time", 7),
                                                ("Title", None))


def _row_key(key: tuple[str, str]) -> str:
    return f"{key[0]}\x1f{key[1]}"


class ProgressScreen(BaseScreen):
    TITLE_TEXT = "Progress"
    HELP = """
Each node's steps: waiting, running, changed or unchanged (the node was already as wanted), failed, or
skipped (the run ended before it), with how long each took. Below, the running steps' live output.

The run is its own process: ctrl+q (or a lost SSH session) leaves it going; start octotui again to attach.
On a failure: r retries (resumes the run: steps already done are skipped quickly), a asks the run to stop
at a safe point, l shows the failed step's log. In create mode the joins wait until you confirm that the
master key is recorded (k shows it again).
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("r", "retry", "Retry", id="retry"),
        Binding("a", "abort", "Abort", id="abort"),
        Binding("l", "view_log", "View log", id="view-log"),
        Binding("k", "show_key", "Master key", id="show-key"),
        Binding("ctrl+n", "finish", "Finish", id="next", priority=True),
        Binding("f1", "help", "Help", id="help"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__(classes="progress-screen")
        self.run_dir = Path(run_dir)
        self.view = RunView()
        self.status = "running"
        self.master_key: str | None = None
        self._key_dialog_open = False
        self._key_asked = False
        self._finish_opened = False
        self._row_keys: dict[tuple[str, str], str] = {}
        self._failure_shown: tuple[object, ...] | None = None
        self.last_event_at = 0.0

    def compose(self) -> ComposeResult:
        yield Label(f"Run {self.run_dir.name}", id="run-title", classes="screen-title", markup=False)
        yield ProgressBar(total=1, show_eta=False, id="overall")
        with Horizontal(id="progress-main"):
            yield StepTable(COLUMNS, id="steps")
        with Vertical(id="failure"):
            yield Static("", id="failure-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Retry (r)", id="retry", variant="primary")
                yield Button("Abort (a)", id="abort")
                yield Button("View log (l)", id="view-log")
        yield Log(max_lines=2000, id="output", auto_scroll=True)
        yield Static("", id="status", classes="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#failure").display = False
        self.follow()
        self.set_interval(1.0, self._tick)

    # --- following the journal -----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False, description="follow the run")
    def follow(self) -> None:
        from octotui.run.journal_read import JournalTail, runner_alive, status_of

        worker = get_current_worker()
        tail = JournalTail(self.run_dir)
        # The status comes from the events the tail has read (the latest run_started and the run_finished
        # after it) and, until the run ends, whether its runner lives (checked once a second): the journal
        # is read once, as it grows, never again whole (it holds every output line of a long run).
        marks: list[dict[str, object]] = []
        alive, next_alive = True, 0.0
        status, last_status = "running", ""
        while not worker.is_cancelled:
            events = tail.poll()
            for event in events:
                if event.get("type") == "run_started":
                    marks = [event]
                elif event.get("type") == "run_finished":
                    marks.append(event)
            now = time.monotonic()
            if now >= next_alive and not any(m.get("type") == "run_finished" for m in marks):
                alive = runner_alive(self.run_dir, marks)
                next_alive = now + 1.0
            status = status_of(marks, alive)
            if events or status != last_status:
                self.post_message(RunEvents(events, status))
                last_status = status
            time.sleep(POLL_S)

    def on_run_events(self, message: RunEvents) -> None:
        lines: list[str] = []
        touched: set[tuple[str, str]] = set()
        restarted = False
        for event in message.events:
            kind = event.get("type")
            if kind == "run_started":
                restarted = True
            new = self.view.apply(event)
            lines.extend(f"{node}| {line}" for node, line in new)
            if event.get("node") is not None and event.get("step") is not None:
                touched.add((str(event.get("node")), str(event.get("step"))))
            if kind == "run_finished" or (kind == "run_started" and self.view.rows):
                touched.update(self.view.rows)
        if message.events:
            self.last_event_at = time.monotonic()
        self.status = "running" if message.status == "running" and not self.view.finished else (
            self.view.progress.final_status or message.status)
        if restarted:
            self._rebuild_table()
        else:
            self._update_rows(touched)
        if lines:
            self.query_one("#output", Log).write_lines(lines)
        self._update_header()
        self._update_failure()
        if self.view.waiting_for_key and not self._key_asked:
            self._key_asked = True
            self.fetch_key()
        if self.status == "done" and not self._finish_opened and self.view.rows:
            self._finish_opened = True
            self.wizard.open_finish(self.run_dir)

    def _row_cells(self, row: StepRow) -> tuple[str, str, str, str, str]:
        took = ""
        if row.duration_ms is not None:
            took = f"{row.duration_ms / 1000:.1f}s"
        elif row.state == "running" and row.started:
            took = fmt_duration(time.time() - row.started)
        mark = glyph(row.state, self.wizard.ascii_only)
        return row.node, row.step, f"{mark} {row.state}", took, row.title

    def _rebuild_table(self) -> None:
        table = self.query_one("#steps", StepTable)
        table.clear()
        self._row_keys = {}
        for key, row in self.view.rows.items():
            self._row_keys[key] = _row_key(key)
            table.add_row(self._row_keys[key], self._row_cells(row))

    def _update_rows(self, keys: set[tuple[str, str]]) -> None:
        """Show these steps' rows as they are now; the table repaints only the lines that changed (output
        arriving for a step changes none of its cells)."""
        table = self.query_one("#steps", StepTable)
        for key in keys:
            row = self.view.rows.get(key)
            if row is None:
                continue
            if key not in self._row_keys:
                self._row_keys[key] = _row_key(key)
                table.add_row(self._row_keys[key], self._row_cells(row))
            else:
                table.update_row(self._row_keys[key], self._row_cells(row))

    def _tick(self) -> None:
        running = [(r.node, r.step) for r in self.view.running()]
        if running:
            self._update_rows(set(running))
        self._update_header()

    def _update_header(self) -> None:
        done, total = self.view.totals()
        bar = self.query_one("#overall", ProgressBar)
        bar.update(total=max(total, 1), progress=done)
        progress = self.view.progress
        elapsed = ""
        if progress.started:
            end = progress.last_ts if progress.final_status else time.time()
            elapsed = fmt_duration((end or progress.started) - progress.started)
        state = {"running": "running", "done": "done", "failed": "FAILED", "cancelled": "cancelled",
                 "crashed": "stopped unexpectedly (resume it)"}.get(self.status, self.status)
        if self.view.waiting_for_key:
            state = "waiting for you to confirm the master key (k)"
        mode = f" {progress.mode}" if progress.mode else ""
        title = f"Run {self.run_dir.name}{mode}  {state}  {elapsed}  {done}/{total} steps"
        if title != getattr(self, "_title_shown", None):
            self._title_shown = title
            # One line of fixed size: repainted, without laying the whole screen out again.
            self.query_one("#run-title", Label).update(title, layout=False)

    def _update_failure(self) -> None:
        failures = self.view.failures()
        shown = (self.status, *((r.node, r.step, r.error) for r in failures[:2]))
        if shown == self._failure_shown:
            return  # unchanged: the failed steps' logs are not read again for every batch
        self._failure_shown = shown
        box = self.query_one("#failure")
        if not failures and self.status not in ("crashed", "cancelled"):
            box.display = False
            return
        text: list[str] = []
        for row in failures[:2]:
            text.append(f"{row.node} {row.step} failed: {row.error}")
            tail = step_log_tail(self.run_dir, row.node, row.step, 4)
            text += [f"  | {line}" for line in tail]
            if row.hint:
                text.append(f"What to do: {row.hint}")
        if self.status == "crashed":
            text.append("The run's process ended without finishing (killed, or the machine went down). "
                        "Retry resumes it.")
        elif self.status == "cancelled" and not failures:
            text.append("The run stopped at a safe point. Retry resumes it.")
        self.query_one("#failure-text", Static).update("\n".join(text))
        box.display = True

    # --- the master key ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="key", exit_on_error=False)
    def fetch_key(self) -> None:
        from octotui.checks.live import node_specs, winrm_settings
        from octotui.run.cluster_facts import read_master_key

        try:
            winrm = winrm_settings(self.state.data)
            nodes = node_specs(self.state.data, winrm) if winrm else []
            if winrm is None or not nodes:
                raise ValueError("the answers for this run are not loaded")
            instance = str(self.state.data.get("instance") or "OctopusServer")
            key = read_master_key(nodes[0][1], winrm, self.state.secrets.get("winrm"), instance)
            self.post_message(TaskDone("master-key", (key, nodes[0][1].name)))
        except Exception as exc:
            self.post_message(TaskDone("master-key", error=exc))

    def on_task_done(self, message: TaskDone) -> None:
        if message.name == "master-key":
            if message.error is not None:
                self.set_status(f"Could not read the master key here ({message.error}); read it on the first "
                                "node with `Octopus.Server.exe show-master-key`, then press k to confirm", "warn")
                self.master_key = ""
                self.action_show_key()
                return
            self.master_key, node = message.value
            self.state.secrets["created_master_key"] = self.master_key
            self._open_key_dialog(node)
        elif message.name == "retry":
            if message.error is not None:
                self.wizard.report_error(message.error, "Resuming the run")
            else:
                self.set_status("Resumed", "pass")
                self._key_asked = False

    def _open_key_dialog(self, node: str) -> None:
        if self._key_dialog_open:
            return
        self._key_dialog_open = True

        def answered(ok: bool | None) -> None:
            self._key_dialog_open = False
            if ok:
                from octotui.run.key_gate import confirm_master_key

                confirm_master_key(self.run_dir)
                self.set_status("Master key confirmed: the other nodes join now", "pass")
            else:
                self.set_status("The joins wait until you confirm the master key (k)", "warn")

        self.app.push_screen(MasterKeyDialog(self.master_key or "", node), answered)

    def action_show_key(self) -> None:
        if not self.view.waiting_for_key and not self.master_key:
            self.set_status("No master key to show (it appears once the first node is configured)")
            return
        if self.master_key is None:
            self.fetch_key()
            return
        first = next(iter(self.view.progress.nodes), "the first node")
        self._open_key_dialog(first)

    # --- failure actions -----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"retry": self.action_retry, "abort": self.action_abort, "view-log": self.action_view_log}.get(
            str(event.button.id), lambda: None)()

    def action_retry(self) -> None:
        if self.status == "running":
            self.set_status("The run is still going; Retry is for a failed or stopped run", "warn")
            return
        self.set_status("Resuming the run…")
        self.retry()

    @work(thread=True, exclusive=True, group="retry", exit_on_error=False)
    def retry(self) -> None:
        from octotui.run.start import run_answers, start_run

        try:
            answers = self.state.answers_file or run_answers(self.run_dir)
            if answers is None:
                raise ValueError("this run does not record its answers file; resume it with "
                                 f"`octotui apply ANSWERS --resume {self.run_dir.name}`")
            start_run(answers, self.state.secrets, resume=self.run_dir,
                      confirm_master_key=self.state.mode == "create")
            self.post_message(TaskDone("retry", True))
        except Exception as exc:
            self.post_message(TaskDone("retry", error=exc))

    def action_abort(self) -> None:
        if self.status != "running":
            self.set_status("The run is not running", "warn")
            return

        def answered(ok: bool | None) -> None:
            if ok:
                from octotui.run.cancel import request_cancel

                request_cancel(self.run_dir, reason="aborted from the wizard")
                self.set_status("Stop requested: the run stops at the next safe point", "warn")

        self.app.push_screen(ConfirmDialog("Abort the run?", "The run stops at the next safe point (between "
                                           "steps); Retry continues it later.", yes="Abort"), answered)

    def action_view_log(self) -> None:
        rows = self.view.failures() or self.view.running() or [r for r in self.view.rows.values()
                                                               if r.state != "waiting"][-1:]
        if not rows:
            self.set_status("No step has output yet")
            return
        row = rows[0]
        from octotui.screens.logs import review_run

        # The step's whole log in the log viewer; a failed step's opens at the line it failed at.
        review_run(self.app, self.run_dir, node=row.node, step=row.step,
                   failure=(row.error or "failed") if row.state == "failed" else None)

    def action_finish(self) -> None:
        if self.status == "done":
            self.wizard.open_finish(self.run_dir)
        else:
            self.set_status("The cluster health view opens when the run is done", "warn")
