"""Temporary alias while the engine moves into packages: use octotui.spec.parsers.hostnames."""
import sys

from octotui.spec.parsers import hostnames as _module

sys.modules[__name__] = _module
