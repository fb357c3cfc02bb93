"""Logging in to the lab's SQL Server and doing what Octopus asks of it, with SQL Server's refusals.

Octopus talks to SQL Server through SqlClient from whatever process runs it: an ``Octopus.Server.exe``
started in a WinRM session, or the Windows service. Which login SQL Server sees decides everything
(Integrated Security from a network logon arrives as ANONYMOUS LOGON: the double hop), so this module
resolves that login the way Windows and SQL Server do and answers with their error numbers and text.
A TDS front can later sit on the same state and reuse these checks.

Choices where the facts are open (octopus-server.md §7):
- ``grant_db_owner`` creates the server login for a Windows account when it is missing, as Octopus's
  own ``database --grant`` appears to (Issues #3317); that needs sysadmin or securityadmin, otherwise
  SQL Server's error 15247. The database user is then put in db_owner (sysadmin or db_owner needed).
- The creator of a database becomes its owner, as ``CREATE DATABASE`` makes the creator dbo.
"""

from __future__ import annotations

from octotui.lab import adonet
from octotui.lab.identity import ANONYMOUS, Identity, same_account
from octotui.lab.shares import host_matches, network_account
from octotui.lab.state import Database, Login, OctopusSchema, World

NETWORK_ERROR_PREFIX = (
    "A network-related or instance-specific error occurred while establishing a connection to SQL Server. "
    "The server was not found or was not accessible. Verify that the instance name is correct and that "
    "SQL Server is configured to allow remote connections."
)

_WELL_KNOWN_WINDOWS = ("nt authority\\system", "nt authority\\network service", "nt authority\\local service",
                       "builtin\\administrators", "nt authority\\authenticated users")


class SqlError(Exception):
    """A SqlException: the number SQL Server (or SqlClient, for network failures) reports and its text."""

    def __init__(self, number: int, message: str) -> None:
        super().__init__(message)
        self.number = number
        self.message = message


def login_failed(name: str) -> SqlError:
    return SqlError(18456, f"Login failed for user '{name}'.")


def _network_error(provider: str, number: int) -> SqlError:
    return SqlError(number, f"{NETWORK_ERROR_PREFIX} ({provider})")


def _check_server(world: World, data_source: str) -> None:
    """Raise SqlClient's network error unless ``data_source`` names the lab's SQL Server."""
    ds = adonet.split_data_source(data_source)
    tcp = ds.protocol == "tcp" or ds.port is not None
    if not ds.host or not host_matches(world.sql.host, ds.host):
        if tcp:
            raise _network_error("provider: TCP Provider, error: 0 - No such host is known.", 11001)
        raise _network_error("provider: Named Pipes Provider, error: 40 - Could not open a connection to "
                             "SQL Server",
                             53)
    if ds.port is not None and (ds.port < 0 or (world.sql.port and ds.port != world.sql.port)):
        raise _network_error("provider: TCP Provider, error: 0 - No connection could be made because the "
                             "target machine actively refused it.", 10061)
    if ds.instance and ds.port is None:
        raise _network_error("provider: SQL Network Interfaces, error: 26 - Error Locating Server/Instance "
                             "Specified", -1)


def is_windows_principal(world: World, name: str) -> bool:
    """Whether SQL Server could resolve ``name`` to a Windows user (CREATE LOGIN ... FROM WINDOWS)."""
    low = name.strip().lower()
    if low in _WELL_KNOWN_WINDOWS:
        return True
    domain = world.directory.domain.lower()
    dom, sep, sam = low.partition("\\")
    if sep and dom == domain and sam.endswith("$") and world.node(sam[:-1]) is not None:
        return True  # a computer account, e.g. WORK\OCTO1$
    return sep != "" and world.directory.find(name) is not None


class SqlSession:
    """An open connection: who it is logged in as and which database it uses."""

    def __init__(self, world: World, login: Login, catalog: str) -> None:
        self.world = world
        self.login = login
        self.catalog = catalog

    # --- helpers ---------------------------------------------------------------------------------
    @property
    def is_sysadmin(self) -> bool:
        return "sysadmin" in self.login.server_roles

    def _db_name(self, name: str | None) -> str:
        db = name or self.catalog
        if not db:
            raise SqlError(911, "Database name is empty.")
        return db

    def _database(self, name: str | None) -> Database | None:
        return self.world.sql.database(self._db_name(name))

    def _is_owner(self, db: Database) -> bool:
        return self.is_sysadmin or any(same_account(o, self.login.name) for o in db.owners)

    def _open(self, name: str | None) -> Database:
        """The database, if this login may use it; error 4060 otherwise, as at login time."""
        db_name = self._db_name(name)
        db = self.world.sql.database(db_name)
        if db is None or not self._is_owner(db):
            raise SqlError(4060, f'Cannot open database "{db_name}" requested by the login. The login '
                                 f'failed.')
        return db

    # --- queries ---------------------------------------------------------------------------------
    def database_exists(self, name: str | None = None) -> bool:
        with self.world.lock:
            return self._database(name) is not None

    def has_access(self, name: str | None = None) -> bool:
        """db_owner on the database, or sysadmin (which maps to dbo everywhere)."""
        with self.world.lock:
            db = self._database(name)
            return db is not None and self._is_owner(db)

    def is_octopus(self, name: str | None = None) -> bool:
        """Whether the database already holds an Octopus schema (needs access to look)."""
        with self.world.lock:
            return self._open(name).octopus is not None

    def collation(self, name: str | None = None) -> str:
        with self.world.lock:
            return self._open(name).collation

    # --- changes ---------------------------------------------------------------------------------
    def create_database(self, name: str | None = None) -> Database:
        with self.world.lock:
            db_name = self._db_name(name)
            if not (self.is_sysadmin or "dbcreator" in self.login.server_roles):
                raise SqlError(262, "CREATE DATABASE permission denied in database 'master'.")
            if self.world.sql.database(db_name) is not None:
                raise SqlError(1801, f"Database '{db_name}' already exists. Choose a different database "
                                     "name.")
            db = Database(name=db_name, collation=self.world.sql.collation, owners=[self.login.name])
            self.world.sql.databases[db_name.lower()] = db
            return db

    def drop_database(self, name: str | None = None) -> None:
        with self.world.lock:
            db_name = self._db_name(name)
            db = self.world.sql.database(db_name)
            if db is None:
                raise SqlError(3701, f"Cannot drop the database '{db_name}', because it does not exist or "
                                     "you do not have permission.")
            if not self._is_owner(db):
                raise SqlError(3701, f"Cannot drop the database '{db_name}', because it does not exist or "
                                     "you do not have permission.")
            del self.world.sql.databases[db_name.lower()]

    def grant_db_owner(self, account: str, name: str | None = None) -> str:
        """Put a Windows account in db_owner, creating its login if needed; return the login name."""
        with self.world.lock:
            db = self._open(name)
            if not self._is_owner(db):
                raise SqlError(15247, "User does not have permission to perform this action.")
            login = self.world.sql.login(account)
            if login is None:
                if not is_windows_principal(self.world, account):
                    raise SqlError(15401, f"Windows NT user or group '{account}' not found. Check the name "
                                          "again.")
                if not (self.is_sysadmin or "securityadmin" in self.login.server_roles):
                    raise SqlError(15247, "User does not have permission to perform this action.")
                login = Login(name=self._canonical_windows_name(account), kind="windows")
                self.world.sql.logins[login.name.lower()] = login
            if not any(same_account(o, login.name) for o in db.owners):
                db.owners.append(login.name)
            return login.name

    def _canonical_windows_name(self, account: str) -> str:
        dom, sep, sam = account.strip().partition("\\")
        acct = self.world.directory.find(account) if sep else None
        if acct is not None:
            return f"{self.world.directory.domain}\\{acct.sam}"
        if sep and dom.lower() == self.world.directory.domain.lower():
            return f"{self.world.directory.domain}\\{sam}"
        return account.strip()

    # --- the Octopus schema ----------------------------------------------------------------------
    def schema(self, name: str | None = None) -> OctopusSchema | None:
        """The Octopus tables of the database (live state: mutate only under ``world.lock``)."""
        with self.world.lock:
            return self._open(name).octopus

    def install_schema(self, version: str, master_key: str, name: str | None = None) -> OctopusSchema:
        with self.world.lock:
            db = self._open(name)
            if db.octopus is not None:
                raise SqlError(2714, "There is already an object named 'OctopusServerNodes' in the database.")
            db.octopus = OctopusSchema(version=version, master_key=master_key)
            return db.octopus

    def upgrade_schema(self, version: str, name: str | None = None) -> OctopusSchema:
        with self.world.lock:
            db = self._open(name)
            if db.octopus is None:
                raise SqlError(208, "Invalid object name 'dbo.OctopusServerNodes'.")
            db.octopus.version = version
            return db.octopus


def resolve_login(world: World, options: adonet.SqlConnectionOptions, identity: Identity,
                  machine: str | None = None) -> Login:
    """The login SQL Server accepts for this connection, or error 18456 naming who it saw."""
    if options.integrated_security:
        who = network_account(world, identity, machine)
        if who == ANONYMOUS:
            raise login_failed(ANONYMOUS)
        login = world.sql.login(who)
        if login is None or login.kind != "windows" or login.disabled:
            raise login_failed(who)
        return login
    user = options.user_id
    for lg in world.sql.logins.values():
        if lg.kind == "sql" and lg.name.lower() == user.lower():
            if lg.password != options.password or lg.disabled:
                raise login_failed(user)
            return lg
    raise login_failed(user)


def connect(world: World, connection_string: str, identity: Identity, *, machine: str | None = None,
            open_catalog: bool = True) -> SqlSession:
    """Open a connection as SqlClient would from a process running as ``identity`` on ``machine``.

    ``open_catalog=False`` connects to ``master`` instead of the Initial Catalog (what tools do before
    ``CREATE DATABASE``). Raises ConnectionStringError for a malformed string, SqlError otherwise.
    """
    options = adonet.parse(connection_string)
    with world.lock:
        _check_server(world, options.data_source)
        login = resolve_login(world, options, identity, machine)
        session = SqlSession(world, login, options.initial_catalog)
        if open_catalog and options.initial_catalog:
            session._open(None)
        return session
