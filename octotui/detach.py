"""Temporary alias while the engine moves into packages: use octotui.run.detach."""
import sys

from octotui.run import detach as _module

sys.modules[__name__] = _module
