"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.connstr."""
import sys

from octotui.spec.parsers import connstr as _module

sys.modules[__name__] = _module
