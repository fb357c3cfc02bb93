"""``ad.account`` against a real Samba AD DC: every pass and each distinct refusal, over LDAPS and over the
NTLM-over-SMB fallback, plus DC discovery through DNS SRV, gMSAs, deadlines and cancellation."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from octotui.checks.ad import check_ad_account
from tests.realservices.samba_dc import SambaDC

# account -> (status, words the summary must contain, words the hint must contain)
REFUSED = {
    "svcDisabled": ("is disabled", "Enable-ADAccount"),
    "svcLocked": ("locked out", "Unlock-ADAccount"),
    "svcExpired": ("password of WORK\\svcExpired has expired", "Set-ADAccountPassword"),
    "svcMustChange": ("must change its password at next logon", "ChangePasswordAtLogon"),
    "svcAcctExpired": ("account WORK\\svcAcctExpired has expired", "Clear-ADAccountExpiration"),
}
TRANSPORTS = ["ldaps", "smb"]
# ldap3 2.9 still calls ssl.match_hostname (deprecated; it has its own fallback where Python lacks it).
pytestmark = pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")


def _kw(dc: SambaDC, transport: str) -> dict[str, Any]:
    """LDAPS needs the DC's CA; without it the check must fall back to an NTLM logon over SMB."""
    kw: dict[str, Any] = {"domain_controller": dc.address}
    if transport == "ldaps":
        kw["ca_file"] = str(dc.ca_file)
    return kw


def _lookup(dc: SambaDC) -> dict[str, Any]:
    admin = dc.account("labadmin")
    return {"lookup_username": admin.qualified, "lookup_password": admin.password}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_service_account_passes(samba_dc: SambaDC, transport: str) -> None:
    svc = samba_dc.account("svcOctopus")
    result = check_ad_account(svc.qualified, svc.password, **_kw(samba_dc, transport))
    assert result.status == "pass", result
    assert result.id == "ad.account" and result.target == "WORK\\svcOctopus"
    assert "enabled, not locked, password valid" in result.summary
    assert ("LDAPS" in result.detail) == (transport == "ldaps")
    assert ("NTLM logon over SMB" in result.detail) == (transport == "smb")
    assert svc.password not in repr(result)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_account_state_has_its_own_message(samba_dc: SambaDC, name: str, transport: str) -> None:
    account = samba_dc.account(name)
    result = check_ad_account(account.qualified, account.password, **_kw(samba_dc, transport))
    summary_words, hint_words = REFUSED[name]
    assert result.status == "fail", result
    assert summary_words in result.summary
    assert hint_words in result.hint
    assert account.password not in repr(result)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_password(samba_dc: SambaDC, transport: str) -> None:
    result = check_ad_account("WORK\\svcOctopus", "Not-the-password-9", **_kw(samba_dc, transport))
    assert result.status == "fail"
    assert result.summary == "Wrong password for WORK\\svcOctopus (or no such account)"
    assert "lockout" in result.hint
    assert "Not-the-password-9" not in repr(result)


def test_lookup_tells_missing_account_from_wrong_password(samba_dc: SambaDC) -> None:
    kw = {**_kw(samba_dc, "ldaps"), **_lookup(samba_dc)}
    wrong = check_ad_account("WORK\\svcOctopus", "Not-the-password-9", **kw)
    assert (wrong.status, wrong.summary) == ("fail", "Wrong password for WORK\\svcOctopus")
    missing = check_ad_account("WORK\\svcNobody", "Whatever-1", **kw)
    assert (missing.status, missing.summary) == ("fail", "WORK\\svcNobody does not exist in the domain")
    assert "create the account" in missing.hint


def test_password_expiring_soon_warns(samba_dc: SambaDC) -> None:
    soon = samba_dc.account("svcSoon")
    result = check_ad_account(soon.qualified, soon.password, **_kw(samba_dc, "ldaps"))
    assert result.status == "warn", result
    assert "expires in" in result.summary and "never expires" in result.hint


def test_upn_and_dc_found_through_dns_srv(samba_dc: SambaDC) -> None:
    svc = samba_dc.account("svcOctopus")
    result = check_ad_account(svc.upn, svc.password, ca_file=str(samba_dc.ca_file),
                              nameservers=[samba_dc.nameserver])
    assert result.status == "pass", result
    assert "_ldap._tcp.dc._msdcs.work.lab" in result.detail and samba_dc.host_fqdn in result.detail


def test_bare_name_takes_the_dns_domain(samba_dc: SambaDC) -> None:
    svc = samba_dc.account("svcOctopus")
    result = check_ad_account("svcOctopus", svc.password, dns_domain=samba_dc.dns_domain,
                              ca_file=str(samba_dc.ca_file), nameservers=[samba_dc.nameserver])
    assert result.status == "pass", result


def test_unknown_domain_has_no_dc(samba_dc: SambaDC) -> None:
    result = check_ad_account("svc@elsewhere.lab", "x-Password-1", nameservers=[samba_dc.nameserver])
    assert result.status == "fail"
    assert "No domain controller found for elsewhere.lab" in result.summary
    assert "give the domain controller explicitly" in result.hint


def test_gmsa_is_recognised(samba_dc: SambaDC) -> None:
    result = check_ad_account(f"WORK\\{samba_dc.gmsa}", None, **_kw(samba_dc, "ldaps"), **_lookup(samba_dc))
    assert result.status == "pass", result
    assert "group managed service account" in result.summary


def test_gmsa_without_lookup_credentials_warns(samba_dc: SambaDC) -> None:
    result = check_ad_account(f"WORK\\{samba_dc.gmsa}", None, **_kw(samba_dc, "ldaps"))
    assert result.status == "warn" and "lookup credentials" in result.hint


def test_dollar_names_that_are_no_gmsa(samba_dc: SambaDC) -> None:
    kw = {**_kw(samba_dc, "ldaps"), **_lookup(samba_dc)}
    computer = check_ad_account("WORK\\DC1$", None, **kw)
    assert computer.status == "fail" and "is a computer account, not a group managed" in computer.summary
    missing = check_ad_account("WORK\\svcNoSuch$", None, **kw)
    assert missing.status == "fail" and "does not exist" in missing.summary


def test_input_problems_are_named(samba_dc: SambaDC) -> None:
    assert "No password given" in check_ad_account("WORK\\svcOctopus", "", domain_controller=samba_dc.address).summary
    assert "No service account given" in check_ad_account("", "x").summary
    assert "Cannot find a domain controller" in check_ad_account("WORK\\svcOctopus", "x").summary


def test_unreachable_dc(samba_dc: SambaDC) -> None:
    result = check_ad_account("WORK\\svcOctopus", "x-Password-1", domain_controller="127.0.0.3",
                              ca_file=str(samba_dc.ca_file))
    assert result.status == "fail" and "Domain controller unreachable: 127.0.0.3" in result.summary
    assert "389/636" in result.hint


@pytest.fixture
def silent_udp() -> Iterator[str]:
    """A DNS server that never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"


def test_silent_dns_fails_within_the_deadline(silent_udp: str) -> None:
    began = time.monotonic()
    result = check_ad_account("svc@work.lab", "x-Password-1", nameservers=[silent_udp], deadline_s=1)
    assert result.status == "fail" and "DNS did not answer" in result.summary
    assert time.monotonic() - began < 4  # the deadline is the contract (generous margin for a busy box)


def test_cancel_returns_promptly(silent_udp: str) -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    began = time.monotonic()
    result = check_ad_account("svc@work.lab", "x-Password-1", nameservers=[silent_udp], deadline_s=30,
                              cancel=cancel)
    assert result.status == "skip" and "cancelled" in result.summary
    assert time.monotonic() - began < 10
