"""Why Active Directory refused a logon, in words, with what to do: one table for the diagnostic ``data <code>``
of a refused LDAP simple bind (52e wrong password, 533 disabled, 775 locked, 532 password expired, 773 must
change, 701 account expired ...) and the NTSTATUS of a refused NTLM logon, which say the same things.

Why apart from ``ad.account``: ``share.write`` logs on to the file server as the service account and meets
the same refusals; both checks must word them alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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

#: The diagnostic code in a refused LDAP bind's message (``... data 52e, v4563``).
DATA_CODE = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)


def refusal_for_ntstatus(status: int) -> Refusal | None:
    code = NTSTATUS_CODES.get(status)
    return REFUSALS[code] if code else None
