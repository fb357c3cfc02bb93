"""Answering statements from the lab's SQL Server state, as the logged-in session sees it.

The front is a stand-in for SQL Server, not a database engine: it knows the server's properties, the
logins and their roles, the databases with their owners and whether they hold Octopus's schema, and it
answers the questions a preflight asks about those (version, collation, who am I, may I create a
database, does this database exist, am I db_owner in it, does it hold ``dbo.OctopusServerNode``). It
reads permissions through ``SqlSession`` so that the front and the simulated ``Octopus.Server.exe`` agree
on who may do what. It also keeps what a session itself owns: @@TRANCOUNT (BEGIN/COMMIT/ROLLBACK in SQL
or through the transaction manager), SET IMPLICIT_TRANSACTIONS, and PRINT messages.

Anything it does not model gets error 50001 (``LAB_UNMODELLED``, severity 16), whose text quotes the
statement and says it is the lab's limit, never an error SQL Server would give for another reason: a
client that sees 2812 or 208 would wrongly conclude the server lacks the procedure or the view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from octotui.lab.sqlserver import SqlError, SqlSession
from octotui.lab.state import Database, World
from octotui.lab.tds import builds, catalog, sqltext
from octotui.lab.tds.catalog import SessionInfo
from octotui.lab.tds.tokens import Column, SqlType
from octotui.lab.tds.transactions import TransactionChanged, Transactions

SERVER_NAME = "LABSQL"
#: The error number (user range, severity 16) for "the lab does not model this"; see ``unmodelled``.
LAB_UNMODELLED = 50001
#: The error number for a fault in the lab itself while answering a request.
LAB_FAILURE = 50002
SYSTEM_DATABASES = ("master", "tempdb", "model", "msdb")
#: The tables an Octopus database holds in the lab (the real schema has many more; these are enough to
#: recognise one and to count it as not empty).
OCTOPUS_TABLES = ("OctopusServerNode", "SchemaVersions", "Configuration", "Project", "Release", "Deployment",
                  "Machine", "Event")
_YEARS = {10: "2008", 11: "2012", 12: "2014", 13: "2016", 14: "2017", 15: "2019", 16: "2022", 17: "2025"}
_SESSION_OPTIONS = {
    "ansi_nulls", "ansi_null_dflt_on", "ansi_null_dflt_off", "ansi_padding", "ansi_warnings", "arithabort",
    "arithignore", "concat_null_yields_null", "quoted_identifier", "nocount", "textsize", "lock_timeout",
    "implicit_transactions", "cursor_close_on_commit", "xact_abort", "dateformat", "datefirst", "language",
    "deadlock_priority", "transaction", "numeric_roundabort", "rowcount", "fmtonly", "no_browsetable",
    "context_info", "query_governor_cost_limit", "statistics", "tran", "ansi_defaults", "fips_flagger",
    "remote_proc_transactions",
}


@dataclass
class ResultSet:
    columns: list[Column]
    rows: list[list[object]]
    in_proc: bool = False  # produced inside a procedure: ends with DONEINPROC, not DONE


@dataclass
class StatementDone:
    """A statement that returns no rows (SET, EXEC of a procedure with nothing to say)."""


@dataclass
class DatabaseChanged:
    old: str
    new: str


@dataclass
class Message:
    """An informational message, sent as an INFO token (PRINT's are number 0, severity 0)."""

    number: int
    text: str


@dataclass
class ProcedureEnded:
    """A procedure EXECuted in a batch returned: RETURNSTATUS, then DONEPROC, as SQL Server sends them."""

    status: int = 0


Outcome = ResultSet | StatementDone | DatabaseChanged | Message | TransactionChanged | ProcedureEnded


@dataclass(frozen=True)
class Typed:
    value: object
    type: SqlType
    length: int = 128

    def column(self, name: str) -> Column:
        return Column(name, self.type, self.length)


def _text(value: object, length: int = 128) -> Typed:
    return Typed(value, "nvarchar", length)


def _int(value: object) -> Typed:
    return Typed(value, "int")


class Unmodelled(Exception):
    """Part of a statement the lab does not model; ``Answerer.run`` reports it with the statement's text."""


def unmodelled(statement: str, detail: str = "") -> SqlError:
    """Error 50001: the statement (whitespace folded, at most 300 characters) and what was not modelled."""
    text = " ".join(statement.split())
    if len(text) > 300:
        text = text[:297] + "..."
    suffix = f" ({detail})" if detail else ""
    return SqlError(LAB_UNMODELLED, f"The octotui lab does not model this statement: {text}{suffix}")


class Answerer:
    """One connection's view: its session (login and current database) and its SPID."""

    def __init__(self, world: World, session: SqlSession, database: str, spid: int) -> None:
        self.world = world
        self.session = session
        self.database = database  # as the client sees it: "master" or a user database's name
        self.spid = spid
        self.transactions = Transactions()
        #: SET options that @@ variables read back: @@LOCK_TIMEOUT, @@TEXTSIZE, @@DATEFIRST.
        self.numeric_settings = {"lock_timeout": -1, "textsize": 2147483647, "datefirst": 7}
        #: Every open session on the server, for sp_who; the TDS front replaces this after login.
        self.sessions: Callable[[], list[SessionInfo]] = lambda: [
            SessionInfo(self.spid, self.session.login.name, "", "", self.database)]

    # --- batches ---------------------------------------------------------------------------------
    def run(self, text: str, params: dict[str, object] | None = None) -> Iterator[Outcome]:
        """Answer each statement of a batch in turn; SqlError stops the batch, as most errors do."""
        try:
            statements = sqltext.parse(text)
        except sqltext.SqlSyntaxError as exc:
            raise unmodelled(text, f"it reads only a small subset of T-SQL: {exc}") from exc
        if not statements:
            yield StatementDone()
            return
        for stmt in statements:
            with self.world.lock:
                try:
                    outcomes = self._statement(stmt, params or {})
                except Unmodelled as exc:
                    raise unmodelled(stmt.source, str(exc)) from exc
            yield from outcomes

    def _statement(self, stmt: sqltext.Statement, params: dict[str, object]) -> list[Outcome]:
        if isinstance(stmt, sqltext.SetOption):
            words = stmt.text.lower().split()
            if words[0] not in _SESSION_OPTIONS:
                raise Unmodelled(f"SET {words[0].upper()}")
            if words[0] == "implicit_transactions":
                self.transactions.implicit = words[-1] == "on"
            number = "".join(words[1:])
            if words[0] in self.numeric_settings and number.lstrip("-").isdigit():
                self.numeric_settings[words[0]] = int(number)
            return [StatementDone()]
        if isinstance(stmt, sqltext.Use):
            return [self._use(stmt.database)]
        if isinstance(stmt, sqltext.CreateDatabase):
            if self.transactions.count:
                raise SqlError(226, "CREATE DATABASE statement not allowed within multi-statement transaction.")
            db = self.session.create_database(stmt.name)  # SqlError 262 or 1801 as SQL Server words them
            if stmt.collation:
                db.collation = stmt.collation
            return [StatementDone()]
        if isinstance(stmt, sqltext.Exec):
            if stmt.procedure not in _PROCEDURES and not stmt.procedure.startswith("sp_datatype_info"):
                raise Unmodelled(f"procedure {stmt.procedure}")  # before its arguments: DBCC is no procedure
            # EXEC takes a bare word as a string: EXEC sp_helpdb master
            values = [arg.written if isinstance(arg, sqltext.ColumnRef) else self._eval(arg, params).value
                      for arg in stmt.args]
            body = self._procedure(stmt.procedure, values, stmt.names)
            for outcome in body:
                if isinstance(outcome, ResultSet):
                    outcome.in_proc = True
            ended: list[Outcome] = [o for o in body if not isinstance(o, StatementDone)]
            return [*ended, ProcedureEnded(0)]
        if isinstance(stmt, sqltext.Transaction):
            return self._transaction_statement(stmt)
        if isinstance(stmt, sqltext.Print):
            value = self._eval(stmt.expr, params).value
            return [Message(0, "" if value is None else _display(value))]
        if isinstance(stmt, sqltext.If):
            chosen = stmt.then if self._condition(stmt, params) else stmt.otherwise
            return [StatementDone()] if chosen is None else self._statement(chosen, params)
        outcomes: list[Outcome] = []
        if self.transactions.implicit and self.transactions.count == 0 and stmt.table is not None:
            outcomes += self.begin()  # SELECT ... FROM opens a transaction under IMPLICIT_TRANSACTIONS ON
        outcomes.append(self._select(stmt, params))
        return outcomes

    def _condition(self, stmt: sqltext.If, params: dict[str, object]) -> bool:
        left, right = self._eval(stmt.left, params).value, self._eval(stmt.right, params).value
        if left is None or right is None:
            return False  # a comparison with NULL is UNKNOWN, and IF takes only TRUE
        if isinstance(left, str) or isinstance(right, str):
            a: object = str(left).lower()
            b: object = str(right).lower()
        else:
            a, b = int(left), int(right)  # type: ignore[call-overload]
        tests: dict[str, Callable[[object, object], bool]] = {
            "=": lambda x, y: x == y, "<>": lambda x, y: x != y,
            "<": lambda x, y: x < y, ">": lambda x, y: x > y,  # type: ignore[operator]
            "<=": lambda x, y: x <= y, ">=": lambda x, y: x >= y,  # type: ignore[operator]
        }
        return tests[stmt.op](a, b)

    # --- transactions ----------------------------------------------------------------------------
    def begin(self) -> list[Outcome]:
        """BEGIN TRANSACTION, in SQL or by the transaction manager (ENVCHANGE 8 when one opens)."""
        return _changed(self.transactions.begin())

    def commit(self) -> list[Outcome]:
        return _changed(self.transactions.commit())

    def rollback(self, name: str | None = None) -> list[Outcome]:
        return _changed(self.transactions.rollback(name))

    def _transaction_statement(self, stmt: sqltext.Transaction) -> list[Outcome]:
        if stmt.action == "begin":
            return self.begin()
        if stmt.action == "commit":
            return self.commit()
        if stmt.action == "save":
            self.transactions.save(stmt.name or "")
            return [StatementDone()]
        return self.rollback(stmt.name)

    # --- procedures ------------------------------------------------------------------------------
    def call_procedure(self, name: str, values: list[object], names: list[str]) -> list[Outcome]:
        """A procedure called by RPC; what the lab does not model is error 50001, as in a batch."""
        with self.world.lock:
            try:
                return self._procedure(name, values, names)
            except Unmodelled as exc:
                raise unmodelled(f"EXEC {name}", str(exc)) from exc

    def _procedure(self, name: str, values: list[object], names: list[str]) -> list[Outcome]:
        def first(alias: str) -> object:
            """The procedure's one argument, passed by its name or first by position."""
            named = dict(zip(names, values, strict=True))
            if alias in named:
                return named[alias]
            return values[0] if values and not names[0] else None

        if name.startswith("sp_datatype_info"):
            return [StatementDone()]
        if name == "sp_who":
            return [_rows(catalog.sp_who(self.sessions(), self.spid, first("@loginame")))]
        if name == "sp_helpdb":
            visible = self._database_names()
            return [_rows(catalog.sp_helpdb(visible, self._owner_of, self._db_id, self._db_collation,
                                            self._compatibility(), first("@dbname")))]
        if name == "sp_databases":
            return [_rows(catalog.sp_databases([n for n in self._database_names()
                                                if self._has_db_access(n)]))]
        raise Unmodelled(f"procedure {name}")

    def _use(self, name: str) -> Outcome:
        if name.lower() in SYSTEM_DATABASES:
            new = name.lower()
        else:
            db = self.world.sql.database(name)
            if db is None:
                raise SqlError(911, f"Database '{name}' does not exist. Make sure that the name is entered "
                                    "correctly.")
            if not self.session.has_access(db.name):
                raise SqlError(916, f'The server principal "{self.session.login.name}" is not able to access '
                                    f'the database "{db.name}" under the current security context.')
            new = db.name
        old, self.database = self.database, new
        self.session.catalog = "" if new in SYSTEM_DATABASES else new
        return DatabaseChanged(old, new)

    # --- SELECT ----------------------------------------------------------------------------------
    def _select(self, stmt: sqltext.Select, params: dict[str, object]) -> ResultSet:
        def value_of(expr: sqltext.Expr) -> Typed:
            return self._eval(expr, params)

        if stmt.table is None:
            typed = [value_of(expr) for expr, _ in stmt.items]
            return ResultSet([t.column(alias) for t, (_, alias) in zip(typed, stmt.items, strict=True)],
                             [[t.value for t in typed]])
        columns, rows = self._table(stmt.table)
        for column, expr in stmt.where:
            if column not in columns:
                raise SqlError(207, f"Invalid column name '{column}'.")
            wanted = value_of(expr).value
            rows = [r for r in rows if _equal(r[column], wanted)]
        if stmt.order_by is not None:
            if stmt.order_by not in columns:
                raise SqlError(207, f"Invalid column name '{stmt.order_by}'.")
            key = stmt.order_by
            rows.sort(key=lambda r: (r[key] is not None, str(r[key]).lower()))
        if all(isinstance(e, sqltext.Call) and e.name == "COUNT" for e, _ in stmt.items):
            counts: list[object] = [len(rows)] * len(stmt.items)
            return ResultSet([Column(alias, "int") for _, alias in stmt.items], [counts])
        out_cols: list[Column] = []
        pickers: list[Callable[[dict[str, object]], object]] = []
        for expr, alias in stmt.items:
            if isinstance(expr, sqltext.Star):
                for name, col in columns.items():
                    out_cols.append(col)
                    pickers.append(_picker(name))
            elif isinstance(expr, sqltext.ColumnRef):
                if expr.name not in columns:
                    raise SqlError(207, f"Invalid column name '{expr.name}'.")
                col = columns[expr.name]
                out_cols.append(Column(alias or col.name, col.type, col.length))
                pickers.append(_picker(expr.name))
            else:
                raise Unmodelled("expressions other than column names in a SELECT with FROM")
        return ResultSet(out_cols, [[pick(r) for pick in pickers] for r in rows])

    def _table(self, name: str) -> tuple[dict[str, Column], list[dict[str, object]]]:
        parts = name.split(".")
        table = parts[-1]
        schema = parts[-2] if len(parts) > 1 else "dbo"
        if schema == "sys" and table == "databases":
            cols = {"database_id": Column("database_id", "int"), "name": Column("name", "nvarchar"),
                    "collation_name": Column("collation_name", "nvarchar"),
                    "compatibility_level": Column("compatibility_level", "smallint"),
                    "state": Column("state", "smallint"),
                    "state_desc": Column("state_desc", "nvarchar", 60),
                    "user_access_desc": Column("user_access_desc", "nvarchar", 60),
                    "recovery_model_desc": Column("recovery_model_desc", "nvarchar", 60),
                    "is_read_only": Column("is_read_only", "bit")}
            rows: list[dict[str, object]] = []
            for db_name in self._database_names():
                rows.append({"database_id": self._db_id(db_name), "name": db_name,
                             "collation_name": self._db_collation(db_name),
                             "compatibility_level": self._compatibility(), "state": 0, "state_desc": "ONLINE",
                             "user_access_desc": "MULTI_USER", "recovery_model_desc": catalog.recovery_model(db_name),
                             "is_read_only": False})
            return cols, rows
        if schema == "sys" and table in _CATALOG_VIEWS:
            return _CATALOG_VIEWS[table](self.world, self._current_db())
        if schema == "sys" and table == "tables":
            cols = {"name": Column("name", "nvarchar"), "object_id": Column("object_id", "int"),
                    "is_ms_shipped": Column("is_ms_shipped", "bit")}
            return cols, [{"name": t, "object_id": self._object_id(t), "is_ms_shipped": False}
                          for t in self._user_tables()]
        if schema == "dbo" and table == "octopusservernode":
            octopus = self._current_db()
            if octopus is None or octopus.octopus is None:
                raise SqlError(208, f"Invalid object name '{name}'.")
            cols = {"id": Column("Id", "nvarchar", 250), "name": Column("Name", "nvarchar", 250),
                    "maxconcurrenttasks": Column("MaxConcurrentTasks", "int"),
                    "isinmaintenancemode": Column("IsInMaintenanceMode", "bit")}
            return cols, [{"id": n.name, "name": n.name, "maxconcurrenttasks": n.max_concurrent_tasks,
                           "isinmaintenancemode": n.is_in_maintenance_mode}
                          for n in octopus.octopus.nodes.values()]
        if schema in ("sys", "information_schema") or len(parts) > 2:
            raise Unmodelled(f"view {name}")
        octopus_db = self._current_db()
        if schema == "dbo" and octopus_db is not None and octopus_db.octopus is not None:
            raise Unmodelled(f"table {name}: of an Octopus database it models only dbo.OctopusServerNode's rows")
        raise SqlError(208, f"Invalid object name '{name}'.")

    # --- expressions -----------------------------------------------------------------------------
    def _eval(self, expr: sqltext.Expr, params: dict[str, object]) -> Typed:
        if isinstance(expr, sqltext.Literal):
            if isinstance(expr.value, int):
                return _int(expr.value)
            return _text(expr.value, max(len(expr.value or ""), 1))
        if isinstance(expr, sqltext.Parameter):
            if expr.name not in params:
                raise SqlError(137, f'Must declare the scalar variable "{expr.name}".')
            value = params[expr.name]
            if isinstance(value, bool):
                return Typed(value, "bit")
            if isinstance(value, int):
                return Typed(value, "bigint")
            return _text(None if value is None else str(value), 4000)
        if isinstance(expr, sqltext.Variable):
            return self._variable(expr.name)
        if isinstance(expr, sqltext.Cast):
            return _cast(self._eval(expr.expr, params), expr.type, expr.length)
        if isinstance(expr, sqltext.Call):
            return self._call(expr.name, [self._eval(a, params).value for a in expr.args])
        if isinstance(expr, sqltext.ColumnRef):
            raise SqlError(207, f"Invalid column name '{expr.name}'.")
        raise Unmodelled("'*' outside COUNT(*) or a SELECT with FROM")

    def _variable(self, name: str) -> Typed:
        sql = self.world.sql
        if name == "@@version":
            return _text(self.version_banner(), 300)
        if name == "@@servername":
            return _text(SERVER_NAME)
        if name == "@@spid":
            return _int(self.spid)
        if name == "@@language":
            return _text("us_english")
        if name == "@@trancount":
            return _int(self.transactions.count)
        if name == "@@servicename":
            return _text("MSSQLSERVER")
        if name in ("@@lock_timeout", "@@textsize"):
            return _int(self.numeric_settings[name[2:]])
        if name == "@@datefirst":
            return Typed(self.numeric_settings["datefirst"], "smallint")
        if name == "@@max_precision":
            return Typed(38, "smallint")
        if name == "@@error":
            return _int(0)
        if name == "@@microsoftversion":
            major, minor, build = _version_parts(sql.version)
            return _int((major << 24) | (minor << 16) | build)
        raise Unmodelled(f"variable {name.upper()}")

    def version_banner(self) -> str:
        sql = self.world.sql
        major = _version_parts(sql.version)[0]
        year = _YEARS.get(major, str(major))
        level = builds.banner_level(major, _version_parts(sql.version)[2])
        return (f"Microsoft SQL Server {year} ({level}) - {sql.version} (X64) \n\tJan  1 2024 00:00:00 \n\t"
                f"Copyright (C) {year} Microsoft Corporation\n\t{sql.edition} on Windows Server 2022 "
                "Datacenter 10.0 <X64> (Build 20348: ) (Hypervisor)\n")

    def _call(self, name: str, args: list[object]) -> Typed:
        handler = getattr(self, "_fn_" + name.lower(), None)
        if handler is None:
            raise Unmodelled(f"function {name}")
        result: Typed = handler(args)
        return result

    def _fn_serverproperty(self, args: list[object]) -> Typed:
        sql = self.world.sql
        prop = str(_arg(args, 0) or "").lower()
        major, minor, build = _version_parts(sql.version)
        edition = sql.edition
        values: dict[str, Typed] = {
            "productversion": _text(sql.version),
            "productmajorversion": _text(str(major)),
            "productminorversion": _text(str(minor)),
            "productbuild": _text(str(build)),
            "productlevel": _text("RTM"),
            "productupdatelevel": _text(builds.update_level(major, build)),
            "edition": _text(edition),
            "engineedition": _int(_engine_edition(edition)),
            "collation": _text(sql.collation),
            "servername": _text(SERVER_NAME),
            "machinename": _text(SERVER_NAME),
            "instancename": _text(None),
            "isclustered": _int(0),
            "ishadrenabled": _int(0),
            "isintegratedsecurityonly": _int(0),
        }
        return values.get(prop, _text(None))

    def _fn_suser_sname(self, args: list[object]) -> Typed:
        return _text(self.session.login.name)

    _fn_suser_name = _fn_suser_sname
    _fn_original_login = _fn_suser_sname
    _fn_system_user = _fn_suser_sname

    def _fn_is_srvrolemember(self, args: list[object]) -> Typed:
        role = str(_arg(args, 0) or "").lower()
        if len(args) > 1 and args[1] is not None:
            login = self.world.sql.login(str(args[1]))
            if login is None:
                return _int(None)
            roles = [r.lower() for r in login.server_roles]
        else:
            roles = [r.lower() for r in self.session.login.server_roles]
        if role == "public":
            return _int(1)
        if role not in ("sysadmin", "serveradmin", "securityadmin", "processadmin", "setupadmin", "bulkadmin",
                        "diskadmin", "dbcreator"):
            return _int(None)
        return _int(1 if role in roles else 0)

    def _fn_has_perms_by_name(self, args: list[object]) -> Typed:
        securable, kind, permission = _arg(args, 0), _arg(args, 1), str(_arg(args, 2) or "").upper()
        if securable is None and kind is None:
            if self.session.is_sysadmin:
                return _int(1)
            if permission == "CREATE ANY DATABASE":
                return _int(1 if "dbcreator" in [r.lower() for r in self.session.login.server_roles] else 0)
            return _int(1 if permission in ("CONNECT SQL", "VIEW ANY DATABASE") else 0)
        if str(kind or "").upper() == "DATABASE":
            name = str(securable)
            if name.lower() in SYSTEM_DATABASES:
                return _int(1 if self.session.is_sysadmin or permission == "CONNECT" else 0)
            if self.world.sql.database(name) is None:
                return _int(None)
            return _int(1 if self.session.has_access(name) else 0)
        return _int(None)

    def _fn_db_id(self, args: list[object]) -> Typed:
        name = _arg(args, 0)
        return _int(self._db_id(self.database if name is None else str(name)))

    def _fn_db_name(self, args: list[object]) -> Typed:
        wanted = _arg(args, 0)
        if wanted is None:
            return _text(self.database)
        for name in [*SYSTEM_DATABASES, *(d.name for d in self.world.sql.databases.values())]:
            if self._db_id(name) == wanted:
                return _text(name)
        return _text(None)

    def _fn_databasepropertyex(self, args: list[object]) -> Typed:
        name, prop = str(_arg(args, 0) or ""), str(_arg(args, 1) or "").lower()
        if self._db_id(name) is None:
            return _text(None)
        values = {"collation": self._db_collation(name), "status": "ONLINE", "updateability": "READ_WRITE",
                  "useraccess": "MULTI_USER", "recovery": "FULL"}
        return _text(values.get(prop))

    def _fn_is_rolemember(self, args: list[object]) -> Typed:
        role = str(_arg(args, 0) or "").lower()
        if len(args) > 1 and args[1] is not None:
            raise Unmodelled("IS_ROLEMEMBER with a principal")
        if role == "public":
            return _int(1)
        if not role.startswith("db_"):
            return _int(None)
        return _int(1 if role == "db_owner" and self._is_db_owner() else 0)

    _fn_is_member = _fn_is_rolemember

    def _fn_user_name(self, args: list[object]) -> Typed:
        if args:
            raise Unmodelled("USER_NAME with an id")
        db = self._current_db()
        if self.session.is_sysadmin:
            return _text("dbo")
        if db is None:
            return _text("guest")
        if db.owners and db.owners[0].lower() == self.session.login.name.lower():
            return _text("dbo")
        return _text(self.session.login.name)

    _fn_current_user = _fn_user_name
    _fn_session_user = _fn_user_name
    _fn_user = _fn_user_name

    def _fn_schema_name(self, args: list[object]) -> Typed:
        if args:
            names = {1: "dbo", 2: "guest", 3: "INFORMATION_SCHEMA", 4: "sys"}
            return _text(names.get(args[0]) if isinstance(args[0], int) else None)
        return _text("dbo")

    def _fn_object_id(self, args: list[object]) -> Typed:
        name = str(_arg(args, 0) or "")
        kind = str(_arg(args, 1) or "U").strip().upper()
        parts = [p.strip("[]") for p in name.split(".")]
        if len(parts) > 2 or (len(parts) == 2 and parts[0].lower() != "dbo") or kind != "U":
            return _int(None)
        table = parts[-1]
        if table.lower() not in (t.lower() for t in self._user_tables()):
            return _int(None)
        return _int(self._object_id(table))

    # --- facts -----------------------------------------------------------------------------------
    def _database_names(self) -> list[str]:
        return [*SYSTEM_DATABASES, *(d.name for d in self.world.sql.databases.values())]

    def _has_db_access(self, name: str) -> bool:
        """HAS_DBACCESS: master, tempdb and msdb let everyone in as guest; model and user databases do not."""
        if name.lower() in ("master", "tempdb", "msdb"):
            return True
        if name.lower() == "model":
            return self.session.is_sysadmin
        return self.session.has_access(name)

    def _owner_of(self, name: str) -> str:
        db = None if name.lower() in SYSTEM_DATABASES else self.world.sql.database(name)
        return db.owners[0] if db is not None and db.owners else "sa"

    def _compatibility(self) -> int:
        """New databases get the server's own level: 150 on 2019, 160 on 2022."""
        return _version_parts(self.world.sql.version)[0] * 10

    def _current_db(self) -> Database | None:
        if self.database.lower() in SYSTEM_DATABASES:
            return None
        return self.world.sql.database(self.database)

    def _is_db_owner(self) -> bool:
        db = self._current_db()
        if db is None:
            return self.session.is_sysadmin
        return self.session.has_access(db.name)

    def _user_tables(self) -> list[str]:
        db = self._current_db()
        return list(OCTOPUS_TABLES) if db is not None and db.octopus is not None else []

    def _object_id(self, table: str) -> int:
        names = [t.lower() for t in OCTOPUS_TABLES]
        return 581577110 + 16 * names.index(table.lower())

    def _db_id(self, name: str) -> int | None:
        low = name.lower()
        if low in SYSTEM_DATABASES:
            return SYSTEM_DATABASES.index(low) + 1
        for i, key in enumerate(self.world.sql.databases):
            if key == low:
                return len(SYSTEM_DATABASES) + 1 + i
        return None

    def _db_collation(self, name: str) -> str | None:
        if name.lower() in SYSTEM_DATABASES:
            return self.world.sql.collation
        db = self.world.sql.database(name)
        return db.collation if db is not None else None


#: The system procedures the lab answers (besides sp_datatype_info*, which it answers with nothing).
_PROCEDURES = ("sp_who", "sp_helpdb", "sp_databases")

_CATALOG_VIEWS: dict[str, Callable[[World, Database | None], catalog.Rows]] = {
    "server_principals": lambda world, _db: catalog.server_principals(world),
    "server_role_members": lambda world, _db: catalog.server_role_members(world),
    "database_principals": catalog.database_principals,
    "database_role_members": catalog.database_role_members,
}


def _changed(change: TransactionChanged | None) -> list[Outcome]:
    return [StatementDone() if change is None else change]


def _rows(table: catalog.Rows) -> ResultSet:
    """A catalog table as a result set, its columns in their declared order."""
    columns, rows = table
    return ResultSet(list(columns.values()), [[row[key] for key in columns] for row in rows])


def _display(value: object) -> str:
    """How PRINT shows a value: bits as 1/0, everything else as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _picker(name: str) -> Callable[[dict[str, object]], object]:
    return lambda row: row[name]


def _arg(args: list[object], i: int) -> object:
    return args[i] if i < len(args) else None


def _equal(a: object, b: object) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is not None and b is not None and int(a) == int(b)  # type: ignore[call-overload]
    return a == b


def _version_parts(version: str) -> tuple[int, int, int]:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")] + [0, 0, 0]
    return parts[0], parts[1], parts[2]


def _engine_edition(edition: str) -> int:
    low = edition.lower()
    if "express" in low:
        return 4
    if "standard" in low or "web" in low:
        return 2
    if "azure" in low:
        return 5
    return 3


def _cast(typed: Typed, type_name: str, length: int | None) -> Typed:
    value = typed.value
    if type_name in ("int", "bigint", "smallint", "tinyint", "bit"):
        if value is None:
            return Typed(None, "bit" if type_name == "bit" else "bigint" if type_name == "bigint" else "int")
        try:
            number = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise SqlError(245, f"Conversion failed when converting the nvarchar value '{value}' to data "
                                f"type {type_name}.") from None
        if type_name == "bit":
            return Typed(number != 0, "bit")
        return Typed(number, "bigint" if type_name == "bigint" else "int")
    if type_name in ("nvarchar", "varchar", "nchar", "char", "sysname", "sql_variant"):
        size = 128 if type_name in ("sysname", "sql_variant") else (length or 30)
        if value is None:
            return _text(None, size)
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return _text(text[:size], size)
    raise Unmodelled(f"CAST to {type_name}")
