"""The shape every answers screen shares: fields checked as typed, live checks in a worker, Next and Back.

A screen declares its fields (``form``) and which problem keys it owns (``OWNS``); the rules are the
engine's: syntax through ``octotui.spec.writer.field_problems`` on every change, network checks through
``octotui.checks.live.section_checks`` in a Textual thread worker, debounced, and only the latest
generation's results are shown. Next is refused while a field has a problem, a check fails or still runs;
a warning asks for confirmation.
"""

from __future__ import annotations

import queue
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from octotui.screens.dialogs import ConfirmDialog, TextDialog
from octotui.screens.messages import CheckDone, ChecksStarted
from octotui.screens.widgets.field import ValidatedField
from octotui.screens.wizard import Wizard, wizard_of
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

if TYPE_CHECKING:
    from octotui.screens.state import WizardState

    from octotui.checks.live import LiveCheck
    from octotui.spec.answers import Problem

#: How long typing must pause before the network checks start.
DEBOUNCE_S = 0.4


#: Narrower than this, a form screen's footer leaves out the command palette's hint to keep its own keys.
PALETTE_HINT_MIN_WIDTH = 90

class BaseScreen(Screen[Any]):
    """Every screen: help (F1), the title line, ASCII styling when asked for."""

    TITLE_TEXT: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    BINDINGS: ClassVar[list[Binding]] = [Binding("f1", "help", "Help", id="help")]

    @property
    def wizard(self) -> Wizard:
        return wizard_of(self.app)

    @property
    def state(self) -> WizardState:
        return self.wizard.state

    def on_mount(self) -> None:
        if self.wizard.ascii_only:
            self.add_class("-ascii")

    _bindings_due = False
    _bindings_shown: tuple[object, ...] = ()

    def refresh_bindings(self) -> None:
        """Tell the footer about new keys once per frame, and only when they changed. The footer rebuilds
        every key widget each time it is told (tens of milliseconds), and a screen coming up, or back from
        a dialog, tells it half a dozen times (mounted, focused, stacked, resumed) about the same keys."""
        if not self._bindings_due:
            self._bindings_due = True
            self.call_after_refresh(self._publish_bindings)

    def _publish_bindings(self) -> None:
        self._bindings_due = False
        shown = (tuple(id(f) for f in self.query(Footer)),  # a new footer (a recomposed screen) needs them
                 tuple((key, b.binding.action, b.binding.description, b.binding.show, b.enabled, b.tooltip)
                       for key, b in self.active_bindings.items()))
        if shown == self._bindings_shown:
            return
        self._bindings_shown = shown
        super().refresh_bindings()

    def action_help(self) -> None:
        self.app.push_screen(TextDialog(f"Help: {self.TITLE_TEXT}", self.HELP.strip() or "No help here."))

    def set_status(self, text: str, level: str = "") -> None:
        try:
            status = self.query_one("#status", Static)
        except Exception:
            return
        status.update(text)
        status.set_classes(f"status -{level}" if level else "status")


class WizardScreen(BaseScreen):
    """One answers section (or two) as a form."""

    NAME: ClassVar[str] = ""
    SECTION: ClassVar[str] = ""  # for live checks
    #: Regular expressions of the problem keys this screen must clear before Next.
    OWNS: ClassVar[tuple[str, ...]] = ()
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+n", "next", "Next", id="next", priority=True),
        Binding("ctrl+b", "back", "Back", id="back", priority=True),
        Binding("f2", "detail", "Detail", id="detail"),
        Binding("ctrl+r", "reveal", "Reveal", id="reveal"),
        Binding("f1", "help", "Help", id="help"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="wizard-screen")
        self._token = 0
        self._debounce: Timer | None = None
        self._revealed = False
        self._due = False  # checks scheduled, not started yet

    # --- layout --------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        steps = self.state.flow()
        where = f"{steps.index(self.NAME) + 1}/{len(steps)}" if self.NAME in steps else ""
        yield Label(f"{self.TITLE_TEXT}  {where}  ({self.state.mode} mode)", classes="screen-title", markup=False)
        with VerticalScroll(id="form"):
            yield from self.form()
        yield Static("", id="status", classes="status", markup=False)
        # A form screen has up to seven keys: spaced out, or beside the palette's hint, they clip at 80
        # columns. ctrl+p still opens the palette; the hint comes back on a wider terminal.
        yield Footer(compact=True, show_command_palette=self.app.size.width >= PALETTE_HINT_MIN_WIDTH)

    def on_resize(self, event: events.Resize) -> None:
        for footer in self.query(Footer):
            footer.show_command_palette = event.size.width >= PALETTE_HINT_MIN_WIDTH

    def form(self) -> ComposeResult:
        yield from ()

    def field(self, key: str, label: str, *, placeholder: str = "", help_text: str = "",
              password: bool = False, default: str = "") -> ValidatedField:
        if key.startswith("secret:"):
            value = self.state.secrets.get(key.split(":", 1)[1], "")
        else:
            from octotui.spec.writer import get_value  # the engine's answers rules, loaded when first used

            raw = get_value(self.state.data, key, default)
            value = ", ".join(raw) if isinstance(raw, list) else ("" if raw is None else str(raw))
        return ValidatedField(key, label, value, password=password, placeholder=placeholder, help_text=help_text,
                              ascii_only=self.wizard.ascii_only)

    def fields(self) -> list[ValidatedField]:
        return list(self.query(ValidatedField))

    def on_mount(self) -> None:
        """Textual calls the on_mount of every class in the screen's MRO, subclass first, so no subclass
        calls super().on_mount(): that would run this twice."""
        self.validate_syntax()
        self.schedule_checks(0.05)
        first = next(iter(self.query(Input)), None)
        if first is not None:
            first.focus()

    # --- values --------------------------------------------------------------------------------------
    def store(self, key: str, value: Any) -> None:
        """Put one value in the answers (or a secret in memory) and save the draft."""
        if key.startswith("secret:"):
            name = key.split(":", 1)[1]
            if value:
                self.state.secrets[name] = str(value)
                from octotui.secrets.redact import default_redactor

                default_redactor().add(str(value))
            else:
                self.state.secrets.pop(name, None)
        else:
            from octotui.spec.writer import set_value

            set_value(self.state.data, key, self.convert(key, value))
        self.wizard.save_draft(self.NAME)

    def convert(self, key: str, value: Any) -> Any:
        """Text as typed -> the answers' type (lists for listen prefixes, integers for ports)."""
        if isinstance(value, str):
            text = value.strip()
            if key == "web.listen_prefixes":
                return [p.strip() for p in re.split(r"[,\s]+", text) if p.strip()]
            if key in ("winrm.port", "web.comms_port") and text.isdigit():
                return int(text)
            return text
        return value

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        owner = next((a for a in event.input.ancestors if isinstance(a, ValidatedField)), None)
        if owner is None:
            return
        self.store(owner.key, event.value)
        self.changed(owner.key)

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        key = event.checkbox.name
        if key:
            self.store(key, bool(event.value))
            self.changed(key)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        key = event.select.name
        if key and isinstance(event.value, str):
            self.store(key, event.value)
            self.changed(key)

    def changed(self, key: str) -> None:
        self.validate_syntax()
        self.schedule_checks()

    # --- syntax --------------------------------------------------------------------------------------
    def owned(self, problem_key: str) -> bool:
        return any(re.fullmatch(p, problem_key) for p in self.OWNS)

    def screen_problems(self) -> list[Problem]:
        from octotui.spec.writer import all_problems

        found = [p for p in all_problems(self.state.data) if self.owned(p.key)]
        return found + self.extra_problems()

    def extra_problems(self) -> list[Problem]:
        """Problems the answers file cannot have (a missing password)."""
        return []

    def validate_syntax(self) -> None:
        from octotui.spec.writer import key_belongs

        problems = self.screen_problems()
        shown: set[int] = set()
        for f in self.fields():
            mine = [p for p in problems if key_belongs(p.key, f.key)]
            shown.update(id(p) for p in mine)
            f.set_syntax(mine)
        rest = [p for p in problems if id(p) not in shown]
        if rest:
            p = rest[0]
            self.set_status(f"{p.key}: {p.message}" + (f" ({p.fix})" if p.fix else ""), "fail")
        else:
            self.set_status("")

    # --- live checks ---------------------------------------------------------------------------------
    def schedule_checks(self, delay: float = DEBOUNCE_S) -> None:
        if not self.SECTION or self.wizard.offline:
            return
        self._token += 1
        if self._debounce is not None:
            self._debounce.stop()
        token = self._token
        for f in self.fields():
            if not f.key.startswith("secret:"):
                f.clear_checks() if not f.syntax else None
        self._due = True
        self._debounce = self.set_timer(delay, lambda: self._start_checks(token))

    def live_checks(self) -> list[LiveCheck]:
        from octotui.checks.live import Passwords, section_checks

        passwords = Passwords(self.state.secrets.get("winrm"), self.state.secrets.get("service"))
        return section_checks(self.SECTION, self.state.data, passwords)

    def _start_checks(self, token: int) -> None:
        if token != self._token:
            return
        self._due = False
        checks = self.live_checks()
        by_field: dict[str, list[str]] = {}
        for lc in checks:
            by_field.setdefault(lc.field, []).extend(lc.ids)
        for f in self.fields():
            if f.key in by_field and not f.syntax:
                f.start_checks(by_field[f.key])
        self.post_message(ChecksStarted(token, list(by_field)))
        if checks:
            self.run_checks(token, checks)
        else:
            self.workers.cancel_group(self, "live-checks")

    @work(thread=True, exclusive=True, group="live-checks", exit_on_error=False, description="live checks")
    def run_checks(self, token: int, checks: list[LiveCheck]) -> None:
        from octotui.checks.runner import start_check

        worker = get_current_worker()
        inbox: queue.Queue[tuple[str, list[Any]]] = queue.Queue()
        handles = []
        for lc in checks:
            def done(results: list[Any], field: str = lc.field) -> None:
                inbox.put((field, results))
            handles.append(start_check(lc.body, done, ids=lc.ids, target=lc.target))
        left = len(handles)
        while left:
            if worker.is_cancelled:
                for h in handles:
                    h.cancel()
                return
            try:
                field, results = inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            left -= 1
            self.post_message(CheckDone(token, field, results))

    @on(CheckDone)
    def _check_done(self, message: CheckDone) -> None:
        if message.token != self._token:
            return  # an older input's result: never shown
        for f in self.fields():
            if f.key == message.field:
                f.add_results(message.results)

    def checks_settled(self) -> bool:
        """No check running, none waiting to start (tests wait for this)."""
        return not self._due and not any(f.pending for f in self.fields())

    # --- actions -------------------------------------------------------------------------------------
    def action_reveal(self) -> None:
        self._revealed = not self._revealed
        for f in self.fields():
            if f.password:
                f.input.password = not self._revealed

    def action_detail(self) -> None:
        focused = self.focused
        owner = next((a for a in focused.ancestors_with_self if isinstance(a, ValidatedField)), None) \
            if focused is not None else None
        if owner is None:
            owner = next((f for f in self.fields() if f.state in ("fail", "warn")), None)
        if owner is not None:
            self.app.push_screen(TextDialog("Detail", owner.detail()))

    def action_back(self) -> None:
        self.wizard.go_back()

    def action_next(self) -> None:
        self.validate_syntax()
        bad = [f for f in self.fields() if f.syntax]
        problems = self.screen_problems()
        if problems:
            p = problems[0]
            self.set_status(f"Not yet: {p.key}: {p.message}" + (f" ({p.fix})" if p.fix else ""), "fail")
            if bad:
                bad[0].input.focus()
            self.app.bell()
            return
        if self._due or any(f.pending for f in self.fields()):
            self.set_status("Not yet: checks are still running; Next works once they answer", "warn")
            return
        failing = [f for f in self.fields() if f.state == "fail"]
        if failing:
            f = failing[0]
            self.set_status(f"Not yet: {f.label.strip()}: {f.worst()[1]} (F2 for the detail)", "fail")
            f.input.focus()
            self.app.bell()
            return
        warned = [f for f in self.fields() if f.state == "warn"]
        if warned:
            text = "\n".join(f"{f.label.strip()}: {f.worst()[1]}" for f in warned)

            def answer(ok: bool | None) -> None:
                if ok:
                    self.advance()

            self.app.push_screen(ConfirmDialog("Continue despite warnings?", text, yes="Continue"), answer)
            return
        self.advance()

    def advance(self) -> None:
        self.wizard.go_next(self.NAME)

    def field_keys(self) -> Iterable[str]:
        return [f.key for f in self.fields()]
