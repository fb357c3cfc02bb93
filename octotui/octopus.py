"""Temporary alias while the engine moves into packages: use octotui.windows.octopus."""
import sys

from octotui.windows import octopus as _module

sys.modules[__name__] = _module
