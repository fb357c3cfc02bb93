"""Secrets: environment first, then a real keyring backend, then a prompt, else a clear error; keyring
detection that never takes a non-store or a file backend silently; the consented encrypted file; and the
private state folder (``octotui.home``).

The keyring is real: keyrings.alt's file backend chosen through ``PYTHON_KEYRING_BACKEND`` and kept under
``tmp_path`` (keyrings.alt puts its file in ``$XDG_DATA_HOME/python_keyring``), and keyrings.cryptfile for
the encrypted file. Nothing of keyring is mocked.
"""

from __future__ import annotations

import base64
import os
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from octotui.home import octotui_home, private_dir, private_file, runs_dir, write_private_text
from octotui.secrets.master_key import store_master_key
from octotui.secrets.redact import MASK, Redactor
from octotui.secrets.store import (
    CHOICE_FILE_NAME,
    KEYRING_SERVICE,
    PASSPHRASE_ENV,
    KeyringUnavailable,
    SecretInvalid,
    SecretMissing,
    Secrets,
    _probe,
    detect_keyring,
    disable_encrypted_file,
    enable_encrypted_file,
    master_key_ref,
    master_key_user,
    open_encrypted_file_store,
    refs_for,
    service_password_ref,
    winrm_password_ref,
)
from octotui.spec.answers import load_answers
from octotui.spec.model import ServiceAccountSpec
from octotui.spec.parsers.accounts import parse_account

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
CS = "Data Source=SQL01.corp,1433;Initial Catalog=Octopus;Integrated Security=True;"
MASTER_KEY = base64.b64encode(bytes(range(16))).decode()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No keyring configuration or secrets leak in from the machine; state goes to tmp_path."""
    for var in ("PYTHON_KEYRING_BACKEND", PASSPHRASE_ENV, "OCTOTUI_WINRM_PASSWORD", "OCTOTUI_SERVICE_PASSWORD",
                "OCTOTUI_MASTER_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("OCTOTUI_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def file_keyring(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    return isolated / "data" / "python_keyring" / "keyring_pass.cfg"


# --- references -------------------------------------------------------------------------------------------


def test_references_name_account_and_database() -> None:
    assert winrm_password_ref("WORK\\labadmin").keyring_user == "winrm:WORK\\labadmin"
    assert service_password_ref("WORK\\svcOctopus").keyring_user == "service:WORK\\svcOctopus"
    assert master_key_user(CS) == "master-key:sql01.corp,1433/octopus"
    assert master_key_user("server=sql01.corp,1433;database=OCTOPUS;Trusted_Connection=yes") == master_key_user(CS)
    with pytest.raises(ValueError, match="Initial Catalog"):
        master_key_user("Data Source=x")
    assert winrm_password_ref("x\\y").env_var == "OCTOTUI_WINRM_PASSWORD"
    assert master_key_ref(CS).env_var == "OCTOTUI_MASTER_KEY"


def test_refs_for_each_mode() -> None:
    create = load_answers(EXAMPLES / "create-cluster.toml")
    join = load_answers(EXAMPLES / "join-nodes.toml")
    assert [r.name for r in refs_for(create)] == ["winrm_password", "service_password"]
    assert [r.name for r in refs_for(join)] == ["winrm_password", "service_password", "master_key"]
    gmsa = ServiceAccountSpec(parse_account("CORP\\gmsaOctopus$"))
    assert [r.name for r in refs_for(replace(create, service_account=gmsa))] == ["winrm_password"]


# --- lookup order -----------------------------------------------------------------------------------------


def test_environment_wins_over_keyring(file_keyring: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = winrm_password_ref("WORK\\labadmin")
    Secrets().store(ref, "from-the-keyring")
    monkeypatch.setenv("OCTOTUI_WINRM_PASSWORD", "from-the-env")
    assert Secrets(interactive=False).lookup(ref) == ("from-the-env", "environment")


def test_keyring_is_used_and_survives_a_new_process_view(file_keyring: Path) -> None:
    ref = service_password_ref("WORK\\svcOctopus")
    first = Secrets(interactive=False)
    first.store(ref, "svc-pass-123")
    assert file_keyring.is_file()
    assert stat.S_IMODE(file_keyring.stat().st_mode) == 0o600
    status = first.keyring_status
    assert status.usable and status.kind == "plaintext-file" and "NOT encrypted" in status.detail
    second = Secrets(interactive=False)  # detects the keyring afresh
    assert second.lookup(ref) == ("svc-pass-123", "keyring")
    assert f"[{KEYRING_SERVICE}]" in file_keyring.read_text()


def test_prompt_only_on_a_terminal(isolated: Path) -> None:
    ref = winrm_password_ref("WORK\\labadmin")
    asked: list[str] = []

    def answer(label: str) -> str:
        asked.append(label)
        return "typed-secret"

    assert Secrets(False, interactive=True, prompt=answer).lookup(ref) == ("typed-secret", "prompt")
    assert asked == ["WinRM password for WORK\\labadmin"]
    with pytest.raises(SecretMissing) as info:
        Secrets(False, interactive=False, prompt=answer).get(ref)
    assert len(asked) == 1
    message = str(info.value)
    assert "OCTOTUI_WINRM_PASSWORD" in message and "keyring set" not in message  # this store uses no keyring
    assert info.value.keyring_user == "winrm:WORK\\labadmin"
    assert info.value.env_var == "OCTOTUI_WINRM_PASSWORD"


def test_missing_secret_explains_why_the_keyring_did_not_help(isolated: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with pytest.raises(SecretMissing) as info:
        Secrets(interactive=False).get(service_password_ref("WORK\\svcOctopus"))
    assert "OCTOTUI_SERVICE_PASSWORD" in str(info.value)
    assert "stores nothing" in str(info.value)


def test_found_values_are_registered_with_the_redactor(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCTOTUI_SERVICE_PASSWORD", "very-secret-value")
    redactor = Redactor()
    Secrets(False, interactive=False, redactor=redactor).get(service_password_ref("WORK\\svc"))
    assert redactor.redact("pw: very-secret-value") == f"pw: {MASK}"


def test_master_key_is_validated(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCTOTUI_MASTER_KEY", "not-a-key")
    with pytest.raises(SecretInvalid, match="OCTOTUI_MASTER_KEY"):
        Secrets(False, interactive=False).get(master_key_ref(CS))
    monkeypatch.setenv("OCTOTUI_MASTER_KEY", MASTER_KEY)
    assert Secrets(False, interactive=False).get(master_key_ref(CS)) == MASTER_KEY


def test_store_master_key_keys_it_by_database(file_keyring: Path) -> None:
    ref = store_master_key(CS, MASTER_KEY + "\n", Secrets(interactive=False))
    assert ref.keyring_user == "master-key:sql01.corp,1433/octopus"
    assert Secrets(interactive=False).lookup(master_key_ref(CS)) == (MASTER_KEY, "keyring")
    with pytest.raises(SecretInvalid):
        store_master_key(CS, "nope", Secrets(interactive=False))


def test_store_without_a_keyring_says_so(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with pytest.raises(KeyringUnavailable, match="stores nothing"):
        Secrets(interactive=False).store(winrm_password_ref("W\\u"), "abcdefgh")


# --- keyring detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "expected"), [
    ("keyring.backends.fail.Keyring", "stores nothing"),
    ("keyring.backends.null.Keyring", "stores nothing"),
    ("no.such.module.Keyring", "cannot be loaded"),
])
def test_non_stores_are_not_keyrings(isolated: Path, monkeypatch: pytest.MonkeyPatch, backend: str,
                                     expected: str) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    status, store = detect_keyring()
    assert not status.usable and store is None
    assert expected in status.summary


def test_configured_file_backend_is_probed_and_used(file_keyring: Path) -> None:
    status, store = detect_keyring()
    assert status.usable and store is not None
    assert status.backend == "keyrings.alt.file.PlaintextKeyring"
    assert "PYTHON_KEYRING_BACKEND" in status.detail
    store.set("x", "y-value")
    assert store.get("x") == "y-value"
    assert store.delete("x") and not store.delete("x")
    assert "octotui-probe" not in file_keyring.read_text()


def test_automatic_detection_never_picks_a_file_backend(isolated: Path) -> None:
    """keyrings.alt and keyrings.cryptfile are installed, but without the user's say-so they are not used."""
    status, store = detect_keyring(timeout=3)
    assert not status.backend.startswith("keyrings.")
    if store is None:
        assert status.kind == "none" and status.hint
        assert "encrypted file" in status.hint
    else:
        assert status.kind == "os"


def test_a_hanging_keyring_is_reported_not_waited_for() -> None:
    release = threading.Event()

    class Hangs:
        def set_password(self, service: str, user: str, value: str) -> None:
            release.wait(10)

    start = time.monotonic()
    why = _probe(Hangs(), timeout=0.2)
    release.set()
    assert why is not None and "did not answer" in why
    assert time.monotonic() - start < 5


# --- the encrypted file (consented fallback) --------------------------------------------------------------


def test_encrypted_file_round_trip_and_privacy(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = enable_encrypted_file("correct horse battery")
    store.set("service:WORK\\svcOctopus", "plain-text-must-not-appear")
    path = isolated / "home" / "secrets.cfg"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_text()
    assert "plain-text-must-not-appear" not in raw
    assert base64.b64encode(b"plain-text-must-not-appear").decode()[:16] not in raw
    assert (isolated / "home" / CHOICE_FILE_NAME).is_file()

    status, found = detect_keyring()
    assert not status.usable and PASSPHRASE_ENV in status.hint  # chosen, but no passphrase given

    monkeypatch.setenv(PASSPHRASE_ENV, "wrong passphrase")
    status, found = detect_keyring()
    assert not status.usable and found is None and "cannot be opened" in status.summary

    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery")
    secrets = Secrets(interactive=False)
    assert secrets.keyring_status.kind == "encrypted-file"
    assert secrets.lookup(service_password_ref("WORK\\svcOctopus")) == ("plain-text-must-not-appear", "keyring")

    disable_encrypted_file()
    assert not (isolated / "home" / CHOICE_FILE_NAME).exists() and path.exists()


def test_encrypted_file_refuses_an_empty_passphrase(isolated: Path) -> None:
    with pytest.raises(KeyringUnavailable, match="empty"):
        open_encrypted_file_store("  ")


# --- the private state folder -----------------------------------------------------------------------------


def test_home_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCTOTUI_HOME", str(tmp_path / "h"))
    assert octotui_home() == tmp_path / "h"
    monkeypatch.delenv("OCTOTUI_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert octotui_home() == tmp_path / "state" / "octotui"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/not/allowed")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert octotui_home() == tmp_path / "user" / ".local" / "state" / "octotui"


def test_private_files_and_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCTOTUI_HOME", str(tmp_path / "home"))
    old = os.umask(0)
    try:
        runs = runs_dir()
        loose = tmp_path / "loose"
        loose.mkdir(mode=0o777)
        private_dir(loose)
        f = private_file(runs / "r1" / "journal.jsonl")
        w = write_private_text(runs / "r1" / "state.json", "{}")
    finally:
        os.umask(old)
    for d in (tmp_path / "home", runs, runs / "r1", loose):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for p in (f, w):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert w.read_text() == "{}"
    f.write_text("kept")
    private_file(f)
    assert f.read_text() == "kept"
    write_private_text(w, "new")
    assert w.read_text() == "new" and not list(w.parent.glob(".*.tmp"))


# --- the message when no keyring works (issue 7, item 10) ------------------------------------------------


def test_missing_secret_without_a_working_keyring_does_not_suggest_keyring_set(
        isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with pytest.raises(SecretMissing) as info:
        Secrets(interactive=False).get(service_password_ref("WORK\\svcOctopus"))
    assert str(info.value) == (
        "The password of the service account WORK\\svcOctopus is not available: set OCTOTUI_SERVICE_PASSWORD. "
        "No keyring works here, so it cannot come from one (PYTHON_KEYRING_BACKEND selects "
        "keyring.backends.fail.Keyring, which stores nothing: keyring is disabled by configuration).")
    assert info.value.env_var == "OCTOTUI_SERVICE_PASSWORD"


def test_missing_secret_with_a_keyring_not_in_use_names_only_the_variable(isolated: Path) -> None:
    with pytest.raises(SecretMissing) as info:
        Secrets(False, interactive=False).get(winrm_password_ref("WORK\\labadmin"))
    assert str(info.value) == ("The WinRM password for WORK\\labadmin is not available: set OCTOTUI_WINRM_PASSWORD. "
                               "No keyring works here, so it cannot come from one (keyring not used).")


def test_missing_secret_with_a_working_keyring_says_how_to_store_it(file_keyring: Path) -> None:
    with pytest.raises(SecretMissing) as info:
        Secrets(interactive=False).get(winrm_password_ref("WORK\\labadmin"))
    assert str(info.value) == (
        "The WinRM password for WORK\\labadmin is not available: set OCTOTUI_WINRM_PASSWORD, or store it in the "
        "keyring (service 'octotui', username 'winrm:WORK\\labadmin', e.g. "
        "`keyring set octotui 'winrm:WORK\\labadmin'`).")
