"""Turning a TDS login into a session of the lab's SQL Server, with SQL Server's refusals.

The front does not decide who may log in: it builds the connection SqlClient would have made (SQL
login, or Integrated Security as the Windows account NTLM proved) and lets ``sqlserver.connect`` judge,
so the front and the simulated Octopus processes share one rule book. A Windows login through the front
comes straight from the console that typed the password, so it carries credentials (no double hop).
"""

from __future__ import annotations

from dataclasses import dataclass

from octotui.lab import adonet, sqlserver
from octotui.lab.identity import ANONYMOUS, Identity
from octotui.lab.sqlserver import SqlError, SqlSession
from octotui.lab.state import World
from octotui.lab.tds.answers import SYSTEM_DATABASES


class LoginRefused(Exception):
    """The errors SQL Server sends, in order, before it closes a refused login's connection."""

    def __init__(self, errors: list[SqlError]) -> None:
        super().__init__(errors[0].message if errors else "login refused")
        self.errors = errors


@dataclass(frozen=True)
class Opened:
    session: SqlSession
    database: str  # the name the client is told it is in


def untrusted_domain() -> LoginRefused:
    """What SQL Server says when the SSPI (NTLM) handshake itself fails."""
    return LoginRefused([SqlError(18452, "Login failed. The login is from an untrusted domain and cannot be "
                                         "used with Integrated authentication.")])


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def open_session(world: World, *, database: str, windows_account: str | None = None, user: str = "",
                 password: str = "") -> Opened:
    """Log in as a SQL login (``user``/``password``) or as ``windows_account`` (already authenticated)."""
    wanted = database.strip()
    system = wanted == "" or wanted.lower() in SYSTEM_DATABASES
    parts = [f"Data Source={_quoted(world.sql.host)}"]
    if windows_account is not None:
        parts.append("Integrated Security=True")
        identity = Identity(windows_account, "interactive")
        who = windows_account
    else:
        parts += [f"User ID={_quoted(user)}", f"Password={_quoted(password)}"]
        identity = Identity(ANONYMOUS, "network")
        who = user
    if not system:
        parts.append(f"Initial Catalog={_quoted(wanted)}")
    try:
        session = sqlserver.connect(world, ";".join(parts), identity)
    except adonet.ConnectionStringError as exc:
        raise LoginRefused([sqlserver.login_failed(who)]) from exc
    except SqlError as exc:
        if exc.number == 4060:
            return_errors = [exc, sqlserver.login_failed(who)]
            raise LoginRefused(return_errors) from exc
        raise LoginRefused([exc]) from exc
    if system:
        return Opened(session, wanted.lower() or "master")
    db = world.sql.database(wanted)
    return Opened(session, db.name if db is not None else wanted)
