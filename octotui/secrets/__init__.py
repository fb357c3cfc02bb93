"""Secrets: references, the stores (environment, keyring, encrypted file) and the one redactor."""

# Temporary: the names of the old flat module, while code written against it is moved over.
from octotui.secrets.store import *  # noqa: F403
