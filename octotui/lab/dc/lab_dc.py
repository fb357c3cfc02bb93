"""The lab's own domain controller (``octotui lab up --dc``): the lab's domain, made real.

Provisioned once into ``<state>/dc`` (tens of seconds), then reused: a restart rewrites smb.conf, refreshes the
computer accounts' SPNs and the keytab offline (about a second) and starts samba (a few seconds). The DC holds:

- the lab's WinRM administrator and service account, with the lab's passwords, and a gMSA (``svcGmsa$``);
- a computer account per node with ``HTTP/<node fqdn>``, and one for the SQL host (``SQL1``) with
  ``MSSQLSvc/<fqdn>`` and ``MSSQLSvc/<fqdn>:<port>``; their keys in ONE keytab, ``<state>/dc/lab.keytab`` (0600),
  and a ``krb5.conf`` for the realm beside it, for the lab's Kerberos acceptors and for clients;
- the cluster's share, served by smbd from ``<state>/dc/shares/<share>``, the very folder the simulated nodes use
  (``octotui.lab.dc.diskfs``), with NT rights that match the lab's: the service account may modify, the WinRM
  administrator may only read (over the network it is not the service; on the nodes it meets the double hop).

It listens on a loopback address of its own: the one it was provisioned on, 127.0.0.2 for a new one, or when that
is taken (another lab's DC) the next free one up to 127.0.0.40 (a DC moved to a new address is provisioned anew:
everything in it comes from the world, so nothing is lost but time). Never 127.0.0.1, where the test suite's DC
runs. The ready line says which.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octotui.lab.dc.sambadc import (
    DEBIAN_PYTHON,
    DCConfig,
    DCUnavailable,
    SambaProcess,
    busy_ports,
    free_port,
    make_certificates,
    missing_prerequisites,
    new_password,
    provision,
    refuse_busy,
    run,
    smb_conf,
    untraversable_ancestor,
)
from octotui.lab.private import write_private
from octotui.lab.state import World

DC_ADDRESS = "127.0.0.2"
#: Where a DC may go when its address is taken: 127.0.0.2 .. 127.0.0.40.
DC_ADDRESSES = tuple(f"127.0.0.{i}" for i in range(2, 41))
NODE_ADDRESS = "127.0.0.1"
GMSA = "svcGmsa$"
SQL_HOST_NAME = "sql1"
SEED_SCRIPT = Path(__file__).resolve().parent / "lab_seed.py"


@dataclass(frozen=True)
class LabDCInfo:
    """What the ready line, the answers file and the Kerberos acceptors need to know of the running DC."""

    address: str
    realm: str
    netbios_domain: str
    dns_domain: str
    host_fqdn: str
    dns_port: int
    ca_cert: Path
    keytab: Path
    krb5_conf: Path
    share_folder: Path
    sql_fqdn: str
    gmsa: str
    timings: dict[str, float]

    def ready(self) -> dict[str, Any]:
        return {
            "address": self.address, "realm": self.realm, "netbios_domain": self.netbios_domain,
            "dns_domain": self.dns_domain, "host": self.host_fqdn, "nameserver": f"{self.address}:{self.dns_port}",
            "ca_cert": str(self.ca_cert), "keytab": str(self.keytab), "krb5_conf": str(self.krb5_conf),
            "share_folder": str(self.share_folder), "sql_host": self.sql_fqdn,
            "gmsa": f"{self.netbios_domain}\\{self.gmsa}", "timings": self.timings,
        }


def node_fqdn(name: str, dns_domain: str) -> str:
    """``octo1.work.lab`` for node ``OCTO1``: the host name its ``HTTP/`` SPN carries."""
    return f"{name.lower()}.{dns_domain}"


def krb5_conf_text(realm: str, dns_domain: str, kdc: str) -> str:
    """A krb5.conf naming the realm's KDC by address: no DNS needed, nothing of the machine's own realm."""
    return (f"[libdefaults]\n\tdefault_realm = {realm}\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n"
            f"\trdns = false\n\n[realms]\n\t{realm} = {{\n\t\tkdc = {kdc}\n\t\tadmin_server = {kdc}\n\t}}\n\n"
            f"[domain_realm]\n\t.{dns_domain} = {realm}\n\t{dns_domain} = {realm}\n")


class LabDC:
    """Start and stop the lab's DC for ``world`` under ``state_dir``; ``start`` raises DCUnavailable with why."""

    def __init__(self, state_dir: Path, world: World, share_name: str, *, address: str | None = None) -> None:
        self.state_dir = state_dir
        self.world = world
        self.share_name = share_name
        self.d = state_dir / "dc"
        d = world.directory
        self._address_given = address
        # The address is settled in start(), once it is known that this process may bind ports below 1024.
        self.config = DCConfig(domain=d.domain, dns_domain=d.dns_name, address=address or DC_ADDRESS,
                               shares={share_name: self.share_folder})
        self.process: SambaProcess | None = None

    @property
    def share_folder(self) -> Path:
        return self.d / "shares" / self.share_name

    @property
    def keytab(self) -> Path:
        return self.d / "lab.keytab"

    @property
    def krb5_conf(self) -> Path:
        return self.d / "krb5.conf"

    def _address(self) -> str:
        """The address this DC was provisioned on when it is free, else the first free one (see the docstring)."""
        try:
            saved = str(json.loads((self.d / "dc.json").read_text()).get("address", ""))
        except (OSError, ValueError):
            saved = ""
        candidates = ([saved] if saved in DC_ADDRESSES else []) + [a for a in DC_ADDRESSES if a != saved]
        for address in candidates:
            if not busy_ports(address):
                return address
        return candidates[0]  # all taken: start() says by what

    def _saved(self) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = json.loads((self.d / "dc.json").read_text())
        except (OSError, ValueError):
            return None
        same = (doc.get("realm") == self.config.realm and doc.get("address") == self.config.address
                and (self.d / "private" / "sam.ldb").exists())
        return doc if same else None

    def start(self, sql_port: int) -> LabDCInfo:
        """Provision (first time) or reuse the DC, refresh SPNs and keytab, start it, wait for an LDAPS bind."""
        reason = missing_prerequisites()
        if reason:
            raise DCUnavailable(reason)
        self.config = dataclasses.replace(self.config, address=self._address_given or self._address())
        blocked = untraversable_ancestor(self.state_dir.parent)
        if blocked:
            raise DCUnavailable(f"{blocked} is closed to other users (mode {blocked.stat().st_mode & 0o777:o}): smbd "
                                "opens the share's files as the logged-on account, so every folder above the lab's "
                                "state folder must allow others to pass (chmod o+x), or choose another --state")
        refuse_busy(self.config.address)
        os.chmod(self.state_dir, 0o711)  # passable, not listable: smbd reaches <state>/dc/shares as the user
        started = time.monotonic()
        saved = self._saved()
        first = saved is None
        if saved is None:
            if self.d.exists():
                shutil.rmtree(self.d)  # a provision that never finished
            self.d.mkdir(mode=0o711)
            self.share_folder.mkdir(parents=True)
            os.chmod(self.d / "shares", 0o755)
            saved = {"realm": self.config.realm, "address": self.config.address,
                     "administrator_password": new_password(), "dns_port": 0}
            provision(self.d, self.config, saved["administrator_password"])
            make_certificates(self.d / "tls", self.config)
        provisioned = time.monotonic()
        dns_port = free_port(self.config.address, int(saved.get("dns_port", 0)))
        saved["dns_port"] = dns_port
        (self.d / "etc" / "smb.conf").write_text(smb_conf(self.d, self.config, dns_port))
        self._seed("seed" if first else "refresh", sql_port)
        write_private(self.d / "dc.json", json.dumps(saved, indent=2))
        seeded = time.monotonic()
        self.process = SambaProcess.start(self.d, self.config, keep_alive=True)
        try:
            self.process.wait_ready(self.d / "tls" / "ca.pem", f"Administrator@{self.config.dns_domain}",
                                    saved["administrator_password"])
        except DCUnavailable:
            self.stop()
            raise
        ready = time.monotonic()
        write_private(self.krb5_conf, krb5_conf_text(self.config.realm, self.config.dns_domain, self.config.address))
        os.chmod(self.krb5_conf, 0o644)
        return LabDCInfo(
            address=self.config.address, realm=self.config.realm, netbios_domain=self.config.domain,
            dns_domain=self.config.dns_domain, host_fqdn=self.config.host_fqdn, dns_port=dns_port,
            ca_cert=self.d / "tls" / "ca.pem", keytab=self.keytab, krb5_conf=self.krb5_conf,
            share_folder=self.share_folder, sql_fqdn=f"{SQL_HOST_NAME}.{self.config.dns_domain}", gmsa=GMSA,
            timings={"provision_s": round(provisioned - started, 2), "seed_s": round(seeded - provisioned, 2),
                     "start_s": round(ready - seeded, 2), "total_s": round(ready - started, 2),
                     "provisioned_now": first})

    def _seed(self, mode: str, sql_port: int) -> None:
        d = self.world.directory
        dns = self.config.dns_domain
        admin, svc = d.accounts["labadmin"], d.accounts["svcoctopus"]
        sql_fqdn = f"{SQL_HOST_NAME}.{dns}"
        computers = [{"name": n.name, "fqdn": node_fqdn(n.name, dns), "address": NODE_ADDRESS,
                      "spns": [f"HTTP/{node_fqdn(n.name, dns)}"], "password": new_password()}
                     for n in self.world.nodes]
        computers.append({"name": SQL_HOST_NAME.upper(), "fqdn": sql_fqdn, "address": NODE_ADDRESS,
                          "spns": [f"MSSQLSvc/{sql_fqdn}", f"MSSQLSvc/{sql_fqdn}:{sql_port}"],
                          "password": new_password()})
        doc = {
            "mode": mode, "smb_conf": str(self.d / "etc" / "smb.conf"), "sam_ldb": str(self.d / "private" / "sam.ldb"),
            "dns_domain": dns, "realm": self.config.realm, "netbios_name": self.config.netbios_name,
            "host_name": self.config.host_name, "address": self.config.address, "gmsa": GMSA,
            "accounts": [
                {"sam": admin.sam, "password": admin.password, "domain_admin": admin.domain_admin},
                {"sam": svc.sam, "password": svc.password, "description": "Octopus Deploy service account"},
            ],
            "computers": computers, "keytab": str(self.keytab),
            "share": {"name": self.share_name, "path": str(self.share_folder), "modify": [svc.sam],
                      "read": [admin.sam]},
        }
        run([DEBIAN_PYTHON, str(SEED_SCRIPT)], f"seeding the lab's DC ({mode})", self.d / "log" / f"{mode}.log",
            stdin=json.dumps(doc))

    def stop(self) -> None:
        """Stop samba and everything it started; the provisioned DC stays in ``<state>/dc`` for the next start."""
        if self.process is not None:
            self.process.stop()
            self.process = None
