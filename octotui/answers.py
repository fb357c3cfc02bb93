"""Temporary alias while the engine moves into packages: use octotui.spec.answers."""
import sys

from octotui.spec import answers as _module

sys.modules[__name__] = _module
