"""The credential store pyspnego's NTLM acceptor checks logons against, derived from the lab's directory.

pyspnego reads ``NTLM_USER_FILE`` from the environment at each handshake, so the store is process-wide:
one file serves every WinRM endpoint and the TDS front of a lab.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from octotui.lab.private import write_private
from octotui.lab.state import World


def user_lines(world: World) -> list[str]:
    """``DOMAIN:user:pw``, ``dns.domain:user:pw`` and ``:user:pw`` for every account, so that ``WORK\\user``,
    ``user@work.lab`` and a bare ``user`` all authenticate (the acceptor matches domain and user exactly)."""
    d = world.directory
    lines: list[str] = []
    with world.lock:
        for acct in d.accounts.values():
            lines += [f"{d.domain}:{acct.sam}:{acct.password}", f"{d.dns_name}:{acct.sam}:{acct.password}",
                      f":{acct.sam}:{acct.password}"]
    return lines


def write_user_file(world: World, path: Path | None = None) -> str:
    """Write the store (0600: it holds the lab's passwords) and point pyspnego at it; return its path."""
    target = path or Path(tempfile.mkdtemp(prefix="octotui-ntlm-")) / "ntlm_users"
    write_private(target, "\n".join(user_lines(world)) + "\n")
    os.environ["NTLM_USER_FILE"] = str(target)
    return str(target)


def ensure_user_file(world: World, path: str | None = None) -> None:
    """Use the given store, else keep one already set, else derive one from the directory."""
    if path:
        os.environ["NTLM_USER_FILE"] = path
    elif not os.environ.get("NTLM_USER_FILE"):
        write_user_file(world)
