"""Temporary alias while the engine moves into packages: use octotui.run.progress."""
import sys

from octotui.run import progress as _module

sys.modules[__name__] = _module
