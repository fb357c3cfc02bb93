"""Time to the wizard's first interactive screen against a bare Textual app (aim: at most 1.3x).

Each sample is a fresh process (imports included, as a user waits for them): the app exits as soon as its
first screen has been painted. Prints the medians and their ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

BARE = """
from textual.app import App
from textual.widgets import Footer, OptionList
class Bare(App):
    def compose(self):
        yield OptionList("a", "b")
        yield Footer()
    def on_mount(self):
        self.call_after_refresh(self.exit)
Bare().run(headless=True, size=(80, 24))
"""
WIZARD = """
from octotui.screens.app import WizardApp
class Timed(WizardApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(lambda: self.call_after_refresh(self.exit))
Timed(offline=True).run(headless=True, size=(80, 24))
"""


def sample(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - started


def main(rounds: int = 7) -> None:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, OCTOTUI_HOME=home, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        sample(BARE, env), sample(WIZARD, env)  # warm the file cache and bytecode
        bare = [sample(BARE, env) for _ in range(rounds)]
        wizard = [sample(WIZARD, env) for _ in range(rounds)]
    b, w = statistics.median(bare), statistics.median(wizard)
    print(f"bare Textual app: {b * 1000:.0f} ms  wizard welcome: {w * 1000:.0f} ms  ratio {w / b:.2f} (aim <= 1.3)")


if __name__ == "__main__":
    main()
