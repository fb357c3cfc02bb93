"""Temporary alias while the engine moves into packages: use octotui.plan.export."""
import sys

from octotui.plan import export as _module

sys.modules[__name__] = _module
