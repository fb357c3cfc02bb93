"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.prefixes."""
import sys

from octotui.spec.parsers import prefixes as _module

sys.modules[__name__] = _module
