"""The Octopus Server Windows service: what a node does when its service starts and stops.

It runs as the service's account, with a service logon that carries credentials, so SQL Server and the
share see that account (LocalSystem goes out as the computer account ``DOMAIN\\NODE$``) — never the
WinRM user that installed it. That is what makes an install that worked interactively fail here, and
the other way round.

On start it reads its instance config, logs in to SQL Server with the configured connection string,
checks the schema version and the master key against the database, registers its node row, makes sure
it can write the shared folders and opens its web endpoint. A missing share right does not stop it
(Octopus starts and logs the error, which is how such clusters are found broken later); a database or
key problem does: the process dies, the service control manager reports error 1064, and only
OctopusServer.txt says why. Without "Log on as a service" the process never starts (error 1069) and
Octopus logs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from octotui.lab import adonet, shares, sqlserver, timing
from octotui.lab.identity import Identity
from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.activity import ServiceActivity
from octotui.lab.octopus.logfile import ServerLog, new_pid
from octotui.lab.state import NodeState, OctopusNodeRow, Service, World
from octotui.lab.winfs import FsError

if TYPE_CHECKING:
    from octotui.lab.runtime import NodeRuntime

LOGON_FAILURE = "The service did not start due to a logon failure."
SERVICE_EXCEPTION = "An exception occurred in the service when handling the control request."
#: Errors the service control manager returns from StartService itself (the process never ran).
SYNCHRONOUS_START_ERRORS = (LOGON_FAILURE,)
#: The managed thread a .NET service's start-up runs on (the main thread belongs to the dispatcher).
SERVICE_THREAD = 6

_BUILTIN = ("localsystem", ".\\localsystem", "nt authority\\system", "nt authority\\localservice",
            "nt authority\\local service", "nt authority\\networkservice", "nt authority\\network service")


def is_builtin_account(account: str) -> bool:
    """Accounts Windows runs services as without a password or the "Log on as a service" right."""
    low = account.strip().lower()
    return low in _BUILTIN or low.startswith("nt service\\")


class StartupFailure(Exception):
    """The service process cannot go on; the message is what it logs before it exits."""


def _logon_refused(world: World, node: NodeState, account: str) -> bool:
    if is_builtin_account(account):
        return False
    if not node.has_right("SeServiceLogonRight", account):
        return True
    acct = world.directory.find(account)
    return acct is not None and (not acct.enabled or acct.locked or acct.password_expired)


class OctopusServiceHandler:
    """Registered for binaries containing ``Octopus.Server.exe``; one object serves every node."""

    def __init__(self) -> None:
        self._pids: dict[tuple[str, str], int] = {}
        self._activity: dict[tuple[str, str], ServiceActivity] = {}

    def start(self, runtime: NodeRuntime, service: Service) -> str | None:
        world, node = runtime.world, runtime.node
        if _logon_refused(world, node, service.account):
            return LOGON_FAILURE
        pid = new_pid(node, salt=1 + node.boot_count)
        self._pids[(node.name, service.name)] = pid
        log = ServerLog(world, node, pid=pid, tid=SERVICE_THREAD)
        try:
            self._run(runtime, service, log)
            self._keep_busy(runtime, service, log, pid)
            return None
        except StartupFailure as exc:
            log.write("FATAL", str(exc))
            return SERVICE_EXCEPTION
        finally:
            log.flush(fallback=True)

    def _keep_busy(self, runtime: NodeRuntime, service: Service, log: ServerLog, pid: int) -> None:
        """While it runs, the service keeps writing its log (``activity``)."""
        key = (runtime.node.name, service.name)
        old = self._activity.pop(key, None)
        if old is not None:
            old.stop()
        if log.home is not None:
            activity = ServiceActivity(runtime.world, runtime.node, log.home, pid)
            self._activity[key] = activity
            activity.start()

    def stop(self, runtime: NodeRuntime, service: Service) -> None:
        world, node = runtime.world, runtime.node
        activity = self._activity.pop((node.name, service.name), None)
        if activity is not None:
            activity.stop()
        pid = self._pids.pop((node.name, service.name), new_pid(node, salt=1))
        log = ServerLog(world, node, pid=pid, tid=SERVICE_THREAD)
        _exe, instance, config_path = cfgmod.parse_binary_path(service.binary_path)
        cfg = load_config(node, instance, config_path)
        log.set_home(cfg.get(cfgmod.HOME) if cfg else None)
        log.write("INFO", "Stopping the Octopus Server")
        hook = runtime.settings.web_hooks.get(node.name)
        if hook is not None:
            hook(False)
        log.write("INFO", "The Octopus Server has stopped")
        log.flush(fallback=True)

    # --- start-up ------------------------------------------------------------------------------
    def _run(self, runtime: NodeRuntime, service: Service, log: ServerLog) -> None:
        world, node = runtime.world, runtime.node
        exe, instance, config_path = cfgmod.parse_binary_path(service.binary_path)
        version = cfgmod.exe_version(node, exe)
        cfg = load_config(node, instance, config_path)
        if cfg is None:
            if instance:
                raise StartupFailure(f"Instance {instance} of {cfgmod.APPLICATION} has not been configured "
                                     "on this machine.")
            raise StartupFailure(f"The configuration file at {config_path} could not be located at the "
                                 "specified location.")
        home = cfg.get(cfgmod.HOME) or "C:\\Octopus"
        log.set_home(home)
        log.write("INFO", f"Octopus.Server version {version} ({version}) instance {instance or 'Default'}")
        log.write("INFO", "Environment Information:\n"
                          f"  OperatingSystem: {node.os_caption}\n"
                          "  OsBitVersion: x64\n  Is64BitProcess: True\n"
                          f"  CurrentUser: {service.account}\n"
                          f"  MachineName: {node.name}\n  ProcessorCount: 4\n"
                          "  CurrentDirectory: C:\\Windows\\system32\n"
                          "  HostProcessName: Octopus.Server")
        identity = Identity(service.account, "service")
        cs = cfg.get(cfgmod.CONNECTION_STRING)
        if not cs:
            raise StartupFailure("No database connection string has been configured for this instance.")
        log.write("INFO", f"Connecting to the database: {adonet.redact(cs)}")
        try:
            session = sqlserver.connect(world, cs, identity, machine=node.name)
            schema = session.schema()
        except sqlserver.SqlError as exc:
            raise StartupFailure(f"SQL Error {exc.number} - "
                                 f"{exc.message}\nMicrosoft.Data.SqlClient.SqlException") from exc
        except adonet.ConnectionStringError as exc:
            raise StartupFailure(f"{exc}\nSystem.ArgumentException") from exc
        if schema is None:
            raise StartupFailure(f"The database '{session.catalog}' does not contain an Octopus Server "
                                 "schema. Run Octopus.Server.exe database --create or --upgrade.")
        if schema.version != version:
            raise StartupFailure(f"The database schema is for Octopus Server {schema.version} but this is "
                                 f"Octopus Server {version}. Run Octopus.Server.exe database --upgrade.")
        blob = cfg.get(cfgmod.MASTER_KEY)
        if not blob:
            raise StartupFailure("No master key has been configured for this instance.")
        try:
            key = cfgmod.unprotect_master_key(node.name, blob)
        except cfgmod.ConfigError as exc:
            raise StartupFailure(f"{exc}\nSystem.Security.Cryptography.CryptographicException") from exc
        if key != schema.master_key:
            raise StartupFailure("The master key configured for this node cannot decrypt the data in the "
                                 "database. Check that this node uses the master key of the cluster.")
        log.write("INFO", "The master key matches the database")
        node_name = cfg.get(cfgmod.NODE_NAME) or node.name
        with world.lock:
            row = schema.nodes.get(node_name)
            if row is None:
                row = schema.nodes[node_name] = OctopusNodeRow(name=node_name)
            row.last_seen = time.time()
        log.write("INFO", f"Registered this node in the cluster as '{node_name}'")
        self._shared_folders(world, node, identity, schema.settings, home, version, log)
        prefixes = cfg.get(cfgmod.LISTEN_PREFIXES) or "http://localhost:80/"
        for prefix in prefixes.replace(";", ",").split(","):
            if prefix.strip():
                log.write("INFO", f"Listening for HTTP requests on: {prefix.strip()}")
        hook = runtime.settings.web_hooks.get(node.name)
        if hook is not None:
            # The web host answers only after the server's warm-up (``--timing realistic``), and only if
            # this start of the service is still the running one by then.
            pid = self._pids.get((node.name, service.name))

            def open_web(hook: Callable[[bool], None] = hook) -> None:
                with world.lock:
                    current = self._pids.get((node.name, service.name)) == pid
                if current:
                    hook(True)

            timing.later(runtime.settings.timing, timing.WEB_WARMUP, open_web)
        log.write("INFO", "Web server is ready to process requests")
        log.write("INFO", "The Octopus Server has started")

    @staticmethod
    def _shared_folders(world: World, node: NodeState, identity: Identity, settings: dict[str, str],
                        home: str, version: str, log: ServerLog) -> None:
        for folder, path in cfgmod.effective_folders(settings, home, version):
            try:
                if path.startswith("\\\\"):
                    shares.make_dirs(world, identity, path, machine=node.name)
                else:
                    with world.lock:
                        if not node.fs.drive_exists(path):
                            raise FsError(3, f"Could not find a part of the path '{path}'.")
                        node.fs.makedirs(path)
            except FsError as exc:
                reason = (f"Access to the path '{path}' is denied." if exc.message == shares.ACCESS_DENIED
                          else exc.message)
                log.write("ERROR", f"The {folder.sub} directory '{path}' cannot be used: {reason}")
                continue
            log.write("INFO", f"Using the {folder.sub} directory: {path}")


def load_config(node: NodeState, instance: str | None, config_path: str | None) -> cfgmod.NodeConfig | None:
    """The config a service's ``run --instance``/``--config`` points at, or None when it cannot be read."""
    path = config_path
    if instance:
        rec = cfgmod.find_instance(node, instance)
        path = rec.config_path if rec else None
    if not path or not node.fs.is_file(path):
        return None
    try:
        return cfgmod.NodeConfig.load(node, path)
    except cfgmod.ConfigError:
        return None

