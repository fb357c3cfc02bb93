"""Temporary alias while the engine moves into packages: use octotui.plan.steps."""
import sys

from octotui.plan import steps as _module

sys.modules[__name__] = _module
