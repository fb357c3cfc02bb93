"""The simulated world's state: nodes, the shared SQL Server, the file share and the domain.

Everything that must survive ``lab up --state DIR`` being stopped and started again lives here, and
only here, as plain data. Behaviour (programs, services, WinRM) lives elsewhere and reads and changes
this state under ``World.lock``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octotui.lab.identity import same_account
from octotui.lab.winfs import WinFS

OCTOPUS_REG_KEY = "HKLM\\SOFTWARE\\Octopus\\OctopusServer"


@dataclass
class Account:
    """An account as the lab's directory (or a node's local SAM, ``NodeState.local_accounts``) knows it."""

    sam: str
    password: str = ""
    enabled: bool = True
    locked: bool = False
    password_expired: bool = False
    must_change_password: bool = False
    gmsa: bool = False
    domain_admin: bool = False


@dataclass
class Directory:
    """The Active Directory domain the nodes are joined to."""

    domain: str = "WORK"
    dns_name: str = "work.lab"
    accounts: dict[str, Account] = field(default_factory=dict)

    def qualified(self, sam: str) -> str:
        return f"{self.domain}\\{sam}"

    def find(self, name: str) -> Account | None:
        """Look an account up by ``DOMAIN\\sam``, ``sam`` or ``sam@dns``; another domain finds nothing."""
        n = name.strip()
        if "@" in n:
            n, _, dns = n.partition("@")
            if dns.lower() not in (self.dns_name.lower(), self.domain.lower()):
                return None
        elif "\\" in n:
            dom, _, n = n.partition("\\")
            if dom.lower() not in (self.domain.lower(), self.dns_name.lower(), "."):
                return None
        return self.accounts.get(n.lower())

    def logon_error(self, name: str, password: str) -> str | None:
        """None when a logon with this password would succeed, else the reason as Windows words it."""
        return account_logon_error(self.find(name), password)


def account_logon_error(acct: Account | None, password: str) -> str | None:
    """Why a logon to ``acct`` with ``password`` fails, as Windows words it (None: it succeeds); the same
    rules hold for a domain account and a node's local (SAM) account."""
    if acct is None or (not acct.gmsa and acct.password != password):
        return "The user name or password is incorrect."
    if not acct.enabled:
        return "The referenced account is currently disabled and may not be logged on to."
    if acct.locked:
        return "The referenced account is currently locked out and may not be logged on to."
    if acct.password_expired:
        return "The user's password has expired."
    if acct.must_change_password:
        return "The user's password must be changed before signing in."
    return None


@dataclass
class Service:
    """A Windows service on one node."""

    name: str
    display_name: str
    binary_path: str
    start_type: str = "Automatic"
    state: str = "Stopped"
    account: str = "LocalSystem"
    dependencies: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class ProcessRecord:
    """One entry of the node's process-creation log (what Windows records as event 4688)."""

    command_line: str
    account: str
    exit_code: int | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None


@dataclass
class NodeState:
    """One Windows Server node."""

    name: str
    web_port: int = 0
    winrm_port: int = 0
    os_version: str = "10.0.20348"
    os_caption: str = "Microsoft Windows Server 2022 Datacenter"
    fs: WinFS = field(default_factory=WinFS)
    registry: dict[str, dict[str, str]] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    rights: dict[str, list[str]] = field(default_factory=dict)
    drive_free_bytes: dict[str, int] = field(default_factory=lambda: {"C:": 80 * 1024**3})
    process_log: list[ProcessRecord] = field(default_factory=list)
    http_requests: int = 0
    #: WinRM requests by the authentication method that carried them (``lab inspect``): basic, certificate,
    #: ntlm, kerberos, credssp, or none (refused before any credentials, or unauthenticated Identify).
    auth_requests: dict[str, int] = field(default_factory=dict)
    shells_opened: int = 0
    boot_count: int = 1
    #: The node's local (SAM) accounts by lower-case name: the built-in Administrator. Windows' WinRM takes
    #: Basic authentication for these only; they mean nothing to another machine (SQL Server, the share).
    local_accounts: dict[str, Account] = field(default_factory=dict)

    # --- local accounts --------------------------------------------------------------------------
    def local_account(self, name: str) -> Account | None:
        """The local account ``name`` names on this node: ``user``, ``.\\user`` or ``NODE\\user``
        (case-insensitive); None for another machine's or the domain's account."""
        n = name.strip()
        if "\\" in n:
            prefix, _, n = n.partition("\\")
            if prefix.lower() not in (".", self.name.lower()):
                return None
        elif "@" in n:
            return None
        return self.local_accounts.get(n.lower())

    def qualified_local(self, sam: str) -> str:
        """How Windows names a local account of this node: ``OCTO1\\Administrator``."""
        return f"{self.name}\\{sam}"

    # --- registry --------------------------------------------------------------------------------
    def reg_get(self, key: str, value: str) -> str | None:
        return self.registry.get(key.lower(), {}).get(value.lower())

    def reg_set(self, key: str, value: str, data: str) -> None:
        self.registry.setdefault(key.lower(), {})[value.lower()] = data

    def reg_delete_key(self, key: str) -> None:
        self.registry.pop(key.lower(), None)

    # --- services --------------------------------------------------------------------------------
    def service(self, name: str) -> Service | None:
        for svc in self.services.values():
            if svc.name.lower() == name.lower():
                return svc
        return None

    def has_right(self, right: str, account: str) -> bool:
        return any(same_account(a, account) for a in self.rights.get(right, []))

    def grant_right(self, right: str, account: str) -> None:
        if not self.has_right(right, account):
            self.rights.setdefault(right, []).append(account)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "web_port": self.web_port,
            "winrm_port": self.winrm_port,
            "os_version": self.os_version,
            "os_caption": self.os_caption,
            "fs": self.fs.to_dict(),
            "registry": self.registry,
            "services": {k: asdict(v) for k, v in self.services.items()},
            "rights": self.rights,
            "drive_free_bytes": self.drive_free_bytes,
            "process_log": [asdict(p) for p in self.process_log],
            "http_requests": self.http_requests,
            "auth_requests": dict(self.auth_requests),
            "shells_opened": self.shells_opened,
            "boot_count": self.boot_count,
            "local_accounts": {k: asdict(v) for k, v in self.local_accounts.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NodeState:
        return cls(
            name=d["name"],
            web_port=d.get("web_port", 0),
            winrm_port=d.get("winrm_port", 0),
            os_version=d.get("os_version", "10.0.20348"),
            os_caption=d.get("os_caption", "Microsoft Windows Server 2022 Datacenter"),
            fs=WinFS.from_dict(d["fs"]),
            registry=d.get("registry", {}),
            services={k: Service(**v) for k, v in d.get("services", {}).items()},
            rights=d.get("rights", {}),
            drive_free_bytes=d.get("drive_free_bytes", {"C:": 80 * 1024**3}),
            process_log=[ProcessRecord(**p) for p in d.get("process_log", [])],
            http_requests=d.get("http_requests", 0),
            auth_requests=dict(d.get("auth_requests", {})),
            shells_opened=d.get("shells_opened", 0),
            boot_count=d.get("boot_count", 1),
            local_accounts={k: Account(**v) for k, v in d.get("local_accounts", {}).items()},
        )


@dataclass
class Login:
    """A SQL Server login: a Windows account or a SQL login with a password."""

    name: str
    kind: str = "windows"  # "windows" | "sql"
    password: str = ""
    server_roles: list[str] = field(default_factory=list)  # "sysadmin", "dbcreator"
    disabled: bool = False


@dataclass
class OctopusNodeRow:
    """A row of Octopus's OctopusServerNodes table."""

    name: str
    max_concurrent_tasks: int = 5
    is_in_maintenance_mode: bool = False
    registered_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)


@dataclass
class OctopusSchema:
    """What Octopus keeps in its database: the parts an HA install touches."""

    version: str
    master_key: str
    nodes: dict[str, OctopusNodeRow] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)  # cluster-wide: Folders.*, Server.License, auth
    admins: list[str] = field(default_factory=list)

    @property
    def master_key_sha256(self) -> str:
        return hashlib.sha256(self.master_key.encode("ascii")).hexdigest()


@dataclass
class Database:
    name: str
    collation: str = "SQL_Latin1_General_CP1_CI_AS"
    owners: list[str] = field(default_factory=list)  # principals in db_owner
    octopus: OctopusSchema | None = None


@dataclass
class SqlServerState:
    """The one SQL Server instance every node shares."""

    host: str = "127.0.0.1"
    port: int = 0
    version: str = "15.0.4375.4"
    edition: str = "Developer Edition (64-bit)"
    collation: str = "SQL_Latin1_General_CP1_CI_AS"
    logins: dict[str, Login] = field(default_factory=dict)
    databases: dict[str, Database] = field(default_factory=dict)
    #: Logins accepted, by how they authenticated ("kerberos", "ntlm", "sql"): ``lab inspect`` shows them.
    auth_logins: dict[str, int] = field(default_factory=dict)

    def login(self, name: str) -> Login | None:
        for lg in self.logins.values():
            if same_account(lg.name, name):
                return lg
        return None

    def database(self, name: str) -> Database | None:
        return self.databases.get(name.lower())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SqlServerState:
        dbs: dict[str, Database] = {}
        for k, v in d.get("databases", {}).items():
            octo = v.get("octopus")
            schema = None
            if octo is not None:
                schema = OctopusSchema(
                    version=octo["version"],
                    master_key=octo["master_key"],
                    nodes={n: OctopusNodeRow(**r) for n, r in octo.get("nodes", {}).items()},
                    settings=octo.get("settings", {}),
                    admins=octo.get("admins", []),
                )
            dbs[k] = Database(name=v["name"], collation=v["collation"], owners=v["owners"], octopus=schema)
        return cls(
            host=d.get("host", "127.0.0.1"),
            port=d.get("port", 0),
            version=d.get("version", "15.0.4375.4"),
            edition=d.get("edition", "Developer Edition (64-bit)"),
            collation=d.get("collation", "SQL_Latin1_General_CP1_CI_AS"),
            logins={k: Login(**v) for k, v in d.get("logins", {}).items()},
            databases=dbs,
            auth_logins=dict(d.get("auth_logins", {})),
        )


@dataclass
class Share:
    """An SMB share: its folder tree and who may read or write it (``full`` or ``read``)."""

    name: str
    acl: dict[str, str] = field(default_factory=dict)
    fs: WinFS = field(default_factory=lambda: WinFS(drives=()))

    def access(self, account: str) -> str | None:
        for who, level in self.acl.items():
            if same_account(who, account):
                return level
        return None


@dataclass
class FileServerState:
    """The file server behind the cluster's UNC root."""

    host: str = "127.0.0.1"
    shares: dict[str, Share] = field(default_factory=dict)

    def share(self, name: str) -> Share | None:
        return self.shares.get(name.lower())

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "shares": {k: {"name": s.name, "acl": s.acl, "fs": s.fs.to_dict()} for k, s in self.shares.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileServerState:
        return cls(
            host=d.get("host", "127.0.0.1"),
            shares={
                k: Share(name=v["name"], acl=v["acl"], fs=WinFS.from_dict(v["fs"]))
                for k, v in d.get("shares", {}).items()
            },
        )


@dataclass
class StagedInstaller:
    """An Octopus MSI the lab can install, staged on every node and served over HTTP."""

    version: str
    file_name: str
    sha256: str
    size: int


@dataclass
class World:
    """All simulated state. Mutations happen under ``lock`` so that nodes can run commands in parallel."""

    directory: Directory = field(default_factory=Directory)
    nodes: list[NodeState] = field(default_factory=list)
    sql: SqlServerState = field(default_factory=SqlServerState)
    files: FileServerState = field(default_factory=FileServerState)
    installers: dict[str, StagedInstaller] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def node(self, name: str) -> NodeState | None:
        for n in self.nodes:
            if n.name.lower() == name.lower().split(".")[0]:
                return n
        return None

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "format": 1,
                "directory": asdict(self.directory),
                "nodes": [n.to_dict() for n in self.nodes],
                "sql": self.sql.to_dict(),
                "files": self.files.to_dict(),
                "installers": {k: asdict(v) for k, v in self.installers.items()},
            }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> World:
        directory = Directory(
            domain=d["directory"]["domain"],
            dns_name=d["directory"]["dns_name"],
            accounts={k: Account(**v) for k, v in d["directory"]["accounts"].items()},
        )
        return cls(
            directory=directory,
            nodes=[NodeState.from_dict(n) for n in d["nodes"]],
            sql=SqlServerState.from_dict(d["sql"]),
            files=FileServerState.from_dict(d["files"]),
            installers={k: StagedInstaller(**v) for k, v in d.get("installers", {}).items()},
        )

    def save(self, path: Path) -> None:
        """Write atomically and privately: the file holds the lab's passwords and master keys."""
        from octotui.lab.private import write_private

        write_private(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> World:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
