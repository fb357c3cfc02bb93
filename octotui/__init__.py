"""octotui: a terminal installer for Octopus Deploy Server High Availability on Windows nodes.

The package is the engine; the Textual face lives in ``octotui.screens`` and is only loaded when the
TUI is asked for, so scripted runs and the lab never pay for it.
"""

__version__ = "0.1.0"
