"""Temporary alias while the engine moves into packages: use octotui.run.journal."""
import sys

from octotui.run import journal as _module

sys.modules[__name__] = _module
