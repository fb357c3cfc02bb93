"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.errors."""
import sys

from octotui.spec.parsers import errors as _module

sys.modules[__name__] = _module
