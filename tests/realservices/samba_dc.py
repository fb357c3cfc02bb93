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

One DC per machine at a time: smbd reaches winbindd only through the compiled-in ``/run/samba/winbindd/pipe``, so two
DCs would answer each other's logons. A machine-wide lock file serialises runs (a second test run waits).

Run by hand: ``python -m tests.realservices.samba_dc up [DIR]`` prints the DC's JSON description and keeps it running
until Enter or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

DOMAIN = "WORK"
DNS_DOMAIN = "work.lab"
REALM = DNS_DOMAIN.upper()
BASE_DN = "DC=work,DC=lab"
HOST_NAME = "dc1"
NETBIOS_NAME = HOST_NAME.upper()
DEBIAN_PYTHON = "/usr/bin/python3"
SAMBA = "/usr/sbin/samba"
SAMBA_TOOL = "/usr/bin/samba-tool"
LOCK_FILE = Path("/run/lock/octotui-samba-ad-dc.lock") if Path("/run/lock").is_dir() else Path(
    "/tmp/octotui-samba-ad-dc.lock")
HERE = Path(__file__).resolve().parent

#: TCP and UDP ports the DC listens on (LDAP and GC ports are hard-coded in Samba; DNS gets a free port).
TCP_PORTS = (88, 135, 389, 445, 464, 636, 3268, 3269)
UDP_PORTS = (88, 464)

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


class DCUnavailable(RuntimeError):
    """The DC could not be started here; the message says why and what would fix it."""


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


def missing_prerequisites() -> str | None:
    """Why this machine cannot run the DC (None when it can). Used to skip locally, never in CI."""
    if os.geteuid() != 0:
        return "the Samba AD DC needs root (its LDAP ports are fixed below 1024 and smbd switches users)"
    missing = [p for p in (SAMBA, SAMBA_TOOL, "/usr/sbin/winbindd", DEBIAN_PYTHON) if not os.path.exists(p)]
    if missing:
        return ("missing " + ", ".join(missing) + ": install the Debian packages samba-ad-dc and "
                "samba-ad-provision (scripts/setup.sh does)")
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import samba.samdb"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        return "python3-samba is not importable by /usr/bin/python3: install samba-ad-dc"
    return None


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "Dc-" + "".join(secrets.choice(alphabet) for _ in range(14)) + "7x!"


def _busy_ports(address: str) -> list[str]:
    """Ports another program already holds on ``address`` (or on all addresses)."""
    busy = []
    for kind, ports in ((socket.SOCK_STREAM, TCP_PORTS), (socket.SOCK_DGRAM, UDP_PORTS)):
        for port in ports:
            with socket.socket(socket.AF_INET, kind) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((address, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        busy.append(f"{'tcp' if kind == socket.SOCK_STREAM else 'udp'}/{port}")
                    else:
                        raise
    return busy


def _free_port(address: str) -> int:
    """A port free for both TCP and UDP on ``address``: the DC's DNS, kept off 53 so no resolver clashes."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((address, 0))
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((address, port))
                except OSError:
                    continue
                return port
    raise DCUnavailable(f"no free port for the DC's DNS on {address}")


def _holders(ports: list[str]) -> str:
    try:
        out = subprocess.run(["ss", "-Htulnp"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    wanted = {p.split("/")[1] for p in ports}
    rows = [ln.split() for ln in out.splitlines()]
    return "\n".join(" ".join(r) for r in rows if len(r) > 4 and any(r[4].endswith(":" + p) for p in wanted))


@contextlib.contextmanager
def _machine_lock(wait_s: float) -> Iterator[None]:
    """Hold the one-DC-per-machine lock; released by the kernel even if this process dies."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        end = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise DCUnavailable(f"another test run holds {LOCK_FILE} (a Samba DC is running) "
                                        f"for more than {wait_s:.0f} s") from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _make_certificates(tls: Path, address: str) -> Path:
    """A private CA and a server certificate for the DC's address and name, so clients can verify the DC.

    Samba's own autogenerated certificate names only the host and has no subjectAltName, so it cannot be verified
    for an IP address."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "octotui test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    fqdn = f"{HOST_NAME}.{DNS_DOMAIN}"
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(fqdn), x509.DNSName(DNS_DOMAIN), x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tls / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tls / "cert.pem").write_bytes(cert.public_bytes(pem))
    key_path = tls / "key.pem"
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return tls / "ca.pem"


def _smb_conf(d: Path, address: str, dns_port: int, shares: dict[str, Path]) -> str:
    share_sections = "".join(f"\n[{name}]\n\tpath = {path}\n\tread only = no\n" for name, path in shares.items())
    # No 'winbindd socket directory': smbd finds winbindd only at the compiled-in /run/samba/winbindd.
    return f"""[global]
\tnetbios name = {NETBIOS_NAME}
\tworkgroup = {DOMAIN}
\trealm = {REALM}
\tserver role = active directory domain controller
\tinterfaces = {address}
\tbind interfaces only = yes
\tserver services = s3fs, rpc, ldap, kdc, winbindd, dns
\tdns port = {dns_port}
\tsmb ports = 445
\tdisable netbios = yes
\tprivate dir = {d}/private
\tlock directory = {d}
\tstate directory = {d}/state
\tcache directory = {d}/cache
\tbinddns dir = {d}/bind-dns
\tpid directory = {d}/run
\tncalrpc dir = {d}/run/ncalrpc
\tntp signd socket directory = {d}/run/ntp_signd
\tlog file = {d}/log/log.%m
\tlog level = 1
\tpanic action =
\ttls enabled = yes
\ttls keyfile = {d}/tls/key.pem
\ttls certfile = {d}/tls/cert.pem
\ttls cafile = {d}/tls/ca.pem

[sysvol]
\tpath = {d}/state/sysvol
\tread only = no

[netlogon]
\tpath = {d}/state/sysvol/{DNS_DOMAIN}/scripts
\tread only = no
{share_sections}"""


def _run(cmd: list[str], what: str, log: Path, *, stdin: str | None = None, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "KRB5"))}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise DCUnavailable(f"{what} took more than {timeout:.0f} s") from exc
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise DCUnavailable(f"{what} failed (exit {done.returncode}); log {log}:\n{tail}")
    return done.stdout


class _Process:
    """The running ``samba`` and the PIDs it forked into their own sessions (smbd, winbindd)."""

    def __init__(self, proc: subprocess.Popen[bytes], d: Path, keepalive: IO[bytes] | None) -> None:
        self.proc = proc
        self.d = d
        self.keepalive = keepalive

    def _ours(self, pid: int) -> bool:
        """Is ``pid`` still a process of THIS DC? PID files can be stale and PIDs reused."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return False
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie holds nothing
            return False
        return pid == self.proc.pid or str(self.d) in cmdline

    def side_pids(self) -> list[int]:
        pids = []
        for name in ("smbd.pid", "winbindd.pid", "samba.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int((self.d / "run" / name).read_text().split()[0])
                if pid != self.proc.pid and self._ours(pid):
                    pids.append(pid)
        return pids

    def stop(self, address: str) -> None:
        others = self.side_pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if self.keepalive is not None:
            with contextlib.suppress(OSError):
                self.keepalive.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: pgid == pid
            self.proc.wait(timeout=10)
        end = time.monotonic() + 10
        while time.monotonic() < end and any(self._ours(p) for p in others):
            time.sleep(0.1)
        for pid in others:
            if self._ours(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # smbd and winbindd lead their own sessions
        end = time.monotonic() + 10
        while time.monotonic() < end and (_tcp_open(address, 445, 0.2) or _tcp_open(address, 389, 0.2)):
            time.sleep(0.1)


def _tcp_open(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _ldaps_bind(address: str, ca_file: Path, user: str, password: str) -> tuple[bool, str]:
    import ldap3

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file))
    server = ldap3.Server(address, port=636, use_ssl=True, tls=tls, connect_timeout=2)
    conn = ldap3.Connection(server, user=user, password=password, receive_timeout=5)
    try:
        ok = bool(conn.bind())
        return ok, str(conn.result.get("message", ""))
    except ldap3.core.exceptions.LDAPException as exc:
        return False, str(exc)
    finally:
        with contextlib.suppress(Exception):
            conn.unbind()


def _wait_ready(proc: subprocess.Popen[bytes], dc: SambaDC, log: Path, timeout: float) -> None:
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-20:])
            raise DCUnavailable(f"samba exited with {proc.returncode} while starting; {log}:\n{tail}")
        if all(_tcp_open(dc.address, p, 0.5) for p in (389, 445, 636)):
            ok, last = _ldaps_bind(dc.address, dc.ca_file, f"Administrator@{DNS_DOMAIN}", dc.administrator_password)
            if ok:
                return
        time.sleep(0.2)
    raise DCUnavailable(f"the DC did not accept an LDAPS bind within {timeout:.0f} s (last: {last}); see {log}")


def _lock_out(dc: SambaDC) -> None:
    """Lock svcLocked as AD does: wrong passwords up to its PSO's threshold (lockoutTime cannot be written)."""
    for _ in range(2):
        _ldaps_bind(dc.address, dc.ca_file, f"{DOMAIN}\\svcLocked", "not-the-password-1")
    ok, message = _ldaps_bind(dc.address, dc.ca_file, f"{DOMAIN}\\svcLocked", dc.accounts["svcLocked"].password)
    if ok or "data 775" not in message:
        raise DCUnavailable(f"svcLocked did not lock out after two wrong passwords (bind said: {message!r})")


def _untraversable_ancestor(path: Path) -> Path | None:
    """smbd opens share files as the logged-on user's uid, so every folder above the shares must let others in
    (pytest's own /tmp/pytest-of-root is 0700, hence the DC's own temp folder)."""
    for folder in (path, *path.parents):
        if folder.exists() and not folder.stat().st_mode & 0o001:
            return folder
    return None


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
    blocked = _untraversable_ancestor(base)
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
    with _machine_lock(lock_wait_s):
        busy = _busy_ports(address)
        if busy:
            raise DCUnavailable(f"ports already in use on {address}: {', '.join(busy)}; stop what holds them "
                                f"(a system samba/smbd? `systemctl disable --now smbd nmbd samba-ad-dc`):\n"
                                + _holders(busy))
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

        pw = {name: _password() for name in ACCOUNTS}
        pw.update(passwords or {})
        admin_pw = _password()
        dns_port = _free_port(address)
        started = time.monotonic()
        (d / "bootstrap.conf").write_text("[global]\n")  # keeps Debian's /etc/samba/smb.conf out of the new config
        _run([SAMBA_TOOL, "domain", "provision", "-s", str(d / "bootstrap.conf"), f"--targetdir={d}",
              f"--realm={REALM}", f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
              f"--host-name={HOST_NAME}", f"--adminpass={admin_pw}", f"--option=interfaces={address}",
              "--option=bind interfaces only=yes"], "samba-tool domain provision", d / "log" / "provision.log")
        provisioned = time.monotonic()
        ca_file = _make_certificates(d / "tls", address)
        conf = d / "etc" / "smb.conf"
        conf.write_text(_smb_conf(d, address, dns_port, shares))
        paths = {name: str(p) for name, p in shares.items()}
        for sub in ("Archive", "NoDelete"):
            paths[f"OctopusData/{sub}"] = str(shares["OctopusData"] / sub)
        _run([DEBIAN_PYTHON, str(HERE / "samba_seed.py")], "seeding accounts and ACLs", d / "log" / "seed.log",
             stdin=json.dumps({"smb_conf": str(conf), "sam_ldb": str(d / "private" / "sam.ldb"),
                               "dns_domain": DNS_DOMAIN, "netbios_name": NETBIOS_NAME, "host_name": HOST_NAME,
                               "address": address, "passwords": pw, "paths": paths,
                               "inherit": [str(shares["OctopusData"] / s) for s in write_folders]}))
        seeded = time.monotonic()
        dc = SambaDC(
            address=address, directory=d, dns_port=dns_port, ca_file=ca_file, administrator_password=admin_pw,
            accounts={name: Account(name, pw[name], state) for name, state in ACCOUNTS.items()},
            shares={name: f"\\\\{address}\\{name}" for name in shares}, write_folders=write_folders)
        log = d / "log" / "samba.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [SAMBA, "-s", str(conf), "-i", "--no-process-group", "--maximum-runtime=14400"],
                stdin=subprocess.PIPE if keep_alive_with_parent else subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        running = _Process(proc, d, proc.stdin)
        try:
            _wait_ready(proc, dc, log, timeout=60)
            _lock_out(dc)
            ready = time.monotonic()
            (d / "timings.json").write_text(json.dumps({
                "provision_s": round(provisioned - started, 2), "seed_s": round(seeded - provisioned, 2),
                "start_s": round(ready - seeded, 2), "total_s": round(ready - started, 2)}))
            yield dc
        finally:
            running.stop(address)
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
