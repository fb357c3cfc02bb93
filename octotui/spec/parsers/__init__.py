"""Parsers for the values an answers file carries: Windows paths, host names, accounts, HTTP.sys prefixes,
ports, Octopus versions and ADO.NET connection strings.

Why a package of its own: each value is parsed by the rules of the system that will consume it (Windows,
HTTP.sys, SqlClient), not matched loosely, so that a mistake is caught on the console with a message naming
the fix instead of failing half-way through a run on a remote node. Every parser raises ``ParseError``
carrying a message and a fix; callers decide which key it belongs to.
"""

from octotui.spec.parsers.errors import ParseError

__all__ = ["ParseError"]
