"""Reading an existing cluster over WinRM: its master key, its settings (guided join), its health.

Each function opens its own WinRM session to a node, reads with the same helpers the steps use
(``octotui.plan.steps.NodeContext``: get-node-state, ``list-instances``, ``show-configuration``,
``show-master-key``, wait-ping), changes nothing, and returns values or raises ``OctotuiError`` with a
hint. ``show-configuration`` merges the database's cluster-wide settings, so it runs as the identity that
carries credentials to SQL Server (a scheduled task with the WinRM user's password, or CredSSP).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from octotui.errors import OctotuiError
from octotui.spec.identity import Identity
from octotui.spec.model import (
    ClusterSpec,
    InstallSpec,
    NodeSpec,
    ServiceAccountSpec,
    StorageSpec,
    WebSpec,
    WinRMSettings,
)
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString
from octotui.spec.parsers.versions import OctopusVersion


def _probe_spec(node: NodeSpec, winrm: WinRMSettings, instance: str) -> ClusterSpec:
    """A spec that only says how to reach one node (the readers below need no more of it: the version, the
    service account and the database are placeholders no reader looks at)."""
    return ClusterSpec(mode="join", octopus_version=OctopusVersion((0, 0, 0)), instance=instance, winrm=winrm,
                       nodes=(node,), service_account=ServiceAccountSpec(Account("local", "-", None)),
                       connection_string=ConnectionString("", ()), storage=StorageSpec(), web=WebSpec(),
                       install=InstallSpec("chocolatey", "chocolatey"))


@contextmanager
def _node_context(spec: ClusterSpec, node: NodeSpec, password: str | None) -> Iterator[Any]:
    from octotui.plan.steps import NodeContext
    from octotui.remote.errors import RemoteError
    from octotui.remote.session import NodeSession

    session = NodeSession.from_spec(node, spec.winrm, password)
    try:
        try:
            session.open()
        except RemoteError as exc:
            raise OctotuiError(f"{node.name}: {exc}", getattr(exc, "hint", "") or
                               "check the host, the WinRM settings and the password") from None
        cred = Identity("credssp" if spec.winrm.transport == "credssp" else "become", spec.winrm.username) \
            if password or spec.winrm.transport == "credssp" else None
        yield NodeContext(spec=spec, node=node, remote=session, credential=cred,
                          passwords={"winrm": password or ""}, output=lambda stream, text: None)
    finally:
        session.close()


def _guard(node: NodeSpec, doing: str, exc: Exception) -> OctotuiError:
    from octotui.plan.steps import StepFailed

    if isinstance(exc, OctotuiError):
        return exc
    if isinstance(exc, StepFailed):
        return OctotuiError(f"{node.name}: {doing}: {exc.message}", exc.hint)
    hint = getattr(exc, "hint", "") or "check that the node is up and Octopus Server is installed on it"
    return OctotuiError(f"{node.name}: {doing}: {exc}", str(hint))


def read_master_key(node: NodeSpec, winrm: WinRMSettings, password: str | None, instance: str) -> str:
    """The master key of ``instance`` on ``node`` (``show-master-key``); registered with the redactor."""
    from octotui.secrets.redact import default_redactor
    from octotui.windows import octopus as oc
    from octotui.windows.octopus_output import parse_master_key

    spec = _probe_spec(node, winrm, instance)
    try:
        with _node_context(spec, node, password) as ctx:
            ctx.node_state()
            res = ctx.must(ctx.octopus(oc.show_master_key(instance), idempotent=True), "show-master-key")
            key = parse_master_key(res.stdout)
    except Exception as exc:
        raise _guard(node, "reading the master key", exc) from None
    if not key:
        raise OctotuiError(f"{node.name}: show-master-key printed no key",
                           f"is {instance} the instance name, and is the node configured?")
    default_redactor().add(key)
    return key


@dataclass
class ExistingCluster:
    """What guided join reads from one node of a cluster: enough to fill a join answers file."""

    node: str
    version: str
    instance: str
    connection_string: str
    listen_prefixes: list[str]
    force_ssl: bool
    comms_port: int
    cluster_shared: str = ""
    registered_nodes: list[str] = field(default_factory=list)

    def answers(self) -> dict[str, Any]:
        """The sections of a join answers file this fills (the hosts and the key come from the user)."""
        return {"mode": "join", "octopus_version": self.version, "instance": self.instance,
                "sql": {"connection_string": self.connection_string},
                "web": {"listen_prefixes": list(self.listen_prefixes), "force_ssl": self.force_ssl,
                        "comms_port": self.comms_port}}


def read_existing_cluster(node: NodeSpec, winrm: WinRMSettings, password: str | None,
                          instance: str | None = None) -> ExistingCluster:
    """Read version, instance, SQL, storage and web settings from a node of an existing cluster."""
    from octotui.windows.octopus_output import (
        KEY_CLUSTER_SHARED,
        KEY_COMMS_PORT,
        KEY_CONNECTION_STRING,
        KEY_FORCE_SSL,
        KEY_LISTEN_PREFIXES,
        config_get,
    )
    spec = _probe_spec(node, winrm, instance or "OctopusServer")
    try:
        with _node_context(spec, node, password) as ctx:
            version = ctx.installed_version()
            if not version:
                raise OctotuiError(f"{node.name} has no Octopus Server installed",
                                   "point at a node of the existing cluster")
            names = [str(i.get("InstanceName", "")) for i in ctx.instances()]
            if not names:
                raise OctotuiError(f"{node.name} has no Octopus instance", "point at a configured node")
            chosen = next((n for n in names if instance and n.lower() == instance.lower()), names[0])
            ctx.spec = _probe_spec(node, winrm, chosen)
            conf = ctx.configuration()
    except Exception as exc:
        raise _guard(node, "reading its settings", exc) from None
    cs = config_get(conf, KEY_CONNECTION_STRING)
    if not cs:
        raise OctotuiError(f"{node.name}: instance {chosen} has no database configured",
                           "point at a node that is part of the cluster")
    prefixes = [p.strip() for p in config_get(conf, KEY_LISTEN_PREFIXES).replace(";", ",").split(",")
                if p.strip()]
    port_text = config_get(conf, KEY_COMMS_PORT).strip()
    return ExistingCluster(node=node.name, version=version, instance=chosen, connection_string=cs,
                           listen_prefixes=prefixes or ["http://+:80/"],
                           force_ssl=config_get(conf, KEY_FORCE_SSL).strip().lower() == "true",
                           comms_port=int(port_text) if port_text.isdigit() else 10943,
                           cluster_shared=config_get(conf, KEY_CLUSTER_SHARED))


# --- health ------------------------------------------------------------------------------------------------


@dataclass
class NodeHealth:
    name: str
    url: str
    ping: int | None = None  # HTTP status of /api/octopusservernodes/ping (200 or 418 = up)
    registered: bool | None = None
    shared_storage: str = ""
    service_state: str = ""
    error: str = ""

    @property
    def up(self) -> bool:
        return self.ping in (200, 418)


@dataclass
class ClusterHealth:
    nodes: list[NodeHealth]
    registered: list[str]
    expected_storage: str
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def node_urls(spec: ClusterSpec, node: NodeSpec) -> list[str]:
    """The node's web addresses, from the listen prefixes with the wildcard host replaced by the node's."""
    out = []
    for prefix in spec.web.listen_prefixes:
        anywhere = prefix.host_kind in ("strong", "weak") or prefix.host in ("localhost", "0.0.0.0")
        host = node.host.url_host if anywhere else prefix.url_host
        out.append(f"{prefix.scheme}://{host}:{prefix.port}{prefix.path}")
    return out


def cluster_health(spec: ClusterSpec, passwords: Mapping[str, str], *, deadline_s: float = 20.0) -> ClusterHealth:
    """Every node answers ping, every node is registered in the database, shared storage is set once
    (every node reads the same cluster-wide value, the one asked for)."""
    from concurrent.futures import ThreadPoolExecutor

    from octotui.windows import octopus as oc
    from octotui.windows.octopus_output import KEY_CLUSTER_SHARED, config_get, find_service
    winrm_pw = passwords.get("winrm")
    expected = str(spec.storage.cluster_shared or "")

    def one(node: NodeSpec) -> NodeHealth:
        health = NodeHealth(node.name, node_urls(spec, node)[0])
        try:
            with _node_context(spec, node, winrm_pw) as ctx:
                svc = find_service(ctx.node_state(), oc.service_name(spec.instance)) or {}
                health.service_state = str(svc.get("state", ""))
                res = ctx.script("wait-ping", {"listen_prefix": str(spec.web.listen_prefixes[0]), "timeout_s": 5,
                                               "interval_s": 1, "request_timeout_s": 3}, deadline_s=deadline_s)
                status = res.get("status")
                health.ping = int(status) if isinstance(status, int) else None
                conf = ctx.configuration()
                health.shared_storage = config_get(conf, KEY_CLUSTER_SHARED)
        except Exception as exc:
            health.error = str(_guard(node, "reading its health", exc))
        return health

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(spec.nodes)))) as pool:
        nodes = list(pool.map(one, spec.nodes))
    registered = _registered_nodes(spec, passwords)
    problems: list[str] = []
    for n in nodes:
        if registered is not None:
            n.registered = n.name.lower() in {r.lower() for r in registered}
        if n.error:
            problems.append(n.error)
            continue
        if not n.up:
            problems.append(f"{n.name} does not answer /api/octopusservernodes/ping (last: {n.ping})")
        if n.registered is False:
            problems.append(f"{n.name} is not registered in the database")
    storages = {oc_norm(n.shared_storage) for n in nodes if not n.error}
    if len(storages) > 1:
        problems.append("the nodes disagree on the shared storage folder")
    elif expected and storages and oc_norm(expected) not in storages:
        problems.append(f"shared storage is not {expected}")
    if registered is None:
        problems.append("the database could not be asked which nodes are registered")
    return ClusterHealth(nodes=nodes, registered=registered or [], expected_storage=expected, problems=problems)


def oc_norm(path: str) -> str:
    return path.strip().rstrip("\\").lower()


def _registered_nodes(spec: ClusterSpec, passwords: Mapping[str, str]) -> list[str] | None:
    """Node names registered in the cluster's database, asked from this console (None: could not ask)."""
    from octotui.checks.sql import SqlIdentity, probe
    from octotui.checks.sql_kerberos import for_transport

    w = spec.winrm
    candidates = []
    if passwords.get("service") and not spec.service_account.is_gmsa:
        candidates.append(SqlIdentity(spec.service_account.username, passwords["service"], for_transport(
            w.transport, w.kerberos_kdc, w.kerberos_dns_domain, "service_account")))
    if passwords.get("winrm") and w.username is not None:
        candidates.append(SqlIdentity(w.username, passwords["winrm"], for_transport(
            w.transport, w.kerberos_kdc, w.kerberos_dns_domain, "winrm")))
    for identity in candidates:
        facts = probe(spec.connection_string, identity, deadline_s=10.0)
        if facts.failure is None and facts.open_failure is None and facts.is_octopus is not None:
            return list(facts.octopus_nodes)
    return None
