"""What Windows needs from us: quoting, Octopus.Server.exe command lines and their output, scripts."""

# Temporary: the names of the old flat module, while code written against it is moved over.
from octotui.windows.quoting import *  # noqa: F403
