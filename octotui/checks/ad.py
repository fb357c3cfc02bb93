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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from octotui.checks.ad_directory import (
    Bind,
    DomainController,
    TlsUnavailable,
    Unreachable,
    account_control,
    all_values,
    find_domain_controllers,
    first_value,
    given_controller,
    ldap_bind,
    lookup_account,
    short,
    smb_logon,
)
from octotui.checks.deadline import DEFAULT_DEADLINE_S, Deadline, run_within
from octotui.checks.refusals import REFUSALS, Refusal, refusal_for_ntstatus
from octotui.checks.result import CheckFailure, CheckResult, Status
from octotui.spec.parsers.accounts import Account, as_account
from octotui.spec.parsers.errors import ParseError

CHECK_ID = "ad.account"
EXPIRY_WARNING_DAYS = 14

# userAccountControl bits (MS-ADTS 2.2.16) used here.
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_PASSWORD_EXPIRED = 0x800000
NEVER = 0x7FFF_FFFF_FFFF_FFFF
FILETIME_EPOCH = 116_444_736_000_000_000  # 1970-01-01 in 100 ns units since 1601


@dataclass(frozen=True)
class AccountName:
    """The account as the directory is asked about it: ``WORK\\svc``, ``svc@work.lab`` or a bare ``svc``,
    split by the one account parser (``octotui.spec.parsers.accounts``)."""

    typed: str
    sam: str
    netbios: str | None
    upn_suffix: str | None

    @classmethod
    def parse(cls, typed: Account | str) -> AccountName:
        """The spec's account, or a name as typed; raises ``ParseError`` for text that is no account name."""
        account = as_account(typed)
        return cls(str(account), account.name, account.netbios_domain, account.upn_suffix)

    @property
    def is_gmsa(self) -> bool:
        return self.sam.endswith("$")

    def bind_name(self, dns_domain: str | None) -> str | None:
        """The name a simple bind or NTLM logon accepts."""
        if self.netbios or self.upn_suffix:
            return self.typed
        return f"{self.sam}@{dns_domain}" if dns_domain else None


# --- the check ------------------------------------------------------------------------------------------

def check_ad_account(username: Account | str, password: str | None, *, domain_controller: str | None = None,
                     dns_domain: str | None = None, deadline_s: float = DEFAULT_DEADLINE_S, ca_file: str | None = None,
                     nameservers: Sequence[str] | None = None, lookup_username: Account | str | None = None,
                     lookup_password: str | None = None, cancel: threading.Event | None = None) -> CheckResult:
    """Check the service account against AD. Returns by ``deadline_s`` (and soon after ``cancel`` is set).

    ``domain_controller``: a DC's name or address; otherwise found through DNS SRV for ``dns_domain`` (or the
    account's UPN suffix), asking ``nameservers`` ("host" or "host:port") or the system's resolver.
    ``ca_file``: a PEM file of CAs that sign the DC's LDAPS certificate, when they are not in the system store.
    ``lookup_username``/``lookup_password``: any domain account that may read the directory (e.g. the
    installing admin): needed for a gMSA, and to tell a missing account from a wrong password."""
    started = time.monotonic()
    text = str(username or "").strip()
    try:
        account = AccountName.parse(username) if text else AccountName("", "", None, None)
    except ParseError as exc:
        return CheckResult(CHECK_ID, "fail", text, f"Not an account name: {exc.message}", "", exc.fix,
                           int((time.monotonic() - started) * 1000))

    def result(status: Status, summary: str, detail: str = "", hint: str = "") -> CheckResult:
        return CheckResult(CHECK_ID, status, account.typed, summary, detail, hint,
                           int((time.monotonic() - started) * 1000))

    if not account.sam:
        return result("fail", "No service account given", hint="Enter the service account as DOMAIN\\name.")
    if not account.is_gmsa and not password:
        return result("fail", f"No password given for {account.typed}",
                      hint="Enter the service account's password (a gMSA, whose name ends in $, needs none).")
    domain = dns_domain or account.upn_suffix
    lookup_user = str(lookup_username) if lookup_username else None
    if not domain_controller and not domain:
        return result("fail", f"Cannot find a domain controller for {account.typed}",
                      hint="Give the domain's DNS name (e.g. corp.example.com) or a domain controller.")

    def body(deadline: Deadline) -> CheckResult:
        try:
            dcs = ([given_controller(domain_controller)] if domain_controller
                   else find_domain_controllers(domain or "", deadline, nameservers))
            return _check_with(dcs, account, password or "", domain, deadline, ca_file, lookup_user,
                               lookup_password, result)
        except CheckFailure as failure:
            return result(failure.status, failure.summary, failure.detail, failure.hint)
        except Exception as exc:  # a library surprise must read as a result, never as a traceback
            return result("fail", "The Active Directory check failed unexpectedly", f"{type(exc).__name__}: "
                          f"{short(exc)}", "Run the check again; if it persists, report it with this detail.")

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
    uac = account_control(entry)
    if uac & UF_DONT_EXPIRE_PASSWD:
        return result("pass", f"{account.typed} logs on: enabled, not locked, password valid and never expires",
                      detail)
    expiry = int(first_value(entry, "msDS-UserPasswordExpiryTimeComputed") or NEVER)
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
    classes = [c.lower() for c in all_values(entry, "objectClass")]
    if "msds-groupmanagedserviceaccount" not in classes:
        kind = ("a standalone managed service account (one computer only)" if "msds-managedserviceaccount" in classes
                else "a computer account" if "computer" in classes else "not a service account")
        return result("fail", f"{account.typed} is {kind}, not a group managed service account", where,
                      "Octopus HA runs on several nodes: use a gMSA or a user account.")
    if account_control(entry) & UF_ACCOUNTDISABLE:
        return result("fail", f"The gMSA {account.typed} is disabled", where,
                      "Enable it (Enable-ADAccount), then check again.")
    return result("pass", f"{account.typed} is an enabled group managed service account", where
                  + "; each node must be allowed to retrieve its password and have run Install-ADServiceAccount")
