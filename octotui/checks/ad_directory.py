"""Reaching Active Directory for ``ad.account``: the domain controllers (given, or found by DNS SRV), an LDAP
simple bind over verified TLS (LDAPS, else StartTLS), a look at an account's own object, and an NTLM logon
over SMB for when the DC offers no TLS this machine trusts.

Why apart from the check: this is transport, with its own failure modes (no resolver, no SRV record, a
certificate that does not name the DC, a port that does not answer); ``ad.py`` turns what comes back into a
verdict. Every call takes its timeout from the check's ``Deadline`` and registers what it opens, so an
abandoned check stops blocking on it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from octotui.checks.deadline import Deadline
from octotui.checks.refusals import DATA_CODE
from octotui.checks.result import CheckFailure

# --- domain controllers ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DomainController:
    name: str  # host name (for certificate checks and messages)
    address: str  # where to connect
    found_by: str  # "given" or "DNS SRV ..."

    def describe(self) -> str:
        return self.name if self.name == self.address else f"{self.name} ({self.address})"


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


# --- LDAP over verified TLS -----------------------------------------------------------------------------

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
    return f"certificate not trusted ({match.group(1).strip()})" if match else short(exc)


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
            match = DATA_CODE.search(message)
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
                problems.append(f"{port}: {short(exc)}")
    if not reachable:
        raise Unreachable("; ".join(problems) or "no time left")
    raise TlsUnavailable("; ".join(problems))


def short(exc: BaseException | str) -> str:
    """A library's error message cut to a length a check result can show."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def first_value(entry: dict[str, list[bytes]], name: str) -> str | None:
    """The first value of attribute ``name`` (any case) in a raw LDAP entry, as text."""
    for key, values in entry.items():
        if key.lower() == name.lower() and values:
            value = values[0]
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def all_values(entry: dict[str, list[bytes]], name: str) -> list[str]:
    """Every value of attribute ``name`` (any case) in a raw LDAP entry, as text."""
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
    base = first_value(conn.response[0]["raw_attributes"], "defaultNamingContext")
    ok = conn.search(base, f"(sAMAccountName={escape_filter_chars(sam)})", search_scope="SUBTREE",
                     attributes=["objectClass", "userAccountControl", "msDS-User-Account-Control-Computed",
                                 "msDS-UserPasswordExpiryTimeComputed", "distinguishedName"], size_limit=2)
    entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
    if not ok and not entries:
        if conn.result.get("result") == 0 or conn.result.get("description") == "success":
            return None
        raise CheckFailure(f"Could not search the domain for {sam}", short(str(conn.result.get("message", ""))),
                           "The lookup account may lack read rights on the directory.")
    return dict(entries[0]["raw_attributes"]) if entries else None


def account_control(entry: dict[str, list[bytes]]) -> int:
    """The account's userAccountControl bits, with the ones AD computes (locked out, password expired)."""
    return (int(first_value(entry, "userAccountControl") or 0)
            | int(first_value(entry, "msDS-User-Account-Control-Computed") or 0))


# --- NTLM logon over SMB: the password check when LDAP has no trusted TLS ------------------------------

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
        raise Unreachable(f"445: {short(exc)}") from exc
    try:
        Session(connection, user, password, require_encryption=False, auth_protocol="ntlm").connect()
        return None
    except SMBResponseException as exc:
        return int(exc.status)
    except SMBAuthenticationError as exc:
        raise CheckFailure("NTLM logon could not be attempted", short(exc)) from exc
    finally:
        with contextlib.suppress(Exception):
            connection.disconnect()
