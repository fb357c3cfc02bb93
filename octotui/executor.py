"""Temporary alias while the engine moves into packages: use octotui.run.executor."""
import sys

from octotui.run import executor as _module

sys.modules[__name__] = _module
