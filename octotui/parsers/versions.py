"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.versions."""
import sys

from octotui.spec.parsers import versions as _module

sys.modules[__name__] = _module
