"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.winpath."""
import sys

from octotui.spec.parsers import winpath as _module

sys.modules[__name__] = _module
