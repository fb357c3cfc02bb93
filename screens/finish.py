"""Finish: the cluster's health (ping, registration, shared storage once), the nodes' URLs, what next."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from octotui.screens.base import BaseScreen
from octotui.screens.messages import TaskDone
from octotui.screens.widgets.glyphs import glyph
from octotui.screens.widgets.wrap import hanging
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Label, Static

NEXT_STEPS = """What to do next:
 - Put a load balancer in front of the nodes' URLs above, with /api/octopusservernodes/ping as its health check (200 = up, 418 = draining); no sticky sessions are needed.
 - Point Polling Tentacles at every node's comms port (or at the load balancer for listening ones).
 - Back up the master key and the database; add nodes later with "Join nodes" or "Guided join"."""  # noqa: E501


class FinishScreen(BaseScreen):
    TITLE_TEXT = "Cluster health"
    HELP = """
The health of the cluster, read now: every node answers /api/octopusservernodes/ping, every node is
registered in the database, and shared storage is configured once (every node reads the same folder from
the database). r reads it again. The run's journal and step logs stay under OCTOTUI_HOME/runs.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("w", "welcome", "Welcome", id="welcome"),
        Binding("f1", "help", "Help", id="help"),
    ]

    def __init__(self, run_dir: Path | None = None) -> None:
        super().__init__(classes="finish-screen")
        self.run_dir = run_dir
        self.healthy: bool | None = None

    def compose(self) -> ComposeResult:
        yield Label("Cluster health", id="health-title", classes="screen-title", markup=False)
        with VerticalScroll(id="form"):
            yield Static("Reading the cluster's health…", id="headline", markup=False)
            yield DataTable(id="health", cursor_type="none", show_cursor=False)
            yield Static("", id="problems", markup=False)
            # Each item wrapped under its own text at this width (a soft wrap would run back to the left edge).
            yield Static(hanging(NEXT_STEPS, max(40, self.app.size.width - 4), extra=2), id="next-steps",
                         markup=False)
        yield Static("", id="status", classes="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#health", DataTable)
        for name, width in (("Node", 10), ("Ping", 6), ("Registered", 11), ("Service", 9), ("URL", None)):
            table.add_column(name, key=name.lower(), width=width)
        if not self.wizard.offline:
            self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one("#headline", Static).update("Reading the cluster's health…")
        self.read_health()

    @work(thread=True, exclusive=True, group="health", exit_on_error=False)
    def read_health(self) -> None:
        from octotui.run.cluster_facts import cluster_health
        from octotui.run.start import run_answers
        from octotui.spec.answers import parse_answers
        from octotui.spec.writer import clean_answers, read_answers_data

        try:
            data = self.state.data
            if not data.get("nodes") and self.run_dir is not None:
                path = run_answers(self.run_dir)
                if path is not None:
                    data = read_answers_data(path)
                    self.state.data = data
            spec = parse_answers(clean_answers(data))
            self.post_message(TaskDone("health", cluster_health(spec, self.state.secrets)))
        except Exception as exc:
            self.post_message(TaskDone("health", error=exc))

    def on_task_done(self, message: TaskDone) -> None:
        if message.name != "health":
            return
        headline = self.query_one("#headline", Static)
        if message.error is not None:
            headline.update(f"Could not read the cluster's health: {message.error}")
            return
        health = message.value
        self.healthy = health.healthy
        table = self.query_one("#health", DataTable)
        table.clear()
        ascii_only = self.wizard.ascii_only
        for n in health.nodes:
            table.add_row(n.name, f"{glyph('pass' if n.up else 'fail', ascii_only)} {n.ping or '-'}",
                          glyph("pass" if n.registered else "fail", ascii_only) + (" yes" if n.registered else " no"),
                          n.service_state or "-", n.url)
        storage = health.expected_storage or (health.nodes[0].shared_storage if health.nodes else "")
        if health.healthy:
            headline.update(f"Cluster ready: {len(health.nodes)} node(s) answer ping and are registered; "
                            f"shared storage {storage} is configured once.")
            headline.set_classes("-pass")
            self.query_one("#problems", Static).update("")
        else:
            headline.update("Cluster not healthy yet")
            headline.set_classes("-fail")
            self.query_one("#problems", Static).update("\n".join(f" - {p}" for p in health.problems))

    def action_welcome(self) -> None:
        self.wizard.go_welcome()
