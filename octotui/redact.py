"""Temporary alias while the engine moves into packages: use octotui.secrets.redact."""
import sys

from octotui.secrets import redact as _module

sys.modules[__name__] = _module
