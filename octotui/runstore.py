"""Temporary alias while the engine moves into packages: use octotui.run.store."""
import sys

from octotui.run import store as _module

sys.modules[__name__] = _module
