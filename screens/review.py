"""Review: the whole plan per node with who each step runs as (secrets masked), warnings to confirm, the
answers saved (no secrets), then the run starts in its own process."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from octotui.screens.base import BaseScreen
from octotui.screens.messages import TaskDone
from octotui.screens.widgets.wrap import hanging
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Footer, Input, Label, Static

from octotui.run.prepare import Preparation


class ReviewScreen(BaseScreen):
    NAME = "review"
    TITLE_TEXT = "Review and start"
    HELP = """
Every remote step per node, in order, with the identity it runs as (secrets are masked). The first node
runs alone in create mode; the master key is then shown to you, and the other nodes join in parallel once
you confirm it is recorded.

Warnings (no certificate validation, the double hop) must each be confirmed. ctrl+n saves the answers
(no secrets) to the file named below and starts the run in its own process: quitting the wizard or losing
the SSH session leaves it going; starting octotui again offers to attach.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+n", "start", "Start", id="next", priority=True),
        Binding("ctrl+b", "back", "Back", id="back", priority=True),
        Binding("f1", "help", "Help", id="help"),
    ]

    def __init__(self, resume: Path | None = None) -> None:
        super().__init__(classes="wizard-screen")
        self.resume = resume
        self.prep: Preparation | None = None

    def compose(self) -> ComposeResult:
        title = "Review and resume" if self.resume else self.TITLE_TEXT
        yield Label(f"{title}  ({self.state.mode} mode)", classes="screen-title", markup=False)
        with VerticalScroll(id="form"):
            yield Static("", id="problems", markup=False)
            yield Static("", id="warnings-title", markup=False)
            yield VerticalScroll(id="warnings")
            yield Static("", id="plan", markup=False)
            yield Label("Save the answers (no secrets) to", markup=False)
            yield Input(str(self.default_path()), id="answers-path")
        yield Static("", id="status", classes="status", markup=False)
        yield Footer()

    def default_path(self) -> Path:
        from octotui.home import octotui_home

        return self.state.answers_file or (octotui_home() / "wizard" / "answers.toml")

    def on_mount(self) -> None:
        from octotui.plan.build import format_plan
        from octotui.run.prepare import prepare
        from octotui.secrets.redact import default_redactor

        prep = prepare(self.state.data, self.state.secrets)
        self.prep = prep
        problems = self.query_one("#problems", Static)
        if prep.problems:
            problems.update("Not ready to start:\n" + "\n".join(
                f"  {p.key}: {p.message}" + (f" ({p.fix})" if p.fix else "") for p in prep.problems))
            problems.add_class("-fail")
        else:
            problems.display = False
        if prep.warnings:
            self.query_one("#warnings-title", Static).update("Warnings: confirm each one to start")
            box = self.query_one("#warnings", VerticalScroll)
            for i, w in enumerate(prep.warnings):
                box.mount(Checkbox(f"I accept: {w}", id=f"warn-{i}"))
        else:
            self.query_one("#warnings-title", Static).display = False
            self.query_one("#warnings", VerticalScroll).display = False
        if prep.plan is not None:
            text = default_redactor().redact(format_plan(prep.plan))
            self.query_one("#plan", Static).update(hanging(text, max(40, self.app.size.width - 4)))
        self.set_status("ctrl+n saves the answers and starts the run" if prep.ok else
                        "ctrl+b goes back to fix the answers", "" if prep.ok else "fail")

    def action_back(self) -> None:
        self.wizard.go_back()

    def action_start(self) -> None:
        if self.wizard.offline:
            self.set_status("Offline (screenshots and tests): nothing is started", "warn")
            return
        prep = self.prep
        if prep is None or not prep.ok:
            self.set_status("Not ready: fix the problems listed above first (ctrl+b goes back)", "fail")
            self.app.bell()
            return
        unconfirmed = [c for c in self.query(Checkbox) if c.id and c.id.startswith("warn-") and not c.value]
        if unconfirmed:
            self.set_status("Confirm each warning first (tick its box)", "warn")
            unconfirmed[0].focus()
            self.app.bell()
            return
        path = Path(self.query_one("#answers-path", Input).value.strip() or str(self.default_path())).expanduser()
        self.set_status("Saving the answers and starting the run…")
        self.start(path)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def start(self, path: Path) -> None:
        from octotui.run.start import start_run
        from octotui.spec.writer import write_answers_file

        try:
            write_answers_file(path, self.state.data)
            run_dir = start_run(path, self.state.secrets, resume=self.resume,
                                confirm_master_key=self.state.mode == "create")
            self.post_message(TaskDone("started", (path, run_dir)))
        except Exception as exc:
            self.post_message(TaskDone("started", error=exc))

    def on_task_done(self, message: TaskDone) -> None:
        if message.name != "started":
            return
        if message.error is not None:
            self.set_status("The run did not start", "fail")
            self.wizard.report_error(message.error, "Starting the run")
            return
        path, run_dir = message.value
        self.state.answers_file = path
        self.state.run_dir = run_dir
        self.wizard.open_progress(run_dir)
