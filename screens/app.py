"""The wizard's App: screen order, the draft, the one failure handler, quitting while a run goes on.

One failure handler (``report_error``): any exception (from a handler, a worker, a timer) becomes a dialog
with the message and the hint, and its detail, redacted, goes to ``OCTOTUI_HOME/logs/wizard.log``. Never a
traceback on screen.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from octotui.screens.dialogs import ConfirmDialog, ErrorDialog, PassphraseDialog, TextDialog
from octotui.screens.state import WizardState
from octotui.screens.widgets.glyphs import ascii_wanted
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from textual.command import Provider


def _wizard_commands() -> type[Provider]:
    """The palette's provider, loaded when the palette first opens (Textual accepts a callable here)."""
    from octotui.screens.commands import WizardCommands

    return WizardCommands


def _css_path() -> str:
    from octotui.resources import assets

    return str(assets() / "wizard.tcss")


class WizardApp(App[int]):
    TITLE = "octotui"
    #: Under 32 rows the form fields drop their boxes (assets/wizard.tcss, Screen.-short).
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (32, "-tall")]
    CSS_PATH = _css_path()
    COMMANDS: ClassVar = App.COMMANDS | {_wizard_commands}
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f10", "quit", "Quit", id="quit-f10", show=False),
        Binding("f12", "diagnostics", "Diagnostics", id="diagnostics", show=False),
        # Tab moves focus as the key arrives (a priority binding), not once the field it leaves has handled
        # the keys queued behind it: a password manager's auto-type ("user", Tab, "password") or keys that
        # arrive together over SSH would otherwise type the password into the user name field, in clear.
        Binding("tab", "focus_next", "Next field", id="focus-next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous field", id="focus-previous", show=False, priority=True),
    ]

    def __init__(self, state: WizardState | None = None, *, start: str = "welcome", home: Path | None = None,
                 ascii_only: bool | None = None, on_exit: Callable[[], None] | None = None,
                 attach: Path | None = None, offline: bool = False) -> None:
        super().__init__()
        #: No network at all (screenshots and snapshot tests): live checks and health reads do not start.
        self.offline = offline
        from octotui.home import octotui_home

        self.state = state or WizardState()
        self.start = start
        self.home = home or octotui_home()
        self.ascii_only = ascii_wanted() if ascii_only is None else ascii_only
        self.unhandled: list[BaseException] = []
        self.errors_shown: list[str] = []
        self._on_exit = on_exit
        self._attach = attach
        self._reporting = False

    # --- start ---------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        from octotui.screens.welcome import WelcomeScreen

        if self.ascii_only:
            self.add_class("-ascii")
        self.push_screen(WelcomeScreen())
        if self._attach is not None:
            self.open_progress(self._attach)
        elif self.start != "welcome":
            self.jump_to(self.start)

    def make_screen(self, name: str) -> Screen[Any]:
        from octotui.screens.home import HomeScreen
        from octotui.screens.install import InstallScreen
        from octotui.screens.master_key import JoinKeyScreen
        from octotui.screens.nodes import NodesScreen
        from octotui.screens.review import ReviewScreen
        from octotui.screens.service import ServiceScreen
        from octotui.screens.sql import SqlScreen
        from octotui.screens.storage import StorageScreen

        factories: dict[str, Callable[[], Screen[Any]]] = {
            "nodes": NodesScreen, "home": HomeScreen, "service": ServiceScreen, "sql": SqlScreen,
            "storage": StorageScreen, "install": InstallScreen, "join_key": JoinKeyScreen, "review": ReviewScreen,
        }
        return factories[name]()

    # --- moving between screens ----------------------------------------------------------------------
    def _wizard_depth(self) -> None:
        """Back to the welcome screen (the bottom of the stack)."""
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def jump_to(self, name: str) -> None:
        """Open ``name`` with the screens before it in the flow below it (so Back walks them)."""
        flow = self.state.flow()
        if name not in flow:
            return
        self._wizard_depth()
        for step in flow[: flow.index(name) + 1]:
            self.push_screen(self.make_screen(step))
        self.save_draft(name)

    def go_next(self, current: str) -> None:
        flow = self.state.flow()
        if current in flow and flow.index(current) + 1 < len(flow):
            nxt = flow[flow.index(current) + 1]
            self.push_screen(self.make_screen(nxt))
            self.save_draft(nxt)

    def go_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()
            name = getattr(self.screen, "NAME", "welcome") or "welcome"
            self.save_draft(name)

    def go_welcome(self) -> None:
        self._wizard_depth()
        if len(self.screen_stack) == 2:
            self.pop_screen() if not _is_welcome(self.screen) else None
        screen = self.screen
        if _is_welcome(screen):
            screen.fill()  # type: ignore[attr-defined]

    def start_new(self, mode: str) -> None:
        """Create or join: keep what was typed before (hosts, accounts) but switch the mode."""
        self.state.data["mode"] = mode
        if mode == "join":
            for section in ("storage", "admin", "license"):
                self.state.data.pop(section, None)
        self.jump_to("nodes")

    def start_guided(self, data: dict[str, Any], note: str) -> None:
        self.state.data = data
        self.jump_to("nodes")
        self.notify(note, title="Guided join")

    def open_answers(self, path: str) -> None:
        from octotui.spec.writer import read_answers_data

        try:
            data = read_answers_data(Path(path).expanduser())
        except Exception as exc:
            self.report_error(exc, "Opening the answers file")
            return
        self.state.data = data
        self.state.answers_file = Path(path).expanduser().resolve()
        self.jump_to("nodes")

    def reopen_draft(self) -> None:
        from octotui.spec.draft import load_draft

        draft = load_draft(self.home)
        if draft is None:
            return
        self.state.data = draft.data
        self.state.answers_file = Path(draft.answers_file) if draft.answers_file else None
        self.jump_to(draft.screen if draft.screen in self.state.flow() else "nodes")

    def open_run(self, run_id: str) -> None:
        from octotui.run import store as runstore
        from octotui.run.journal_read import run_status
        from octotui.run.start import run_answers

        try:
            run_dir = runstore.resolve_run(self.home, run_id)
        except runstore.RunNotFound as exc:
            self.report_error(exc, "Opening the run")
            return
        answers = run_answers(run_dir)
        if answers is not None and not self.state.data.get("nodes"):
            from octotui.spec.writer import read_answers_data

            try:
                self.state.data = read_answers_data(answers)
                self.state.answers_file = answers
            except Exception:
                pass
        status = run_status(run_dir)
        if status == "done":
            self.open_finish(run_dir)
        else:
            self.open_progress(run_dir)

    def open_progress(self, run_dir: Path) -> None:
        from octotui.screens.progress import ProgressScreen

        self.state.run_dir = Path(run_dir)
        self.push_screen(ProgressScreen(Path(run_dir)))

    def open_finish(self, run_dir: Path | None) -> None:
        from octotui.screens.finish import FinishScreen

        self.push_screen(FinishScreen(run_dir))

    # --- the draft -----------------------------------------------------------------------------------
    def save_draft(self, screen: str = "") -> None:
        from octotui.spec.draft import save_draft

        try:
            name = screen or str(getattr(self.screen, "NAME", "") or "welcome")
            save_draft(self.state.data, name, str(self.state.answers_file) if self.state.answers_file else None,
                       home=self.home)
        except Exception as exc:  # a draft that cannot be saved must not stop the wizard
            self.log_detail("saving the draft", exc)

    # --- secrets in the keyring ----------------------------------------------------------------------
    def keep_secrets(self, then: Callable[[], None]) -> None:
        """Store the secrets the user asked to remember; offer the encrypted file where no keyring works."""
        wanted = [n for n in ("winrm", "service") if n in self.state.remember and self.state.secrets.get(n)]
        if not wanted:
            then()
            return
        self.run_worker(lambda: self._store_secrets(wanted, then, None), thread=True, group="keyring",
                        exit_on_error=False)

    def _store_secrets(self, names: list[str], then: Callable[[], None], passphrase: str | None) -> None:
        from octotui.secrets import store as sec
        try:
            store = sec.enable_encrypted_file(passphrase) if passphrase else None
            keeper = sec.Secrets(store if store is not None else None, interactive=False)
            for name in names:
                user = str((self.state.data.get("winrm" if name == "winrm" else "service_account") or {})
                           .get("username", ""))
                ref = sec.winrm_password_ref(user) if name == "winrm" else sec.service_password_ref(user)
                keeper.store(ref, self.state.secrets[name])
        except sec.KeyringUnavailable as exc:
            if passphrase is None:
                self.call_from_thread(self._offer_encrypted_file, names, then, str(exc))
                return
            self.call_from_thread(self.report_error, exc, "Keeping the password")
            return
        self.call_from_thread(self.notify, "Kept in the keyring", title="Secrets")
        self.call_from_thread(then)

    def _offer_encrypted_file(self, names: list[str], then: Callable[[], None], why: str) -> None:
        def answered(passphrase: str | None) -> None:
            if passphrase:
                self.run_worker(lambda: self._store_secrets(names, then, passphrase), thread=True, group="keyring",
                                exit_on_error=False)
            else:
                self.notify("Not remembered: the passwords stay in memory for this session", title="Secrets")
                then()

        self.push_screen(PassphraseDialog(why), answered)

    # --- failures ------------------------------------------------------------------------------------
    def log_detail(self, context: str, error: BaseException) -> Path | None:
        """Write the detail of a failure, redacted, to ``OCTOTUI_HOME/logs/wizard.log``."""
        from octotui.home import private_dir, private_file
        from octotui.secrets.redact import default_redactor

        try:
            folder = private_dir(self.home / "logs")
            path = private_file(folder / "wizard.log")
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            text = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {context}\n{detail}\n"
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(default_redactor().redact(text))
            return path
        except Exception:
            return None

    def report_error(self, error: BaseException, context: str = "Something went wrong") -> None:
        """The one failure handler: a dialog with the message and the hint; the detail goes to the log."""
        from octotui.secrets.redact import default_redactor

        path = self.log_detail(context, error)
        message = str(getattr(error, "message", "") or error) or type(error).__name__
        hint = str(getattr(error, "hint", "") or "")
        if not hint and not hasattr(error, "message"):
            hint = "This looks like a fault in octotui; the log file has the detail to report."
        redact = default_redactor().redact
        self.errors_shown.append(redact(message))
        if self._reporting:
            return
        self._reporting = True

        def closed(_: bool | None) -> None:
            self._reporting = False

        try:
            self.push_screen(ErrorDialog(context, redact(message), redact(hint), str(path or "")), closed)
        except Exception:
            self._reporting = False

    def _handle_exception(self, error: Exception) -> None:
        self.unhandled.append(error)
        try:
            self.report_error(error, "Internal error")
        except Exception:
            super()._handle_exception(error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.error, event.worker.description or event.worker.name or "A task")

    # --- actions -------------------------------------------------------------------------------------
    def run_in_progress(self) -> bool:
        if self.state.run_dir is None:
            return False
        from octotui.run.journal_read import run_status

        try:
            return run_status(self.state.run_dir) == "running"
        except Exception:
            return False

    async def action_quit(self) -> None:
        if self.run_in_progress():
            def answered(ok: bool | None) -> None:
                if ok:
                    self.exit(0)

            self.push_screen(ConfirmDialog("Quit while the run goes on?",
                                           "The run keeps going in its own process; start octotui again (or "
                                           "`octotui attach`) to follow it.", yes="Quit"), answered)
            return
        self.exit(0)

    def action_diagnostics(self) -> None:
        from octotui.screens.diagnostics import DiagnosticsScreen

        self.push_screen(DiagnosticsScreen())

    def action_screen_help(self) -> None:
        action = getattr(self.screen, "action_help", None)
        if action is not None:
            action()
        else:
            self.push_screen(TextDialog("Help", "F1 shows help on every screen."))


def _is_welcome(screen: Screen[Any]) -> bool:
    from octotui.screens.welcome import WelcomeScreen

    return isinstance(screen, WelcomeScreen)


def run_wizard(answers: str | None = None, *, demo_lab: Any | None = None) -> int:
    """The console entry: ``octotui`` (no arguments), ``octotui wizard ANSWERS``, and ``octotui demo`` (whose
    command started ``demo_lab``, an ``octotui.cli.demo.DemoLab``: only the CLI starts the lab). Without
    answers, a lost session's draft is read by the welcome screen, after its first paint."""
    state = WizardState()
    start = "welcome"
    on_exit: Callable[[], None] | None = None
    if demo_lab is not None:
        lab = demo_lab
        state.data = lab.answers()
        state.secrets.update(lab.secrets)
        state.demo = True
        state.lab_state = lab.state
        start = "nodes"
        on_exit = lab.stop
        os.environ.setdefault("OCTOTUI_DEMO_LAB", str(lab.state))
    elif answers:
        from octotui.spec.writer import read_answers_data

        try:
            state.data = read_answers_data(Path(answers))
        except Exception as exc:
            print(f"octotui wizard: {exc}", flush=True)
            return 2
        state.answers_file = Path(answers).resolve()
        start = "nodes"
    app = WizardApp(state, start=start, on_exit=on_exit)
    try:
        code = app.run()
    finally:
        if on_exit is not None:
            on_exit()
    return code or 0
