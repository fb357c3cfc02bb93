"""Kerberos service principals on the test session's real Samba DC, and a keytab for the lab's acceptors.

What ``lab up --dc`` does for its nodes, done here on the session DC (``samba_dc``) so the Kerberos tests run
against a real KDC: a computer account per node with ``HTTP/<fqdn>`` (and ``MSSQLSvc/<fqdn>[:port]`` for a
SQL host), their keys exported with ``samba-tool domain exportkeytab`` into one keytab, and a krb5.conf that
names the DC as the realm's KDC. samba-tool runs against the DC's own sam.ldb (``-s`` its smb.conf), with
the Debian python and without the test process's Kerberos environment, as ``samba_dc`` runs it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.realservices.samba_dc import SambaDC

SAMBA_TOOL = "/usr/bin/samba-tool"


class RealmSetupFailed(RuntimeError):
    """samba-tool refused a step; the message has its output."""


@dataclass(frozen=True)
class KerberosRealm:
    dc: SambaDC
    keytab: Path
    krb5_conf: Path

    @property
    def realm(self) -> str:
        return self.dc.realm

    @property
    def kdc(self) -> str:
        return self.dc.address

    def fqdn(self, name: str) -> str:
        return f"{name.lower()}.{self.dc.dns_domain}"


def _tool(dc: SambaDC, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "KRB5"))}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    done = subprocess.run([SAMBA_TOOL, *args, "-s", str(dc.directory / "etc" / "smb.conf")], capture_output=True,
                          text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise RealmSetupFailed(f"samba-tool {' '.join(args[:3])} failed: {(done.stdout + done.stderr).strip()}")
    return done.stdout


def _has_computer(dc: SambaDC, name: str) -> bool:
    return f"{name.upper()}$" in _tool(dc, "computer", "list").upper().split()


def register(dc: SambaDC, folder: Path, nodes: list[str], sql: tuple[str, int] | None = None) -> KerberosRealm:
    """Computer accounts with SPNs for ``nodes`` (and the SQL host), one keytab, a krb5.conf. Idempotent:
    the session DC outlives a test module, so an account already there is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    spns: list[str] = []
    wanted: dict[str, list[str]] = {}
    for name in nodes:
        fqdn = f"{name.lower()}.{dc.dns_domain}"
        wanted[name] = [f"HTTP/{fqdn}", f"HTTP/{name.upper()}"]
    if sql is not None:
        host, port = sql
        fqdn = f"{host.lower()}.{dc.dns_domain}"
        wanted.setdefault(host, []).extend([f"MSSQLSvc/{fqdn}", f"MSSQLSvc/{fqdn}:{port}"])
    for name, names in wanted.items():
        if not _has_computer(dc, name):
            _tool(dc, "computer", "create", name.upper(), *(f"--service-principal-name={s}" for s in names))
            # A computer account made by samba-tool has no keys until it has a password (a joined machine sets one).
            _tool(dc, "user", "setpassword", f"{name.upper()}$", f"--newpassword={secrets.token_urlsafe(24)}-aA1")
        else:
            have = _tool(dc, "spn", "list", f"{name.upper()}$")
            for spn in names:
                if spn.lower() not in have.lower():
                    _tool(dc, "spn", "add", spn, f"{name.upper()}$")
        spns += [s for s in names if "/" in s and "." in s.split("/", 1)[1]]
    keytab = folder / "lab.keytab"
    keytab.unlink(missing_ok=True)
    for spn in spns:
        _tool(dc, "domain", "exportkeytab", str(keytab), f"--principal={spn}@{dc.realm}")
    keytab.chmod(0o600)
    conf = folder / "krb5.conf"
    conf.write_text(krb5_conf(dc.realm, dc.address, dc.dns_domain))
    return KerberosRealm(dc, keytab, conf)


def krb5_conf(realm: str, kdc: str, dns_domain: str) -> str:
    return (f"[libdefaults]\n\tdefault_realm = {realm}\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n"
            "\trdns = false\n\tdns_canonicalize_hostname = false\n\tudp_preference_limit = 1\n"
            f"[realms]\n\t{realm} = {{\n\t\tkdc = {kdc}\n\t}}\n"
            f"[domain_realm]\n\t.{dns_domain} = {realm}\n\t{dns_domain} = {realm}\n")
