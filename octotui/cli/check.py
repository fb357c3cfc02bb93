"""``octotui check ANSWERS [--json]``: every preflight check for an answers file, at once, before any change.

``build_checks`` is the whole suite as data (the TUI runs the same list, or single checks from it, through
``octotui.checks.runner``); ``check_command`` loads the answers and the secrets as ``apply`` does, runs the
suite and prints a table or one JSON array. Exit codes: 0 nothing failed, 1 a check failed, 2 bad input
(answers or secrets), 3 interrupted.

Who each check logs on as, and why:

- ``winrm.reach``/``node.home``: the WinRM user, as every step does.
- ``ad.account``, ``share.write``, ``share.reach``, ``sql.reach``: the service account, because the running
  Octopus service will be that account. The node-side two run as a scheduled task with its password, so
  the double hop does not hide the answer.
- ``sql.*`` from this machine: whoever runs the step concerned. In create mode that is the identity the
  plan gives the database-creating step (usually the WinRM user, with its password); in join mode the
  service account, which the joining nodes use.

Every refused logon counts towards an account's lockout, so a password is tried once before the checks
that reuse it start. Where the answers name the domain ([ad]), ``winrm.credentials`` asks the domain
controller once whether the WinRM user's password is right (one LDAP bind, milliseconds), and then every
node's checks start together; without [ad], each node's checks wait for that node's own WinRM logon.
Service-account checks on the nodes wait for ``ad.account``'s verdict. ``share.write`` runs at once but,
like the node checks, yields to the check that owns a failure's cause ("not checked: ... (see ad.account)").
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from octotui.checks import node as nodechecks
from octotui.checks.ad import REFUSALS, AccountName, check_ad_account
from octotui.checks.report import format_table, to_json
from octotui.checks.result import CheckResult
from octotui.checks.runner import DEFAULT_DEADLINE_S, Check, CheckBody, CheckContext, adapt, run_checks
from octotui.checks.share import check_share_write
from octotui.checks.sql import SqlIdentity, check_sql
from octotui.spec.model import ClusterSpec, NodeSpec

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 3
SQL_IDS = ("sql.connect", "sql.version", "sql.collation", "sql.permissions", "sql.database")
#: Opened by ad.account: closed only when AD refused the service account itself (wrong password, disabled,
#: locked ...), not when AD could not be asked; the checks that log on as that account wait for it.
SERVICE_GATE = "service.credentials"
#: Opened by winrm.credentials when the domain controller accepted the WinRM user's password.
WINRM_GATE = "winrm.credentials"


@dataclass(frozen=True)
class Passwords:
    """The secrets the checks use (never printed: they are registered with the redactor when looked up)."""

    winrm: str | None = field(default=None, repr=False)
    service: str | None = field(default=None, repr=False)


def account_refused(result: CheckResult, username: str) -> bool:
    """Did ``ad.account`` fail because AD refused the account itself (as opposed to AD being unreachable)?"""
    if result.status != "fail":
        return False
    typed = AccountName.parse(username).typed
    known = {r.summary.format(account=typed) for r in REFUSALS.values()}
    known |= {f"Wrong password for {typed}", f"The gMSA {typed} is disabled",
              f"The gMSA {typed} does not exist in the domain"}
    return result.summary in known


def storage_paths(spec: ClusterSpec) -> list[str]:
    """The shared root and every shared folder, each once (Windows compares paths case-insensitively)."""
    seen: dict[str, str] = {}
    for path in (spec.storage.cluster_shared, *spec.storage.folders.values()):
        if path and path.lower() not in seen:
            seen[path.lower()] = path
    return list(seen.values())


def sql_identity(spec: ClusterSpec, passwords: Passwords) -> SqlIdentity | None:
    """Who the console-side SQL checks log in as with Integrated Security (None: this console's Kerberos)."""
    from octotui.plan.build import credential_identity

    service = spec.service_account.username
    if spec.mode == "join":
        return SqlIdentity(service, passwords.service) if passwords.service else None
    identity, _ = credential_identity(spec, passwords.winrm is not None, passwords.service is not None)
    if identity is None:
        return None
    if identity.account.lower() == service.lower():
        return SqlIdentity(service, passwords.service) if passwords.service else None
    return SqlIdentity(identity.account, passwords.winrm) if passwords.winrm else None


def _fixed(result: CheckResult) -> CheckBody:
    """A body for a verdict known without asking anything (e.g. "not applicable in create mode")."""
    def body(ctx: CheckContext) -> CheckResult:
        return result
    return body


def build_checks(spec: ClusterSpec, passwords: Passwords, *, deadline_s: float = DEFAULT_DEADLINE_S) -> list[Check]:
    """The whole preflight suite for ``spec``, in display order, with its gates (see the module docstring)."""
    checks: list[Check] = []
    credentials = _winrm_credentials_check(spec, passwords, deadline_s)
    if credentials is not None:
        checks.append(credentials)
    for node in spec.nodes:
        checks += _node_checks(spec, node, passwords, deadline_s, verified_by_dc=credentials is not None)
    checks.append(_ad_check(spec, passwords, deadline_s))
    checks.append(_share_write_check(spec, passwords, deadline_s))
    for node in spec.nodes:
        checks += _node_service_checks(spec, node, passwords, deadline_s, verified_by_dc=credentials is not None)
    identity = sql_identity(spec, passwords)
    uses_service = identity is not None and identity.username.lower() == spec.service_account.username.lower()
    sql_body = adapt(check_sql, spec.connection_string, identity, mode=spec.mode)
    uses_winrm_user = identity is not None and identity.username.lower() == spec.winrm.username.lower()
    yields = (SERVICE_GATE,) if uses_service else (WINRM_GATE,) if uses_winrm_user and credentials else ()
    checks.append(Check(SQL_IDS, nodechecks.server_of(spec.connection_string), sql_body, superseded_by=yields,
                        deadline_s=deadline_s))
    checks.append(_cluster_version_check(spec, deadline_s))
    return checks


def _dc_checks_winrm(spec: ClusterSpec) -> bool:
    """Can the domain controller vouch for the WinRM user's password (a domain account, a password logon)?"""
    user = spec.winrm.username
    return bool(spec.ad.domain_controller or spec.ad.dns_domain) and \
        spec.winrm.transport not in ("certificate", "kerberos") and ("\\" in user or "@" in user)


def _winrm_credentials_check(spec: ClusterSpec, passwords: Passwords, deadline_s: float) -> Check | None:
    """One bind as the WinRM user at the domain controller, when the answers say where it is: a wrong
    password then costs one refused logon instead of one per node, and the node checks need not queue
    behind a WinRM logon each."""
    user = spec.winrm.username
    if not _dc_checks_winrm(spec) or not passwords.winrm:
        return None

    def body(ctx: CheckContext) -> CheckResult:
        result = check_ad_account(user, passwords.winrm or "", domain_controller=spec.ad.domain_controller,
                                  dns_domain=spec.ad.dns_domain, ca_file=spec.ad.ca_cert,
                                  nameservers=list(spec.ad.nameservers) or None,
                                  deadline_s=ctx.remaining(), cancel=ctx.cancel)
        refused = account_refused(result, user)
        ctx.open_gate(WINRM_GATE, ok=not refused, reason=result.summary)
        return CheckResult(WINRM_GATE, result.status, user, result.summary, result.detail,
                           result.hint or ("" if not refused else "fix [winrm] username or OCTOTUI_WINRM_PASSWORD"),
                           result.duration_ms)

    return Check((WINRM_GATE,), user, body, gates=(WINRM_GATE,), deadline_s=deadline_s)


def _node_checks(spec: ClusterSpec, node: NodeSpec, passwords: Passwords, deadline_s: float, *,
                 verified_by_dc: bool = False) -> list[Check]:
    reach_id, auth_gate = f"winrm.reach:{node.name}", f"winrm.auth:{node.name}"

    def reach(ctx: CheckContext) -> CheckResult:
        return nodechecks.check_winrm_reach(node, spec.winrm, passwords.winrm, deadline_s=ctx.remaining(),
                                            cancel=ctx.cancel, on_authenticated=lambda: ctx.open_gate(auth_gate))

    home = adapt(nodechecks.check_node_home, node, spec.winrm, passwords.winrm, instance=spec.instance)
    if verified_by_dc:
        # The password is known to be right: every check on the node starts at once, and gives way to
        # winrm.reach when the node itself cannot be reached.
        return [
            Check((reach_id,), node.url(spec.winrm), reach, gates=(auth_gate,), needs=(WINRM_GATE,),
                  deadline_s=deadline_s),
            Check((f"node.home:{node.name}",), f"{node.name}:{node.home}", home, needs=(WINRM_GATE,),
                  superseded_by=(reach_id,), deadline_s=deadline_s),
        ]
    return [
        Check((reach_id,), node.url(spec.winrm), reach, gates=(auth_gate,), deadline_s=deadline_s),
        Check((f"node.home:{node.name}",), f"{node.name}:{node.home}", home, needs=(auth_gate,),
              deadline_s=deadline_s),
    ]


def _ad_check(spec: ClusterSpec, passwords: Passwords, deadline_s: float) -> Check:
    username = spec.service_account.username
    lookup = spec.winrm.username if ("\\" in spec.winrm.username or "@" in spec.winrm.username) else None

    def body(ctx: CheckContext) -> CheckResult:
        result = check_ad_account(username, passwords.service, domain_controller=spec.ad.domain_controller,
                                  dns_domain=spec.ad.dns_domain, ca_file=spec.ad.ca_cert,
                                  nameservers=list(spec.ad.nameservers) or None,
                                  lookup_username=lookup if passwords.winrm else None,
                                  lookup_password=passwords.winrm if lookup else None,
                                  deadline_s=ctx.remaining(), cancel=ctx.cancel)
        ctx.open_gate(SERVICE_GATE, ok=not account_refused(result, username), reason=result.summary)
        return result

    # It looks the account up as the WinRM user: a refused WinRM password is winrm.credentials' failure.
    yields = (WINRM_GATE,) if lookup and passwords.winrm and _dc_checks_winrm(spec) else ()
    return Check(("ad.account",), username, body, gates=(SERVICE_GATE,), superseded_by=yields,
                 deadline_s=deadline_s)


def _share_write_check(spec: ClusterSpec, passwords: Passwords, deadline_s: float) -> Check:
    paths = storage_paths(spec)
    username = spec.service_account.username
    if not paths:
        why = ("a joining node uses the cluster's storage settings" if spec.mode == "join"
               else "set [storage] cluster_shared to check it")
        return Check(("share.write",), "", _fixed(CheckResult("share.write", "skip", "",
                                                              f"No shared storage in the answers file: {why}")))
    if spec.service_account.is_gmsa:
        return Check(("share.write",), ", ".join(paths), _fixed(CheckResult(
            "share.write", "skip", ", ".join(paths), f"Not checked from here: {username} is a gMSA, whose password "
            "only its allowed computers can retrieve", hint="Check the share from a node running as the gMSA.")))
    return Check(("share.write",), ", ".join(paths), adapt(check_share_write, paths, username, passwords.service),
                 superseded_by=(SERVICE_GATE,), deadline_s=deadline_s)


def _node_service_checks(spec: ClusterSpec, node: NodeSpec, passwords: Passwords, deadline_s: float, *,
                         verified_by_dc: bool = False) -> list[Check]:
    """share.reach and sql.reach on one node, as the service account."""
    username = spec.service_account.username
    reach_id = f"winrm.reach:{node.name}"
    needs = (WINRM_GATE, SERVICE_GATE) if verified_by_dc else (f"winrm.auth:{node.name}", SERVICE_GATE)
    share_id, sql_id = f"share.reach:{node.name}", f"sql.reach:{node.name}"
    if spec.service_account.is_gmsa or not passwords.service:
        why = (f"Not checked: {username} is a gMSA; octotui cannot run a probe as it (its password is managed by "
               "AD)" if spec.service_account.is_gmsa else f"Not checked: no password for {username}")
        return [Check((share_id,), node.name, _fixed(CheckResult(share_id, "skip", node.name, why))),
                Check((sql_id,), node.name, _fixed(CheckResult(sql_id, "skip", node.name, why)))]
    run_as = (username, passwords.service)

    def sql_body(ctx: CheckContext) -> CheckResult:
        return nodechecks.check_sql_reach(node, spec.winrm, passwords.winrm, spec.connection_string, mode=spec.mode,
                                          run_as=run_as, deadline_s=ctx.remaining(), cancel=ctx.cancel,
                                          on_facts=lambda facts: ctx.set_fact(sql_id, facts))

    return [
        Check((share_id,), node.name, adapt(nodechecks.check_share_reach, node, spec.winrm, passwords.winrm,
                                            storage_paths(spec), run_as=run_as),
              needs=needs, superseded_by=("share.write", reach_id), deadline_s=deadline_s),
        Check((sql_id,), node.name, sql_body, needs=needs, superseded_by=("sql.connect", reach_id),
              deadline_s=deadline_s),
    ]


def _cluster_version_check(spec: ClusterSpec, deadline_s: float) -> Check:
    first = spec.first_node.name
    source = f"sql.reach:{first}"
    if spec.mode == "create":
        return Check(("cluster.version",), "cluster",
                     _fixed(nodechecks.cluster_version_result("create", spec.octopus_version, None)))

    def body(ctx: CheckContext) -> CheckResult:
        return nodechecks.cluster_version_result("join", spec.octopus_version, ctx.fact(source), source=source,
                                                 target=f"database, read from {first}")

    return Check(("cluster.version",), "cluster", body, needs=(source,), deadline_s=deadline_s)


# --- the command ----------------------------------------------------------------------------------------


def _err(message: str) -> None:
    from octotui.run.runner import _err as print_error  # the one printer of error messages: one prefix, `octotui:`

    print_error(message)


def gather_passwords(spec: ClusterSpec) -> Passwords | None:
    """The WinRM and service passwords from the environment, the keyring or a prompt, as ``apply`` finds them
    (the master key is not needed to check); None after saying what is missing."""
    from octotui.secrets import store as sec
    store = sec.Secrets()
    found: dict[str, str] = {}
    winrm_needed = spec.winrm.transport not in ("certificate", "kerberos")
    refs = {"winrm": sec.winrm_password_ref(spec.winrm.username) if winrm_needed else None,
            "service": None if spec.service_account.is_gmsa else
            sec.service_password_ref(spec.service_account.username)}
    for name, ref in refs.items():
        if ref is None:
            continue
        try:
            found[name] = store.get(ref)
        except (sec.SecretMissing, sec.SecretInvalid, sec.KeyringUnavailable) as exc:
            _err(str(exc))
            return None
    return Passwords(found.get("winrm"), found.get("service"))


def check_command(answers: str, json_out: bool, *, deadline_s: float = DEFAULT_DEADLINE_S) -> int:
    """Run every check for ``answers``; print a table (or JSON); 0 nothing failed, 1 a failure, 2 bad input."""
    from octotui.run.runner import load_spec
    from octotui.secrets.redact import default_redactor

    try:
        spec = load_spec(answers)
        if spec is None:
            return EXIT_BAD_INPUT
        if deadline_s <= 0:
            _err("--deadline must be a positive number of seconds")
            return EXIT_BAD_INPUT
        passwords = gather_passwords(spec)
        if passwords is None:
            return EXIT_BAD_INPUT
        run = run_checks(build_checks(spec, passwords, deadline_s=deadline_s))
        try:
            while not run.wait(0.2):
                pass
        except KeyboardInterrupt:
            run.cancel()
            run.wait(2)
            _err("interrupted; results so far:")
            sys.stdout.write(default_redactor().redact(format_table(run.results(), run.wall_s)))
            return EXIT_CANCELLED
        results = run.results()
        text = to_json(results) if json_out else format_table(results, run.wall_s)
        sys.stdout.write(default_redactor().redact(text))
        sys.stdout.flush()
        return EXIT_FAILED if any(r.status == "fail" for r in results) else EXIT_OK
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_CANCELLED
    except Exception as exc:  # never a traceback: say what broke and how to report it
        _err(f"internal error: {type(exc).__name__}: {default_redactor().redact(str(exc))} (please report it)")
        return EXIT_FAILED
