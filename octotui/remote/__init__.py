"""The WinRM session to a node, its errors and hints, and the connect and retry policy."""

# Temporary: the names of the old flat module, while code written against it is moved over.
from octotui.remote.session import *  # noqa: F403
