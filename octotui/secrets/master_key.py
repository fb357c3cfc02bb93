"""Keeping the master key read from node 1 (create mode), and saying truthfully where it went.

The master key is the one secret whose loss cannot be undone once node 1 is gone, so where it goes is
decided before a create run starts, by the person at the terminal (the run itself is detached and can
ask nobody): the keyring when one works; else, with their consent, the encrypted file; else, by their
explicit choice, nowhere (they record it themselves). The runner then keeps it there and reports what
really happened: ``MasterKeyKept.where`` is None whenever the key was not stored. The stores themselves
(the keyring, the encrypted file) and the lookup of the key for a join are ``octotui.secrets.store``'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from octotui.errors import BadInput, ExitCode, OctotuiError
from octotui.home import write_private_text
from octotui.secrets.store import (
    PASSPHRASE_ENV,
    KeyringStatus,
    KeyringUnavailable,
    SecretRef,
    Secrets,
    chosen_encrypted_file,
    detect_keyring,
    enable_encrypted_file,
    master_key_ref,
    open_encrypted_file_store,
    valid_master_key,
)
from octotui.spec.parsers.connstr import ConnectionString

MasterKeyStore = Literal["keyring", "file", "none"]
MASTER_KEY_STORES: tuple[MasterKeyStore, ...] = ("keyring", "file", "none")
#: The name under which ``apply`` hands the encrypted file's passphrase to the runner (over its stdin pipe).
PASSPHRASE_SECRET = "keyring_passphrase"
#: In a run folder: where that run keeps the master key (``{"store": ...}``; no secret). Absent: the keyring.
MASTER_KEY_STORE_FILE = "master-key.store"


@dataclass(frozen=True)
class MasterKeyDecision:
    """Where a create run will keep the master key: ``where`` says it for a person; ``passphrase`` opens
    the encrypted file (handed to the runner with the other secrets, never written down)."""

    store: MasterKeyStore
    where: str
    passphrase: str | None = None


@dataclass(frozen=True)
class MasterKeyKept:
    """What the runner did with the master key: ``where`` it is now, or None with ``reason`` why not and a
    ``hint`` telling the administrator how to read it again to record it."""

    where: str | None
    reason: str = ""
    hint: str = ""


def _place(status: KeyringStatus) -> str:
    if status.kind == "encrypted-file":
        return f"the encrypted file {status.summary.split(': ', 1)[-1]}"
    if status.kind == "plaintext-file":
        return f"the keyring you configured ({status.backend}: a file that is NOT encrypted)"
    return f"the keyring ({status.backend})"


_NOT_STORED = "nowhere: octotui does not store it (--master-key-store none); you record it from the first node"


def decide_master_key_store(choice: MasterKeyStore | None, *,
                            ask: Callable[[KeyringStatus, Path], MasterKeyStore | None] | None = None,
                            ask_passphrase: Callable[[Path, bool], str] | None = None,
                            environ: Mapping[str, str] | None = None) -> MasterKeyDecision:
    """Decide, before a create run starts, where the master key will be kept.

    ``choice`` is the user's ``--master-key-store`` (None: the keyring when one works, else ask). ``ask``
    and ``ask_passphrase`` are the face's questions (None where nobody can answer, e.g. ``--yes``); ``ask``
    returns "file", "none" or None (do not start). Raises ``BadInput`` when no choice can be made or the
    encrypted file cannot be opened, and an ``OctotuiError`` with exit code CANCELLED when the user declines.
    Consenting to the file (choice "file") also remembers it for later runs (``enable_encrypted_file``)."""
    env = os.environ if environ is None else environ
    env_passphrase = env.get(PASSPHRASE_ENV) or None
    options_hint = (f"pass --master-key-store file (an encrypted file protected by a passphrase; set "
                    f"{PASSPHRASE_ENV} when there is no terminal) or --master-key-store none (octotui does not "
                    "store it; you record it from the first node)")
    if choice == "none":
        return MasterKeyDecision("none", _NOT_STORED)
    if choice in (None, "keyring"):
        status, store = detect_keyring(passphrase=env_passphrase)
        if store is not None:
            return MasterKeyDecision("keyring", _place(status),
                                     env_passphrase if status.kind == "encrypted-file" else None)
        why = f"{status.summary} ({status.detail})" if status.detail else status.summary
        if choice == "keyring" or ask is None:
            raise BadInput(f"the master key the first node creates cannot be kept: {why}", options_hint)
        answer = ask(status, chosen_encrypted_file())
        if answer is None:
            raise OctotuiError("not started", exit_code=ExitCode.CANCELLED)
        if answer == "none":
            return MasterKeyDecision("none", _NOT_STORED)
    path = chosen_encrypted_file()
    passphrase = env_passphrase
    if not passphrase and ask_passphrase is not None:
        passphrase = ask_passphrase(path, not path.exists()) or None
    if not passphrase:
        raise BadInput(f"the encrypted file {path} needs a passphrase",
                       f"set {PASSPHRASE_ENV}, or run `octotui apply` on a terminal to type it")
    try:
        enable_encrypted_file(passphrase, path)
    except KeyringUnavailable as exc:
        raise BadInput(str(exc), f"check the passphrase ({PASSPHRASE_ENV}), or pass --master-key-store none") \
            from None
    return MasterKeyDecision("file", f"the encrypted file {path}", passphrase)


def record_master_key_store(run_dir: Path, store: MasterKeyStore) -> None:
    """Tell a run (its folder) where to keep the master key."""
    write_private_text(Path(run_dir) / MASTER_KEY_STORE_FILE, json.dumps({"store": store}) + "\n")


def recorded_master_key_store(run_dir: Path) -> MasterKeyStore:
    try:
        value = json.loads((Path(run_dir) / MASTER_KEY_STORE_FILE).read_text(encoding="utf-8")).get("store")
    except (OSError, ValueError, AttributeError):
        return "keyring"
    return value if value in MASTER_KEY_STORES else "keyring"


def keep_master_key(connection_string: ConnectionString | str, master_key: str, store: MasterKeyStore, *,
                    passphrase: str | None = None) -> MasterKeyKept:
    """In the runner: keep the key read from node 1 where ``store`` says, check it reads back, and say
    where it is. Never raises for a store that fails: the run goes on (the key is still in node 1's
    configuration), and the result says it was not stored and why. The key itself is in no message."""
    if store == "none":
        return MasterKeyKept(None, "you chose not to store it (--master-key-store none)")
    key = master_key.strip()
    if not valid_master_key(key):
        return MasterKeyKept(None, "what the first node printed is not a master key (base64 of 16 or 32 bytes)")
    try:
        ref = master_key_ref(connection_string)
        if store == "file":
            keeper = open_encrypted_file_store(passphrase or os.environ.get(PASSPHRASE_ENV) or "",
                                               chosen_encrypted_file())
        else:
            status, found = detect_keyring(passphrase=passphrase)
            if found is None:
                return MasterKeyKept(None, f"{status.summary} ({status.detail})" if status.detail else status.summary)
            keeper = found
        keeper.set(ref.keyring_user, key)
        if keeper.get(ref.keyring_user) != key:
            return MasterKeyKept(None, f"{_place(keeper.status)} did not give the key back after storing it")
    except (KeyringUnavailable, ValueError) as exc:
        return MasterKeyKept(None, str(exc))
    return MasterKeyKept(f"{_place(keeper.status)}, entry '{ref.keyring_user}'")


def store_master_key(connection_string: ConnectionString | str, master_key: str,
                     secrets: Secrets | None = None) -> SecretRef:
    """Keep the master key read from node 1, keyed by the cluster's database; returns the entry used."""
    ref = master_key_ref(connection_string)
    (secrets or Secrets()).store(ref, master_key.strip())
    return ref
