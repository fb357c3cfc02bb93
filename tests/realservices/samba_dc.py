"""A throw-away Samba Active Directory domain controller on loopback, for the real-service tests.

Why a real DC: the AD and share checks must be judged against the status codes a real DC returns (LDAP bind
``data 533``, SMB ``STATUS_ACCOUNT_LOCKED_OUT`` ...), not against our own idea of them. Samba 4.17 returns the same
codes as Windows. Facts and pitfalls: ``/work/shared/reference/samba-ad-test-dc.md``.

How: provision into a private folder (``samba-tool domain provision --targetdir``, ~4 s), replace the generated
smb.conf with one bound to one loopback address only, give the DC a certificate for that address, seed accounts and
share ACLs offline in one Debian-python process (``samba_seed.py``, < 1 s), start ``samba -i`` in its own session and
wait for a real LDAPS bind. ``samba -i`` exits when the pipe on its stdin closes (observed with 4.17; with
/dev/null it keeps running): that pipe is held by this process, so a crashed or SIGKILLed test run never leaves a
DC behind (``--maximum-runtime`` is a second safety net). Stopping signals only the PIDs this module
started or recorded (verified through /proc), never processes found by name.

The reusable part (provisioning, smb.conf, certificates, process handling) lives in ``octotui.lab.dc.sambadc``, which
``octotui lab up --dc`` uses too; each DC runs in a mount namespace with its own ``/run/samba`` (smbd reaches
winbindd only through the compiled-in ``/run/samba/winbindd/pipe``), so the lab's DC on 127.0.0.2 and this one on
127.0.0.1 never answer each other's logons. A machine-wide lock file serialises test runs (they share 127.0.0.1).

Run by hand: ``python -m tests.realservices.samba_dc up [DIR]`` prints the DC's JSON description and keeps it running
until Enter or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octotui.lab.dc.sambadc import (
    DEBIAN_PYTHON,
    LOCK_FILE,
    DCConfig,
    DCUnavailable,
    SambaProcess,
    free_port,
    ldaps_bind,
    machine_lock,
    make_certificates,
    missing_prerequisites,
    new_password,
    provision,
    refuse_busy,
    run,
    smb_conf,
    untraversable_ancestor,
)

__all__ = ["LOCK_FILE", "DCUnavailable", "SambaDC", "missing_prerequisites", "running_dc"]

DOMAIN = "WORK"
DNS_DOMAIN = "work.lab"
REALM = DNS_DOMAIN.upper()
BASE_DN = "DC=work,DC=lab"
HOST_NAME = "dc1"
NETBIOS_NAME = HOST_NAME.upper()
HERE = Path(__file__).resolve().parent

#: Every account the DC holds besides Administrator, with the state a test expects of it.
ACCOUNTS: dict[str, str] = {
    "labadmin": "domain admin (the lab's admin; used as lookup credentials)",
    "svcOctopus": "the service account: enabled, password good, modify rights on OctopusData",
    "svcDisabled": "disabled (LDAP data 533)",
    "svcLocked": "locked out by two wrong passwords after start (PSO threshold 2; LDAP data 775)",
    "svcExpired": "password expired (PSO max age 2 days, pwdLastSet 3 days ago; LDAP data 532)",
    "svcSoon": "password expires within 2 days (PSO max age 2 days, just set)",
    "svcMustChange": "must change password at next logon (pwdLastSet 0; LDAP data 773)",
    "svcAcctExpired": "account expired (accountExpires yesterday; LDAP data 701)",
}
GMSA = "svcGmsa$"


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    state: str

    @property
    def qualified(self) -> str:
        return f"{DOMAIN}\\{self.name}"

    @property
    def upn(self) -> str:
        return f"{self.name}@{DNS_DOMAIN}"


@dataclass(frozen=True)
class SambaDC:
    """What a test needs to reach the DC. Everything listens on ``address`` only."""

    address: str
    directory: Path
    dns_port: int
    ca_file: Path
    accounts: dict[str, Account]
    administrator_password: str
    domain: str = DOMAIN
    dns_domain: str = DNS_DOMAIN
    realm: str = REALM
    base_dn: str = BASE_DN
    host_fqdn: str = f"{HOST_NAME}.{DNS_DOMAIN}"
    gmsa: str = GMSA
    shares: dict[str, str] = field(default_factory=dict)  # share name -> UNC root
    write_folders: tuple[str, ...] = ("Artifacts", "TaskLogs", "Packages")  # under OctopusData, writable
    read_only_folder: str = "Archive"  # under OctopusData, read-only for svcOctopus
    no_delete_folder: str = "NoDelete"  # under OctopusData, svcOctopus may write but not delete

    def account(self, name: str) -> Account:
        return self.accounts[name]

    def unc(self, share: str, *parts: str) -> str:
        return "\\".join((f"\\\\{self.address}\\{share}", *parts))

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.dns_port}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["directory"] = str(self.directory)
        doc["ca_file"] = str(self.ca_file)
        return doc


def _config(address: str, shares: dict[str, Path]) -> DCConfig:
    return DCConfig(domain=DOMAIN, dns_domain=DNS_DOMAIN, address=address, host_name=HOST_NAME, shares=shares)


def _lock_out(dc: SambaDC) -> None:
    """Lock svcLocked as AD does: wrong passwords up to its PSO's threshold (lockoutTime cannot be written)."""
    for _ in range(2):
        ldaps_bind(dc.address, dc.ca_file, f"{DOMAIN}\\svcLocked", "not-the-password-1")
    ok, message = ldaps_bind(dc.address, dc.ca_file, f"{DOMAIN}\\svcLocked", dc.accounts["svcLocked"].password)
    if ok or "data 775" not in message:
        raise DCUnavailable(f"svcLocked did not lock out after two wrong passwords (bind said: {message!r})")


@contextlib.contextmanager
def running_dc(base: Path | None = None, *, address: str = "127.0.0.1", passwords: dict[str, str] | None = None,
               lock_wait_s: float = 900, keep_alive_with_parent: bool = True) -> Iterator[SambaDC]:
    """Provision, seed and start a DC under ``base`` (default: a new temp folder), stop it on exit.

    ``passwords`` overrides account passwords by name (e.g. to match a lab's svcOctopus). With
    ``keep_alive_with_parent`` the DC exits by itself when this process dies."""
    reason = missing_prerequisites()
    if reason:
        raise DCUnavailable(reason)
    own_base = base is None
    if base is None:
        base = Path(tempfile.mkdtemp(prefix="octotui-samba-dc-", dir="/tmp"))
        base.chmod(0o755)
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    blocked = untraversable_ancestor(base)
    if blocked:
        raise DCUnavailable(f"{blocked} is not traversable by other users (mode {blocked.stat().st_mode & 0o777:o}); "
                            "smbd opens share files as the logged-on user, so choose a folder under a path "
                            "with o+x on every level (or give no folder: a private one in /tmp is made)")
    try:
        with _dc_in(base, address, passwords, lock_wait_s, keep_alive_with_parent) as dc:
            yield dc
    finally:
        if own_base and not os.environ.get("OCTOTUI_KEEP_DC"):
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _dc_in(base: Path, address: str, passwords: dict[str, str] | None, lock_wait_s: float,
           keep_alive_with_parent: bool) -> Iterator[SambaDC]:
    with machine_lock(lock_wait_s):
        refuse_busy(address)
        d = base / "dc"
        if d.exists():
            shutil.rmtree(d)
        for sub in ("etc", "log", "run", "tls"):
            (d / sub).mkdir(parents=True)
        share_root = d / "shares"
        shares = {"OctopusData": share_root / "OctopusData", "OctopusRead": share_root / "OctopusRead",
                  "AdminOnly": share_root / "AdminOnly"}
        for path in shares.values():
            path.mkdir(parents=True)
        write_folders = ("Artifacts", "TaskLogs", "Packages")
        for sub in (*write_folders, "Archive", "NoDelete"):
            (shares["OctopusData"] / sub).mkdir()
        (shares["OctopusRead"] / "readme.txt").write_text("read-only share for octotui tests\n")
        (shares["OctopusData"] / "Archive" / "old.txt").write_text("archived\n")

        pw = {name: new_password() for name in ACCOUNTS}
        pw.update(passwords or {})
        admin_pw = new_password()
        dns_port = free_port(address)
        config = _config(address, shares)
        started = time.monotonic()
        provision(d, config, admin_pw)
        provisioned = time.monotonic()
        ca_file = make_certificates(d / "tls", config)
        conf = d / "etc" / "smb.conf"
        conf.write_text(smb_conf(d, config, dns_port))
        paths = {name: str(p) for name, p in shares.items()}
        for sub in ("Archive", "NoDelete"):
            paths[f"OctopusData/{sub}"] = str(shares["OctopusData"] / sub)
        run([DEBIAN_PYTHON, str(HERE / "samba_seed.py")], "seeding accounts and ACLs", d / "log" / "seed.log",
             stdin=json.dumps({"smb_conf": str(conf), "sam_ldb": str(d / "private" / "sam.ldb"),
                               "dns_domain": DNS_DOMAIN, "netbios_name": NETBIOS_NAME, "host_name": HOST_NAME,
                               "address": address, "passwords": pw, "paths": paths,
                               "inherit": [str(shares["OctopusData"] / s) for s in write_folders]}))
        seeded = time.monotonic()
        dc = SambaDC(
            address=address, directory=d, dns_port=dns_port, ca_file=ca_file, administrator_password=admin_pw,
            accounts={name: Account(name, pw[name], state) for name, state in ACCOUNTS.items()},
            shares={name: f"\\\\{address}\\{name}" for name in shares}, write_folders=write_folders)
        running = SambaProcess.start(d, config, keep_alive=keep_alive_with_parent)
        try:
            running.wait_ready(ca_file, f"Administrator@{DNS_DOMAIN}", admin_pw, timeout=60)
            _lock_out(dc)
            ready = time.monotonic()
            (d / "timings.json").write_text(json.dumps({
                "provision_s": round(provisioned - started, 2), "seed_s": round(seeded - provisioned, 2),
                "start_s": round(ready - seeded, 2), "total_s": round(ready - started, 2)}))
            yield dc
        finally:
            running.stop()
            if not os.environ.get("OCTOTUI_KEEP_DC"):
                shutil.rmtree(d, ignore_errors=True)


def _main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] != "up":
        print("usage: python -m tests.realservices.samba_dc up [DIR]", file=sys.stderr)
        return 2
    try:
        with running_dc(Path(argv[1]) if len(argv) == 2 else None) as dc:
            print(json.dumps(dc.to_json(), indent=2))
            print("DC running; press Enter (or Ctrl-C) to stop it", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt, EOFError):
                input()
    except DCUnavailable as exc:
        print(f"samba_dc: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
