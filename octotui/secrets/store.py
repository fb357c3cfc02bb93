"""Secrets by reference: the WinRM password, the service account's password and the master key.

Why references: the answers file never holds a secret, so a run looks each one up when it needs it, in
this order: the environment (``OCTOTUI_WINRM_PASSWORD``, ``OCTOTUI_SERVICE_PASSWORD``,
``OCTOTUI_MASTER_KEY``: for automation), then the OS keyring (service ``octotui``, user a key naming the
account or the database, e.g. ``winrm:WORK\\labadmin``, ``service:WORK\\svcOctopus``,
``master-key:sql01/Octopus``), then a prompt when stdin is a terminal, else ``SecretMissing`` naming the
variable and the keyring entry. Every value found is registered with the redactor before it is returned.

The keyring is checked before it is trusted (keyring-and-shares.md sections 1-3): the ``fail`` and
``null`` backends, a chainer with nothing in it, and a backend that hangs or errors on a throw-away item
are "no keyring". File backends from keyrings.alt/keyrings.cryptfile are never picked up silently: they are
used only when the user configured them (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg) or consented to
octotui's encrypted file (``enable_encrypted_file``: keyrings.cryptfile, Argon2id + AES-GCM, behind a
passphrase). Plain text is never chosen by octotui.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets as pysecrets
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from octotui.home import octotui_home, private_dir, private_file, write_private_text
from octotui.secrets.redact import Redactor, default_redactor
from octotui.spec.model import ClusterSpec
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString, as_connection_string
from octotui.spec.parsers.errors import ParseError

SecretName = Literal["winrm_password", "service_password", "master_key"]
Source = Literal["environment", "keyring", "prompt"]
StoreKind = Literal["os", "configured", "plaintext-file", "encrypted-file", "none"]

KEYRING_SERVICE = "octotui"
ENV_VARS: dict[SecretName, str] = {
    "winrm_password": "OCTOTUI_WINRM_PASSWORD",
    "service_password": "OCTOTUI_SERVICE_PASSWORD",
    "master_key": "OCTOTUI_MASTER_KEY",
}
PASSPHRASE_ENV = "OCTOTUI_KEYRING_PASSPHRASE"
ENCRYPTED_FILE_NAME = "secrets.cfg"
CHOICE_FILE_NAME = "keyring.json"
PROBE_TIMEOUT = 5.0


class SecretMissing(Exception):
    """No source had the secret; the message says how to provide it."""

    def __init__(self, message: str, env_var: str, keyring_user: str) -> None:
        super().__init__(message)
        self.env_var = env_var
        self.keyring_user = keyring_user


class SecretInvalid(Exception):
    """A source had a value that cannot be right (e.g. a master key that is not base64 of 16/32 bytes)."""


class KeyringUnavailable(Exception):
    """The keyring cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class SecretRef:
    name: SecretName
    keyring_user: str
    label: str

    @property
    def env_var(self) -> str:
        return ENV_VARS[self.name]

    def how_to_provide(self) -> str:
        return (f"set {self.env_var}, or store it in the keyring (service '{KEYRING_SERVICE}', username "
                f"'{self.keyring_user}', e.g. `keyring set {KEYRING_SERVICE} '{self.keyring_user}'`)")


def winrm_password_ref(username: Account | str) -> SecretRef:
    return SecretRef("winrm_password", f"winrm:{username}", f"WinRM password for {username}")


def service_password_ref(username: Account | str) -> SecretRef:
    return SecretRef("service_password", f"service:{username}", f"password of the service account {username}")


def master_key_user(connection_string: ConnectionString | str) -> str:
    """``master-key:<server>/<database>``: one master key per Octopus database, whatever else the
    connection string says. Server and database are lower-cased (SQL Server names are case-insensitive)."""
    try:
        cs = as_connection_string(connection_string)
        server = cs.server
        database = cs.database
    except ParseError as exc:
        raise ValueError(f"cannot name the master key's keyring entry: {exc}") from None
    if server is None or not database:
        raise ValueError("cannot name the master key's keyring entry: the connection string needs a Data Source "
                         "and an Initial Catalog")
    return f"master-key:{str(server).lower()}/{database.lower()}"


def master_key_ref(connection_string: ConnectionString | str) -> SecretRef:
    user = master_key_user(connection_string)
    return SecretRef("master_key", user, f"master key of the Octopus database {user.split(':', 1)[1]}")


def refs_for(spec: ClusterSpec) -> list[SecretRef]:
    """The secrets a run of ``spec`` needs before it starts (create mode reads the master key from node 1
    during the run, so it is not needed up front)."""
    refs: list[SecretRef] = []
    if spec.winrm.transport != "certificate":  # Kerberos too: the engine gets its tickets with the password
        refs.append(winrm_password_ref(spec.winrm.logon))
    if not spec.service_account.is_gmsa:
        refs.append(service_password_ref(spec.service_account.username))
    if spec.mode == "join":
        refs.append(master_key_ref(spec.connection_string))
    return refs


def valid_master_key(value: str) -> bool:
    """Base64 of 16 bytes (AES-128) or 32 bytes (newer Octopus versions), as ``show-master-key`` prints it."""
    try:
        return len(base64.b64decode(value.strip(), validate=True)) in (16, 32)
    except ValueError:
        return False


# --- the keyring ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyringStatus:
    """What ``detect_keyring`` found: ``summary`` is one line for a user; ``detail`` says why; ``hint`` what
    to do. ``usable`` is False for "no keyring" (the fail/null backends, an empty chain, a failed probe)."""

    usable: bool
    kind: StoreKind
    backend: str
    summary: str
    detail: str = ""
    hint: str = ""


def _class_path(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _is_non_store(backend: Any) -> bool:
    path = _class_path(backend)
    if path.startswith(("keyring.backends.fail.", "keyring.backends.null.")):
        return True
    if path.startswith("keyring.backends.chainer."):
        return not [b for b in getattr(backend, "backends", []) if not _is_non_store(b)]
    return False


def _is_plaintext(backend: Any) -> bool:
    return "plaintext" in type(backend).__name__.lower()


class KeyringStore:
    """One keyring backend, used under the service name ``octotui``. Errors become ``KeyringUnavailable``."""

    def __init__(self, backend: Any, status: KeyringStatus) -> None:
        self.backend = backend
        self.status = status

    def get(self, user: str) -> str | None:
        try:
            value = self.backend.get_password(KEYRING_SERVICE, user)
        except Exception as exc:
            raise KeyringUnavailable(f"reading '{user}' from the keyring ({self.status.backend}) failed: "
                                     f"{_describe(exc)}") from None
        return value if isinstance(value, str) else None

    def set(self, user: str, value: str) -> None:
        try:
            self.backend.set_password(KEYRING_SERVICE, user, value)
        except Exception as exc:
            raise KeyringUnavailable(f"storing '{user}' in the keyring ({self.status.backend}) failed: "
                                     f"{_describe(exc)}") from None

    def delete(self, user: str) -> bool:
        """Remove an entry; False when there was none."""
        try:
            if self.backend.get_password(KEYRING_SERVICE, user) is None:
                return False
            self.backend.delete_password(KEYRING_SERVICE, user)
        except Exception as exc:
            raise KeyringUnavailable(f"removing '{user}' from the keyring failed: {_describe(exc)}") from None
        return True


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "1312" in text or "logon session does not exist" in text.lower():
        text += (" (Windows Credential Manager is not available in a network logon such as SSH or WinRM; "
                 "run octotui from an interactive or RDP session, or use the encrypted file)")
    return f"{type(exc).__name__}: {text}"


def _probe(backend: Any, timeout: float) -> str | None:
    """Set, read back and delete a throw-away item in a worker thread; None when that worked, else why not.
    The thread catches a keyring that blocks (a locked collection waiting for a prompt nobody sees)."""
    user = f"octotui-probe-{pysecrets.token_hex(4)}"
    value = pysecrets.token_urlsafe(12)
    outcome: list[str | None] = []

    def run() -> None:
        try:
            backend.set_password(KEYRING_SERVICE, user, value)
            got = backend.get_password(KEYRING_SERVICE, user)
            backend.delete_password(KEYRING_SERVICE, user)
            outcome.append(None if got == value else "a stored test item read back differently")
        except Exception as exc:
            outcome.append(_describe(exc))

    worker = threading.Thread(target=run, name="octotui-keyring-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return (f"the keyring did not answer within {timeout:g} s (a locked collection waiting for an unlock "
                "prompt that cannot appear here?)")
    return outcome[0]


def _environment_notes() -> str:
    notes = []
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        notes.append("this is an SSH session")
    if sys.platform.startswith("linux") and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        notes.append("there is no D-Bus session bus, so Secret Service (GNOME Keyring, KWallet) cannot be reached")
    return "; ".join(notes)


_NO_KEYRING_HINT = (f"set the OCTOTUI_* environment variables for each run, or let octotui keep secrets in an "
                    f"encrypted file protected by a passphrase (asks for your consent; the passphrase can come "
                    f"from {PASSPHRASE_ENV})")


def _configured(source: str, loader: Callable[[], Any], probe: bool, timeout: float
                ) -> tuple[KeyringStatus, KeyringStore | None] | None:
    try:
        backend = loader()
    except Exception as exc:
        status = KeyringStatus(False, "none", "?", f"the keyring configured by {source} cannot be loaded",
                               _describe(exc), f"fix {source} or unset it")
        return status, None
    if backend is None:
        return None
    path = _class_path(backend)
    if _is_non_store(backend):
        status = KeyringStatus(False, "none", path, f"{source} selects {path}, which stores nothing",
                               "keyring is disabled by configuration", _NO_KEYRING_HINT)
        return status, None
    kind: StoreKind = "plaintext-file" if _is_plaintext(backend) else "configured"
    detail = (f"you chose it with {source}; it keeps secrets in a file only base64-encoded, NOT encrypted "
              f"({getattr(backend, 'file_path', 'a file')}, readable by you only)") if kind == "plaintext-file" \
        else f"chosen with {source}"
    if probe:
        why = _probe(backend, timeout)
        if why:
            return KeyringStatus(False, "none", path, f"the keyring {path} does not work", why,
                                 _NO_KEYRING_HINT), None
    status = KeyringStatus(True, kind, path, f"keyring: {path}", detail)
    return status, KeyringStore(backend, status)


def detect_keyring(*, probe: bool = True, timeout: float = PROBE_TIMEOUT,
                   passphrase: str | None = None) -> tuple[KeyringStatus, KeyringStore | None]:
    """Find a keyring that really works, without prompting. Order: ``PYTHON_KEYRING_BACKEND``; octotui's
    encrypted file when the user chose it (``enable_encrypted_file``; needs ``passphrase`` or
    ``OCTOTUI_KEYRING_PASSPHRASE``); keyringrc.cfg; then the best OS keyring that keyring itself ships
    (Secret Service, KWallet, macOS Keychain, Windows Credential Manager), probed."""
    import keyring.backend
    import keyring.core

    found = _configured("PYTHON_KEYRING_BACKEND", keyring.core.load_env, probe, timeout)
    if found is not None:
        return found
    choice = _read_choice()
    if choice.get("backend") == "encrypted-file":
        path = chosen_encrypted_file()
        secret = passphrase or os.environ.get(PASSPHRASE_ENV)
        if not secret:
            return KeyringStatus(False, "none", "keyrings.cryptfile", "the encrypted secrets file needs its "
                                 "passphrase", f"you chose to keep secrets in {path}",
                                 f"set {PASSPHRASE_ENV}, or run on a terminal to be asked"), None
        try:
            store = open_encrypted_file_store(secret, path)
        except KeyringUnavailable as exc:
            return KeyringStatus(False, "none", "keyrings.cryptfile", "the encrypted secrets file cannot be "
                                 "opened", str(exc), f"check {PASSPHRASE_ENV}"), None
        return store.status, store
    found = _configured("keyringrc.cfg", keyring.core.load_config, probe, timeout)
    if found is not None:
        return found
    candidates = [b for b in keyring.backend.get_all_keyring()
                  if _class_path(b).startswith("keyring.backends.")
                  and not _class_path(b).startswith("keyring.backends.chainer.")
                  and not _is_non_store(b)]
    candidates.sort(key=lambda b: b.priority, reverse=True)
    reasons = []
    for backend in candidates:
        why = _probe(backend, timeout) if probe else None
        if why is None:
            status = KeyringStatus(True, "os", _class_path(backend), f"keyring: {_class_path(backend)}")
            return status, KeyringStore(backend, status)
        reasons.append(f"{_class_path(backend)}: {why}")
    detail = "; ".join(filter(None, [*reasons, _environment_notes()])) or "no OS keyring backend is available"
    return KeyringStatus(False, "none", "keyring.backends.fail.Keyring", "no working keyring on this machine",
                         detail, _NO_KEYRING_HINT), None


def encrypted_file_path() -> Path:
    return octotui_home() / ENCRYPTED_FILE_NAME


def chosen_encrypted_file() -> Path:
    """The encrypted file the user consented to earlier (``keyring.json``), else the default one."""
    chosen = _read_choice()
    return Path(chosen["path"]) if chosen.get("backend") == "encrypted-file" and chosen.get("path") \
        else encrypted_file_path()


def _read_choice() -> dict[str, str]:
    try:
        data = json.loads((octotui_home() / CHOICE_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def open_encrypted_file_store(passphrase: str, path: Path | None = None) -> KeyringStore:
    """keyrings.cryptfile's file at ``path`` (default ``<home>/secrets.cfg``), unlocked with ``passphrase``;
    created (0600, in a 0700 folder) when missing. A wrong passphrase raises ``KeyringUnavailable``.
    The passphrase is given in code, never asked by cryptfile itself (its getpass prompt would fight a
    full-screen terminal app)."""
    if not passphrase or not passphrase.strip():
        raise KeyringUnavailable("the passphrase for the encrypted secrets file is empty")
    try:
        module = importlib.import_module("keyrings.cryptfile.cryptfile")
    except ImportError as exc:
        raise KeyringUnavailable(f"the encrypted file needs the keyrings.cryptfile package: {exc}") from None
    target = Path(path) if path is not None else encrypted_file_path()
    private_dir(target.parent)
    backend = module.CryptFileKeyring()
    backend.file_path = str(target)
    try:
        backend.keyring_key = passphrase
    except (ValueError, AssertionError) as exc:
        raise KeyringUnavailable(f"the passphrase does not open {target} ({exc})") from None
    if target.exists():  # cryptfile writes it itself: make sure it stays the user's alone
        private_file(target)
    status = KeyringStatus(True, "encrypted-file", _class_path(backend), f"encrypted file: {target}",
                           "Argon2id + AES-GCM, unlocked with your passphrase")
    return KeyringStore(backend, status)


def enable_encrypted_file(passphrase: str, path: Path | None = None) -> KeyringStore:
    """The user consented: open (or create) the encrypted file and remember the choice for later runs."""
    target = Path(path) if path is not None else encrypted_file_path()
    store = open_encrypted_file_store(passphrase, target)
    write_private_text(octotui_home() / CHOICE_FILE_NAME,
                       json.dumps({"backend": "encrypted-file", "path": str(target)}, indent=2) + "\n")
    return store


def disable_encrypted_file() -> None:
    """Forget the choice (the file itself stays, so secrets are not lost)."""
    (octotui_home() / CHOICE_FILE_NAME).unlink(missing_ok=True)


# --- looking secrets up ----------------------------------------------------------------------------------


class Secrets:
    """Looks secrets up (environment, keyring, prompt) and stores them; registers every value it returns
    with the redactor. ``store`` None means "detect the keyring on first use"; pass a ``KeyringStore``
    (or ``False`` for none) to decide it yourself. ``prompt`` is the face's question (the CLI's asks at a
    terminal); without one nothing is asked."""

    def __init__(self, store: KeyringStore | Literal[False] | None = None, *,
                 environ: Mapping[str, str] | None = None, interactive: bool | None = None,
                 prompt: Callable[[str], str] | None = None, redactor: Redactor | None = None) -> None:
        self._store: KeyringStore | Literal[False] | None = store
        self._status: KeyringStatus | None = store.status if isinstance(store, KeyringStore) else None
        self._environ = environ if environ is not None else os.environ
        self._interactive = interactive
        self._prompt = prompt
        self._redactor = redactor or default_redactor()
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, Source]] = {}

    @property
    def keyring_status(self) -> KeyringStatus:
        self._keyring()
        assert self._status is not None
        return self._status

    def _keyring(self) -> KeyringStore | None:
        if self._store is False:
            if self._status is None:
                self._status = KeyringStatus(False, "none", "-", "keyring not used")
            return None
        if self._store is None:
            self._status, store = detect_keyring()
            self._store = store if store is not None else False
            return store
        return self._store

    def _is_interactive(self) -> bool:
        if self._interactive is not None:
            return self._interactive
        try:
            return sys.stdin is not None and sys.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    def lookup(self, ref: SecretRef) -> tuple[str, Source]:
        """The value and where it came from; raises ``SecretMissing`` or ``SecretInvalid``."""
        with self._lock:
            if ref.keyring_user in self._cache:
                return self._cache[ref.keyring_user]
            value, source = self._find(ref)
            self._check(ref, value, source)
            self._redactor.add(value)
            self._cache[ref.keyring_user] = (value, source)
            return value, source

    def get(self, ref: SecretRef) -> str:
        return self.lookup(ref)[0]

    def _find(self, ref: SecretRef) -> tuple[str, Source]:
        env = self._environ.get(ref.env_var)
        if env:
            return env, "environment"
        no_keyring = None  # why no keyring works, when none does
        try:
            store = self._keyring()
            if store is not None:
                found = store.get(ref.keyring_user)
                if found:
                    return found, "keyring"
            elif self._status is not None and not self._status.usable:
                status = self._status
                no_keyring = f"{status.summary}: {status.detail}" if status.detail else status.summary
        except KeyringUnavailable as exc:
            no_keyring = str(exc)
        if self._prompt is not None and self._is_interactive():
            value = self._prompt(ref.label)
            if value:
                return value, "prompt"
        if no_keyring is not None:  # `keyring set` would not help: say so instead of suggesting it
            raise SecretMissing(f"The {ref.label} is not available: set {ref.env_var}. No keyring works here, so "
                                f"it cannot come from one ({no_keyring}).", ref.env_var, ref.keyring_user)
        raise SecretMissing(f"The {ref.label} is not available: {ref.how_to_provide()}.",
                            ref.env_var, ref.keyring_user)

    def _check(self, ref: SecretRef, value: str, source: Source) -> None:
        if ref.name == "master_key" and not valid_master_key(value):
            where = ref.env_var if source == "environment" else f"keyring entry '{ref.keyring_user}'" \
                if source == "keyring" else "the value typed"
            raise SecretInvalid(f"{where} does not hold an Octopus master key (base64 of 16 or 32 bytes, as "
                                "`Octopus.Server.exe show-master-key` prints it)")

    def store(self, ref: SecretRef, value: str) -> None:
        """Keep ``value`` in the keyring (and this session). Raises ``KeyringUnavailable`` without one."""
        self._check(ref, value, "prompt")
        self._redactor.add(value)
        store = self._keyring()
        if store is None:
            status = self._status
            reason = f"{status.summary}: {status.detail}" if status else "no keyring"
            raise KeyringUnavailable(f"cannot store the {ref.label}: {reason}. "
                                     f"{status.hint if status and status.hint else ''}".strip())
        store.set(ref.keyring_user, value)
        with self._lock:
            self._cache[ref.keyring_user] = (value, "keyring")
