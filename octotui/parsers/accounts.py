"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.accounts."""
import sys

from octotui.spec.parsers import accounts as _module

sys.modules[__name__] = _module
