"""Provision, configure, start and stop a Samba AD DC bound to one loopback address, in a private folder.

Why a real DC: the AD and share checks must be judged against what a real DC answers (LDAP bind ``data 533``,
SMB ``STATUS_ACCOUNT_LOCKED_OUT`` ...), and the lab's share must be the folder a real SMB client sees. Samba 4.17
returns the same codes as Windows. Facts and pitfalls: ``/work/shared/reference/samba-ad-test-dc.md``.

How: ``samba-tool domain provision --targetdir`` (~4 s), an smb.conf bound to one address only, a certificate for
that address from a private CA (Samba's own has no subjectAltName, so it cannot be verified for an IP), then
``samba -i`` in its own session. The DC runs in a private mount namespace with its own ``/run/samba``: smbd finds
winbindd only through the compiled-in ``/run/samba/winbindd/pipe``, so without it two DCs on one machine (the lab's
and the test suite's) would answer each other's logons. With ``keep_alive`` the pipe on samba's stdin is held by
the caller, and ``samba -i`` exits when it closes (observed with 4.17), so a crashed caller leaves no DC behind.
Stopping signals only the PIDs this module started or recorded (verified through /proc), never processes found
by name.

Imported only when a DC is wanted: the rest of the lab needs neither root nor Samba.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

DEBIAN_PYTHON = "/usr/bin/python3"
SAMBA = "/usr/sbin/samba"
SAMBA_TOOL = "/usr/bin/samba-tool"
WINBINDD = "/usr/sbin/winbindd"
UNSHARE = "/usr/bin/unshare"
LOCK_FILE = Path("/run/lock/octotui-samba-ad-dc.lock") if Path("/run/lock").is_dir() else Path(
    "/tmp/octotui-samba-ad-dc.lock")
INSTALL_HINT = ("install the Debian packages samba-ad-dc, samba-ad-provision and winbind "
                "(scripts/setup.sh does: sudo scripts/setup.sh)")

#: TCP and UDP ports the DC listens on (LDAP and GC ports are hard-coded in Samba; DNS gets a free port).
TCP_PORTS = (88, 135, 389, 445, 464, 636, 3268, 3269)
UDP_PORTS = (88, 464)
_CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class DCUnavailable(RuntimeError):
    """The DC could not be started here; the message says why and what would fix it."""


@dataclass(frozen=True)
class DCConfig:
    """One domain and where its DC listens. ``shares`` maps a share name to the folder smbd serves."""

    domain: str  # the NetBIOS domain name, e.g. WORK
    dns_domain: str  # e.g. work.lab
    address: str  # one loopback address; everything listens there only
    host_name: str = "dc1"
    shares: dict[str, Path] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.dns_domain.upper()

    @property
    def netbios_name(self) -> str:
        return self.host_name.upper()

    @property
    def host_fqdn(self) -> str:
        return f"{self.host_name}.{self.dns_domain}"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.dns_domain.split("."))


def missing_prerequisites() -> str | None:
    """Why this machine cannot run a DC (None when it can), with what to do about it."""
    if os.geteuid() != 0:
        return ("the Samba AD DC needs root (its LDAP and Kerberos ports are fixed below 1024 and smbd switches "
                "users): run as root, e.g. with sudo")
    missing = [p for p in (SAMBA, SAMBA_TOOL, WINBINDD, DEBIAN_PYTHON) if not os.path.exists(p)]
    found = [p for p in (SAMBA, SAMBA_TOOL, WINBINDD) if shutil.which(Path(p).name, path=os.environ.get("PATH"))]
    if missing or len(found) < 3:
        absent = missing or sorted({Path(p).name for p in (SAMBA, SAMBA_TOOL, WINBINDD)}
                                   - {Path(p).name for p in found})
        return f"Samba is not installed here (missing {', '.join(absent)}): {INSTALL_HINT}"
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import samba.samdb"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        return f"python3-samba is not importable by {DEBIAN_PYTHON}: {INSTALL_HINT}"
    return None


def new_password() -> str:
    """A password that meets AD's complexity rules and needs no quoting."""
    alphabet = string.ascii_letters + string.digits
    return "Dc-" + "".join(secrets.choice(alphabet) for _ in range(14)) + "7x!"


def busy_ports(address: str) -> list[str]:
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


def free_port(address: str, preferred: int = 0) -> int:
    """A port free for both TCP and UDP on ``address`` (``preferred`` when it still is): the DC's DNS, kept off
    53 so that no resolver clashes."""
    for attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind((address, preferred if attempt == 0 else 0))
            except OSError:
                continue
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((address, port))
                except OSError:
                    continue
                return port
    raise DCUnavailable(f"no free port for the DC's DNS on {address}")


def port_holders(ports: list[str]) -> str:
    """``ss`` lines for the programs holding ``ports`` (best effort, for the error message)."""
    try:
        out = subprocess.run(["ss", "-Htulnp"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    wanted = {p.split("/")[1] for p in ports}
    rows = [ln.split() for ln in out.splitlines()]
    return "\n".join(" ".join(r) for r in rows if len(r) > 4 and any(r[4].endswith(":" + p) for p in wanted))


def refuse_busy(address: str) -> None:
    """DCUnavailable naming what holds the DC's ports on ``address``, if anything does."""
    busy = busy_ports(address)
    if busy:
        raise DCUnavailable(f"ports already in use on {address}: {', '.join(busy)}; stop what holds them "
                            f"(a system samba/smbd? `systemctl disable --now smbd nmbd samba-ad-dc`):\n"
                            + port_holders(busy))


@contextlib.contextmanager
def machine_lock(wait_s: float, lock_file: Path = LOCK_FILE) -> Iterator[None]:
    """Hold a machine-wide lock (for DCs that share an address); released by the kernel if this process dies."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        end = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise DCUnavailable(f"another run holds {lock_file} (a Samba DC is running) "
                                        f"for more than {wait_s:.0f} s") from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def make_certificates(tls: Path, config: DCConfig) -> Path:
    """A private CA and a server certificate for the DC's address and names; returns the CA file.

    Samba's own autogenerated certificate names only the host and has no subjectAltName, so a client cannot
    verify it for an IP address."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    tls.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"octotui {config.realm} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, config.host_fqdn)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(config.host_fqdn), x509.DNSName(config.dns_domain),
                x509.IPAddress(ipaddress.ip_address(config.address))]), critical=False)
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


def smb_conf(d: Path, config: DCConfig, dns_port: int) -> str:
    """The DC's whole smb.conf: every path inside ``d``, every socket on ``config.address``."""
    share_sections = "".join(f"\n[{name}]\n\tpath = {path}\n\tread only = no\n"
                             for name, path in config.shares.items())
    # No 'winbindd socket directory': smbd finds winbindd only at the compiled-in /run/samba/winbindd.
    return f"""[global]
\tnetbios name = {config.netbios_name}
\tworkgroup = {config.domain}
\trealm = {config.realm}
\tserver role = active directory domain controller
\tinterfaces = {_interface(config.address)}
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
\tpath = {d}/state/sysvol/{config.dns_domain}/scripts
\tread only = no
{share_sections}"""


def _interface(address: str) -> str:
    """The ``interfaces`` entry for ``address``. Samba enumerates the machine's interfaces and finds only
    127.0.0.1 on ``lo``; written with its mask, another loopback address is taken as given (Linux routes all of
    127/8 to ``lo``), so the DC can bind 127.0.0.2 without anyone adding that address to ``lo``."""
    return f"{address}/8" if address.startswith("127.") and address != "127.0.0.1" else address


def run(cmd: list[str], what: str, log: Path, *, stdin: str | None = None, timeout: float = 120) -> str:
    """Run a Samba tool with a clean environment (no venv, no KRB5 settings); DCUnavailable with the log's tail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "KRB5"))}
    env["PATH"] = _CLEAN_PATH
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise DCUnavailable(f"{what} took more than {timeout:.0f} s") from exc
    log.write_text(done.stdout + done.stderr)
    log.chmod(0o600)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise DCUnavailable(f"{what} failed (exit {done.returncode}); log {log}:\n{tail}")
    return done.stdout


def provision(d: Path, config: DCConfig, admin_password: str) -> None:
    """``samba-tool domain provision`` into ``d`` (which must hold no earlier provision)."""
    for sub in ("etc", "log", "run", "tls"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "bootstrap.conf").write_text("[global]\n")  # keeps Debian's /etc/samba/smb.conf out of the new config
    run([SAMBA_TOOL, "domain", "provision", "-s", str(d / "bootstrap.conf"), f"--targetdir={d}",
         f"--realm={config.realm}", f"--domain={config.domain}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
         f"--host-name={config.host_name}", f"--adminpass={admin_password}", f"--option=interfaces={config.address}",
         "--option=bind interfaces only=yes"], "samba-tool domain provision", d / "log" / "provision.log")


def _tcp_open(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def ldaps_bind(address: str, ca_file: Path, user: str, password: str) -> tuple[bool, str]:
    """One LDAPS simple bind with the DC's certificate verified: (accepted, the server's message)."""
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


class SambaProcess:
    """The running ``samba`` and the PIDs it forked into their own sessions (smbd, winbindd)."""

    def __init__(self, proc: subprocess.Popen[bytes], d: Path, address: str, keepalive: IO[bytes] | None) -> None:
        self.proc = proc
        self.d = d
        self.address = address
        self.keepalive = keepalive

    @classmethod
    def start(cls, d: Path, config: DCConfig, *, keep_alive: bool, max_runtime_s: int = 14400) -> SambaProcess:
        """Start ``samba -i`` on ``d``'s smb.conf, in a mount namespace of its own (see the module docstring)."""
        log = d / "log" / "samba.out"
        samba = [SAMBA, "-s", str(d / "etc" / "smb.conf"), "-i", "--no-process-group",
                 f"--maximum-runtime={max_runtime_s}"]
        isolated = [UNSHARE, "--mount", "--propagation", "private", "/bin/sh", "-c",
                    'mkdir -p /run/samba && mount -t tmpfs -o mode=0755 octotui-dc /run/samba && exec "$@"',
                    "octotui-dc", *samba]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                isolated if os.path.exists(UNSHARE) else samba,
                stdin=subprocess.PIPE if keep_alive else subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                env={"PATH": _CLEAN_PATH, "LANG": "C.UTF-8"})
        return cls(proc, d, config.address, proc.stdin)

    def wait_ready(self, ca_file: Path, user: str, password: str, timeout: float = 60) -> None:
        """Wait until the DC accepts an LDAPS bind as ``user`` and SMB listens; DCUnavailable otherwise."""
        log = self.d / "log" / "samba.out"
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-20:])
                raise DCUnavailable(f"samba exited with {self.proc.returncode} while starting; {log}:\n{tail}")
            if all(_tcp_open(self.address, p, 0.5) for p in (389, 445, 636)):
                ok, last = ldaps_bind(self.address, ca_file, user, password)
                if ok:
                    return
            time.sleep(0.2)
        raise DCUnavailable(f"the DC did not accept an LDAPS bind within {timeout:.0f} s (last: {last}); see {log}")

    def running(self) -> bool:
        return self.proc.poll() is None

    def _ours(self, pid: int) -> bool:
        """Is ``pid`` still a process of THIS DC? PID files can be stale and PIDs reused."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            os.readlink(f"/proc/{pid}/exe")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
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

    def stop(self) -> None:
        """SIGTERM samba, then SIGKILL what of it is left after 10 s; returns when its ports are closed."""
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
        while time.monotonic() < end and (_tcp_open(self.address, 445, 0.2) or _tcp_open(self.address, 389, 0.2)):
            time.sleep(0.1)


def untraversable_ancestor(path: Path) -> Path | None:
    """The first folder at or above ``path`` that other users cannot enter. smbd opens share files as the
    logged-on user's uid, so every folder above a share must allow o+x."""
    for folder in (path, *path.parents):
        if folder.exists() and not folder.stat().st_mode & 0o001:
            return folder
    return None
