"""Seed a freshly provisioned, not yet running Samba AD DC with the accounts, DNS record and share ACLs the tests need.

Run by ``samba_dc.py`` with Debian's ``/usr/bin/python3`` (only it has python3-samba), with one JSON document on
stdin. It writes straight into the offline ``sam.ldb``: one process, well under a second, where the equivalent
``samba-tool`` calls take several seconds each on a small box. Some states cannot be made through samba-tool at
all: a password that is already expired needs ``pwdLastSet`` back-dated with a local-only DSDB control.

This file is NOT imported by the test run (the venv has no ``samba`` module); it is a script.
"""

from __future__ import annotations

import json
import sys
import time

import ldb  # type: ignore[import-not-found]
from samba.auth import system_session  # type: ignore[import-not-found]
from samba.auth_util import system_session_unix  # type: ignore[import-not-found]
from samba.dcerpc import security  # type: ignore[import-not-found]
from samba.ndr import ndr_unpack  # type: ignore[import-not-found]
from samba.ntacls import setntacl  # type: ignore[import-not-found]
from samba.param import LoadParm  # type: ignore[import-not-found]
from samba.provision.sambadns import add_host_record  # type: ignore[import-not-found]
from samba.samba3 import param as s3param  # type: ignore[import-not-found]
from samba.samdb import SamDB  # type: ignore[import-not-found]

DAY = 864_000_000_000  # one day in AD's 100 ns units; AD stores intervals as negative numbers
EPOCH_AS_FILETIME = 116_444_736_000_000_000
# The DSDB control that lets an offline writer set pwdLastSet to any value (normally only 0 or -1).
BYPASS_LAST_SET = "local_oid:1.3.6.1.4.1.7165.4.3.20:0"
READ_ONLY = "0x1200a9"  # read data, read attributes, read EA, list, traverse, synchronize: NTFS "Read & execute"


def filetime(seconds_since_epoch: float) -> int:
    return int(seconds_since_epoch * 10**7) + EPOCH_AS_FILETIME


def main() -> None:
    cfg = json.load(sys.stdin)
    lp = LoadParm()
    lp.load(cfg["smb_conf"])
    db = SamDB(url=cfg["sam_ldb"], session_info=system_session(), lp=lp)
    base = db.domain_dn()
    users_dn = f"CN=Users,{base}"
    pw = cfg["passwords"]

    def modify(dn: str, attr: str, values: list[str] | str, flag: int = ldb.FLAG_MOD_REPLACE,
               controls: list[str] | None = None) -> None:
        m = ldb.Message(ldb.Dn(db, dn))
        m[attr] = ldb.MessageElement(values, flag, attr)
        db.modify(m, controls=controls or [])

    for name in ("labadmin", "svcOctopus", "svcDisabled", "svcLocked", "svcExpired", "svcSoon",
                 "svcMustChange", "svcAcctExpired"):
        db.newuser(name, pw[name], force_password_change_at_next_login_req=(name == "svcMustChange"),
                   description="Octopus Deploy service account" if name == "svcOctopus" else None)
    db.add_remove_group_members("Domain Admins", ["labadmin"], add_members_operation=True)
    db.disable_account("(sAMAccountName=svcDisabled)")
    # accountExpires one day in the past: AD's "account expired" (bind data 701), unlike a password expiry.
    modify(f"CN=svcAcctExpired,{users_dn}", "accountExpires", str(filetime(time.time() - 86400)))

    def pso(name: str, precedence: int, applies_to: list[str], *, lockout_threshold: int = 0,
            max_age_days: int = 42) -> None:
        # Fine-grained password policies keep lockout and expiry to the accounts that need them, so the
        # rest of the domain (svcOctopus above all) never locks out while tests try wrong passwords.
        applies = "".join(f"msDS-PSOAppliesTo: CN={u},{users_dn}\n" for u in applies_to)
        db.add_ldif(
            f"dn: CN={name},CN=Password Settings Container,CN=System,{base}\n"
            "objectClass: msDS-PasswordSettings\n"
            f"msDS-PasswordSettingsPrecedence: {precedence}\n"
            "msDS-PasswordReversibleEncryptionEnabled: FALSE\n"
            "msDS-PasswordHistoryLength: 0\n"
            "msDS-PasswordComplexityEnabled: TRUE\n"
            "msDS-MinimumPasswordLength: 7\n"
            "msDS-MinimumPasswordAge: 0\n"
            f"msDS-MaximumPasswordAge: {-max_age_days * DAY}\n"
            f"msDS-LockoutThreshold: {lockout_threshold}\n"
            f"msDS-LockoutObservationWindow: {-DAY}\n"
            f"msDS-LockoutDuration: {-DAY}\n" + applies)  # stays locked for any test session

    pso("lockpso", 10, ["svcLocked"], lockout_threshold=2)
    # Samba treats a maximum age of one day or less as "never expires", hence two days.
    pso("exppso", 11, ["svcExpired", "svcSoon"], max_age_days=2)
    modify(f"CN=svcExpired,{users_dn}", "pwdLastSet", str(filetime(time.time() - 3 * 86400)),
           controls=[BYPASS_LAST_SET])

    # A group managed service account. Samba 4.17 has the schema class but computes no managed password;
    # the object is enough for "exists, enabled, is a gMSA".
    db.add({
        "dn": f"CN=svcGmsa,CN=Managed Service Accounts,{base}",
        "objectClass": "msDS-GroupManagedServiceAccount",
        "sAMAccountName": "svcGmsa$",
        "userAccountControl": "4096",  # WORKSTATION_TRUST_ACCOUNT, as Windows creates gMSAs
        "dNSHostName": f"svcgmsa.{cfg['dns_domain']}",
        "msDS-ManagedPasswordInterval": "30",
    })

    ip = cfg["address"]
    dc_dn = f"CN={cfg['netbios_name']},OU=Domain Controllers,{base}"
    # SPNs on the IP address, so Kerberos clients can name the DC by address.
    modify(dc_dn, "servicePrincipalName", [f"cifs/{ip}", f"ldap/{ip}"], flag=ldb.FLAG_MOD_ADD)
    # Provisioning drops loopback addresses from DNS; give the DC's host name its A record, so an SRV lookup
    # leads all the way to an address.
    zone = f"DC={cfg['dns_domain']},CN=MicrosoftDNS,DC=DomainDnsZones,{base}"
    add_host_record(db, zone, f"DC={cfg['host_name']}", ip, None)

    def sid(user: str) -> str:
        msg = db.search(base, expression=f"(sAMAccountName={user})", attrs=["objectSid"])[0]
        return str(ndr_unpack(security.dom_sid, msg["objectSid"][0]))

    domain_sid = str(db.get_domain_sid())
    svc, adm = sid("svcOctopus"), sid("labadmin")
    # The s3 VFS layer that stores NT ACLs reads smb.conf itself, per share.
    s3conf = s3param.get_context()
    s3conf.load(cfg["smb_conf"])
    session = system_session_unix()
    full = f"(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;{adm})"
    for share, path, sddl in (
        # Modify for the service account, as Octopus needs on its shared storage.
        ("OctopusData", cfg["paths"]["OctopusData"], f"O:BAG:DUD:PAI{full}(A;OICI;0x1301bf;;;{svc})"),
        ("OctopusData", cfg["paths"]["OctopusData/Archive"], f"O:BAG:DUD:PAI{full}(A;OICI;{READ_ONLY};;;{svc})"),
        # Write without Delete: the subtle misconfiguration (Write instead of Modify).
        ("OctopusData", cfg["paths"]["OctopusData/NoDelete"], f"O:BAG:DUD:PAI{full}(A;OICI;0x1201bf;;;{svc})"),
        ("OctopusRead", cfg["paths"]["OctopusRead"], f"O:BAG:DUD:PAI{full}(A;OICI;{READ_ONLY};;;{svc})"),
        ("AdminOnly", cfg["paths"]["AdminOnly"], f"O:BAG:DUD:PAI{full}"),
    ):
        setntacl(lp, path, sddl, domain_sid, session, use_ntvfs=False, service=share)
    # Sub-folders of OctopusData other than Archive inherit the share root's ACL, like new folders on Windows.
    for path in cfg["inherit"]:
        setntacl(lp, path, f"O:BAG:DUD:AI{full.replace('OICI', 'OICIID')}(A;OICIID;0x1301bf;;;{svc})",
                 domain_sid, session, use_ntvfs=False, service="OctopusData")
    json.dump({"seeded": sorted(pw)}, sys.stdout)


if __name__ == "__main__":
    main()
