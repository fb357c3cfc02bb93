"""Temporary alias while the engine moves into packages: use octotui.cli.check."""
import sys

from octotui.cli import check as _module

sys.modules[__name__] = _module
