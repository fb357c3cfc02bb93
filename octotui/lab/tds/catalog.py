"""The catalog views and system procedures an administrator runs, answered from the lab's SQL Server state.

``sys.server_principals`` and ``sys.server_role_members`` list the world's logins and the fixed server
roles they hold; ``sys.database_principals`` and ``sys.database_role_members`` list a database's users as
the lab models them (its first owner is ``dbo``, the other owners are users in ``db_owner``);
``sp_who``, ``sp_helpdb`` and ``sp_databases`` report the open TDS sessions and the databases. Column
names and principal ids follow SQL Server; what the lab does not track (file sizes, creation dates) is
NULL rather than invented, and SQL Server's own background sessions are not listed by ``sp_who``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from octotui.lab.sqlserver import SqlError
from octotui.lab.state import Database, Login, World
from octotui.lab.tds.tokens import Column

Rows = tuple[dict[str, Column], list[dict[str, object]]]

#: SQL Server's fixed server roles with their principal ids (public is 2; sa, when present, is 1).
SERVER_ROLES = {"public": 2, "sysadmin": 3, "securityadmin": 4, "serveradmin": 5, "setupadmin": 6,
                "processadmin": 7, "diskadmin": 8, "dbcreator": 9, "bulkadmin": 10}
#: Fixed database roles and the principals every database has, with their ids.
DATABASE_ROLES = {"public": 0, "db_owner": 16384, "db_accessadmin": 16385, "db_securityadmin": 16386,
                  "db_ddladmin": 16387, "db_backupoperator": 16389, "db_datareader": 16390,
                  "db_datawriter": 16391, "db_denydatareader": 16392, "db_denydatawriter": 16393}
_BUILT_IN_USERS = {"dbo": 1, "guest": 2, "INFORMATION_SCHEMA": 3, "sys": 4}
_FIRST_LOGIN_ID = 259  # after sa, the roles and the ##MS_...## certificate logins of a fresh instance
_FIRST_USER_ID = 5


@dataclass(frozen=True)
class SessionInfo:
    """One open TDS session, as sp_who shows it."""

    spid: int
    login: str
    host: str
    program: str
    database: str


def _cols(*spec: tuple[str, str] | tuple[str, str, int]) -> dict[str, Column]:
    columns: dict[str, Column] = {}
    for item in spec:
        name, kind = item[0], item[1]
        length = item[2] if len(item) > 2 else 128
        columns[name.lower()] = Column(name, kind, length)  # type: ignore[arg-type]
    return columns


def _logins(world: World) -> list[Login]:
    return list(world.sql.logins.values())


def login_id(world: World, name: str) -> int | None:
    for i, login in enumerate(_logins(world)):
        if login.name.lower() == name.lower():
            return 1 if login.name.lower() == "sa" else _FIRST_LOGIN_ID + i
    return None


def server_principals(world: World) -> Rows:
    cols = _cols(("name", "nvarchar"), ("principal_id", "int"), ("type", "nvarchar", 1),
                 ("type_desc", "nvarchar", 60), ("is_disabled", "bit"), ("default_database_name", "nvarchar"),
                 ("default_language_name", "nvarchar"), ("is_fixed_role", "bit"))
    rows: list[dict[str, object]] = []
    for login in _logins(world):
        windows = login.kind == "windows"
        rows.append({"name": login.name, "principal_id": login_id(world, login.name),
                     "type": "U" if windows else "S", "type_desc": "WINDOWS_LOGIN" if windows else "SQL_LOGIN",
                     "is_disabled": login.disabled, "default_database_name": "master",
                     "default_language_name": "us_english", "is_fixed_role": False})
    for role, pid in SERVER_ROLES.items():
        rows.append({"name": role, "principal_id": pid, "type": "R", "type_desc": "SERVER_ROLE",
                     "is_disabled": False, "default_database_name": None, "default_language_name": None,
                     "is_fixed_role": role != "public"})
    rows.sort(key=lambda r: int(r["principal_id"]))  # type: ignore[call-overload]
    return cols, rows


def server_role_members(world: World) -> Rows:
    cols = _cols(("role_principal_id", "int"), ("member_principal_id", "int"))
    rows: list[dict[str, object]] = []
    for login in _logins(world):
        for role in login.server_roles:
            if role.lower() in SERVER_ROLES and role.lower() != "public":
                rows.append({"role_principal_id": SERVER_ROLES[role.lower()],
                             "member_principal_id": login_id(world, login.name)})
    return cols, rows


def database_users(world: World, db: Database | None) -> list[tuple[str, int, Login | None]]:
    """The users of a database: dbo (its first owner; sa for a system database), then the other owners."""
    users: list[tuple[str, int, Login | None]] = []
    if db is None:
        return users
    for i, owner in enumerate(db.owners[1:]):
        users.append((owner, _FIRST_USER_ID + i, world.sql.login(owner)))
    return users


def database_principals(world: World, db: Database | None) -> Rows:
    cols = _cols(("name", "nvarchar"), ("principal_id", "int"), ("type", "nvarchar", 1),
                 ("type_desc", "nvarchar", 60), ("default_schema_name", "nvarchar"), ("is_fixed_role", "bit"))
    rows: list[dict[str, object]] = []
    for name, pid in _BUILT_IN_USERS.items():
        rows.append({"name": name, "principal_id": pid, "type": "S", "type_desc": "SQL_USER",
                     "default_schema_name": name if name in ("INFORMATION_SCHEMA", "sys") else "dbo",
                     "is_fixed_role": False})
    for name, pid, login in database_users(world, db):
        windows = login is None or login.kind == "windows"
        rows.append({"name": login.name if login else name, "principal_id": pid, "type": "U" if windows else "S",
                     "type_desc": "WINDOWS_USER" if windows else "SQL_USER", "default_schema_name": "dbo",
                     "is_fixed_role": False})
    for role, pid in DATABASE_ROLES.items():
        rows.append({"name": role, "principal_id": pid, "type": "R", "type_desc": "DATABASE_ROLE",
                     "default_schema_name": None, "is_fixed_role": role != "public"})
    rows.sort(key=lambda r: int(r["principal_id"]))  # type: ignore[call-overload]
    return cols, rows


def database_role_members(world: World, db: Database | None) -> Rows:
    cols = _cols(("role_principal_id", "int"), ("member_principal_id", "int"))
    owner_role = DATABASE_ROLES["db_owner"]
    rows: list[dict[str, object]] = [{"role_principal_id": owner_role, "member_principal_id": 1}]
    rows += [{"role_principal_id": owner_role, "member_principal_id": pid}
             for _, pid, _login in database_users(world, db)]
    return cols, rows


# --- system procedures -------------------------------------------------------------------------------------
def sp_who(sessions: list[SessionInfo], asking: int, login_filter: object = None) -> Rows:
    cols = _cols(("spid", "smallint"), ("ecid", "smallint"), ("status", "nvarchar", 30),
                 ("loginame", "nvarchar"), ("hostname", "nvarchar"), ("blk", "nvarchar", 5),
                 ("dbname", "nvarchar"), ("cmd", "nvarchar", 16), ("request_id", "int"))
    rows: list[dict[str, object]] = []
    wanted = str(login_filter).lower() if login_filter is not None else None
    for s in sorted(sessions, key=lambda s: s.spid):
        if wanted is not None and wanted != "active" and wanted not in (s.login.lower(), str(s.spid)):
            continue
        mine = s.spid == asking
        if wanted == "active" and not mine:
            continue  # 'active' leaves out sessions awaiting a command
        rows.append({"spid": s.spid, "ecid": 0, "status": "runnable" if mine else "sleeping", "loginame": s.login,
                     "hostname": s.host, "blk": "0", "dbname": s.database,
                     "cmd": "SELECT" if mine else "AWAITING COMMAND", "request_id": 0})
    return cols, rows


def sp_helpdb(names: list[str], owner_of: Callable[[str], str], db_id: Callable[[str], int | None],
              collation_of: Callable[[str], str | None], compatibility: int, wanted: object = None) -> Rows:
    cols = _cols(("name", "nvarchar"), ("db_size", "nvarchar", 13), ("owner", "nvarchar"), ("dbid", "smallint"),
                 ("created", "nvarchar", 11), ("status", "nvarchar", 600), ("compatibility_level", "smallint"))
    if wanted is not None:
        matching = [n for n in names if n.lower() == str(wanted).lower()]
        if not matching:
            raise SqlError(15010, f"The database '{wanted}' does not exist. Supply a valid database name. To see "
                                  "available databases, use sys.databases.")
        names = matching
    rows: list[dict[str, object]] = []
    for name in names:
        status = (f"Status=ONLINE, Updateability=READ_WRITE, UserAccess=MULTI_USER, Recovery={recovery_model(name)}"
                  f", Collation={collation_of(name)}")
        rows.append({"name": name, "db_size": None, "owner": owner_of(name), "dbid": db_id(name), "created": None,
                     "status": status, "compatibility_level": compatibility})
    return cols, rows


def sp_databases(names: list[str]) -> Rows:
    cols = _cols(("DATABASE_NAME", "nvarchar"), ("DATABASE_SIZE", "int"), ("REMARKS", "nvarchar", 254))
    return cols, [{"database_name": n, "database_size": None, "remarks": None} for n in sorted(names, key=str.lower)]


def recovery_model(name: str) -> str:
    """master, tempdb and msdb use SIMPLE recovery out of the box; model, and so new databases, FULL."""
    return "SIMPLE" if name.lower() in ("master", "tempdb", "msdb") else "FULL"
