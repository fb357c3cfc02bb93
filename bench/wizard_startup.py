"""Time to the wizard's first interactive screen against a bare Textual app (aim: at most 1.3x).

Each sample is a fresh process (imports included, as a user waits for them), headless at 80x24 with an empty
``OCTOTUI_HOME`` (no draft, no runs). Two end points, each taken where Textual hands a compositor update to
the driver (``App._display``), where the process then exits:

- **first whole paint**: the first update that shows the whole first screen: the wizard's welcome screen
  with its choices and its footer keys; the bare app's option list and its footer key. (Textual paints a
  screen before its footer has composed its keys; that paint does not count.)
- **first key answered**: at that paint a ``down`` key is handed to the driver (as a terminal's input
  thread does); the end is the first update that shows the option list's highlight moved. This counts
  whatever the app still does after its first paint (footers recomposing, workers starting) as a user
  pressing a key at once would wait for it.

The samples alternate (bare, wizard, bare, ...), so that a machine shared with other work slows both alike;
the report gives the medians, their ratio, and the median of the pairwise ratios. Python's bytecode cache is
allowed (``PYTHONDONTWRITEBYTECODE`` is dropped for the samples), as an installed package has it; a warm-up
round writes it.

The first version of this bench exited after two refreshes following the app's mount; its subclass also
called ``super().on_mount()``, and Textual calls every class's ``on_mount`` itself, so the wizard pushed and
composed two welcome screens. Its 2.16x is not comparable with these figures.

    python bench/wizard_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

#: The probe: ``APP`` is the app class, ``SCREEN`` the first screen's class name (None: any), ``LIST`` the
#: selector of its option list, ``KEY`` whether to answer a key before exiting.
PROBE = """
import sys
from textual import events
APP, SCREEN, LIST, KEY = {app}, {screen!r}, {selector!r}, {key!r}

class Probe(APP):
    _sent = False
    _before = None

    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is None or (SCREEN and type(screen).__name__ != SCREEN):
            return
        options = screen.query_one(LIST)
        if not self._sent:
            if screen.query("FooterKey") and options.option_count:
                if not KEY:
                    self.exit()
                    return
                self._sent, self._before = True, options.highlighted
                key = events.Key("down", None)
                key.set_sender(self)  # as the driver's input thread does
                self._driver.send_message(key)
        elif options.highlighted != self._before:
            self.exit()

Probe({args}).run(headless=True, size=(80, 24))
"""
BARE_APP = """
from textual.app import App
from textual.widgets import Footer, OptionList
class Bare(App):
    def compose(self):
        yield OptionList("a", "b")
        yield Footer()
"""


def probe(wizard: bool, key: bool) -> str:
    if wizard:
        head = "from octotui.screens.app import WizardApp\n"
        return head + PROBE.format(app="WizardApp", screen="WelcomeScreen", selector="#actions", key=key,
                                   args="offline=True")
    return BARE_APP + PROBE.format(app="Bare", screen=None, selector="OptionList", key=key, args="")


def sample(code: str, env: dict[str, str]) -> float:
    """Seconds from spawning the process to its exit. The wait blocks in waitpid: a wait with a timeout
    polls in steps of up to 50 ms, which would round every sample up to that grid."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    guard = threading.Timer(60, proc.kill)
    guard.start()
    try:
        status = proc.wait()
    finally:
        guard.cancel()
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"a sample exited {status}: {code.splitlines()[1]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    codes = {(label, who): probe(who == "wizard", key) for label, key in (("first whole paint", False),
                                                                           ("first key answered", True))
             for who in ("bare", "wizard")}
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, OCTOTUI_HOME=home, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for code in codes.values():
            sample(code, env)  # warm the file cache and write the bytecode
        times: dict[tuple[str, str], list[float]] = {name: [] for name in codes}
        for _ in range(args.rounds):
            for name, code in codes.items():
                times[name].append(sample(code, env))
    for label in ("first whole paint", "first key answered"):
        bare, wizard = times[(label, "bare")], times[(label, "wizard")]
        b, w = statistics.median(bare), statistics.median(wizard)
        pairs = statistics.median(x / y for x, y in zip(wizard, bare, strict=True))
        print(f"{label:<19} bare Textual app: {b * 1000:4.0f} ms  wizard welcome: {w * 1000:4.0f} ms  "
              f"ratio {w / b:.2f} (pairwise median {pairs:.2f}; aim <= 1.3)")
    print(f"{args.rounds} rounds, medians")


if __name__ == "__main__":
    main()
