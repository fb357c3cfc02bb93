"""Welcome: create a cluster, join nodes, guided join, runs (attach, resume, review), open answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from octotui.screens.base import BaseScreen
from octotui.screens.messages import TaskDone
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from octotui.spec.draft import Draft

ACTIONS = [
    ("create", "Create a cluster", "a new Octopus HA cluster: the first node, then the others"),
    ("join", "Join nodes to a cluster", "add nodes with the cluster's master key"),
    ("guided", "Guided join", "read the settings from a node of the existing cluster"),
    ("open", "Open an answers file", "fill the wizard from an answers file (TOML)"),
    ("logs", "Review logs", "this and earlier runs' logs, and the nodes' logs over WinRM"),
    ("diagnostics", "Diagnostics", "terminal type, colours, size and a key tester"),
]


class WelcomeScreen(BaseScreen):
    TITLE_TEXT = "Welcome"
    HELP = """
octotui installs Octopus Deploy Server in High Availability on Windows nodes joined to Active Directory.
Choose with the arrows and Enter (or the letter keys shown in the footer).

Runs: a run in progress can be attached to (it goes on without the wizard); a failed or cancelled run can
be resumed; a finished run can be reviewed (the cluster's health). ctrl+p opens the command palette,
ctrl+q quits.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("c", "choose('create')", "Create", id="create"),
        Binding("j", "choose('join')", "Join", id="join"),
        Binding("g", "choose('guided')", "Guided join", id="guided"),
        Binding("o", "choose('open')", "Open", id="open"),
        Binding("l", "choose('logs')", "Logs", id="logs", show=False),
        Binding("d", "choose('diagnostics')", "Diagnostics", id="diagnostics"),
        Binding("f1", "help", "Help", id="help"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("octotui: Octopus Deploy High Availability installer", classes="screen-title", markup=False)
        with Vertical(id="form"):
            yield OptionList(id="actions")
            yield Input(placeholder="path of an answers file, then Enter", id="open-path")
            yield Static("", id="runs-note", markup=False)
        yield Static("", id="status", classes="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#open-path", Input).display = False
        self.fill()

    def fill(self) -> None:
        """The choices at once; the draft and the runs come from a worker started after the first paint
        (reading them needs the engine's answers parser and every run's journal) and join the list."""
        options = self.query_one("#actions", OptionList)
        options.clear_options()
        for key, title, what in ACTIONS:
            options.add_option(Option(f"{title}  - {what}", id=key))
        options.highlighted = 0
        options.focus()
        # Once the screen and its footer are painted: the worker's imports and reads would otherwise hold
        # the interpreter while they are (Python runs one thread at a time).
        self.set_timer(0.15, self.load_runs)

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def load_runs(self) -> None:
        from octotui.run.journal_read import list_runs
        from octotui.spec.draft import load_draft

        try:
            draft = load_draft(self.wizard.home)
            self.post_message(TaskDone("runs", (draft, list_runs(self.wizard.home)[-6:])))
        except Exception as exc:
            self.post_message(TaskDone("runs", error=exc))

    def _offer_draft(self, options: OptionList, draft: Draft) -> None:
        """Put "Continue where you left off" first; the highlight stays where the user moved it meanwhile."""
        if not self.state.data:  # "Create" keeps what the draft has typed (hosts, accounts)
            self.state.data = draft.data
            self.state.answers_file = Path(draft.answers_file) if draft.answers_file else None
        if draft.screen in ("welcome", "") or not draft.data:
            return
        current = options.highlighted_option
        moved = current is not None and options.highlighted != 0
        rest = list(options.options)
        options.clear_options()
        options.add_option(Option(f"Continue where you left off ({draft.screen})", id="draft"))
        options.add_options(rest)
        options.highlighted = options.get_option_index(current.id) if moved and current and current.id else 0

    def on_task_done(self, message: TaskDone) -> None:
        if message.name != "runs" or message.error is not None:
            return
        options = self.query_one("#actions", OptionList)
        draft, found = message.value
        if draft is not None:
            self._offer_draft(options, draft)
        runs = list(reversed(found))
        verbs = {"running": "Attach to", "failed": "Resume", "cancelled": "Resume", "crashed": "Resume",
                 "done": "Review"}
        for r in runs:
            nodes = ",".join(r.nodes)
            options.add_option(Option(f"{verbs.get(r.status, 'Review')} run {r.id} ({r.status}, {r.mode or '-'}"
                                      f", {nodes})", id=f"run:{r.id}"))
        running = [r for r in runs if r.status == "running"]
        if running:
            self.query_one("#runs-note", Static).update(
                f"A run is in progress ({running[0].id}): choose 'Attach to run' to follow it.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose(str(event.option.id))

    def action_choose(self, what: str) -> None:
        w = self.wizard
        if what == "draft":
            w.reopen_draft()
        elif what in ("create", "join"):
            w.start_new(what)
        elif what == "guided":
            from octotui.screens.guided_join import GuidedJoinScreen

            self.app.push_screen(GuidedJoinScreen())
        elif what == "open":
            box = self.query_one("#open-path", Input)
            box.display = True
            box.focus()
        elif what == "logs":
            from octotui.screens.logs import review_run

            review_run(self.app)
        elif what == "diagnostics":
            from octotui.screens.diagnostics import DiagnosticsScreen

            self.app.push_screen(DiagnosticsScreen())
        elif what.startswith("run:"):
            w.open_run(what.split(":", 1)[1])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "open-path" and event.value.strip():
            self.wizard.open_answers(event.value.strip())
