"""``ad.account``: is the Octopus service account usable, and if not, exactly why.

A service whose account is disabled, locked, expired or whose password must change simply does not start, and
Octopus's own logs say little about why. Active Directory does know: a refused LDAP simple bind carries a
diagnostic ``data <code>`` (52e wrong password, 533 disabled, 775 locked, 532 password expired, 773 must change,
701 account expired ...) and a refused NTLM logon the matching NTSTATUS. This check asks the domain controller
and turns that code into one message and one thing to do.

How the DC is reached, in order:

1. The DC is the one given, or found with the DNS SRV record ``_ldap._tcp.dc._msdcs.<domain>``.
2. LDAPS (636), else StartTLS on 389, with the DC's certificate verified (system CAs, or ``ca_file``): a simple
   bind sends the password, so never over an unverified channel.
3. If the DC offers no TLS this machine trusts, the password is checked with an NTLM logon over SMB (445)
   instead, which never sends it. The NTSTATUS codes say the same things.

A gMSA (``name$``) has no password to try: its object is looked up (``lookup_username``/``lookup_password``,
e.g. the installing admin) and must be an enabled ``msDS-GroupManagedServiceAccount``.

Every wrong password counts towards the account's lockout threshold: callers (the TUI) should run this check
when the password field is complete, not on each keystroke.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from octotui.checks.result import CheckResult, Status

CHECK_ID = "ad.account"
EXPIRY_WARNING_DAYS = 14

# userAccountControl bits (MS-ADTS 2.2.16) used here.
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_PASSWORD_EXPIRED = 0x800000
NEVER = 0x7FFF_FFFF_FFFF_FFFF
FILETIME_EPOCH = 116_444_736_000_000_000  # 1970-01-01 in 100 ns units since 1601

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------------------
# Logon refusals: one table for the LDAP "data" codes and the NTSTATUS of an NTLM logon, shared with share.write.

@dataclass(frozen=True)
class Refusal:
    """Why AD refused a logon, in words, with what to do (``{account}`` is filled in)."""

    code: str  # the AD diagnostic code (LDAP "data" value)
    summary: str
    hint: str


REFUSALS: dict[str, Refusal] = {r.code: r for r in (
    Refusal("525", "{account} does not exist in the domain",
            "Check the spelling and the domain part (DOMAIN\\name), or create the account."),
    Refusal("52e", "Wrong password for {account} (or no such account)",
            "Check the password and the user name. Every wrong try counts towards the account's lockout."),
    Refusal("530", "{account} may not log on at this time (logon hours)",
            "Allow all logon hours for the service account in Active Directory (Account > Logon Hours)."),
    Refusal("531", "{account} may not log on from this computer (logon workstations)",
            "Clear the account's 'Log On To' list, or add every Octopus node to it."),
    Refusal("532", "The password of {account} has expired",
            "Set a new password (Set-ADAccountPassword) and enter it here; for a service account consider "
            "'password never expires' or a gMSA."),
    Refusal("533", "{account} is disabled",
            "Enable it (Enable-ADAccount, or Active Directory Users and Computers), then check again."),
    Refusal("701", "The account {account} has expired (its expiry date has passed)",
            "Extend or clear the account's expiry date (Clear-ADAccountExpiration), then check again."),
    Refusal("773", "{account} must change its password at next logon, which a service cannot do",
            "Set a password and clear 'User must change password at next logon' "
            "(Set-ADUser -ChangePasswordAtLogon $false), then enter that password here."),
    Refusal("775", "{account} is locked out (too many wrong passwords)",
            "Unlock it (Unlock-ADAccount) and find what still uses an old password before trying again."),
    Refusal("restricted", "{account} is refused by an account restriction (e.g. Protected Users, blank password)",
            "Check the account's restrictions in Active Directory; a service account must not be in "
            "Protected Users and needs a password."),
)}

#: NTSTATUS of an NTLM logon -> AD diagnostic code.
NTSTATUS_CODES: dict[int, str] = {
    0xC0000064: "525",  # STATUS_NO_SUCH_USER
    0xC000006A: "52e",  # STATUS_WRONG_PASSWORD
    0xC000006D: "52e",  # STATUS_LOGON_FAILURE
    0xC000006E: "restricted",  # STATUS_ACCOUNT_RESTRICTION
    0xC000006F: "530",  # STATUS_INVALID_LOGON_HOURS
    0xC0000070: "531",  # STATUS_INVALID_WORKSTATION
    0xC0000071: "532",  # STATUS_PASSWORD_EXPIRED
    0xC0000072: "533",  # STATUS_ACCOUNT_DISABLED
    0xC0000193: "701",  # STATUS_ACCOUNT_EXPIRED
    0xC0000224: "773",  # STATUS_PASSWORD_MUST_CHANGE
    0xC0000234: "775",  # STATUS_ACCOUNT_LOCKED_OUT
}

_DATA_CODE = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)


def refusal_for_ntstatus(status: int) -> Refusal | None:
    code = NTSTATUS_CODES.get(status)
    return REFUSALS[code] if code else None


# --------------------------------------------------------------------------------------------------------------
# Deadline and cancellation: the body runs in a daemon thread; the caller gets an answer by the deadline.

class Deadline:
    """The time left for one check; every network call takes its timeout from here."""

    def __init__(self, seconds: float, cancel: threading.Event | None = None) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.cancel = cancel
        self._closers: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def on_abort(self, closer: Callable[[], object]) -> None:
        """Register how to close something the body opened, so an abandoned body stops blocking on it."""
        with self._lock:
            self._closers.append(closer)

    def abort(self) -> None:
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in closers:
            with contextlib.suppress(Exception):
                closer()

    def left(self, floor: float = 0.05) -> float:
        return max(floor, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end or (self.cancel is not None and self.cancel.is_set())


def run_within(body: Callable[[Deadline], T], deadline_s: float, cancel: threading.Event | None,
               on_timeout: Callable[[], T], on_cancel: Callable[[], T]) -> T:
    """Run ``body`` so that the caller has an answer within ``deadline_s`` (plus a little), or soon after
    ``cancel`` is set. A body still blocked in a network call is abandoned, after closing what it registered
    with ``Deadline.on_abort``."""
    deadline = Deadline(deadline_s, cancel)
    box: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            box.append(body(deadline))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=worker, name=f"check-{uuid.uuid4().hex[:6]}", daemon=True)
    thread.start()
    grace = deadline.end + 0.25
    while thread.is_alive():
        if cancel is not None and cancel.is_set():
            deadline.abort()
            return on_cancel()
        if time.monotonic() >= grace:
            deadline.abort()
            return on_timeout()
        thread.join(0.05)
    if errors:
        raise errors[0]
    return box[0]


# --------------------------------------------------------------------------------------------------------------
# Names and domain controllers.

@dataclass(frozen=True)
class AccountName:
    """The account as typed, split: ``WORK\\svc``, ``svc@work.lab`` or a bare ``svc``."""

    typed: str
    sam: str
    netbios: str | None
    upn_suffix: str | None

    @classmethod
    def parse(cls, typed: str) -> AccountName:
        text = typed.strip()
        if "\\" in text:
            netbios, _, sam = text.partition("\\")
            return cls(text, sam, netbios or None, None)
        if "@" in text:
            sam, _, suffix = text.rpartition("@")
            return cls(text, sam, None, suffix or None)
        return cls(text, text, None, None)

    @property
    def is_gmsa(self) -> bool:
        return self.sam.endswith("$")

    def bind_name(self, dns_domain: str | None) -> str | None:
        """The name a simple bind or NTLM logon accepts."""
        if self.netbios or self.upn_suffix:
            return self.typed
        return f"{self.sam}@{dns_domain}" if dns_domain else None


@dataclass(frozen=True)
class DomainController:
    name: str  # host name (for certificate checks and messages)
    address: str  # where to connect
    found_by: str  # "given" or "DNS SRV ..."

    def describe(self) -> str:
        return self.name if self.name == self.address else f"{self.name} ({self.address})"


class CheckFailure(Exception):
    """A step failed in a way the user must act on; carries the whole result text."""

    def __init__(self, summary: str, detail: str = "", hint: str = "", status: Status = "fail") -> None:
        super().__init__(summary)
        self.summary, self.detail, self.hint, self.status = summary, detail, hint, status


def _nameserver(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if sep and port.isdigit() and host and not host.endswith(":"):
        return host.strip("[]"), int(port)
    return spec.strip("[]"), 53


def find_domain_controllers(dns_domain: str, deadline: Deadline,
                            nameservers: Sequence[str] | None = None) -> list[DomainController]:
    """The DCs the domain's DNS advertises, best first, each resolved to an address."""
    import dns.exception
    import dns.resolver

    record = f"_ldap._tcp.dc._msdcs.{dns_domain}"
    try:
        resolver = dns.resolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration as exc:
        raise CheckFailure("No DNS resolver is configured on this machine", str(exc),
                           "Give the domain controller's name or address instead.") from exc
    if nameservers:
        servers = [_nameserver(s) for s in nameservers]
        resolver.nameservers = [h for h, _ in servers]
        resolver.nameserver_ports = {h: p for h, p in servers}
    where = ", ".join(nameservers) if nameservers else "this machine's DNS servers"
    try:
        answer = resolver.resolve(record, "SRV", lifetime=deadline.left())
    except dns.resolver.NXDOMAIN as exc:
        raise CheckFailure(f"No domain controller found for {dns_domain}: DNS has no {record}",
                           f"asked {where}",
                           "Check the domain name, and that this machine uses the domain's DNS servers; or give the "
                           "domain controller explicitly.") from exc
    except dns.resolver.NoAnswer as exc:
        raise CheckFailure(f"No domain controller found for {dns_domain}: {record} has no SRV record",
                           f"asked {where}", "Give the domain controller explicitly.") from exc
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
        raise CheckFailure(f"DNS did not answer for {record}", f"asked {where}: {exc}",
                           "Check that the DNS servers are reachable, or give the domain controller explicitly.") \
            from exc
    srvs = sorted(answer, key=lambda r: (r.priority, -r.weight))
    found: list[DomainController] = []
    for srv in srvs:
        target = srv.target.to_text().rstrip(".")
        try:
            addresses = [a.to_text() for a in resolver.resolve(target, "A", lifetime=deadline.left())]
        except dns.exception.DNSException:
            try:
                addresses = [str(socket.gethostbyname(target))]
            except OSError:
                continue
        found.extend(DomainController(target, a, f"DNS SRV {record}") for a in addresses[:1])
    if not found:
        raise CheckFailure(f"The domain controllers DNS lists for {dns_domain} have no address",
                           f"SRV targets: {', '.join(s.target.to_text() for s in srvs)}",
                           "Fix the DCs' A records, or give the domain controller explicitly.")
    return found


def given_controller(host: str) -> DomainController:
    return DomainController(host, host, "given")


# --------------------------------------------------------------------------------------------------------------
# LDAP over verified TLS.

class TlsUnavailable(Exception):
    """The DC offers no TLS this machine trusts; the reason is the message."""


class Unreachable(Exception):
    """Nothing answered at the DC's address."""


@dataclass
class Bind:
    ok: bool
    code: str | None  # AD diagnostic code on refusal
    message: str
    transport: str
    conn: Any = None  # an open ldap3 Connection when ok

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.unbind()
            self.conn = None


def _tls_problem(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("certificate", "ssl", "tls", "handshake", "wrong version number", "eof occurred"))


_VERIFY = re.compile(r"certificate verify failed: ([^(\]'\"]+)", re.IGNORECASE)


def _tls_reason(exc: BaseException) -> str:
    match = _VERIFY.search(str(exc))
    return f"certificate not trusted ({match.group(1).strip()})" if match else _short(exc)


def _connect_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("refused", "unreachable", "no route", "timed out", "timeout", "reset by peer",
                                   "name or service not known", "nodename nor servname", "invalid server address"))


def ldap_bind(dc: DomainController, user: str, password: str, deadline: Deadline,
              ca_file: str | None = None) -> Bind:
    """Simple bind over LDAPS, else StartTLS; raises TlsUnavailable or Unreachable when neither works."""
    import ldap3
    from ldap3.core import exceptions as lx

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file, valid_names=[dc.name, dc.address])
    problems: list[str] = []
    reachable = False
    for port, start_tls in ((636, False), (389, True)):
        if deadline.expired:
            break
        server = ldap3.Server(dc.address, port=port, use_ssl=not start_tls, tls=tls, get_info=ldap3.NONE,
                              connect_timeout=deadline.left())
        conn = ldap3.Connection(server, user=user, password=password, authentication=ldap3.SIMPLE,
                                receive_timeout=max(1, int(deadline.left() + 0.999)), raise_exceptions=False,
                                read_only=True)
        transport = f"LDAPS {dc.describe()}:636" if not start_tls else f"LDAP+StartTLS {dc.describe()}:389"
        deadline.on_abort(conn.unbind)
        try:
            conn.open()
            reachable = True
            if start_tls and not conn.start_tls():
                problems.append(f"389: StartTLS refused ({conn.result.get('description', '')})")
                with contextlib.suppress(Exception):
                    conn.unbind()
                continue
            if conn.bind():
                return Bind(True, None, "", transport, conn)
            message = str(conn.result.get("message", "")) or str(conn.result.get("description", ""))
            match = _DATA_CODE.search(message)
            with contextlib.suppress(Exception):
                conn.unbind()
            return Bind(False, match.group(1).lower() if match else None, message, transport)
        except (lx.LDAPSocketOpenError, lx.LDAPSocketReceiveError, lx.LDAPSocketSendError,
                lx.LDAPStartTLSError, lx.LDAPCertificateError, lx.LDAPSessionTerminatedByServerError,
                ssl.SSLError, OSError) as exc:
            with contextlib.suppress(Exception):
                conn.unbind()
            if isinstance(exc, lx.LDAPCertificateError):
                reachable = True
                problems.append(f"{port}: the certificate does not name {dc.name}")
            elif _tls_problem(exc) and not _connect_failure(exc):
                reachable = True
                problems.append(f"{port}: {_tls_reason(exc)}")
            else:
                problems.append(f"{port}: {_short(exc)}")
    if not reachable:
        raise Unreachable("; ".join(problems) or "no time left")
    raise TlsUnavailable("; ".join(problems))


def _short(exc: BaseException | str) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _first(entry: dict[str, list[bytes]], name: str) -> str | None:
    for key, values in entry.items():
        if key.lower() == name.lower() and values:
            value = values[0]
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def _all(entry: dict[str, list[bytes]], name: str) -> list[str]:
    for key, values in entry.items():
        if key.lower() == name.lower():
            return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]
    return []


def lookup_account(conn: Any, sam: str, deadline: Deadline) -> dict[str, list[bytes]] | None:
    """The account's object (raw attributes), or None if the domain has no such sAMAccountName."""
    from ldap3.utils.conv import escape_filter_chars

    with contextlib.suppress(AttributeError, OSError):
        conn.socket.settimeout(deadline.left())  # ldap3 sets its receive timeout only when it opens the socket
    if not conn.search("", "(objectClass=*)", search_scope="BASE", attributes=["defaultNamingContext"]):
        raise CheckFailure("The domain controller did not answer a RootDSE query",
                           str(conn.result.get("description", "")))
    base = _first(conn.response[0]["raw_attributes"], "defaultNamingContext")
    ok = conn.search(base, f"(sAMAccountName={escape_filter_chars(sam)})", search_scope="SUBTREE",
                     attributes=["objectClass", "userAccountControl", "msDS-User-Account-Control-Computed",
                                 "msDS-UserPasswordExpiryTimeComputed", "distinguishedName"], size_limit=2)
    entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
    if not ok and not entries:
        if conn.result.get("result") == 0 or conn.result.get("description") == "success":
            return None
        raise CheckFailure(f"Could not search the domain for {sam}", _short(str(conn.result.get("message", ""))),
                           "The lookup account may lack read rights on the directory.")
    return dict(entries[0]["raw_attributes"]) if entries else None


def _uac(entry: dict[str, list[bytes]]) -> int:
    return int(_first(entry, "userAccountControl") or 0) | int(_first(entry, "msDS-User-Account-Control-Computed")
                                                                or 0)


# --------------------------------------------------------------------------------------------------------------
# NTLM logon over SMB: the password check when LDAP has no trusted TLS.

def smb_logon(address: str, user: str, password: str, deadline: Deadline) -> int | None:
    """None when the logon succeeds, else the NTSTATUS; raises Unreachable when port 445 does not answer."""
    from smbprotocol.connection import Connection
    from smbprotocol.exceptions import SMBAuthenticationError, SMBException, SMBResponseException
    from smbprotocol.session import Session

    connection = Connection(uuid.uuid4(), address, 445, require_signing=True)
    deadline.on_abort(connection.disconnect)
    try:
        connection.connect(timeout=deadline.left())
    except (ValueError, OSError, SMBException) as exc:
        raise Unreachable(f"445: {_short(exc)}") from exc
    try:
        Session(connection, user, password, require_encryption=False, auth_protocol="ntlm").connect()
        return None
    except SMBResponseException as exc:
        return int(exc.status)
    except SMBAuthenticationError as exc:
        raise CheckFailure("NTLM logon could not be attempted", _short(exc)) from exc
    finally:
        with contextlib.suppress(Exception):
            connection.disconnect()


# --------------------------------------------------------------------------------------------------------------
# The check.

def check_ad_account(username: str, password: str | None, *, domain_controller: str | None = None,
                     dns_domain: str | None = None, deadline_s: float = 5.0, ca_file: str | None = None,
                     nameservers: Sequence[str] | None = None, lookup_username: str | None = None,
                     lookup_password: str | None = None, cancel: threading.Event | None = None) -> CheckResult:
    """Check the service account against AD. Returns by ``deadline_s`` (and soon after ``cancel`` is set).

    ``domain_controller``: a DC's name or address; otherwise found through DNS SRV for ``dns_domain`` (or the
    account's UPN suffix), asking ``nameservers`` ("host" or "host:port") or the system's resolver.
    ``ca_file``: a PEM file of CAs that sign the DC's LDAPS certificate, when they are not in the system store.
    ``lookup_username``/``lookup_password``: any domain account that may read the directory (e.g. the
    installing admin): needed for a gMSA, and to tell a missing account from a wrong password."""
    started = time.monotonic()
    account = AccountName.parse(username or "")

    def result(status: Status, summary: str, detail: str = "", hint: str = "") -> CheckResult:
        return CheckResult(CHECK_ID, status, account.typed, summary, detail, hint,
                           int((time.monotonic() - started) * 1000))

    if not account.sam:
        return result("fail", "No service account given", hint="Enter the service account as DOMAIN\\name.")
    if not account.is_gmsa and not password:
        return result("fail", f"No password given for {account.typed}",
                      hint="Enter the service account's password (a gMSA, whose name ends in $, needs none).")
    domain = dns_domain or account.upn_suffix
    if not domain_controller and not domain:
        return result("fail", f"Cannot find a domain controller for {account.typed}",
                      hint="Give the domain's DNS name (e.g. corp.example.com) or a domain controller.")

    def body(deadline: Deadline) -> CheckResult:
        try:
            dcs = ([given_controller(domain_controller)] if domain_controller
                   else find_domain_controllers(domain or "", deadline, nameservers))
            return _check_with(dcs, account, password or "", domain, deadline, ca_file, lookup_username,
                               lookup_password, result)
        except CheckFailure as failure:
            return result(failure.status, failure.summary, failure.detail, failure.hint)
        except Exception as exc:  # a library surprise must read as a result, never as a traceback
            return result("fail", "The Active Directory check failed unexpectedly", f"{type(exc).__name__}: "
                          f"{_short(exc)}", "Run the check again; if it persists, report it with this detail.")

    return run_within(
        body, deadline_s, cancel,
        on_timeout=lambda: result("fail", f"No answer from Active Directory within {deadline_s:g} s",
                                  f"checking {account.typed}",
                                  "Check that this machine reaches the domain controller (LDAP 389/636, SMB 445)."),
        on_cancel=lambda: result("skip", "Check cancelled"))


def _check_with(dcs: list[DomainController], account: AccountName, password: str, domain: str | None,
                deadline: Deadline, ca_file: str | None, lookup_username: str | None, lookup_password: str | None,
                result: Callable[..., CheckResult]) -> CheckResult:
    unreachable: list[str] = []
    for dc in dcs:
        if deadline.expired:
            break
        try:
            if account.is_gmsa:
                return _check_gmsa(dc, account, deadline, ca_file, lookup_username, lookup_password, result)
            return _check_user(dc, account, password, domain, deadline, ca_file, lookup_username,
                               lookup_password, result)
        except Unreachable as exc:
            unreachable.append(f"{dc.describe()}: {exc}")
    return result("fail", f"Domain controller unreachable: {', '.join(dc.describe() for dc in dcs)}",
                  "; ".join(unreachable) or "no time left",
                  "Check the name or address, that the DC is up, and that LDAP (389/636) and SMB (445) are open "
                  "from this machine.")


def _check_user(dc: DomainController, account: AccountName, password: str, domain: str | None,
                deadline: Deadline, ca_file: str | None, lookup_username: str | None, lookup_password: str | None,
                result: Callable[..., CheckResult]) -> CheckResult:
    user = account.bind_name(domain)
    if user is None:
        return result("fail", f"Give {account.typed} with its domain", hint="Write it as DOMAIN\\name.")
    found = f"; DC found by {dc.found_by}" if dc.found_by != "given" else ""
    try:
        bind = ldap_bind(dc, user, password, deadline, ca_file)
    except TlsUnavailable as tls_problem:
        try:
            status = smb_logon(dc.address, user, password, deadline)
        except Unreachable as smb_problem:
            return result("fail", f"Cannot check the password of {account.typed} safely on {dc.describe()}",
                          f"LDAP offers no TLS this machine trusts ({tls_problem}); SMB: {smb_problem}",
                          "Give the CA file that signs the DC's LDAPS certificate, or open SMB (445) to the DC.")
        via = (f"checked with an NTLM logon over SMB to {dc.describe()}{found}, because LDAP offered no trusted "
               f"TLS ({tls_problem})")
        if status is None:
            return result("pass", f"{account.typed} logs on: enabled, not locked, password valid", via,
                          "" if ca_file else "To also check password expiry over LDAPS, give the CA file that "
                          "signs the DC's certificate.")
        refusal = refusal_for_ntstatus(status)
        if refusal is None:
            return result("fail", f"{account.typed} was refused (NTSTATUS 0x{status:08X})", via,
                          "Look the status up in Microsoft's NTSTATUS list; the DC's security log has the details.")
        return _refused(refusal, account, f"{via}; NTSTATUS 0x{status:08X}", dc, deadline, ca_file,
                        lookup_username, lookup_password, result)
    if bind.ok:
        try:
            return _after_bind(bind, account, found, deadline, result)
        finally:
            bind.close()
    detail = f"{bind.transport}: {bind.message}"
    refusal = REFUSALS.get(bind.code or "")
    if refusal is None:
        return result("fail", f"{account.typed} was refused by the domain controller", detail,
                      "Check the user name and password; the DC's security log says why it refused.")
    return _refused(refusal, account, detail, dc, deadline, ca_file, lookup_username, lookup_password, result)


def _refused(refusal: Refusal, account: AccountName, detail: str, dc: DomainController, deadline: Deadline,
             ca_file: str | None, lookup_username: str | None, lookup_password: str | None,
             result: Callable[..., CheckResult]) -> CheckResult:
    if refusal.code == "52e" and lookup_username and lookup_password:
        # AD says the same for "no such user" and "wrong password"; a directory lookup tells them apart.
        with contextlib.suppress(CheckFailure, TlsUnavailable, Unreachable):
            entry = _lookup(dc, account.sam, deadline, ca_file, lookup_username, lookup_password)
            if entry is None:
                missing = REFUSALS["525"]
                return result("fail", missing.summary.format(account=account.typed),
                              f"{detail}; no sAMAccountName {account.sam} in the directory", missing.hint)
            return result("fail", f"Wrong password for {account.typed}", f"{detail}; the account exists",
                          "Check the password. Every wrong try counts towards the account's lockout.")
    return result("fail", refusal.summary.format(account=account.typed), detail, refusal.hint)


def _lookup(dc: DomainController, sam: str, deadline: Deadline, ca_file: str | None, lookup_username: str,
            lookup_password: str) -> dict[str, list[bytes]] | None:
    bind = ldap_bind(dc, lookup_username, lookup_password, deadline, ca_file)
    if not bind.ok:
        raise CheckFailure(f"The lookup account {lookup_username} could not log on to the domain controller",
                           f"{bind.transport}: {bind.message}",
                           "Check the lookup (admin) credentials.")
    try:
        return lookup_account(bind.conn, sam, deadline)
    finally:
        bind.close()


def _after_bind(bind: Bind, account: AccountName, found: str, deadline: Deadline,
                result: Callable[..., CheckResult]) -> CheckResult:
    """The password is right; read the account's own object for what will fail later (expiry soon)."""
    detail = f"bound as {account.typed} over {bind.transport}{found}"
    try:
        entry = lookup_account(bind.conn, account.sam, deadline)
    except CheckFailure:
        entry = None
    if entry is None:
        return result("pass", f"{account.typed} logs on: enabled, not locked, password valid", detail)
    uac = _uac(entry)
    if uac & UF_DONT_EXPIRE_PASSWD:
        return result("pass", f"{account.typed} logs on: enabled, not locked, password valid and never expires",
                      detail)
    expiry = int(_first(entry, "msDS-UserPasswordExpiryTimeComputed") or NEVER)
    if 0 < expiry < NEVER:
        days = (expiry - FILETIME_EPOCH) / 10**7 / 86400 - time.time() / 86400
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime((expiry - FILETIME_EPOCH) / 10**7))
        if days < EXPIRY_WARNING_DAYS:
            return result("warn", f"The password of {account.typed} expires in {max(days, 0):.1f} days ({when})",
                          detail,
                          "Change it before then (and in Octopus's service), or set 'password never expires' "
                          "for the service account; an expired password stops Octopus at its next restart.")
        detail += f"; password expires {when}"
    return result("pass", f"{account.typed} logs on: enabled, not locked, password valid", detail)


def _check_gmsa(dc: DomainController, account: AccountName, deadline: Deadline, ca_file: str | None,
                lookup_username: str | None, lookup_password: str | None,
                result: Callable[..., CheckResult]) -> CheckResult:
    if not (lookup_username and lookup_password):
        return result("warn", f"{account.typed} looks like a gMSA, but it was not looked up",
                      "a gMSA has no password to try; finding it needs a domain account that may read the directory",
                      "Give lookup credentials (e.g. the installing admin) to verify the gMSA.")
    try:
        entry = _lookup(dc, account.sam, deadline, ca_file, lookup_username, lookup_password)
    except TlsUnavailable as exc:
        return result("warn", f"{account.typed} could not be looked up: no trusted TLS to the domain controller",
                      str(exc), "Give the CA file that signs the DC's LDAPS certificate.")
    where = f"looked up on {dc.describe()}"
    if entry is None:
        return result("fail", f"The gMSA {account.typed} does not exist in the domain", where,
                      "Create it (New-ADServiceAccount -Name ... -PrincipalsAllowedToRetrieveManagedPassword "
                      "<the Octopus nodes>), or check the spelling.")
    classes = [c.lower() for c in _all(entry, "objectClass")]
    if "msds-groupmanagedserviceaccount" not in classes:
        kind = ("a standalone managed service account (one computer only)" if "msds-managedserviceaccount" in classes
                else "a computer account" if "computer" in classes else "not a service account")
        return result("fail", f"{account.typed} is {kind}, not a group managed service account", where,
                      "Octopus HA runs on several nodes: use a gMSA or a user account.")
    if _uac(entry) & UF_ACCOUNTDISABLE:
        return result("fail", f"The gMSA {account.typed} is disabled", where,
                      "Enable it (Enable-ADAccount), then check again.")
    return result("pass", f"{account.typed} is an enabled group managed service account", where
                  + "; each node must be allowed to retrieve its password and have run Install-ADServiceAccount")
