"""Temporary alias package: use octotui.spec.parsers."""
