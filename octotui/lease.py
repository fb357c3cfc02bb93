"""Temporary alias while the engine moves into packages: use octotui.run.lease."""
import sys

from octotui.run import lease as _module

sys.modules[__name__] = _module
