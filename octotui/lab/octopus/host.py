"""What every Octopus.Server.exe command stands on: its process, its log, its instance and its database.

Console and log follow Octopus's NLog set-up: informational lines go to stdout, errors to stderr, and
all of them to ``OctopusServer.txt``; ``--noconsolelogging`` silences the stdout copy but never the
payload (the JSON a command prints). Instance selection follows the shared start-up code quoted in the
reference, with its messages. SQL Server is reached from *this* process, as the identity that started
it, so a WinRM network logon meets the double hop here.
"""

from __future__ import annotations

import ntpath
from collections.abc import Callable
from dataclasses import dataclass, field

from octotui.lab import adonet, sqlserver
from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.logfile import ServerLog
from octotui.lab.octopus.options import ControlledFailure, Opt, Parsed, Unhandled
from octotui.lab.process import ProcessContext
from octotui.lab.state import NodeState, OctopusSchema, World
from octotui.lab.winfs import FsError

INSTANCE_OPTS = (Opt("instance", help="Name of the instance to use"),
                 Opt("config", help="Configuration file to use"))
SKIP_DB_OPTS = (Opt("skipDatabaseCompatibilityCheck", value=False,
                    help="Skips the database compatibility check"),
                Opt("skipDatabaseSchemaUpgradeCheck", value=False,
                    help="Skips the database schema upgrade checks. Use with caution"))


@dataclass
class Host:
    """One run of the exe: where it runs, as whom, which build, and its two outputs."""

    ctx: ProcessContext
    exe: str
    version: str
    log: ServerLog
    console_logging: bool = True

    @property
    def world(self) -> World:
        return self.ctx.runtime.world

    @property
    def node(self) -> NodeState:
        return self.ctx.runtime.node

    # --- output ----------------------------------------------------------------------------------
    def info(self, message: str) -> None:
        self.log.write("INFO", message)
        if self.console_logging:
            self.ctx.println(message)

    def warn(self, message: str) -> None:
        self.log.write("WARN", message)
        if self.console_logging:
            self.ctx.println(message)

    def error(self, message: str) -> None:
        self.log.write("ERROR", message)
        self.ctx.eprintln(message)

    def fatal(self, message: str) -> None:
        self.log.write("FATAL", message)
        self.ctx.eprintln(message)

    def file_only(self, message: str) -> None:
        self.log.write("INFO", message)

    def payload(self, text: str) -> None:
        """What the command exists to print (JSON, a key): always on stdout, never in the log."""
        self.ctx.out(text)

    # --- paths -----------------------------------------------------------------------------------
    def full_path(self, path: str) -> str:
        return ntpath.normpath(path if ntpath.isabs(path) else ntpath.join(self.ctx.cwd, path))


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    options: tuple[Opt, ...]
    run: Callable[[Host, Parsed], int]
    uses_instance: bool = True


@dataclass
class Selected:
    """The instance a command acts on: its name (None when chosen by ``--config``) and its config."""

    name: str | None
    config: cfgmod.NodeConfig
    notes: list[str] = field(default_factory=list)

    @property
    def config_path(self) -> str:
        return self.config.path


def _available(node: NodeState) -> str:
    return ", ".join(r.name for r in cfgmod.list_instances(node))


def _locate(host: Host, parsed: Parsed) -> tuple[str | None, str]:
    node = host.node
    name, config = parsed.get("instance"), parsed.get("config")
    if name:
        matches = [r for r in cfgmod.list_instances(node) if r.name.lower() == name.lower()]
        if not matches:
            raise ControlledFailure(f"Instance {name} of {cfgmod.APPLICATION} has not been configured on "
                                    f"this machine. Available instances: {_available(node)}.")
        exact = [r for r in matches if r.name == name]
        if len(matches) > 1 and not exact:
            raise ControlledFailure(f"Instance {name} of {cfgmod.APPLICATION} could not be matched to one of "
                                    f"the existing instances: {_available(node)}.")
        rec = exact[0] if len(matches) > 1 else matches[0]
        return rec.name, rec.config_path
    if config:
        return None, host.full_path(config)
    in_cwd = host.full_path(f"{cfgmod.APPLICATION}.config")
    if node.fs.is_file(in_cwd):
        return None, in_cwd
    records = cfgmod.list_instances(node)
    default = [r for r in records if r.name == cfgmod.DEFAULT_INSTANCE]
    if default:
        return default[0].name, default[0].config_path
    if len(records) == 1:
        return records[0].name, records[0].config_path
    if len(records) > 1:
        raise ControlledFailure(f"There is more than one instance of {cfgmod.APPLICATION} configured on this "
                                "machine. Please pass --instance=INSTANCENAME when invoking this command to "
                                f"target a specific instance. Available instances: {_available(node)}.")
    raise ControlledFailure(f"Unable to find default instance of {cfgmod.APPLICATION}. "
                            f"Available instances: {_available(node)}.")


def select_instance(host: Host, parsed: Parsed) -> Selected:
    """The instance from ``--instance``, ``--config`` or the default, with its config loaded."""
    with host.world.lock:
        name, path = _locate(host, parsed)
        if not host.node.fs.is_file(path):
            if name:
                raise ControlledFailure(
                    f"The configuration file for instance {name} could not be located at the specified "
                    f"location {path}. The file might have been manually removed without properly removing "
                    "the instance and as such it is still listed as present.The instance must be created "
                    "again before you can interact with it.")
            raise ControlledFailure(f"The configuration file at {path} could not be located at the specified "
                                    "location.")
        try:
            config = cfgmod.NodeConfig.load(host.node, path)
        except cfgmod.ConfigError as exc:
            raise Unhandled("System.Xml.XmlException", str(exc)) from exc
    host.log.set_home(config.get(cfgmod.HOME))
    return Selected(name, config)


def node_name(host: Host, sel: Selected) -> str:
    return sel.config.get(cfgmod.NODE_NAME) or host.node.name


def save_config(host: Host, sel: Selected) -> None:
    with host.world.lock:
        sel.config.save(host.node)


# --- the database ------------------------------------------------------------------------------------
def connection_string(sel: Selected) -> str:
    cs = sel.config.get(cfgmod.CONNECTION_STRING)
    if not cs:
        raise ControlledFailure("No database connection string has been configured for this instance. Set "
                                "one with: Octopus.Server.exe database --connectionString=VALUE")
    return cs


def connect(host: Host, cs: str, *, open_catalog: bool = True) -> sqlserver.SqlSession:
    """SqlClient's ``Open()`` from this process: as the caller's identity, from this node."""
    try:
        return sqlserver.connect(host.world, cs, host.ctx.identity, machine=host.node.name,
                                 open_catalog=open_catalog)
    except adonet.ConnectionStringError as exc:
        raise Unhandled("System.ArgumentException", str(exc)) from exc


def parse_cs(cs: str) -> adonet.SqlConnectionOptions:
    try:
        return adonet.parse(cs)
    except adonet.ConnectionStringError as exc:
        raise Unhandled("System.ArgumentException", str(exc)) from exc


def checked_schema(host: Host, session: sqlserver.SqlSession, parsed: Parsed) -> OctopusSchema:
    """The Octopus schema, after the compatibility check commands run unless told to skip it."""
    schema = session.schema()
    if schema is None:
        raise ControlledFailure(f"The database '{session.catalog}' does not contain an Octopus Server "
                                "schema. Create it with: Octopus.Server.exe database --create")
    if not parsed.has("skipDatabaseCompatibilityCheck") and schema.version != host.version:
        raise ControlledFailure(
            f"The database schema is for Octopus Server {schema.version} but this is Octopus Server "
            f"{host.version}. Upgrade the database with: Octopus.Server.exe database --upgrade")
    return schema


def read_node_file(host: Host, path: str) -> bytes:
    try:
        with host.world.lock:
            return host.node.fs.read(host.full_path(path))
    except FsError as exc:
        raise Unhandled("System.IO.FileNotFoundException", f"Could not find file '{host.full_path(path)}'.") \
            from exc
