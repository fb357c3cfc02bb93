"""Temporary alias while the engine moves into packages: use octotui.run.cancel."""
import sys

from octotui.run import cancel as _module

sys.modules[__name__] = _module
