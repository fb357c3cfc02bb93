"""The ``octotui`` command: the only part of the engine that prints, prompts or exits."""

from octotui.cli.main import main

__all__ = ["main"]
