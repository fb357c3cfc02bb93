"""The questions the ``octotui`` command asks at a terminal: a secret, where to keep the master key, its
passphrase, and whether to start. The engine takes them as callables and never asks by itself."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from octotui.cli.output import err

if TYPE_CHECKING:
    from octotui.secrets.master_key import MasterKeyStore
    from octotui.secrets.store import KeyringStatus


def ask_secret(label: str) -> str:
    """A secret typed without echo ("" when none is typed); asked only where stdin is a terminal."""
    return getpass.getpass(f"{label}: ")


def confirm(question: str) -> bool:
    """A yes/no question; anything but y or yes is no."""
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def master_key_store_question(first: str) -> Callable[[KeyringStatus, Path], MasterKeyStore | None]:
    """Where to keep the master key ``first`` (the first node) creates, when no keyring works here."""
    def ask(status: KeyringStatus, path: Path) -> MasterKeyStore | None:
        print(f"No keyring works here ({status.summary}{': ' + status.detail if status.detail else ''}).\n"
              f"The master key {first} creates is the one secret whose loss cannot be undone. Keep it:\n"
              f"  [f] in an encrypted file, protected by a passphrase ({path})\n"
              f"  [n] nowhere: octotui shows how to read it from {first}, and you record it yourself\n"
              "  [q] do not start", file=sys.stderr)
        while True:
            try:
                answer = input("Where? [f/n/q] ").strip().lower()
            except EOFError:
                return None
            if answer in ("f", "file"):
                return "file"
            if answer in ("n", "none", "nowhere"):
                return "none"
            if answer in ("q", "quit", ""):
                return None

    return ask


def ask_passphrase(path: Path, new: bool) -> str:
    """The encrypted file's passphrase; a new file's is typed twice ("" when the two differ)."""
    first_try = getpass.getpass(f"Passphrase for {'a new encrypted file' if new else 'the encrypted file'} "
                                f"{path}: ")
    if new and first_try and getpass.getpass("The same passphrase again: ") != first_try:
        err("the two passphrases differ")
        return ""
    return first_try
