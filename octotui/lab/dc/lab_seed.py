"""Seed (or refresh) the lab's offline Samba DC: accounts, computer accounts with SPNs, DNS, share ACL, keytab.

Run by ``octotui.lab.dc.lab_dc`` with Debian's ``/usr/bin/python3`` (only it has python3-samba), with one JSON
document on stdin, while samba is NOT running: it writes straight into ``sam.ldb``, one process, about a second,
where the equivalent samba-tool calls take seconds each. ``"mode": "seed"`` runs once after provisioning;
``"mode": "refresh"`` runs at every start (the SQL port may have moved, and the keytab is written afresh).

This file is NOT imported by octotui (no ``samba`` module in its environment); it is a script.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import ldb  # type: ignore[import-not-found]
from samba import enable_net_export_keytab  # type: ignore[import-not-found]
from samba.auth import system_session  # type: ignore[import-not-found]
from samba.auth_util import system_session_unix  # type: ignore[import-not-found]
from samba.dcerpc import security  # type: ignore[import-not-found]
from samba.ndr import ndr_unpack  # type: ignore[import-not-found]
from samba.net import Net  # type: ignore[import-not-found]
from samba.ntacls import setntacl  # type: ignore[import-not-found]
from samba.param import LoadParm  # type: ignore[import-not-found]
from samba.provision.sambadns import add_host_record  # type: ignore[import-not-found]
from samba.samba3 import param as s3param  # type: ignore[import-not-found]
from samba.samdb import SamDB  # type: ignore[import-not-found]

MODIFY = "0x1301bf"  # NTFS "Modify": read, write, execute, delete
READ_ONLY = "0x1200a9"  # NTFS "Read & execute"
SUPPORTED_ENCTYPES = 0x18  # AES128 and AES256 (MS-KILE 2.2.7): what Windows Server 2022 hosts use


def _sid(db: Any, base: str, sam: str) -> str:
    msg = db.search(base, expression=f"(sAMAccountName={sam})", attrs=["objectSid"])[0]
    return str(ndr_unpack(security.dom_sid, msg["objectSid"][0]))


def _exists(db: Any, base: str, sam: str) -> bool:
    return len(db.search(base, expression=f"(sAMAccountName={ldb.binary_encode(sam)})", attrs=["dn"])) > 0


def seed(db: Any, lp: Any, cfg: dict[str, Any]) -> None:
    """The accounts, the gMSA, the DC's own A record and the share's NT ACL: once, after provisioning."""
    base = db.domain_dn()
    for account in cfg["accounts"]:
        db.newuser(account["sam"], account["password"], description=account.get("description"))
        # A lab's world outlives AD's default 42-day password age; an expiring password would turn check amber.
        db.setexpiry(f"(sAMAccountName={ldb.binary_encode(account['sam'])})", 0, no_expiry_req=True)
        if account.get("domain_admin"):
            db.add_remove_group_members("Domain Admins", [account["sam"]], add_members_operation=True)
    gmsa = cfg["gmsa"]
    # A group managed service account. Samba 4.17 has the schema class but computes no managed password;
    # the object is enough for "exists, enabled, is a gMSA".
    db.add({
        "dn": f"CN={gmsa.rstrip('$')},CN=Managed Service Accounts,{base}",
        "objectClass": "msDS-GroupManagedServiceAccount",
        "sAMAccountName": gmsa,
        "userAccountControl": "4096",  # WORKSTATION_TRUST_ACCOUNT, as Windows creates gMSAs
        "dNSHostName": f"{gmsa.rstrip('$').lower()}.{cfg['dns_domain']}",
        "msDS-ManagedPasswordInterval": "30",
    })
    ip = cfg["address"]
    dc_dn = f"CN={cfg['netbios_name']},OU=Domain Controllers,{base}"
    m = ldb.Message(ldb.Dn(db, dc_dn))
    # SPNs on the IP address, so Kerberos clients can name the DC by address.
    m["servicePrincipalName"] = ldb.MessageElement([f"cifs/{ip}", f"ldap/{ip}"], ldb.FLAG_MOD_ADD,
                                                   "servicePrincipalName")
    db.modify(m)
    # Provisioning drops loopback addresses from DNS: give the DC's host name its A record, so that an SRV
    # lookup leads all the way to an address.
    add_host_record(db, _zone(db, cfg), f"DC={cfg['host_name']}", ip, None)

    domain_sid = str(db.get_domain_sid())
    share = cfg["share"]
    aces = "(A;OICI;FA;;;SY)"
    aces += "".join(f"(A;OICI;{MODIFY};;;{_sid(db, base, sam)})" for sam in share["modify"])
    aces += "".join(f"(A;OICI;{READ_ONLY};;;{_sid(db, base, sam)})" for sam in share["read"])
    s3conf = s3param.get_context()  # the s3 VFS layer that stores NT ACLs reads smb.conf itself, per share
    s3conf.load(cfg["smb_conf"])
    setntacl(lp, share["path"], f"O:SYG:DUD:PAI{aces}", domain_sid, system_session_unix(), use_ntvfs=False,
             service=share["name"])


def _zone(db: Any, cfg: dict[str, Any]) -> str:
    return f"DC={cfg['dns_domain']},CN=MicrosoftDNS,DC=DomainDnsZones,{db.domain_dn()}"


def refresh(db: Any, lp: Any, cfg: dict[str, Any]) -> None:
    """The accounts' passwords as the world has them; every computer account with exactly its SPNs and an A
    record; then the keytab for all those SPNs."""
    base = db.domain_dn()
    for account in cfg["accounts"]:
        # The world file holds the passwords: a world made anew over a kept DC (the demo) brings new ones.
        db.setpassword(f"(sAMAccountName={ldb.binary_encode(account['sam'])})", account["password"])
    for computer in cfg["computers"]:
        sam = computer["name"].upper() + "$"
        if not _exists(db, base, sam):
            db.newcomputer(computer["name"].upper())
            db.setpassword(f"(sAMAccountName={ldb.binary_encode(sam)})", computer["password"])
            add_host_record(db, _zone(db, cfg), f"DC={computer['fqdn'].split('.')[0]}", computer["address"], None)
        dn = db.search(base, expression=f"(sAMAccountName={ldb.binary_encode(sam)})", attrs=["dn"])[0].dn
        m = ldb.Message(dn)
        m["servicePrincipalName"] = ldb.MessageElement(computer["spns"], ldb.FLAG_MOD_REPLACE, "servicePrincipalName")
        m["dNSHostName"] = ldb.MessageElement(computer["fqdn"], ldb.FLAG_MOD_REPLACE, "dNSHostName")
        # Without it the KDC (and the keytab export) keeps to RC4, which current Kerberos clients refuse.
        m["msDS-SupportedEncryptionTypes"] = ldb.MessageElement(str(SUPPORTED_ENCTYPES), ldb.FLAG_MOD_REPLACE,
                                                                "msDS-SupportedEncryptionTypes")
        db.modify(m)
    keytab = cfg["keytab"]
    if os.path.exists(keytab):
        os.unlink(keytab)
    old = os.umask(0o077)
    try:
        enable_net_export_keytab()
        net = Net(None, lp)
        for computer in cfg["computers"]:
            for spn in computer["spns"]:
                net.export_keytab(keytab=keytab, principal=f"{spn}@{cfg['realm']}")
    finally:
        os.umask(old)
    os.chmod(keytab, 0o600)


def main() -> None:
    cfg = json.load(sys.stdin)
    lp = LoadParm()
    lp.load(cfg["smb_conf"])
    db = SamDB(url=cfg["sam_ldb"], session_info=system_session(), lp=lp)
    if cfg["mode"] == "seed":
        seed(db, lp, cfg)
    refresh(db, lp, cfg)
    json.dump({"done": cfg["mode"]}, sys.stdout)


if __name__ == "__main__":
    main()
