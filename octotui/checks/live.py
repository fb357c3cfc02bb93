"""The network checks behind each wizard section, from answers that may still be incomplete.

``octotui check`` needs a whole, valid answers file; a person filling the wizard has only the sections so
far. This module builds, from the raw answers table and the passwords typed so far, the checks that can
already run for one section, each tied to the field whose mark it sets. The check bodies are the engine's
own, built by the same functions as ``octotui check``'s suite (``octotui.checks.suite``), started one by one
through ``octotui.checks.runner.start_check``.

Sections and what they check (as ``octotui check`` does, minus what needs the whole file):

- ``nodes``: ``winrm.reach:<node>``, the node answers and the WinRM logon works;
- ``home``: ``node.home:<node>``;
- ``service_account``: ``ad.account`` where ``[ad]`` says how to reach Active Directory (without it, the
  account's password is proven on the nodes by the SQL and storage checks, which log on as it);
- ``sql``: the five ``sql.*`` checks from this console, and ``sql.reach:<node>`` as the service account;
- ``storage``: ``share.reach:<node>``: create, read and delete a file in the share as the service account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octotui.checks.result import CheckResult
from octotui.checks.runner import CheckBody, adapt
from octotui.checks.suite import (
    SQL_IDS,
    Passwords,
    fixed,
    node_home_body,
    share_reach_body,
    sql_reach_body,
    winrm_reach_body,
)
from octotui.spec.model import Mode, NodeSpec, ServiceAccountSpec, WinRMSettings

__all__ = ["LiveCheck", "Passwords", "node_specs", "section_checks", "winrm_settings"]


@dataclass(frozen=True)
class LiveCheck:
    """One check to start for a field: ``field`` is the wizard's key (``nodes[1].host``)."""

    field: str
    ids: tuple[str, ...]
    target: str
    body: CheckBody


def winrm_settings(data: Mapping[str, Any], base_dir: Path | None = None) -> WinRMSettings | None:
    """The ``[winrm]`` table as settings, or None while it has a problem."""
    from octotui.spec.answers import parse_winrm

    settings = parse_winrm(data, base_dir=base_dir)
    return settings if isinstance(settings, WinRMSettings) else None


def node_specs(data: Mapping[str, Any], winrm: WinRMSettings | None,
               base_dir: Path | None = None) -> list[tuple[int, NodeSpec]]:
    """Every ``[[nodes]]`` row that parses, with its 1-based index (rows with a problem are left out)."""
    from octotui.spec.answers import parse_nodes

    return parse_nodes(data, winrm, base_dir=base_dir)


def _table(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def section_checks(section: str, data: Mapping[str, Any], passwords: Passwords, *,
                   base_dir: Path | None = None) -> list[LiveCheck]:
    """The checks that can run now for ``section`` (see the module docstring); empty when the fields they
    need are not valid yet (their syntax marks say why)."""
    from octotui.spec.answers import parse_service_account
    from octotui.spec.writer import clean_answers, field_problems

    winrm = winrm_settings(data, base_dir)
    nodes = node_specs(data, winrm, base_dir) if winrm is not None else []
    mode = str(data.get("mode", "create"))
    found = parse_service_account(clean_answers(data), base_dir=base_dir)
    account = found.username if isinstance(found, ServiceAccountSpec) else None
    service = str(account) if account is not None else ""
    service_ok = account is not None
    run_as = (account, passwords.service) if account is not None and passwords.service else None
    checks: list[LiveCheck] = []
    if winrm is None:
        nodes = []
    if section == "nodes" and winrm is not None:
        for index, node in nodes:
            checks.append(LiveCheck(f"nodes[{index}].host", (f"winrm.reach:{node.name}",), node.url(winrm),
                                    winrm_reach_body(node, winrm, passwords.winrm)))
    elif section == "home" and winrm is not None:
        instance = str(data.get("instance") or "OctopusServer")
        for index, node in nodes:
            checks.append(LiveCheck(f"nodes[{index}].home", (f"node.home:{node.name}",), f"{node.name}:{node.home}",
                                    node_home_body(node, winrm, passwords.winrm, instance=instance)))
    elif section == "service_account" and service_ok:
        ad = _table(data, "ad")
        if ad.get("domain_controller") or ad.get("dns_domain"):
            from octotui.checks.ad import check_ad_account

            reader = winrm.username if winrm is not None else None
            lookup = reader if reader is not None and reader.is_domain_account and passwords.winrm else None
            checks.append(LiveCheck("service_account.username", ("ad.account",), service, adapt(
                check_ad_account, account, passwords.service, domain_controller=ad.get("domain_controller"),
                dns_domain=ad.get("dns_domain"), ca_file=ad.get("ca_cert"),
                nameservers=list(ad.get("nameservers") or []) or None, lookup_username=lookup,
                lookup_password=passwords.winrm if lookup else None)))
        elif account is not None and not account.is_gmsa:
            checks.append(LiveCheck("service_account.username", ("ad.account",), service, fixed(CheckResult(
                "ad.account", "skip", service, "Active Directory is not asked from here (no [ad] settings)",
                "the password is proven on the nodes: the SQL and storage checks log on as this account",
                ""))))
    elif section == "sql":
        cs = str(_table(data, "sql").get("connection_string", "")).strip()
        if cs and not field_problems(data, ["sql.connection_string"])["sql.connection_string"]:
            from octotui.checks.sql import SqlIdentity, check_sql
            from octotui.checks.sql_kerberos import for_transport
            from octotui.spec.parsers.connstr import redact

            sql_mode: Mode = "join" if mode == "join" else "create"
            winrm_user = str(_table(data, "winrm").get("username", ""))
            transport = str(_table(data, "winrm").get("transport", "") or "")
            ad_dc, ad_dns = _table(data, "ad").get("domain_controller"), _table(data, "ad").get("dns_domain")
            kdc, dns = (str(ad_dc) if ad_dc else None), (str(ad_dns) if ad_dns else None)
            identity: SqlIdentity | None = None
            if sql_mode == "create" and passwords.winrm and winrm_user:
                identity = SqlIdentity(winrm_user, passwords.winrm, for_transport(transport, kdc, dns, "winrm"))
            elif run_as is not None:
                identity = SqlIdentity(run_as[0], run_as[1], for_transport(transport, kdc, dns, "service_account"))
            checks.append(LiveCheck("sql.connection_string", SQL_IDS, redact(cs),
                                    adapt(check_sql, cs, identity, mode=sql_mode)))
            if run_as is not None and winrm is not None:
                for _index, node in nodes:
                    checks.append(LiveCheck("sql.connection_string", (f"sql.reach:{node.name}",), node.name,
                                            sql_reach_body(node, winrm, passwords.winrm, cs, mode=sql_mode,
                                                           run_as=run_as)))
    elif section == "storage":
        storage = _table(data, "storage")
        paths = [str(v).strip() for k, v in storage.items() if isinstance(v, str) and str(v).strip()]
        if paths and run_as is not None and winrm is not None and not field_problems(data, ["storage"])["storage"]:
            for _index, node in nodes:
                checks.append(LiveCheck("storage.cluster_shared", (f"share.reach:{node.name}",), node.name,
                                        share_reach_body(node, winrm, passwords.winrm, paths, run_as=run_as)))
    return checks
