"""Windows account names: ``DOMAIN\\user`` (down-level logon name), ``user@domain.tld`` (UPN), a gMSA
``DOMAIN\\name$``, and for WinRM also a local ``user`` or ``.\\user``.

Why parse: the account is passed to ``Octopus.Server.exe service --username``, used for SQL logins and
share rights, and sent in NTLM/Kerberos handshakes. A 21-character sAMAccountName, a ``[`` in a name, a
UPN written with a backslash, or ``NT AUTHORITY\\NETWORK SERVICE`` as the cluster's service account all
fail on the node, long after the answers were written. Rules: Microsoft's "Naming conventions in Active
Directory" (sAMAccountName at most 20 characters, none of ``" / \\ [ ] : ; | = , + * ? < > @``, not only
dots and spaces; NetBIOS domain names at most 15 characters); a gMSA's sAMAccountName is at most 15
characters plus the ``$``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.hostnames import parse_dns_name
from octotui.textsafe import shown

AccountForm = Literal["downlevel", "upn", "local"]

SAM_MAX = 20
GMSA_MAX = 15
NETBIOS_DOMAIN_MAX = 15
_SAM_ILLEGAL = frozenset('"/\\[]:;|=,+*?<>@')
_NETBIOS_DOMAIN_ILLEGAL = frozenset('\\/:*?"<>|,~')
_BUILTIN_DOMAINS = frozenset({"NT AUTHORITY", "BUILTIN", "NT SERVICE", "IIS APPPOOL", "NT VIRTUAL MACHINE",
                              "WINDOW MANAGER", "FONT DRIVER HOST"})


@dataclass(frozen=True)
class Account:
    """``domain`` is the NetBIOS or DNS domain of a down-level name, the DNS suffix of a UPN, ``"."`` for a
    local account written ``.\\user`` (this computer, as Windows writes it), or None for a bare local name;
    ``name`` is the sAMAccountName (or UPN prefix), with the ``$`` of a gMSA.

    ``str()`` is the one text of the account everywhere it goes (command lines, WinRM and NTLM logons,
    keyring entries, messages): the form it was written in, with a DNS domain's trailing dot dropped."""

    form: AccountForm
    name: str
    domain: str | None

    @property
    def is_gmsa(self) -> bool:
        return self.name.endswith("$")

    @property
    def is_domain_account(self) -> bool:
        return self.form != "local"

    @property
    def netbios_domain(self) -> str | None:
        """The domain before the backslash of a down-level name (``CORP`` or ``corp.example.com``)."""
        return self.domain if self.form == "downlevel" else None

    @property
    def upn_suffix(self) -> str | None:
        """The DNS domain after the ``@`` of a user principal name."""
        return self.domain if self.form == "upn" else None

    @property
    def key(self) -> str:
        """Windows compares account names case-insensitively."""
        return str(self).lower()

    def __str__(self) -> str:
        if self.form == "upn":
            return f"{self.name}@{self.domain}"
        if self.form == "local" and not self.domain:
            return self.name
        return f"{self.domain}\\{self.name}"


def _check_sam(name: str, whole: str) -> None:
    if not name:
        raise ParseError(f"'{shown(whole)}' has no user name", "write it as DOMAIN\\user or user@domain.tld")
    bad = sorted({c for c in name if c in _SAM_ILLEGAL or ord(c) < 32})
    if bad:
        chars = shown(" ".join(repr(c) if ord(c) >= 32 else f"U+{ord(c):04X}" for c in bad))
        raise ParseError(f"'{shown(whole)}': the user name '{shown(name)}' contains {chars}, which Active Directory "
                         "does not allow in an account name", 'remove " / \\ [ ] : ; | = , + * ? < > @')
    if name != name.strip():
        raise ParseError(f"'{shown(whole)}': the user name has leading or trailing spaces", "remove the spaces")
    if set(name) <= {".", " "}:
        raise ParseError(f"'{shown(whole)}': a user name cannot be only dots and spaces", "give the real account name")
    if name.endswith("."):
        raise ParseError(f"'{shown(whole)}': a user name cannot end with a dot", "remove the trailing dot")
    if name.endswith("$"):
        if len(name) - 1 > GMSA_MAX:
            raise ParseError(f"'{shown(whole)}': a managed service account name has at most {GMSA_MAX} characters "
                             f"before the '$' (this one has {len(name) - 1})", "use the account's real "
                             "sAMAccountName, as Get-ADServiceAccount shows it")
    elif len(name) > SAM_MAX:
        raise ParseError(f"'{shown(whole)}': the user name is {len(name)} characters long; a sAMAccountName has "
                         f"at most {SAM_MAX}", "use the pre-Windows 2000 logon name (sAMAccountName), or the UPN "
                         "user@domain.tld")


def _check_domain(domain: str, whole: str) -> str:
    if not domain:
        raise ParseError(f"'{shown(whole)}' has an empty domain before the backslash", "write it as DOMAIN\\user")
    if domain.upper() in _BUILTIN_DOMAINS:
        raise ParseError(f"'{shown(whole)}' is a built-in Windows account; it cannot sign in to SQL Server or the "
                         "share as itself from every node", "use a domain account or a gMSA (DOMAIN\\name$)")
    if "." in domain:
        try:
            return parse_dns_name(domain)
        except ParseError as exc:
            raise ParseError(f"'{shown(whole)}': the domain '{shown(domain)}' is not a valid DNS name: {exc.message}",
                             exc.fix) from None
    bad = sorted({c for c in domain if c in _NETBIOS_DOMAIN_ILLEGAL or ord(c) < 32 or c.isspace()})
    if bad:
        raise ParseError(f"'{shown(whole)}': the domain '{shown(domain)}' contains "
                         f"{shown(' '.join(repr(c) for c in bad))}",
                         "write the domain's NetBIOS name, e.g. CORP\\user")
    if len(domain) > NETBIOS_DOMAIN_MAX:
        raise ParseError(f"'{shown(whole)}': the NetBIOS domain name '{shown(domain)}' is longer than "
                         f"{NETBIOS_DOMAIN_MAX} characters",
                         "write the domain's NetBIOS name (as 'echo %USERDOMAIN%' shows it) or use user@dns.domain")
    return domain


def parse_account(text: str, *, allow_local: bool = False, allow_builtin: bool = False) -> Account:
    """Parse ``DOMAIN\\user``, ``user@domain.tld`` or (with ``allow_local``) ``user`` / ``.\\user``.

    ``allow_builtin`` reads an account Windows reports (``NT AUTHORITY\\NETWORK SERVICE`` as a service's
    account): never one an answers file may name, but one a node's state may hold."""
    if not isinstance(text, str) or not text:
        raise ParseError("the account name is empty", "write it as DOMAIN\\user")
    if text != text.strip():
        raise ParseError(f"'{shown(text)}' has leading or trailing spaces", "remove the spaces")
    if "/" in text and "\\" not in text and "@" not in text:
        raise ParseError(f"'{shown(text)}' uses a forward slash",
                         f"write it with a backslash: {shown(text.replace('/', chr(92)))}")
    if text.count("\\") > 1:
        raise ParseError(f"'{shown(text)}' has more than one backslash",
                         "write it as DOMAIN\\user (one backslash; in TOML write it as 'DOMAIN\\user' in single "
                         "quotes or \"DOMAIN\\\\user\")")
    if "\\" in text:
        if "@" in text:
            raise ParseError(f"'{shown(text)}' mixes DOMAIN\\user and user@domain", "write one form or the other")
        domain, name = text.split("\\", 1)
        if domain == ".":
            if not allow_local:
                raise ParseError(f"'{shown(text)}' is a local account; a domain account is needed here",
                                 "write it as DOMAIN\\user or user@domain.tld")
            _check_sam(name, text)
            return Account("local", name, ".")
        if domain.upper() in _BUILTIN_DOMAINS:
            if allow_builtin:
                _check_sam(name, text)
                return Account("downlevel", name, domain)
            _check_domain(domain, text)
        _check_sam(name, text)
        return Account("downlevel", name, _check_domain(domain, text))
    if "@" in text:
        name, _, domain = text.rpartition("@")
        if not name:
            raise ParseError(f"'{shown(text)}' has no user name before '@'", "write it as user@domain.tld")
        if "@" in name:
            raise ParseError(f"'{shown(text)}' has more than one '@'", "write it as user@domain.tld")
        try:
            dns = parse_dns_name(domain)
        except ParseError as exc:
            raise ParseError(f"'{shown(text)}': the part after '@' is not a DNS domain: {exc.message}",
                             exc.fix) from None
        if "." not in dns:
            raise ParseError(f"'{shown(text)}': a user principal name ends in a DNS domain with a dot",
                             "write it as user@corp.example.com, or as DOMAIN\\user")
        if name.endswith("$"):
            raise ParseError(f"'{shown(text)}' looks like a managed service account in UPN form",
                             "write a gMSA as DOMAIN\\name$")
        _check_upn_prefix(name, text)
        return Account("upn", name, dns)
    if not allow_local:
        raise ParseError(f"'{shown(text)}' has no domain",
                         f"write it as DOMAIN\\{shown(text)} or {shown(text)}@domain.tld")
    _check_sam(text, text)
    return Account("local", text, None)


def _check_upn_prefix(name: str, whole: str) -> None:
    """A UPN prefix is not limited to 20 characters, but the same forbidden characters apply."""
    bad = sorted({c for c in name if c in _SAM_ILLEGAL or ord(c) < 32 or c.isspace()})
    if bad:
        raise ParseError(f"'{shown(whole)}': the user part '{shown(name)}' contains "
                         f"{shown(' '.join(repr(c) for c in bad))}",
                         "check the account's user principal name in Active Directory")
    if len(name) > 64:
        raise ParseError(f"'{shown(whole)}': the user part is longer than 64 characters", "check the account's UPN")


def parse_domain_account(text: str) -> Account:
    """A domain account (user or gMSA): what the Octopus service and the first administrator need."""
    return parse_account(text, allow_local=False)


def as_account(value: Account | str, *, allow_local: bool = True) -> Account:
    """``value`` as it is when already parsed (a spec's field), else parsed by ``parse_account``: for engine
    functions that the CLI calls with the spec's account and the wizard with the text as typed."""
    return value if isinstance(value, Account) else parse_account(value.strip(), allow_local=allow_local)
