"""The cluster spec: what the user asked for, parsed and validated, with no secret in it.

The answers file (TOML) is loaded into these types by ``octotui.spec.answers``; the plan, the checks and the
TUI all read these types and never the raw file. Every value that has rules of its own (an account, a path, a
host, a listen prefix, the connection string, the version) is held as the type its parser in
``octotui.spec.parsers`` returns, so it is parsed once, here, and ``str()`` of it is the one canonical text a
command line, a message or a keyring entry uses. Secrets are not fields here: they are looked up by
``octotui.secrets.store`` when a run needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString
from octotui.spec.parsers.hostnames import Host
from octotui.spec.parsers.prefixes import ListenPrefix
from octotui.spec.parsers.versions import OctopusVersion
from octotui.spec.parsers.winpath import WinPath

Mode = Literal["create", "join"]
Transport = Literal["ntlm", "kerberos", "credssp", "basic", "certificate"]
CertValidation = Literal["validate", "ignore"]
InstallKind = Literal["url", "node_path", "local_file", "chocolatey"]

#: The folders ``path`` sets one by one, by answers-file key, with the Octopus option each maps to.
STORAGE_FOLDERS: dict[str, str] = {
    "artifacts": "--artifacts",
    "task_logs": "--taskLogs",
    "nuget_repository": "--nugetRepository",
    "imports": "--imports",
    "event_exports": "--eventExports",
    "telemetry": "--telemetry",
}


#: A node's home folder when the answers give none.
#: The instance name Octopus itself uses when none is given.
DEFAULT_INSTANCE = "OctopusServer"
DEFAULT_HOME = WinPath("drive", ("Octopus",), drive="C")
#: What Octopus listens on when the answers give no prefix.
DEFAULT_LISTEN_PREFIX = ListenPrefix("http", "+", "strong", 80, "/")


@dataclass(frozen=True)
class WinRMSettings:
    username: Account | None  # None only with the certificate transport, which signs in without a name
    transport: Transport = "ntlm"
    https: bool = True
    port: int | None = None  # None: 5986 with https, 5985 without
    ca_cert: str | None = None
    server_cert_validation: CertValidation = "validate"
    cert_pem: str | None = None  # certificate transport
    cert_key_pem: str | None = None
    #: Kerberos: where the realm's KDC is and the realm's DNS name, from [ad] (None: the system's config/DNS).
    kerberos_kdc: str | None = None
    kerberos_dns_domain: str | None = None

    @property
    def effective_port(self) -> int:
        return self.port or (5986 if self.https else 5985)

    @property
    def logon(self) -> str:
        """The user name as WinRM and the keyring take it; empty for the certificate transport."""
        return str(self.username) if self.username is not None else ""


@dataclass(frozen=True)
class NodeSpec:
    host: Host
    name: str
    home: WinPath = DEFAULT_HOME
    endpoint: str | None = None  # full URL override, e.g. for the lab

    def url(self, winrm: WinRMSettings) -> str:
        if self.endpoint:
            return self.endpoint
        scheme = "https" if winrm.https else "http"
        return f"{scheme}://{self.host.url_host}:{winrm.effective_port}/wsman"


@dataclass(frozen=True)
class ServiceAccountSpec:
    username: Account  # a domain account, DOMAIN\user or user@domain.tld; a gMSA ends with $

    @property
    def is_gmsa(self) -> bool:
        return self.username.is_gmsa


@dataclass(frozen=True)
class StorageSpec:
    cluster_shared: WinPath | None = None  # a UNC path, or a drive every node maps to the same share
    folders: dict[str, WinPath] = field(default_factory=dict)  # keys of STORAGE_FOLDERS


@dataclass(frozen=True)
class WebSpec:
    listen_prefixes: tuple[ListenPrefix, ...] = (DEFAULT_LISTEN_PREFIX,)
    force_ssl: bool = False
    comms_port: int = 10943


@dataclass(frozen=True)
class InstallSpec:
    source: str
    kind: InstallKind


@dataclass(frozen=True)
class ADSpec:
    """Where the preflight checks find Active Directory (the ``[ad]`` table, all optional).

    Without it, ``ad.account`` finds a domain controller through DNS SRV for the domain the nodes report."""

    domain_controller: str | None = None  # a DC's name or address
    dns_domain: str | None = None  # e.g. corp.example.com
    ca_cert: str | None = None  # PEM of the CA that signs the DCs' LDAPS certificates
    nameservers: tuple[str, ...] = ()  # "host" or "host:port", instead of this machine's resolver


@dataclass(frozen=True)
class ClusterSpec:
    mode: Mode
    octopus_version: OctopusVersion
    instance: str
    winrm: WinRMSettings
    nodes: tuple[NodeSpec, ...]
    service_account: ServiceAccountSpec
    connection_string: ConnectionString  # as written (``str()`` gives the text back), never with a password
    storage: StorageSpec
    web: WebSpec
    install: InstallSpec
    admin_username: Account | None = None
    license_file: str | None = None
    source_file: str | None = None  # the answers file this came from, for messages
    ad: ADSpec = field(default_factory=ADSpec)

    @property
    def first_node(self) -> NodeSpec:
        return self.nodes[0]
