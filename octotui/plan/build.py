"""From a cluster spec to an ordered plan of remote steps per node, before anything is run.

The plan is data: what will run where, as whom, and in which order. ``octotui plan`` prints it, the TUI
shows it for review, and the executor runs it. Each step reads the node's state first and changes only
what differs, so the same plan serves a first run, a rerun and a resumed run.

Order: node 1 (create mode) runs its whole chain, then its master key is read and stored, then every other
node joins in parallel. In join mode every node joins in parallel with the master key given. Cluster-wide
settings (authentication, administrator, licence, shared storage) live in the database and are applied
once, from node 1 in create mode; a joining node never runs ``path``, ``license`` or ``admin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Who carries credentials across the second hop is a rule of the spec (the checks need it too).
from octotui.spec.identity import Identity as Identity
from octotui.spec.identity import credential_identity as credential_identity
from octotui.spec.model import ClusterSpec, NodeSpec

StepId = Literal[
    "guard-database", "install", "create-instance", "database", "configure", "authentication", "admin",
    "license", "path", "service", "ping", "master-key",
]

#: Steps that reach SQL Server or the share with Windows credentials, and so need an identity that carries
#: them across the second hop.
NEEDS_CREDENTIALS: frozenset[str] = frozenset({
    "guard-database", "database", "authentication", "admin", "license", "path",
})


#: The warning for ``[winrm] server_cert_validation = "ignore"`` (``check`` says the same per node).
CERT_NOT_VALIDATED = ("[winrm] server_cert_validation = \"ignore\": the nodes' TLS certificates are NOT validated, "
                      "so anyone on the path can pose as a node and receive the passwords octotui sends it. Set "
                      "[winrm] ca_cert to the CA's PEM file and server_cert_validation = \"validate\" (\"ignore\" "
                      "is for a test lab only).")
#: Windows' WinRM service takes Basic for local accounts only (MS-WSMV; winrm/config/service/auth Basic).
BASIC_DOMAIN_ACCOUNT = ("[winrm] transport = \"basic\" with the domain account {user}: Windows' WinRM accepts Basic "
                        "authentication for LOCAL accounts only, so every node will refuse this logon (HTTP 401). "
                        "Use transport = \"kerberos\" or \"ntlm\" for a domain account, or a local administrator "
                        "(.\\user) with Basic.")


@dataclass(frozen=True)
class PlannedStep:
    node: str
    step: StepId
    title: str
    commands: tuple[str, ...]
    identity: Identity
    changing: bool = True


@dataclass
class Plan:
    spec: ClusterSpec
    first: list[PlannedStep] = field(default_factory=list)  # node 1's chain (create mode)
    joins: dict[str, list[PlannedStep]] = field(default_factory=dict)  # node name -> chain, run in parallel
    warnings: list[str] = field(default_factory=list)
    credential_identity: Identity | None = None

    def all_steps(self) -> list[PlannedStep]:
        steps = list(self.first)
        for chain in self.joins.values():
            steps += chain
        return steps


def _chain(spec: ClusterSpec, node: NodeSpec, first: bool, cred: Identity, session: Identity) -> list[PlannedStep]:
    from octotui.windows import octopus as oc
    from octotui.windows.installers import describe_install
    inst = spec.instance
    cfg = oc.config_path(str(node.home), inst)
    steps: list[PlannedStep] = []

    def add(step: StepId, title: str, *commands: str, changing: bool = True) -> None:
        who = cred if step in NEEDS_CREDENTIALS else session
        steps.append(PlannedStep(node.name, step, title, tuple(commands), who, changing))

    if first and spec.mode == "create":
        add("guard-database", "refuse a database that already holds another Octopus cluster",
            "test-sql.ps1 (reads the database state)", changing=False)
    version = str(spec.octopus_version)
    service_account = str(spec.service_account.username)
    add("install", f"install Octopus Server {version} ({spec.install.kind})",
        *describe_install(spec.install, version))
    add("create-instance", f"create instance {inst} with home {node.home}",
        oc.preview(oc.create_instance(inst, cfg, str(node.home), node.name)))
    if first and spec.mode == "create":
        add("database", "create the database and grant the service account db_owner",
            oc.preview(oc.database_create(inst, str(spec.connection_string), service_account)))
    else:
        add("database", "connect to the cluster database with the master key",
            oc.preview(oc.database_join(inst, str(spec.connection_string), "MASTER_KEY")))
    add("configure", "listen prefixes, SSL, comms port",
        oc.preview(oc.configure_node(inst, [str(p) for p in spec.web.listen_prefixes], spec.web.force_ssl,
                                     spec.web.comms_port)))
    if first and spec.mode == "create":
        add("authentication", "Active Directory authentication on (cluster-wide)",
            oc.preview(oc.configure_active_directory(inst)))
        if spec.admin_username:
            add("admin", f"first administrator {spec.admin_username}",
                oc.preview(oc.admin(inst, str(spec.admin_username))))
        if spec.license_file:
            add("license", f"licence from {spec.license_file}", oc.preview(oc.license_base64(inst, "LICENSE")))
        add("path", "shared storage, once for the cluster",
            *[oc.preview(a) for a in oc.path_commands(inst, spec.storage, spec.octopus_version)])
    add("service", f"service runs as {service_account} and is started",
        oc.preview(oc.service_stop(inst)),
        oc.preview(oc.service_install(inst, service_account))
        + "  (password via OCTOPUS_SERVICE_PASSWORD)")
    add("ping", "wait for /api/octopusservernodes/ping to answer 200", "wait-ping.ps1", changing=False)
    if first and spec.mode == "create":
        add("master-key", "read the master key; keep it in the keyring or the encrypted file (--master-key-store)",
            oc.preview(oc.show_master_key(inst)), changing=False)
    return steps


def build_plan(spec: ClusterSpec, *, have_winrm_password: bool = True, have_service_password: bool = True) -> Plan:
    cred, warnings = credential_identity(spec, have_winrm_password, have_service_password)
    if spec.winrm.https and spec.winrm.server_cert_validation == "ignore":
        warnings.insert(0, CERT_NOT_VALIDATED)
    if spec.winrm.transport == "basic" and spec.winrm.username is not None and spec.winrm.username.is_domain_account:
        warnings.insert(0, BASIC_DOMAIN_ACCOUNT.format(user=spec.winrm.username))
    session = Identity("credssp" if spec.winrm.transport == "credssp" else "session", spec.winrm.username)
    plan = Plan(spec=spec, warnings=warnings, credential_identity=cred)
    cred_or_session = cred or session
    nodes = list(spec.nodes)
    if spec.mode == "create":
        plan.first = _chain(spec, nodes[0], True, cred_or_session, session)
        nodes = nodes[1:]
    for node in nodes:
        plan.joins[node.name] = _chain(spec, node, False, cred_or_session, session)
    return plan


def format_plan(plan: Plan) -> str:
    """The plan as text for ``octotui plan``: every remote step per node in order, secrets masked."""
    spec = plan.spec
    out = [f"Plan: {spec.mode} cluster, Octopus {spec.octopus_version}, instance {spec.instance!r}, "
           f"{len(spec.nodes)} node(s)"]
    for w in plan.warnings:
        out.append(f"WARNING: {w}")

    def chain(title: str, steps: list[PlannedStep]) -> None:
        out.append("")
        out.append(title)
        for i, st in enumerate(steps, 1):
            out.append(f"  {i:2}. {st.step:<16} {st.title}")
            out.append(f"      as {st.identity.describe()}")
            for c in st.commands:
                out.append(f"      $ {c}")

    if plan.first:
        chain(f"1) {plan.first[0].node} (first node, alone):", plan.first)
    if plan.joins:
        label = "2) then in parallel:" if plan.first else "1) every node in parallel, with the given master key:"
        out.append("")
        out.append(label)
        for steps in plan.joins.values():
            chain(f"   {steps[0].node}:", steps)
    return "\n".join(out) + "\n"
