"""The cluster spec: typed values parsed once, and the answers file (TOML in, TOML out, never a secret)."""

from octotui.spec.model import *  # noqa: F403  (the spec types are the package's vocabulary)
