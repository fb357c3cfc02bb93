"""Temporary alias while the engine moves into packages: use octotui.run.runner."""
import sys

from octotui.run import runner as _module

sys.modules[__name__] = _module
